//! Argument syntax: the usage strings, the long-option tables and the
//! small value parsers the subcommands share.
//!
//! Theory of operation: each subcommand parses its arguments with
//! [`getopt_long`](crate::getopt::getopt_long) and the option string and
//! long-option table kept here (dladm.c's `lopts`, `show_lopts`,
//! `vnic_lopts`, `overlay_*_lopts`, `prop_longopts`); the usage strings are
//! dladm.c's `use_*` texts, printed by `usage()` and after an unknown
//! option. Values are parsed strictly: `str2int()` must consume the whole
//! string.

use crate::cli::ctx::{Cli, R};
use crate::getopt::{lo, LongOpt};
use crate::prop::PropArg;

/// `DLADM_STRSIZE`: the `-p` list buffer.
const DLADM_STRSIZE: usize = 1024;

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
pub const USE_SET_LINKPROP: &str = "    set-linkprop     [-t] -p <prop>=<value>[,...] <name>";
pub const USE_RESET_LINKPROP: &str = "    reset-linkprop   [-t] [-p <prop>,...] <name>";
pub const USE_SHOW_LINKPROP: &str =
    "    show-linkprop    [-cP] [-o <field>,...] [-p <prop>,...] <name>\n";

/// `lopts` (the shared table: delete-overlay, delete-vnic).
pub(crate) const LOPTS: &[LongOpt] = &[
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

pub(crate) const SHOW_LOPTS: &[LongOpt] = &[
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

pub(crate) const VNIC_LOPTS: &[LongOpt] = &[
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

pub(crate) const OVERLAY_CREATE_LOPTS: &[LongOpt] = &[
    lo("encap", true, 'e'),
    lo("prop", true, 'p'),
    lo("search", true, 's'),
    lo("temporary", false, 't'),
    lo("vnetid", true, 'v'),
];

pub(crate) const OVERLAY_MODIFY_LOPTS: &[LongOpt] = &[
    lo("delete-entry", true, 'd'),
    lo("flush-table", false, 'f'),
    lo("set-entry", true, 's'),
];

pub(crate) const OVERLAY_SHOW_LOPTS: &[LongOpt] = &[
    lo("fma", false, 'f'),
    lo("target", false, 't'),
    lo("parsable", false, 'p'),
    lo("parseable", false, 'p'),
    lo("output", true, 'o'),
];

pub(crate) const PROP_LOPTS: &[LongOpt] = &[
    lo("prop", true, 'p'),
    lo("temporary", false, 't'),
    lo("root-dir", true, 'R'),
    lo("parsable", false, 'c'),
    lo("parseable", false, 'c'),
    lo("persistent", false, 'P'),
    lo("output", true, 'o'),
];

impl<'a> Cli<'a> {
    /// Append a `-p` argument to the property list (`strlcat` + `,`).
    pub(crate) fn add_propstr(&mut self, propstr: &mut String, a: &str) -> R {
        propstr.push_str(a);
        if propstr.len() + 1 >= DLADM_STRSIZE {
            let mut shown = propstr.clone();
            shown.truncate(DLADM_STRSIZE - 1);
            return Err(self.die(&format!("property list too long '{shown}'")));
        }
        propstr.push(',');
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
pub(crate) fn parse_mtu(pa: &PropArg) -> Option<u32> {
    if pa.values.len() != 1 {
        return None;
    }
    let v = &pa.values[0];
    if v.is_empty() || !v.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    v.parse().ok().filter(|&m| m > 0)
}

/// `prop=value,prop=value` (set) or `prop,prop` (reset, show).
pub(crate) fn parse_props(s: &str) -> Vec<(String, Option<String>)> {
    s.split(',')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (p.to_string(), None),
        })
        .collect()
}
