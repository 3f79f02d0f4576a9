//! `create-overlay`, `delete-overlay`, `modify-overlay` and `up-overlay`
//! (dladm.c's `do_create_overlay` and friends).
//!
//! Theory of operation: each subcommand checks its arguments the way
//! illumos does (same order, same messages), then hands the work to
//! [`libdloverlay`](crate::libdloverlay), which undoes everything on
//! failure and collects the details as an error list; the subcommand
//! prints that list as warnings before its own message. `up-overlay` also
//! brings up the persistent VNICs over the overlays it re-created.

use crate::backend::*;
use crate::cli::args::*;
use crate::cli::ctx::{link_cmds_here, Cli, R};
use crate::getopt::{getopt_long, Opt};
use crate::libdloverlay::{self as ovl, OpErr};
use crate::libdlvnic as vnic;
use crate::linkname::{ether_aton, valid_linkname, MAXLINKNAMELEN};
use crate::prop;
use crate::status::{ErrList, Status};

impl<'a> Cli<'a> {
    // --- create-overlay ----------------------------------------------------

    pub(crate) fn do_create_overlay(&mut self, args: &[String], use_: &'static str) -> R {
        let p = getopt_long(args, ":te:v:p:s:", OVERLAY_CREATE_LOPTS);
        let mut encap: Option<String> = None;
        let mut search: Option<String> = None;
        let mut flags = DLADM_OPT_ACTIVE | DLADM_OPT_PERSIST;
        let mut vid: u64 = 0;
        let mut havevid = false;
        let mut propstr = String::new();
        for o in &p.opts {
            match o {
                Opt::Opt('e', Some(a)) => encap = Some(a.clone()),
                Opt::Opt('s', Some(a)) => search = Some(a.clone()),
                Opt::Opt('t', None) => flags &= !DLADM_OPT_PERSIST,
                Opt::Opt('p', Some(a)) => self.add_propstr(&mut propstr, a)?,
                Opt::Opt('v', Some(a)) => {
                    // strtoul, but strict: digits only (FIX: "-1" and
                    // trailing junk are refused).
                    if a.is_empty() || !a.bytes().all(|c| c.is_ascii_digit()) {
                        return Err(self.die(&format!("couldn't parse virtual networkd id: {a}")));
                    }
                    vid = match a.parse::<u64>() {
                        Ok(v) => v,
                        Err(_) => {
                            return Err(self.die(&format!("virtual networkd id too large: {a}")))
                        }
                    };
                    havevid = true;
                }
                o => return Err(self.die_opterr(o, use_)),
            }
        }
        if !havevid {
            return Err(self.die("missing required virtual network id"));
        }
        let Some(encap) = encap else {
            return Err(self.die("missing required encapsulation plugin"));
        };
        let Some(search) = search else {
            return Err(self.die("missing required search plugin"));
        };
        if p.operands.len() != 1 {
            return Err(self.die("missing device name"));
        }
        let name = &p.operands[0];
        if name.len() >= MAXLINKNAMELEN {
            return Err(self.die(&format!("link name too long '{name}'")));
        }
        if !valid_linkname(name) {
            return Err(self.die(&format!("invalid link name '{name}'")));
        }
        if encap.len() + 1 > MAXLINKNAMELEN {
            return Err(self.die(&format!("encapsulation plugin name too long '{encap}'")));
        }
        if search.len() + 1 > MAXLINKNAMELEN {
            // FIX (§12 #16): names the search plugin, not the encap.
            return Err(self.die(&format!("search plugin name too long '{search}'")));
        }
        let Some(props) = prop::parse_prop_list(&propstr) else {
            return Err(self.die("invalid overlay property"));
        };
        let mut errs = ErrList::new();
        match ovl::create(self.b, name, &encap, &search, vid, &props, &mut errs, flags) {
            Ok(_) => Ok(()),
            Err(OpErr::Status(s)) => Err(self.die_dlerrlist(s, &errs, "overlay creation failed")),
            Err(OpErr::Fatal(m)) => {
                self.warn_dlerrlist(&errs);
                Err(self.die(&m))
            }
        }
    }

    // --- delete-overlay ----------------------------------------------------

    pub(crate) fn do_delete_overlay(&mut self, args: &[String], use_: &'static str) -> R {
        let p = getopt_long(args, ":t", LOPTS);
        let mut flags = DLADM_OPT_ACTIVE | DLADM_OPT_PERSIST;
        for o in &p.opts {
            match o {
                Opt::Opt('t', None) => flags &= !DLADM_OPT_PERSIST,
                o => return Err(self.die_opterr(o, use_)),
            }
        }
        if p.operands.len() != 1 {
            return Err(self.usage());
        }
        let name = &p.operands[0];
        let linkid = match self.name2id(name) {
            Ok(l) => l,
            Err(s) => return Err(self.die_dlerr(s, &format!("failed to delete {name}"))),
        };
        ovl::delete(self.b, linkid, flags)
            .map_err(|s| self.die_dlerr(s, &format!("failed to delete {name}")))
    }
    // --- modify-overlay ----------------------------------------------------

    pub(crate) fn do_modify_overlay(&mut self, args: &[String], use_: &'static str) -> R {
        let p = getopt_long(args, ":fd:s:", OVERLAY_MODIFY_LOPTS);
        let (mut flush, mut set, mut delete) = (false, false, false);
        let mut ocnt = 0;
        let mut mac = [0u8; 6];
        let mut mactext = String::new();
        let mut dest = String::new();
        for o in &p.opts {
            match o {
                Opt::Opt('d', Some(a)) => {
                    if delete {
                        return Err(self.die_optdup('d'));
                    }
                    delete = true;
                    ocnt += 1;
                    match ether_aton(a) {
                        Some(m) => mac = m,
                        None => return Err(self.die(&format!("invalid mac address: {a}"))),
                    }
                    mactext = a.clone();
                }
                Opt::Opt('f', None) => {
                    if flush {
                        return Err(self.die_optdup('f'));
                    }
                    flush = true;
                    ocnt += 1;
                }
                Opt::Opt('s', Some(a)) => {
                    if set {
                        return Err(self.die_optdup('s'));
                    }
                    set = true;
                    ocnt += 1;
                    // FIX (§12 #17): a missing '=' gets the intended
                    // message instead of a crash.
                    let Some((m, d)) = a.split_once('=') else {
                        return Err(
                            self.die(&format!("malformed value, expected mac=dest, got: {a}"))
                        );
                    };
                    match ether_aton(m) {
                        Some(x) => mac = x,
                        None => return Err(self.die(&format!("invalid mac address: {m}"))),
                    }
                    mactext = m.to_string();
                    dest = d.to_string();
                }
                o => return Err(self.die_opterr(o, use_)),
            }
        }
        if ocnt == 0 {
            return Err(self.die("need to specify one of -d, -f, or -s"));
        }
        if ocnt > 1 {
            return Err(self.die("only one of -d, -f, or -s may be used"));
        }
        if p.operands.is_empty() {
            return Err(self.die("missing required overlay device"));
        }
        if p.operands.len() > 1 {
            return Err(self.die("only one overlay device may be specified"));
        }
        let name = p.operands[0].clone();
        let linkid = match self.name2id(&name) {
            Ok(l) => l,
            Err(s) => return Err(self.die_dlerr(s, &format!("failed to find overlay {name}"))),
        };
        // The target table operations of a point-to-point overlay are
        // refused by varpd with ENOTSUP; say why.
        let no_table = |cli: &mut Cli<'_>, s: Status| {
            if s == Status::NotSup {
                cli.warn(&format!(
                    "{name} is a point-to-point overlay: it has no target table"
                ));
            }
        };
        if flush {
            if let Err(s) = ovl::cache_flush(self.b, linkid) {
                no_table(self, s);
                return Err(self.die_dlerr(
                    s,
                    &format!("failed to flush target cache for overlay {name}"),
                ));
            }
        }
        if delete {
            if let Err(s) = ovl::cache_delete(self.b, linkid, mac) {
                no_table(self, s);
                return Err(self.die_dlerr(
                    s,
                    &format!("failed to flush target {mactext} from overlay target cache {name}"),
                ));
            }
        }
        if set {
            let mut errs = ErrList::new();
            if let Err(s) = ovl::cache_set(self.b, linkid, mac, &dest, &mut errs) {
                no_table(self, s);
                return Err(self.die_dlerrlist(
                    s,
                    &errs,
                    &format!("failed to set target {mactext} for overlay target cache {name}"),
                ));
            }
        }
        Ok(())
    }
    // --- up-overlay ----------------------------------------------------------

    pub(crate) fn do_up_overlay(&mut self, args: &[String], _use: &'static str) -> R {
        if args.len() > 1 {
            return Err(self.usage());
        }
        let mut errs = ErrList::new();
        let linkid = match args.first() {
            Some(n) => match self.name2id(n) {
                Ok(l) => Some(l),
                Err(s) => {
                    return Err(self.die_dlerr(s, &format!("could not bring up overlay '{n}'")))
                }
            },
            None => None,
        };
        let res = ovl::up(self.b, linkid, &mut errs);
        // DESIGN §2: bring-up also re-creates the persistent VNICs over
        // the overlays it brought up.
        let mut st = res.as_ref().err().copied();
        if let Ok(done) = &res {
            for &l in done {
                if link_cmds_here() {
                    if let Err(s) = vnic::up_errs(self.b, None, Some(l), &mut errs) {
                        errs.append(format!(
                            "failed to bring up VNICs over datalink id {l}: {s}"
                        ));
                        st = Some(s);
                    }
                }
            }
        }
        match (st, args.first()) {
            (None, _) => Ok(()),
            (Some(s), Some(n)) => {
                Err(self.die_dlerrlist(s, &errs, &format!("could not bring up overlay '{n}'")))
            }
            (Some(s), None) => Err(self.die_dlerrlist(s, &errs, "could not bring overlays up")),
        }
    }
}
