//! The interpreter's state and its messages: the backend, the output
//! streams, the program name, and dladm.c's `die()` family.
//!
//! Theory of operation: every subcommand runs as a method of [`Cli`], which
//! owns what it needs (the [`Backend`], stdout, stderr, the terminal size
//! and the text `usage()` prints). The command table in [`super`] builds a
//! `Cli` and hands it down; nothing here looks back up at the table.
//! Messages follow illumos (spec/userland.md §8): `die()` prints
//! `dladm: <msg>` and exits 1, `die_dlerr()` appends `: <status>`,
//! `die_dlerrlist()` first prints each detail as `dladm: warning: <entry>`,
//! `warn()` prints `dladm: warning: <msg>`. A failing subcommand returns
//! [`Exit`] with its status, carried out by `?`.

use std::io::Write;

use crate::backend::{Backend, LinkId};
use crate::getopt::Opt;
use crate::ofmt::{self, Field, Flags, Ofmt};
use crate::status::{ErrList, Status};

/// A subcommand's exit status, carried out by `?`.
#[derive(Debug, PartialEq, Eq)]
pub struct Exit(pub i32);

pub type R = Result<(), Exit>;

/// The command-line interpreter: a backend and two output streams.
pub struct Cli<'a> {
    pub b: &'a mut dyn Backend,
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
    pub progname: String,
    /// Terminal rows, for header repetition.
    pub rows: usize,
    /// The usage of every subcommand, printed by `usage()`: the command
    /// table above hands it down.
    pub usage_all: String,
}

/// Whether the link/VNIC subcommands are ours on this platform (on
/// illumos they are the system dladm's).
pub fn link_cmds_here() -> bool {
    !cfg!(target_os = "illumos")
}

impl<'a> Cli<'a> {
    /// Print the usage of every subcommand (`usage()` without exiting).
    pub(crate) fn usage_text(&mut self) {
        let _ = self.err.write_all(self.usage_all.as_bytes());
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
    pub(crate) fn warn_dlerrlist(&mut self, errs: &ErrList) {
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
    pub(crate) fn die_optdup(&mut self, c: char) -> Exit {
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
}
