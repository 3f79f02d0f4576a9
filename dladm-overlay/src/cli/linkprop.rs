//! `dladm set-linkprop`, `reset-linkprop` and `show-linkprop` (dladm.c's
//! `set_linkprop`, `do_show_linkprop`), for the properties of
//! [`crate::linkprop`].
//!
//! Theory of operation: as in illumos, each property is first set on the
//! running link (`DLADM_OPT_ACTIVE`), and unless `-t` is given then
//! recorded persistently; each failure is a warning naming the property
//! and the link, and any failure makes the command exit 1.
//! `show-linkprop` prints LINK PROPERTY PERM VALUE DEFAULT POSSIBLE
//! (`-c` parsable, `-P` the persistent values, `-p` a property list, `-o`
//! fields); an empty value prints as `--`.

use crate::backend::*;
use crate::cli::args::{parse_props, PROP_LOPTS};
use crate::cli::ctx::{Cli, Exit};
use crate::getopt::{getopt_long, Opt};
use crate::linkprop::{self, PROP_ZONE};
use crate::ofmt::{f, Field, Flags, Ofmt};
use crate::status::Status;

pub const LINKPROP_FIELDS: &[Field] = &[
    f("LINK", 13, 0),
    f("PROPERTY", 16, 1),
    f("PERM", 5, 2),
    f("VALUE", 15, 3),
    f("DEFAULT", 15, 4),
    f("POSSIBLE", 20, 5),
];

impl<'a> Cli<'a> {
    /// `set-linkprop` and, with `reset`, `reset-linkprop`.
    pub(crate) fn do_set_linkprop(
        &mut self,
        args: &[String],
        use_: &'static str,
        reset: bool,
    ) -> Result<(), Exit> {
        let p = getopt_long(args, ":p:R:t", PROP_LOPTS);
        let mut props: Vec<(String, Option<String>)> = Vec::new();
        let mut temp = false;
        for o in &p.opts {
            match o {
                Opt::Opt('p', Some(a)) => props.extend(parse_props(a)),
                Opt::Opt('t', None) => temp = true,
                Opt::Opt('R', Some(_)) => {}
                o => return Err(self.die_opterr(o, use_)),
            }
        }
        if p.operands.len() != 1 {
            return Err(self.usage());
        }
        if props.is_empty() && !reset {
            return Err(self.die("link property must be specified"));
        }
        let link = p.operands[0].clone();
        let linkid = match self.name2id(&link) {
            Ok(l) => l,
            Err(s) => return Err(self.die_dlerr(s, &format!("link {link} is not valid"))),
        };
        if reset && props.is_empty() {
            let class = self.b.id2info(linkid).map(|i| i.class).unwrap_or(0);
            props = linkprop::props_of(class)
                .iter()
                .map(|n| (n.to_string(), None))
                .collect();
        }
        let verb = if reset { "reset" } else { "set" };
        let mut failed = false;
        for (name, val) in props {
            if !reset && val.is_none() {
                self.warn(&format!("no value specified for '{name}'"));
                failed = true;
                continue;
            }
            if name != PROP_ZONE {
                // An overlay's own properties exist, but are fixed once
                // it runs: say so rather than that the name is unknown.
                let is_overlay = self
                    .b
                    .id2info(linkid)
                    .is_ok_and(|i| i.class == DATALINK_CLASS_OVERLAY);
                if is_overlay && self.b.ovl_propinfo(linkid, PropSel::Name(&name)).is_ok() {
                    self.warn(&format!(
                        "cannot {verb} link property '{name}' on '{link}': overlay \
                         properties are set when the overlay is created (create-overlay -p)"
                    ));
                } else {
                    self.warn(&format!("invalid link property '{name}'"));
                }
                failed = true;
                continue;
            }
            let val = if reset { None } else { val };
            if let Err(s) = linkprop::set_zone(self.b, linkid, val.as_deref(), DLADM_OPT_ACTIVE) {
                if s == Status::BadVal {
                    if let Some(z) = &val {
                        self.warn(&format!(
                            "zone '{z}' does not exist (no network namespace {}/{z})",
                            linkprop::netns_dir()
                        ));
                    }
                }
                self.warn_dlerr(
                    s,
                    &format!("cannot {verb} link property '{name}' on '{link}'"),
                );
                failed = true;
                continue;
            }
            if !temp {
                if let Err(s) =
                    linkprop::set_zone(self.b, linkid, val.as_deref(), DLADM_OPT_PERSIST)
                {
                    self.warn_dlerr(
                        s,
                        &format!("cannot persistently {verb} link property '{name}' on '{link}'"),
                    );
                    failed = true;
                }
            }
        }
        if failed {
            return Err(Exit(1));
        }
        Ok(())
    }

    /// `show-linkprop`.
    pub(crate) fn do_show_linkprop(
        &mut self,
        args: &[String],
        use_: &'static str,
    ) -> Result<(), Exit> {
        let p = getopt_long(args, ":p:cPo:", PROP_LOPTS);
        let mut props: Vec<String> = Vec::new();
        let mut parsable = false;
        let mut persist = false;
        let mut fields: Option<String> = None;
        for o in &p.opts {
            match o {
                Opt::Opt('p', Some(a)) => props.extend(parse_props(a).into_iter().map(|x| x.0)),
                Opt::Opt('c', None) => parsable = true,
                Opt::Opt('P', None) => persist = true,
                Opt::Opt('o', Some(a)) => fields = Some(a.clone()),
                o => return Err(self.die_opterr(o, use_)),
            }
        }
        if p.operands.len() > 1 {
            return Err(self.usage());
        }
        let links: Vec<LinkInfo> = match p.operands.first() {
            Some(n) => match self.b.name2info(n) {
                Ok(i) => vec![i],
                Err(e) => {
                    return Err(
                        self.die_dlerr(Status::from_errno(e), &format!("invalid link name '{n}'"))
                    )
                }
            },
            None => self
                .b
                .walk_links(
                    DATALINK_CLASS_VNIC,
                    if persist {
                        DLADM_OPT_PERSIST
                    } else {
                        DLADM_OPT_ACTIVE
                    },
                )
                .unwrap_or_default(),
        };
        let oflags = Flags {
            parsable,
            wrap: false,
        };
        let mut of = self.ofmt_open(fields.as_deref(), LINKPROP_FIELDS, oflags)?;
        let mut failed = false;
        for l in links {
            let names: Vec<String> = if props.is_empty() {
                linkprop::props_of(l.class)
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            } else {
                props.clone()
            };
            for name in names {
                if !linkprop::props_of(l.class).contains(&name.as_str()) {
                    self.warn_dlerr(
                        Status::NotFound,
                        &format!("cannot get link property '{name}' for {}", l.name),
                    );
                    failed = true;
                    continue;
                }
                let value = match linkprop::get_zone(self.b, l.linkid, persist) {
                    Ok(v) => v,
                    Err(s) => {
                        self.warn_dlerr(
                            s,
                            &format!("cannot get link property '{name}' for {}", l.name),
                        );
                        failed = true;
                        continue;
                    }
                };
                self.print_linkprop(&mut of, &l.name, &name, &value, parsable);
            }
        }
        if failed {
            return Err(Exit(1));
        }
        Ok(())
    }

    fn print_linkprop(
        &mut self,
        of: &mut Ofmt,
        link: &str,
        name: &str,
        value: &str,
        parsable: bool,
    ) {
        // An empty value prints as "--", or as nothing when parsable.
        let none = if parsable { "" } else { "--" };
        let dash = |s: &str| {
            if s.is_empty() {
                none.to_string()
            } else {
                s.to_string()
            }
        };
        let mut cb = |id: usize| -> Option<String> {
            Some(match id {
                0 => link.to_string(),
                1 => name.to_string(),
                2 => "rw".to_string(),
                3 => dash(value),
                4 | 5 => none.to_string(),
                _ => return None,
            })
        };
        of.print(self.out, &mut cb);
    }
}
