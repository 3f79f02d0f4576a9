//! The `dladm` command line (`usr/src/cmd/dladm/dladm.c`, overlay parts,
//! plus the link and VNIC subcommands on Linux).
//!
//! `run()` takes the arguments, a `Backend` and two output streams and
//! returns the exit status, so every subcommand can be tested end to end
//! against the in-memory backend. Messages, usage strings, option letters,
//! long options, columns and exit codes follow illumos (spec/userland.md
//! §8): `die()` prints `dladm: <msg>` and exits 1, `die_dlerr()` appends
//! `: <status>`, `die_dlerrlist()` first prints each detail as
//! `dladm: warning: <entry>`, `warn()` prints `dladm: warning: <msg>`.
//! Two harmless illumos output quirks are not kept: `die()`'s final newline
//! goes to stderr (illumos wrote it to stdout), and messages whose format
//! ended in `\n` do not print an extra blank line.

use std::io::Write;

use crate::backend::*;
use crate::getopt::{getopt_long, lo, LongOpt, Opt};
use crate::libdloverlay::{self as ovl, OpErr, PropRow};
use crate::libdlvnic::{self as vnic, MacSpec};
use crate::linkname::{ether_aton, ether_ntoa, valid_linkname, MAXLINKNAMELEN};
use crate::ofmt::{self, f, Field, Flags, Ofmt};
use crate::prop::{self, PropArg, Range};
use crate::status::{ErrList, Status};

/// `DLADM_STRSIZE`: the `-p` list buffer.
const DLADM_STRSIZE: usize = 1024;

/// A subcommand's exit status, carried out by `?`.
#[derive(Debug, PartialEq, Eq)]
pub struct Exit(pub i32);

type R = Result<(), Exit>;

pub const USE_SHOW_LINK: &str = "    show-link        [-pP] [-o <field>,..] [<link>]\n";
pub const USE_CREATE_VNIC: &str =
    "    create-vnic      [-t] -l <link> [-m <value> | auto | random]\n\
\t\t     [-v <vid> [-f]] [-p <prop>=<value>[,...]] <vnic-link>";
pub const USE_DELETE_VNIC: &str = "    delete-vnic      [-t] <vnic-link>";
pub const USE_SHOW_VNIC: &str = "    show-vnic        [-pP] [-l <link>] [<link>]\n";
pub const USE_CREATE_OVERLAY: &str =
    "    create-overlay   [-t] -e <encap> -s <search> -v <vnetid>\n\
\t\t     [ -p <prop>=<value>[,...]] <overlay>";
pub const USE_DELETE_OVERLAY: &str = "    delete-overlay   [-t] <overlay>";
pub const USE_MODIFY_OVERLAY: &str = "    modify-overlay   -d mac | -f | -s mac=ip:port <overlay>";
pub const USE_SHOW_OVERLAY: &str =
    "    show-overlay     [-f | -t] [[-p] -o <field>,...] [<overlay>]\n";

struct Cmd {
    name: &'static str,
    usage: Option<&'static str>,
    /// Link and VNIC subcommands: the system dladm's job on illumos.
    linux_only: bool,
}

const CMDS: &[Cmd] = &[
    Cmd {
        name: "help",
        usage: None,
        linux_only: false,
    },
    Cmd {
        name: "show-link",
        usage: Some(USE_SHOW_LINK),
        linux_only: true,
    },
    Cmd {
        name: "create-vnic",
        usage: Some(USE_CREATE_VNIC),
        linux_only: true,
    },
    Cmd {
        name: "delete-vnic",
        usage: Some(USE_DELETE_VNIC),
        linux_only: true,
    },
    Cmd {
        name: "show-vnic",
        usage: Some(USE_SHOW_VNIC),
        linux_only: true,
    },
    Cmd {
        name: "up-vnic",
        usage: None,
        linux_only: true,
    },
    Cmd {
        name: "set-linkprop",
        usage: Some(crate::cli_linkprop::USE_SET_LINKPROP),
        linux_only: true,
    },
    Cmd {
        name: "reset-linkprop",
        usage: Some(crate::cli_linkprop::USE_RESET_LINKPROP),
        linux_only: true,
    },
    Cmd {
        name: "show-linkprop",
        usage: Some(crate::cli_linkprop::USE_SHOW_LINKPROP),
        linux_only: true,
    },
    Cmd {
        name: "create-overlay",
        usage: Some(USE_CREATE_OVERLAY),
        linux_only: false,
    },
    Cmd {
        name: "delete-overlay",
        usage: Some(USE_DELETE_OVERLAY),
        linux_only: false,
    },
    Cmd {
        name: "modify-overlay",
        usage: Some(USE_MODIFY_OVERLAY),
        linux_only: false,
    },
    Cmd {
        name: "show-overlay",
        usage: Some(USE_SHOW_OVERLAY),
        linux_only: false,
    },
    Cmd {
        name: "up-overlay",
        usage: None,
        linux_only: false,
    },
];

/// Whether the link/VNIC subcommands are ours on this platform.
fn link_cmds_here() -> bool {
    !cfg!(target_os = "illumos")
}

/// `lopts` (the shared table: delete-overlay, delete-vnic).
const LOPTS: &[LongOpt] = &[
    lo("vlan-id", true, 'v'),
    lo("output", true, 'o'),
    lo("dev", true, 'd'),
    lo("policy", true, 'P'),
    lo("lacp-mode", true, 'L'),
    lo("lacp-timer", true, 'T'),
    lo("unicast", true, 'u'),
    lo("temporary", false, 't'),
    lo("root-dir", true, 'R'),
    lo("link", true, 'l'),
    lo("forcible", false, 'f'),
    lo("bw-limit", true, 'b'),
    lo("mac-address", true, 'm'),
    lo("slot", true, 'n'),
];

const SHOW_LOPTS: &[LongOpt] = &[
    lo("statistics", false, 's'),
    lo("continuous", false, 'S'),
    lo("interval", true, 'i'),
    lo("parsable", false, 'p'),
    lo("parseable", false, 'p'),
    lo("extended", false, 'x'),
    lo("output", true, 'o'),
    lo("persistent", false, 'P'),
    lo("lacp", false, 'L'),
];

const VNIC_LOPTS: &[LongOpt] = &[
    lo("temporary", false, 't'),
    lo("root-dir", true, 'R'),
    lo("dev", true, 'd'),
    lo("mac-address", true, 'm'),
    lo("cpus", true, 'c'),
    lo("bw-limit", true, 'b'),
    lo("slot", true, 'n'),
    lo("mac-prefix", true, 'r'),
    lo("vrid", true, 'V'),
    lo("address-family", true, 'A'),
];

const OVERLAY_CREATE_LOPTS: &[LongOpt] = &[
    lo("encap", true, 'e'),
    lo("prop", true, 'p'),
    lo("search", true, 's'),
    lo("temporary", false, 't'),
    lo("vnetid", true, 'v'),
];

const OVERLAY_MODIFY_LOPTS: &[LongOpt] = &[
    lo("delete-entry", true, 'd'),
    lo("flush-table", false, 'f'),
    lo("set-entry", true, 's'),
];

const OVERLAY_SHOW_LOPTS: &[LongOpt] = &[
    lo("fma", false, 'f'),
    lo("target", false, 't'),
    lo("parsable", false, 'p'),
    lo("parseable", false, 'p'),
    lo("output", true, 'o'),
];

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
pub const LINK_FIELDS: &[Field] = &[
    f("LINK", 12, 0),
    f("CLASS", 10, 1),
    f("MTU", 7, 2),
    f("STATE", 9, 3),
    f("BRIDGE", 11, 4),
    f("OVER", 30, 5),
];
pub const VNIC_FIELDS: &[Field] = &[
    f("LINK", 13, 0),
    f("OVER", 13, 1),
    f("SPEED", 7, 2),
    f("MACADDRESS", 18, 3),
    f("MACADDRTYPE", 20, 4),
    f("VID", 7, 5),
];

/// The command-line interpreter: a backend and two output streams.
pub struct Cli<'a> {
    pub b: &'a mut dyn Backend,
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
    pub progname: String,
    /// Terminal rows, for header repetition.
    pub rows: usize,
}

/// Run `dladm` with `args` (`args[0]` is the program name).
pub fn run(
    args: &[String],
    b: &mut dyn Backend,
    out: &mut dyn Write,
    err: &mut dyn Write,
    rows: usize,
) -> i32 {
    let progname = progname(args);
    let mut cli = Cli {
        b,
        out,
        err,
        progname,
        rows,
    };
    match cli.dispatch(args) {
        Ok(()) => 0,
        Err(Exit(c)) => c,
    }
}

/// `basename(argv[0])`.
pub fn progname(args: &[String]) -> String {
    args.first()
        .map(|a| a.rsplit('/').next().unwrap_or(a).to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "dladm".to_string())
}

/// Whether `args` name a known subcommand (main uses this to report
/// "could not open /dev/dld" only for real subcommands, as dladm does).
pub fn is_subcommand(args: &[String]) -> bool {
    let sub = args.get(1).map(|s| s.as_str()).unwrap_or("show-link");
    CMDS.iter().any(|c| c.name == sub)
}

impl<'a> Cli<'a> {
    fn dispatch(&mut self, args: &[String]) -> R {
        let sub = args.get(1).cloned().unwrap_or_else(|| "show-link".into());
        let rest: Vec<String> = args.iter().skip(2).cloned().collect();
        for c in CMDS {
            if c.name == sub {
                if c.linux_only && !link_cmds_here() {
                    return Err(self.die(&format!(
                        "{sub}: use the system dladm(8) for links and VNICs on illumos"
                    )));
                }
                let u = c.usage.unwrap_or("");
                return match c.name {
                    "help" => self.do_help(&rest, u),
                    "show-link" => self.do_show_link(&rest, u),
                    "create-vnic" => self.do_create_vnic(&rest, u),
                    "delete-vnic" => self.do_delete_vnic(&rest, u),
                    "show-vnic" => self.do_show_vnic(&rest, u),
                    "up-vnic" => self.do_up_vnic(&rest, u),
                    "set-linkprop" => self.do_set_linkprop(&rest, u, false),
                    "reset-linkprop" => self.do_set_linkprop(&rest, u, true),
                    "show-linkprop" => self.do_show_linkprop(&rest, u),
                    "create-overlay" => self.do_create_overlay(&rest, u),
                    "delete-overlay" => self.do_delete_overlay(&rest, u),
                    "modify-overlay" => self.do_modify_overlay(&rest, u),
                    "show-overlay" => self.do_show_overlay(&rest, u),
                    _ => self.do_up_overlay(&rest, u),
                };
            }
        }
        let p = self.progname.clone();
        let _ = writeln!(self.err, "{p}: unknown subcommand '{sub}'");
        Err(self.usage())
    }

    // --- messages ------------------------------------------------------

    fn usage_text(&mut self) {
        let mut s = String::from("usage:  dladm <subcommand> <args> ...\n");
        for c in CMDS {
            if c.linux_only && !link_cmds_here() {
                continue;
            }
            if let Some(u) = c.usage {
                s.push_str(u);
                s.push('\n');
            }
        }
        let _ = self.err.write_all(s.as_bytes());
    }

    /// `usage()`: exit 1.
    pub fn usage(&mut self) -> Exit {
        self.usage_text();
        Exit(1)
    }

    /// `die()`.
    pub fn die(&mut self, msg: &str) -> Exit {
        let _ = writeln!(self.err, "{}: {}", self.progname, msg);
        Exit(1)
    }

    /// `die_dlerr()`.
    pub fn die_dlerr(&mut self, st: Status, msg: &str) -> Exit {
        let _ = writeln!(self.err, "{}: {}: {}", self.progname, msg, st);
        Exit(1)
    }

    /// `warn_dlerrlist()`.
    fn warn_dlerrlist(&mut self, errs: &ErrList) {
        for e in &errs.0 {
            self.warn(e);
        }
    }

    /// `die_dlerrlist()`.
    pub fn die_dlerrlist(&mut self, st: Status, errs: &ErrList, msg: &str) -> Exit {
        self.warn_dlerrlist(errs);
        self.die_dlerr(st, msg)
    }

    /// `warn()`.
    pub fn warn(&mut self, msg: &str) {
        let _ = writeln!(self.err, "{}: warning: {}", self.progname, msg);
    }

    /// `warn_dlerr()`.
    pub fn warn_dlerr(&mut self, st: Status, msg: &str) {
        let _ = writeln!(self.err, "{}: warning: {}: {}", self.progname, msg, st);
    }

    /// `die_optdup()`.
    fn die_optdup(&mut self, c: char) -> Exit {
        self.die(&format!(
            "the option -{c} cannot be specified more than once"
        ))
    }

    /// `die_opterr()` for a bad option event.
    pub(crate) fn die_opterr(&mut self, o: &Opt, use_: &str) -> Exit {
        let msg = match o {
            Opt::MissingArg(c) => format!("option '-{c}' requires a value\nusage: {use_}"),
            Opt::Unknown(c) if c.starts_with("--") => {
                format!("unrecognized option '{c}'\nusage: {use_}")
            }
            Opt::Unknown(c) => format!("unrecognized option '-{c}'\nusage: {use_}"),
            Opt::Opt(c, _) => format!("unrecognized option '-{c}'\nusage: {use_}"),
        };
        self.die(&msg)
    }

    /// Open an ofmt handle the way `ofmt_check()` does: fatal errors die,
    /// the others warn.
    pub(crate) fn ofmt_open(
        &mut self,
        fields: Option<&str>,
        tmpl: &[Field],
        flags: Flags,
    ) -> Result<Ofmt, Exit> {
        let (o, e) = Ofmt::open(fields, tmpl, flags, self.rows);
        if let Some(e) = &e {
            let msg = ofmt::strerror(e, flags.parsable);
            if ofmt::is_fatal(e, flags.parsable) {
                return Err(self.die(&msg));
            }
            self.warn(&msg);
        }
        // ofmt::Ofmt::open returns a handle whenever the error is not fatal.
        o.ok_or(Exit(1))
    }

    pub(crate) fn name2id(&mut self, name: &str) -> Result<LinkId, Status> {
        self.b
            .name2info(name)
            .map(|i| i.linkid)
            .map_err(Status::from_errno)
    }

    // --- help ----------------------------------------------------------

    fn do_help(&mut self, _args: &[String], _use: &'static str) -> R {
        self.usage_text();
        Ok(())
    }

    // --- create-overlay ----------------------------------------------------

    fn do_create_overlay(&mut self, args: &[String], use_: &'static str) -> R {
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

    /// Append a `-p` argument to the property list (`strlcat` + `,`).
    fn add_propstr(&mut self, propstr: &mut String, a: &str) -> R {
        propstr.push_str(a);
        if propstr.len() + 1 >= DLADM_STRSIZE {
            let mut shown = propstr.clone();
            shown.truncate(DLADM_STRSIZE - 1);
            return Err(self.die(&format!("property list too long '{shown}'")));
        }
        propstr.push(',');
        Ok(())
    }

    // --- delete-overlay ----------------------------------------------------

    fn do_delete_overlay(&mut self, args: &[String], use_: &'static str) -> R {
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

    fn do_modify_overlay(&mut self, args: &[String], use_: &'static str) -> R {
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
        if flush {
            if let Err(s) = ovl::cache_flush(self.b, linkid) {
                return Err(self.die_dlerr(
                    s,
                    &format!("failed to flush target cache for overlay {name}"),
                ));
            }
        }
        if delete {
            if let Err(s) = ovl::cache_delete(self.b, linkid, mac) {
                return Err(self.die_dlerr(
                    s,
                    &format!("failed to flush target {mactext} from overlay target cache {name}"),
                ));
            }
        }
        if set {
            if let Err(s) = ovl::cache_set(self.b, linkid, mac, &dest) {
                return Err(self.die_dlerr(
                    s,
                    &format!("failed to set target {mactext} for overlay target cache {name}"),
                ));
            }
        }
        Ok(())
    }

    // --- show-overlay --------------------------------------------------------

    fn do_show_overlay(&mut self, args: &[String], use_: &'static str) -> R {
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

    // --- up-overlay ----------------------------------------------------------

    fn do_up_overlay(&mut self, args: &[String], _use: &'static str) -> R {
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

    // --- VNICs -----------------------------------------------------------------

    fn do_create_vnic(&mut self, args: &[String], use_: &'static str) -> R {
        let p = getopt_long(args, ":tfl:m:p:v:", VNIC_LOPTS);
        let mut flags = DLADM_OPT_ACTIVE | DLADM_OPT_PERSIST;
        let mut vid: u16 = 0;
        let mut force = false;
        let mut devname: Option<String> = None;
        let mut mac: Option<MacSpec> = None;
        let mut unsupported_type: Option<String> = None;
        let mut propstr = String::new();
        for o in &p.opts {
            match o {
                Opt::Opt('t', None) => flags &= !DLADM_OPT_PERSIST,
                Opt::Opt('l', Some(a)) => {
                    if a.len() >= MAXLINKNAMELEN {
                        return Err(self.die("link name too long"));
                    }
                    devname = Some(a.clone());
                }
                Opt::Opt('m', Some(a)) => {
                    if mac.is_some() || unsupported_type.is_some() {
                        return Err(self.die("cannot specify -m option twice"));
                    }
                    if a == "fixed" {
                        return Err(self.die("'fixed' is not a valid MAC address"));
                    }
                    match a.as_str() {
                        "auto" => mac = Some(MacSpec::Auto),
                        "random" => mac = Some(MacSpec::Random),
                        "factory" | "vrrp" => unsupported_type = Some(a.clone()),
                        _ => match ether_aton(a) {
                            Some(m) => mac = Some(MacSpec::Fixed(m)),
                            None => return Err(self.die("invalid MAC address")),
                        },
                    }
                }
                Opt::Opt('p', Some(a)) => self.add_propstr(&mut propstr, a)?,
                Opt::Opt('v', Some(a)) => {
                    if vid != 0 {
                        return Err(self.die_optdup('v'));
                    }
                    match str2int(a) {
                        Some(v) if (VLAN_ID_MIN as i64..=VLAN_ID_MAX as i64).contains(&v) => {
                            vid = v as u16
                        }
                        _ => return Err(self.die(&format!("invalid VLAN identifier '{a}'"))),
                    }
                }
                Opt::Opt('f', None) => force = true,
                o => return Err(self.die_opterr(o, use_)),
            }
        }
        // -f (force a VLAN over a link without VLAN support) needs -v;
        // an overlay carries tags, so it changes nothing else.
        if force && vid == 0 {
            return Err(self.die("-f option can only be used with -v"));
        }
        let Some(devname) = devname else {
            return Err(self.usage());
        };
        if p.operands.len() != 1 {
            return Err(self.usage());
        }
        let name = &p.operands[0];
        if name.len() >= MAXLINKNAMELEN {
            return Err(self.die(&format!("link name too long '{name}'")));
        }
        if !valid_linkname(name) {
            return Err(self.die(&format!("invalid link name '{name}'")));
        }
        let over = match self.name2id(&devname) {
            Ok(l) => l,
            Err(_) => return Err(self.die(&format!("invalid link name '{devname}'"))),
        };
        let Some(props) = prop::parse_prop_list(&propstr) else {
            return Err(self.die("invalid vnic property"));
        };
        let failmsg = format!("vnic creation over {devname} failed");
        let mut errs = ErrList::new();
        if unsupported_type.is_some() {
            return Err(self.die_dlerrlist(Status::NotSup, &errs, &failmsg));
        }
        let mut mtu = 0u32;
        for pa in &props {
            match pa.name.as_str() {
                "mtu" => match parse_mtu(pa) {
                    Some(m) => mtu = m,
                    None => return Err(self.die_dlerrlist(Status::BadVal, &errs, &failmsg)),
                },
                _ => return Err(self.die_dlerrlist(Status::NotSup, &errs, &failmsg)),
            }
        }
        let mac = mac.unwrap_or(MacSpec::Auto);
        match vnic::create(self.b, name, over, mac, mtu, vid, flags, &mut errs) {
            Ok(_) => Ok(()),
            Err(s) => Err(self.die_dlerrlist(s, &errs, &failmsg)),
        }
    }

    fn do_delete_vnic(&mut self, args: &[String], use_: &'static str) -> R {
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
            Err(_) => return Err(self.die(&format!("invalid link name '{name}'"))),
        };
        vnic::delete(self.b, linkid, flags).map_err(|s| self.die_dlerr(s, "vnic deletion failed"))
    }

    fn do_up_vnic(&mut self, args: &[String], _use: &'static str) -> R {
        if args.len() > 1 {
            return Err(self.usage());
        }
        let linkid = match args.first() {
            Some(n) => match self.name2id(n) {
                Ok(l) => Some(l),
                Err(s) => return Err(self.die_dlerr(s, &format!("could not bring up vnic '{n}'"))),
            },
            None => None,
        };
        let mut errs = ErrList::default();
        match (vnic::up_errs(self.b, linkid, None, &mut errs), args.first()) {
            (Ok(_), _) => Ok(()),
            (Err(s), Some(n)) => {
                Err(self.die_dlerrlist(s, &errs, &format!("could not bring up vnic '{n}'")))
            }
            (Err(s), None) => Err(self.die_dlerrlist(s, &errs, "could not bring vnics up")),
        }
    }

    fn do_show_vnic(&mut self, args: &[String], use_: &'static str) -> R {
        let p = getopt_long(args, ":pPl:o:", LOPTS);
        let mut parsable = false;
        let mut flags = DLADM_OPT_ACTIVE;
        let mut link: Option<String> = None;
        let mut fields: Option<String> = None;
        for o in &p.opts {
            match o {
                Opt::Opt('p', None) => parsable = true,
                Opt::Opt('P', None) => flags = DLADM_OPT_PERSIST,
                Opt::Opt('l', Some(a)) => {
                    if a.len() >= MAXLINKNAMELEN {
                        return Err(self.die("link name too long"));
                    }
                    link = Some(a.clone());
                }
                Opt::Opt('o', Some(a)) => fields = Some(a.clone()),
                o => return Err(self.die_opterr(o, use_)),
            }
        }
        let mut one: Option<(LinkId, String)> = None;
        if p.operands.len() == 1 {
            let n = p.operands[0].clone();
            match self.name2id(&n) {
                Ok(l) => one = Some((l, n)),
                Err(s) => return Err(self.die_dlerr(s, &format!("invalid vnic name '{n}'"))),
            }
        } else if p.operands.len() > 1 {
            return Err(self.usage());
        }
        let mut over_filter = None;
        if let Some(l) = &link {
            match self.name2id(l) {
                Ok(id) => over_filter = Some(id),
                Err(s) => return Err(self.die_dlerr(s, &format!("invalid link name '{l}'"))),
            }
        }
        let oflags = Flags {
            parsable,
            wrap: false,
        };
        let mut of = self.ofmt_open(fields.as_deref(), VNIC_FIELDS, oflags)?;
        match one {
            None => {
                let links = self
                    .b
                    .walk_links(DATALINK_CLASS_VNIC, flags)
                    .unwrap_or_default();
                for l in links {
                    let _ = self.show_vnic(&mut of, l.linkid, flags, over_filter);
                }
            }
            Some((l, n)) => {
                if let Err(s) = self.show_vnic(&mut of, l, flags, over_filter) {
                    return Err(self.die_dlerr(s, &format!("failed to show vnic '{n}'")));
                }
            }
        }
        Ok(())
    }

    /// `print_vnic()`.
    fn show_vnic(
        &mut self,
        of: &mut Ofmt,
        linkid: LinkId,
        flags: u32,
        over_filter: Option<LinkId>,
    ) -> Result<(), Status> {
        let info = self.b.id2info(linkid).map_err(Status::from_errno)?;
        if info.class != DATALINK_CLASS_VNIC {
            return Err(Status::BadArg);
        }
        if info.flags & flags == 0 {
            return Err(Status::NotFound);
        }
        let attr = if flags & DLADM_OPT_ACTIVE != 0 {
            self.b.vnic_info(linkid).map_err(Status::from_errno)?
        } else {
            self.persistent_vnic(&info)?
        };
        if over_filter.is_some_and(|o| o != attr.over) {
            return Ok(());
        }
        let mut cb = |id: usize| -> Option<String> {
            Some(match id {
                0 => info.name.clone(),
                1 => attr.overname.clone(),
                2 => format!("{}", attr.speed_mbps),
                3 => ether_ntoa(&attr.mac),
                4 => if attr.mac_type == VNIC_MAC_ADDR_TYPE_RANDOM {
                    "random"
                } else {
                    "fixed"
                }
                .into(),
                5 => format!("{}", attr.vid),
                _ => return None,
            })
        };
        of.print(self.out, &mut cb);
        Ok(())
    }

    /// A persistent VNIC's attributes from its configuration (`-P`).
    fn persistent_vnic(&mut self, info: &LinkInfo) -> Result<VnicAttr, Status> {
        let conf = self.b.get_conf(info.linkid).map_err(Status::from_errno)?;
        let mut a = VnicAttr {
            linkid: info.linkid,
            name: info.name.clone(),
            over: 0,
            overname: "?".into(),
            flags: info.flags,
            mac_type: VNIC_MAC_ADDR_TYPE_RANDOM,
            mac: [0; 6],
            mtu: 0,
            vid: 0,
            state: u32::MAX,
            speed_mbps: 0,
        };
        for (k, v) in conf {
            match (k.as_str(), v) {
                ("linkover", ConfVal::U64(x)) => a.over = x as u32,
                ("macaddr", ConfVal::Str(s)) => a.mac = ether_aton(&s).unwrap_or([0; 6]),
                ("mac_type", ConfVal::U64(x)) => a.mac_type = x as u32,
                ("mtu", ConfVal::U64(x)) => a.mtu = x as u32,
                ("vid", ConfVal::U64(x)) => a.vid = x as u32,
                _ => {}
            }
        }
        if let Ok(o) = self.b.id2info(a.over) {
            a.overname = o.name;
        }
        Ok(a)
    }

    fn do_show_link(&mut self, args: &[String], use_: &'static str) -> R {
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

/// `str2int()`: `strtol(s, &end, 10)` that must consume the whole string
/// (leading white space and a sign allowed) and fit an `int`.
pub fn str2int(s: &str) -> Option<i64> {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let v: i64 = digits.parse().ok()?;
    let v = if neg { -v } else { v };
    i32::try_from(v).ok().map(i64::from)
}

/// A VNIC `-p mtu=<n>` value: one strictly decimal value.
fn parse_mtu(pa: &PropArg) -> Option<u32> {
    if pa.values.len() != 1 {
        return None;
    }
    let v = &pa.values[0];
    if v.is_empty() || !v.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    v.parse().ok().filter(|&m| m > 0)
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
