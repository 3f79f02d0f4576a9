//! `show-link` (Linux only): every datalink, its class, MTU, state and,
//! for a VNIC, the link it is over (dladm.c's `do_show_link`).
//!
//! Theory of operation: without `-P` the running links are listed with the
//! MTU and state the system reports; with `-P` the persistent ones, with
//! the OVER column read from the recorded VNIC attributes. `-p` needs `-o`
//! and refuses `-o all`, as illumos does.

use crate::backend::*;
use crate::cli::args::*;
use crate::cli::ctx::{Cli, R};
use crate::getopt::{getopt_long, Opt};
use crate::libdlvnic as vnic;
use crate::ofmt::{f, Field, Flags, Ofmt};
use crate::status::Status;

pub const LINK_FIELDS: &[Field] = &[
    f("LINK", 12, 0),
    f("CLASS", 10, 1),
    f("MTU", 7, 2),
    f("STATE", 9, 3),
    f("BRIDGE", 11, 4),
    f("OVER", 30, 5),
];

impl<'a> Cli<'a> {
    pub(crate) fn do_show_link(&mut self, args: &[String], use_: &'static str) -> R {
        let p = getopt_long(args, ":pPo:", SHOW_LOPTS);
        let mut p_arg = false;
        let mut flags = DLADM_OPT_ACTIVE;
        let mut fields: Option<String> = None;
        for o in &p.opts {
            match o {
                Opt::Opt('p', None) => {
                    if p_arg {
                        return Err(self.die_optdup('p'));
                    }
                    p_arg = true;
                }
                Opt::Opt('P', None) => {
                    if flags != DLADM_OPT_ACTIVE {
                        return Err(self.die_optdup('P'));
                    }
                    flags = DLADM_OPT_PERSIST;
                }
                Opt::Opt('o', Some(a)) => fields = Some(a.clone()),
                o => return Err(self.die_opterr(o, use_)),
            }
        }
        if p_arg && fields.is_none() {
            return Err(self.die("-p requires -o"));
        }
        if p_arg
            && fields
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case("all"))
        {
            return Err(self.die("\"-o all\" is invalid with -p"));
        }
        let mut one = None;
        if p.operands.len() == 1 {
            let n = p.operands[0].clone();
            match self.name2id(&n) {
                Ok(l) => one = Some((l, n)),
                Err(s) => return Err(self.die_dlerr(s, &format!("link {n} is not valid"))),
            }
        } else if p.operands.len() > 1 {
            return Err(self.usage());
        }
        let fields_str = match fields {
            Some(f) if !f.eq_ignore_ascii_case("all") => f,
            _ => {
                if flags == DLADM_OPT_ACTIVE {
                    "link,class,mtu,state,bridge,over".into()
                } else {
                    "link,class,bridge,over".into()
                }
            }
        };
        let oflags = Flags {
            parsable: p_arg,
            wrap: false,
        };
        let mut of = self.ofmt_open(Some(&fields_str), LINK_FIELDS, oflags)?;
        match one {
            None => {
                let links = self
                    .b
                    .walk_links(DATALINK_CLASS_ALL, flags)
                    .unwrap_or_default();
                for l in links {
                    let _ = self.show_link(&mut of, l.linkid, flags);
                }
            }
            Some((l, n)) => {
                if let Err(s) = self.show_link(&mut of, l, flags) {
                    return Err(self.die_dlerr(s, &format!("failed to show link {n}")));
                }
            }
        }
        Ok(())
    }

    /// `print_link()` + `ofmt_print()`.
    fn show_link(&mut self, of: &mut Ofmt, linkid: LinkId, flags: u32) -> Result<(), Status> {
        let info = self.b.id2info(linkid).map_err(Status::from_errno)?;
        if info.flags & flags == 0 {
            return Err(Status::NotFound);
        }
        let (mtu, state) = if flags == DLADM_OPT_ACTIVE {
            let (m, s) = vnic::link_attr(self.b, &info);
            (m.map(|m| m.to_string()).unwrap_or_default(), s.to_string())
        } else {
            (String::new(), String::new())
        };
        let over = if info.class == DATALINK_CLASS_VNIC {
            if flags == DLADM_OPT_ACTIVE {
                self.b
                    .vnic_info(linkid)
                    .map(|v| v.overname)
                    .unwrap_or_else(|_| "?".into())
            } else {
                self.persistent_vnic(&info)
                    .map(|v| v.overname)
                    .unwrap_or_else(|_| "?".into())
            }
        } else {
            String::new()
        };
        let mut cb = |id: usize| -> Option<String> {
            Some(match id {
                0 => info.name.clone(),
                1 => class2str(info.class).into(),
                2 => mtu.clone(),
                3 => state.clone(),
                4 => String::new(),
                5 => over.clone(),
                _ => return None,
            })
        };
        of.print(self.out, &mut cb);
        Ok(())
    }
}
