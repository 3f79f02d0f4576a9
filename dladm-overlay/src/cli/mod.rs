//! The `dladm` command line (`usr/src/cmd/dladm/dladm.c`, overlay parts,
//! plus the link and VNIC subcommands on Linux).
//!
//! Theory of operation: `run()` takes the arguments, a `Backend` and two output streams and
//! returns the exit status, so every subcommand can be tested end to end
//! against the in-memory backend. Messages, usage strings, option letters,
//! long options, columns and exit codes follow illumos (spec/userland.md
//! §8): `die()` prints `dladm: <msg>` and exits 1, `die_dlerr()` appends
//! `: <status>`, `die_dlerrlist()` first prints each detail as
//! `dladm: warning: <entry>`, `warn()` prints `dladm: warning: <msg>`.
//! Two harmless illumos output quirks are not kept: `die()`'s final newline
//! goes to stderr (illumos wrote it to stdout), and messages whose format
//! ended in `\n` do not print an extra blank line.
//!
//! The subcommands live one concept per file: [`args`] (usage strings,
//! option tables, value parsers), [`ctx`] (the interpreter state and the
//! `die()` family), [`overlay`], [`show_overlay`], [`vnic`], [`link`] and
//! [`linkprop`]. This file holds only the command table: it builds the
//! [`Cli`] with what the subcommands need, the full usage text included,
//! and dispatches; the subcommands never reach back up to it.

use std::io::Write;

use crate::backend::Backend;

pub mod args;
pub mod ctx;
pub mod link;
pub mod linkprop;
pub mod overlay;
pub mod show_overlay;
pub mod vnic;

pub use args::{
    str2int, USE_CREATE_OVERLAY, USE_CREATE_VNIC, USE_DELETE_OVERLAY, USE_DELETE_VNIC,
    USE_MODIFY_OVERLAY, USE_RESET_LINKPROP, USE_SET_LINKPROP, USE_SHOW_LINK, USE_SHOW_LINKPROP,
    USE_SHOW_OVERLAY, USE_SHOW_VNIC,
};
use ctx::R;
pub use ctx::{link_cmds_here, Cli, Exit};
pub use link::LINK_FIELDS;
pub use linkprop::LINKPROP_FIELDS;
pub use show_overlay::{format_dest, OVERLAY_FIELDS, OVERLAY_FMA_FIELDS, OVERLAY_TARG_FIELDS};
pub use vnic::VNIC_FIELDS;

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
        usage: Some(USE_SET_LINKPROP),
        linux_only: true,
    },
    Cmd {
        name: "reset-linkprop",
        usage: Some(USE_RESET_LINKPROP),
        linux_only: true,
    },
    Cmd {
        name: "show-linkprop",
        usage: Some(USE_SHOW_LINKPROP),
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

/// The usage of every subcommand this platform has (`usage()`).
fn usage_all() -> String {
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
    s
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
        usage_all: usage_all(),
    };
    match dispatch(&mut cli, args) {
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

/// Run the subcommand `args[1]` (`show-link` when there is none).
fn dispatch(cli: &mut Cli<'_>, args: &[String]) -> R {
    let sub = args.get(1).cloned().unwrap_or_else(|| "show-link".into());
    let rest: Vec<String> = args.iter().skip(2).cloned().collect();
    for c in CMDS {
        if c.name == sub {
            if c.linux_only && !link_cmds_here() {
                return Err(cli.die(&format!(
                    "{sub}: use the system dladm(8) for links and VNICs on illumos"
                )));
            }
            let u = c.usage.unwrap_or("");
            return match c.name {
                "help" => do_help(cli),
                "show-link" => cli.do_show_link(&rest, u),
                "create-vnic" => cli.do_create_vnic(&rest, u),
                "delete-vnic" => cli.do_delete_vnic(&rest, u),
                "show-vnic" => cli.do_show_vnic(&rest, u),
                "up-vnic" => cli.do_up_vnic(&rest, u),
                "set-linkprop" => cli.do_set_linkprop(&rest, u, false),
                "reset-linkprop" => cli.do_set_linkprop(&rest, u, true),
                "show-linkprop" => cli.do_show_linkprop(&rest, u),
                "create-overlay" => cli.do_create_overlay(&rest, u),
                "delete-overlay" => cli.do_delete_overlay(&rest, u),
                "modify-overlay" => cli.do_modify_overlay(&rest, u),
                "show-overlay" => cli.do_show_overlay(&rest, u),
                _ => cli.do_up_overlay(&rest, u),
            };
        }
    }
    let p = cli.progname.clone();
    let _ = writeln!(cli.err, "{p}: unknown subcommand '{sub}'");
    Err(cli.usage())
}

/// `help`: the usage of every subcommand, exit 0.
fn do_help(cli: &mut Cli<'_>) -> R {
    cli.usage_text();
    Ok(())
}
