//! `show-overlay`: the property table (default), the fault state (`-f`)
//! and the target table (`-t`) (dladm.c's `do_show_overlay` and its
//! `print_overlay_*` callbacks).
//!
//! Theory of operation: the overlays named (or all active ones) are walked
//! in order; a name that is not found or not an overlay is a warning and
//! makes the exit status 1, but the others are still shown. Rows go
//! through [`ofmt`](crate::ofmt) with the field tables below, so `-o`,
//! `-p` and wrapping behave as everywhere else.

use crate::backend::*;
use crate::cli::args::*;
use crate::cli::ctx::{Cli, Exit, R};
use crate::getopt::{getopt_long, Opt};
use crate::libdloverlay::{self as ovl, PropRow};
use crate::linkname::ether_ntoa;
use crate::ofmt::{f, Field, Flags, Ofmt};
use crate::prop::{self, Range};
use crate::status::{ErrList, Status};

// show-overlay columns.
const OVERLAY_LINK: usize = 0;
const OVERLAY_PROPERTY: usize = 1;
const OVERLAY_PERM: usize = 2;
const OVERLAY_REQ: usize = 3;
const OVERLAY_VALUE: usize = 4;
const OVERLAY_DEFAULT: usize = 5;
const OVERLAY_POSSIBLE: usize = 6;
pub const OVERLAY_FIELDS: &[Field] = &[
    f("LINK", 19, OVERLAY_LINK),
    f("PROPERTY", 19, OVERLAY_PROPERTY),
    f("PERM", 5, OVERLAY_PERM),
    f("REQ", 4, OVERLAY_REQ),
    f("VALUE", 11, OVERLAY_VALUE),
    f("DEFAULT", 10, OVERLAY_DEFAULT),
    f("POSSIBLE", 10, OVERLAY_POSSIBLE),
];
pub const OVERLAY_FMA_FIELDS: &[Field] =
    &[f("LINK", 20, 0), f("STATUS", 8, 1), f("DETAILS", 52, 2)];
pub const OVERLAY_TARG_FIELDS: &[Field] = &[
    f("LINK", 20, 0),
    f("TARGET", 18, 1),
    f("DESTINATION", 42, 2),
];

impl<'a> Cli<'a> {
    pub(crate) fn do_show_overlay(&mut self, args: &[String], use_: &'static str) -> R {
        #[derive(Clone, Copy, PartialEq)]
        enum Mode {
            Props,
            Fma,
            Targ,
        }
        let p = getopt_long(args, ":o:pft", OVERLAY_SHOW_LOPTS);
        let mut mode = Mode::Props;
        let mut fields: Option<String> = None;
        let mut flags = Flags {
            parsable: false,
            wrap: true,
        };
        for o in &p.opts {
            match o {
                Opt::Opt('f', None) => mode = Mode::Fma,
                Opt::Opt('t', None) => mode = Mode::Targ,
                Opt::Opt('o', Some(a)) => fields = Some(a.clone()),
                Opt::Opt('p', None) => {
                    flags = Flags {
                        parsable: true,
                        wrap: false,
                    }
                }
                o => return Err(self.die_opterr(o, use_)),
            }
        }
        if fields
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("all"))
        {
            fields = None;
        }
        let tmpl = match mode {
            Mode::Props => OVERLAY_FIELDS,
            Mode::Fma => OVERLAY_FMA_FIELDS,
            Mode::Targ => OVERLAY_TARG_FIELDS,
        };
        let mut of = self.ofmt_open(fields.as_deref(), tmpl, flags)?;
        let mut err = false;
        let mut failed = false;
        let mut ids = Vec::new();
        if !p.operands.is_empty() {
            for n in &p.operands {
                match self.name2id(n) {
                    Ok(l) => ids.push(l),
                    Err(s) => {
                        self.warn_dlerr(s, &format!("failed to find {n}"));
                        err = true;
                        // Keep the operand order of the output: a failed
                        // name is reported where it occurs.
                        ids.push(u32::MAX);
                    }
                }
            }
        } else {
            match self.b.walk_links(DATALINK_CLASS_OVERLAY, DLADM_OPT_ACTIVE) {
                Ok(v) => ids.extend(v.into_iter().map(|l| l.linkid)),
                Err(e) => {
                    self.warn_dlerr(Status::from_errno(e), "failed to walk overlays");
                    failed = true;
                }
            }
        }
        for l in ids {
            if l == u32::MAX {
                continue;
            }
            let ok = match mode {
                Mode::Props => self.show_one_overlay(&mut of, l),
                Mode::Fma => self.show_one_overlay_fma(&mut of, l)?,
                Mode::Targ => self.show_one_overlay_table(&mut of, l),
            };
            if !ok {
                failed = true;
            }
        }
        if err || failed {
            return Err(Exit(1));
        }
        Ok(())
    }

    /// Name and class check shared by the default and `-t` modes.
    fn overlay_name(&mut self, linkid: LinkId) -> Option<String> {
        match self.b.id2info(linkid) {
            Err(e) => {
                self.warn_dlerr(
                    Status::from_errno(e),
                    &format!("failed to get info for datalink id {linkid}"),
                );
                None
            }
            Ok(i) if i.class != DATALINK_CLASS_OVERLAY => {
                self.warn(&format!("{} is not an overlay", i.name));
                None
            }
            Ok(i) => Some(i.name),
        }
    }

    fn show_one_overlay(&mut self, of: &mut Ofmt, linkid: LinkId) -> bool {
        let Some(name) = self.overlay_name(linkid) else {
            return false;
        };
        let mut errs = ErrList::new();
        let rows = ovl::walk_prop(self.b, linkid, &mut errs);
        for r in rows.iter().filter(|r| r.value.is_some()) {
            self.print_overlay_row(of, &name, r);
        }
        self.warn_dlerrlist(&errs);
        errs.count() == 0
    }

    fn print_overlay_row(&mut self, of: &mut Ofmt, name: &str, r: &PropRow) {
        let mut warnings = Vec::new();
        let info = &r.info;
        let value = r.value.clone().unwrap_or_default();
        let mut cb = |id: usize| -> Option<String> {
            Some(match id {
                OVERLAY_LINK => name.to_string(),
                OVERLAY_PROPERTY => info.name.clone(),
                OVERLAY_PERM => {
                    if info.prot & prop::OVERLAY_PROP_PERM_RW == prop::OVERLAY_PROP_PERM_RW {
                        "rw".into()
                    } else if info.prot & prop::OVERLAY_PROP_PERM_RW == prop::OVERLAY_PROP_PERM_READ
                    {
                        "r-".into()
                    } else {
                        "--".into()
                    }
                }
                OVERLAY_REQ => if info.required() { "y" } else { "-" }.into(),
                OVERLAY_VALUE | OVERLAY_DEFAULT => {
                    let v = if id == OVERLAY_VALUE {
                        &value
                    } else {
                        &info.default
                    };
                    if v.is_empty() {
                        "--".into()
                    } else {
                        match prop::format_value(info.ptype, v) {
                            Ok(s) => s,
                            Err(w) => {
                                warnings.push(w);
                                "--".into()
                            }
                        }
                    }
                }
                OVERLAY_POSSIBLE => match (&info.range, info.range.to_strs()) {
                    (Range::None, _) => "--".into(),
                    (_, Some(v)) if v.is_empty() => "--".into(),
                    (_, Some(v)) => v.join(","),
                    (_, None) => "?".into(),
                },
                _ => return None,
            })
        };
        of.print(self.out, &mut cb);
        for w in warnings {
            self.warn(&w);
        }
    }

    fn show_one_overlay_fma(&mut self, of: &mut Ofmt, linkid: LinkId) -> Result<bool, Exit> {
        let name = match self.b.id2info(linkid) {
            Ok(i) if i.class == DATALINK_CLASS_OVERLAY => i.name,
            Ok(i) => return Err(self.die(&format!("datalink {} is not an overlay device", i.name))),
            Err(_) => return Err(self.die(&format!("datalink {linkid} is not an overlay device"))),
        };
        let (degraded, msg) = match ovl::status(self.b, linkid) {
            Ok(x) => x,
            Err(s) => {
                return Err(self.die_dlerr(s, &format!("failed to obtain device status for {name}")))
            }
        };
        let mut cb = |id: usize| -> Option<String> {
            Some(match id {
                0 => name.clone(),
                1 => if degraded { "DEGRADED" } else { "ONLINE" }.into(),
                2 => {
                    if degraded {
                        msg.clone()
                    } else {
                        "-".into()
                    }
                }
                _ => return None,
            })
        };
        of.print(self.out, &mut cb);
        Ok(true)
    }

    fn show_one_overlay_table(&mut self, of: &mut Ofmt, linkid: LinkId) -> bool {
        let Some(name) = self.overlay_name(linkid) else {
            return false;
        };
        // As in illumos, a failing walk prints nothing for this overlay.
        let Ok(points) = ovl::walk_cache(self.b, linkid) else {
            return true;
        };
        for pt in points {
            let mut cb = |id: usize| -> Option<String> {
                Some(match id {
                    0 => name.clone(),
                    1 => {
                        if pt.default {
                            "*:*:*:*:*:*".into()
                        } else {
                            ether_ntoa(&pt.key)
                        }
                    }
                    2 => format_dest(pt.dest, &pt.entry),
                    _ => return None,
                })
            };
            of.print(self.out, &mut cb);
        }
        true
    }
}

/// The DESTINATION column of `show-overlay -t` (`print_overlay_targ_cb`);
/// an IPv6 address followed by a port is bracketed, as `modify-overlay -s`
/// accepts it.
pub fn format_dest(dest: u32, e: &CacheEntry) -> String {
    let mut s = String::new();
    if dest & OVERLAY_PLUGIN_D_ETHERNET != 0 {
        s.push_str(&ether_ntoa(&e.mac));
    }
    let v6 = std::net::Ipv6Addr::from(e.ip);
    let bracket = dest & OVERLAY_PLUGIN_D_PORT != 0 && v6.to_ipv4_mapped().is_none();
    if dest & OVERLAY_PLUGIN_D_IP != 0 {
        if dest & OVERLAY_PLUGIN_D_ETHERNET != 0 {
            s.push(',');
        }
        if bracket {
            s.push_str(&format!("[{}]", prop::ip_to_string(&v6)));
        } else {
            s.push_str(&prop::ip_to_string(&v6));
        }
    }
    if dest & OVERLAY_PLUGIN_D_PORT != 0 {
        if dest & OVERLAY_PLUGIN_D_IP != 0 {
            s.push(':');
        } else if dest & OVERLAY_PLUGIN_D_ETHERNET != 0 {
            s.push(',');
        }
        s.push_str(&e.port.to_string());
    }
    s
}
