//! libofmt: the output formatter behind every `dladm show-*` subcommand.
//!
//! A subcommand describes its columns (name and width) and opens a
//! formatter with the user's `-o` field list (or all fields), then prints
//! one row per object by answering, per column, "what is the value?".
//! Behaviour follows illumos `libofmt` exactly:
//!
//! * human mode: a header line (repeated every terminal-height rows), each
//!   field left-justified in its width (the width includes the separating
//!   space), the last field unpadded; a value wider than its column pushes
//!   later columns right and the overflow is absorbed by later short values;
//!   an empty value prints as `--`, a failed one as `?`;
//! * `OFMT_WRAP`: a value that is a comma-separated list is split over
//!   several lines so that each line fits the column;
//! * parsable mode (`-p`): no header, fields joined by `:`, and when more
//!   than one field is selected every `:` and `\` inside a value is escaped
//!   with a backslash. Parsable mode requires an explicit field list and
//!   refuses `all`.
//! * unknown field names are a warning in human mode and fatal in parsable
//!   mode (`ofmt_check`).

use std::io::Write;

/// A column of a subcommand's template (`ofmt_field_t`).
#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub name: &'static str,
    pub width: usize,
    /// The id the row callback is asked about.
    pub id: usize,
}

pub const fn f(name: &'static str, width: usize, id: usize) -> Field {
    Field { name, width, id }
}

/// `ofmt_status_t` errors from `ofmt_open`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OfmtError {
    BadFields(Vec<String>),
    NoFields,
    ParseAll,
    ParseNone,
}

/// Open flags.
#[derive(Clone, Copy, Debug, Default)]
pub struct Flags {
    pub parsable: bool,
    pub wrap: bool,
}

/// An open formatter (`ofmt_handle_t`).
pub struct Ofmt {
    fields: Vec<Field>,
    flags: Flags,
    nrow: usize,
    rows: usize,
    overflow: usize,
}

/// `ofmt_strerror()` text.
pub fn strerror(e: &OfmtError, parsable: bool) -> String {
    match e {
        OfmtError::BadFields(bad) => {
            let s = match (parsable, bad.len() > 1) {
                (false, true) => "ignoring unknown output fields:",
                (false, false) => "ignoring unknown output field:",
                (true, true) => "unknown output fields:",
                (true, false) => "unknown output field:",
            };
            let mut out = s.to_string();
            for b in bad {
                out.push_str(&format!(" `{b}'"));
            }
            out
        }
        OfmtError::NoFields => "no valid output fields".into(),
        OfmtError::ParseAll => "output field `all' invalid in parsable mode".into(),
        OfmtError::ParseNone => "output fields must be specified in parsable mode".into(),
    }
}

/// Whether an `ofmt_open` error is fatal (`ofmt_check`): all errors are in
/// parsable mode; `NoFields` always is.
pub fn is_fatal(e: &OfmtError, parsable: bool) -> bool {
    parsable || matches!(e, OfmtError::NoFields)
}

/// Number of terminal rows for header repetition: the window size when
/// stdout is a terminal, else 24 (libofmt's fallback).
pub fn terminal_rows() -> usize {
    // SAFETY: TIOCGWINSZ writes a `winsize` into the struct we pass, which
    // lives for the whole call; a failing ioctl leaves it zeroed.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: see above; fd 1 may be anything, errors are handled.
    let r = unsafe { libc::ioctl(1, libc::TIOCGWINSZ, &mut ws) };
    if r == -1 || ws.ws_row == 0 || ws.ws_col == 0 {
        24
    } else {
        ws.ws_row as usize
    }
}

impl Ofmt {
    /// `ofmt_open(str, template, flags, 0)`. On success the returned error
    /// list may still hold a warning (`BadFields` in human mode).
    pub fn open(
        fields_str: Option<&str>,
        template: &[Field],
        flags: Flags,
        rows: usize,
    ) -> (Option<Ofmt>, Option<OfmtError>) {
        if flags.parsable {
            match fields_str {
                None | Some("") => return (None, Some(OfmtError::ParseNone)),
                Some(s) if s.eq_ignore_ascii_case("all") => {
                    return (None, Some(OfmtError::ParseAll))
                }
                _ => {}
            }
        }
        let names: Vec<String> = match fields_str {
            Some(s) if !s.eq_ignore_ascii_case("all") => s
                .split(',')
                .filter(|x| !x.is_empty())
                .map(|x| x.to_string())
                .collect(),
            _ => template.iter().map(|f| f.name.to_string()).collect(),
        };
        let mut fields = Vec::new();
        let mut bad = Vec::new();
        for n in &names {
            match template.iter().find(|f| f.name.eq_ignore_ascii_case(n)) {
                Some(f) => fields.push(*f),
                None => bad.push(n.clone()),
            }
        }
        if fields.is_empty() {
            return (None, Some(OfmtError::NoFields));
        }
        let err = if bad.is_empty() {
            None
        } else {
            Some(OfmtError::BadFields(bad))
        };
        (
            Some(Ofmt {
                fields,
                flags,
                nrow: 0,
                rows: rows.max(1),
                overflow: 0,
            }),
            err,
        )
    }

    fn print_field(&mut self, out: &mut String, idx: usize, value: &str, escsep: bool) {
        let last = idx + 1 == self.fields.len();
        let mut width = self.fields[idx].width;
        if self.flags.parsable {
            if self.fields.len() == 1 {
                out.push_str(value);
                return;
            }
            for c in value.chars() {
                if escsep && (c == ':' || c == '\\') {
                    out.push('\\');
                }
                out.push(c);
            }
            if !last {
                out.push(':');
            }
            return;
        }
        if last {
            out.push_str(value);
            self.overflow = 0;
            return;
        }
        let valwidth = value.len();
        if valwidth + self.overflow >= width {
            // valwidth + overflow >= width, so this cannot underflow.
            self.overflow = self.overflow + valwidth + 1 - width;
            out.push_str(value);
            out.push(' ');
            return;
        }
        if self.overflow > 0 {
            let compress = self.overflow.min(width - valwidth);
            self.overflow -= compress;
            width -= compress;
        }
        out.push_str(&format!("{value:<width$}"));
    }

    fn header(&mut self, out: &mut String) {
        let escsep = self.fields.len() > 1;
        for i in 0..self.fields.len() {
            let name = self.fields[i].name;
            self.print_field(out, i, name, escsep);
        }
        out.push('\n');
    }

    /// `ofmt_print()`: `value(id)` returns `Some(text)` or `None` for a
    /// value that could not be produced (printed as `?`).
    pub fn print(&mut self, w: &mut dyn Write, value: &mut dyn FnMut(usize) -> Option<String>) {
        let mut out = String::new();
        let parsable = self.flags.parsable;
        let wrap = self.flags.wrap;
        let n = self.fields.len();
        let row = self.nrow;
        self.nrow += 1;
        if row.is_multiple_of(self.rows) && !parsable {
            self.header(&mut out);
            self.nrow += 1;
        }
        let escsep = n > 1;
        let mut splits: Vec<Option<Split>> = vec![None; n];
        let mut more = false;
        for (i, split) in splits.iter_mut().enumerate() {
            match value(self.fields[i].id) {
                Some(mut v) => {
                    if wrap {
                        let width = self.fields[i].width;
                        if let Some(sp) = Split::new(&v) {
                            let mut sp = sp;
                            v = sp.fit(width);
                            if sp.cur < sp.parts.len() {
                                more = true;
                            }
                            *split = Some(sp);
                        }
                    }
                    let shown = if v.is_empty() && !parsable {
                        "--".to_string()
                    } else {
                        v
                    };
                    self.print_field(&mut out, i, &shown, escsep);
                }
                None => self.print_field(&mut out, i, "?", escsep),
            }
        }
        out.push('\n');
        while more {
            more = false;
            for (i, split) in splits.iter_mut().enumerate() {
                let width = self.fields[i].width;
                let v = match split.as_mut() {
                    Some(sp) => {
                        let v = sp.fit(width);
                        if sp.cur < sp.parts.len() {
                            more = true;
                        }
                        v
                    }
                    None => String::new(),
                };
                self.print_field(&mut out, i, &v, escsep);
            }
            out.push('\n');
        }
        // Output errors (a closed pipe) are not this formatter's to report.
        let _ = w.write_all(out.as_bytes());
    }
}

/// A value split at commas for `OFMT_WRAP` (libofmt's `split_t`).
#[derive(Clone, Debug)]
struct Split {
    parts: Vec<String>,
    cur: usize,
}

impl Split {
    fn new(v: &str) -> Option<Split> {
        if v.is_empty() {
            return None;
        }
        let parts: Vec<String> = v
            .split(',')
            .filter(|p| !p.is_empty())
            .map(|p| p.to_string())
            .collect();
        if parts.is_empty() {
            return None;
        }
        Some(Split { parts, cur: 0 })
    }

    /// `ofmt_fit_width()`: the next line's worth of parts.
    fn fit(&mut self, width: usize) -> String {
        let mut value = String::new();
        let mut i = self.cur;
        while i < self.parts.len() {
            value.push_str(&self.parts[i]);
            value.push(',');
            let nextlen = if i + 1 == self.parts.len() {
                value.pop();
                0
            } else {
                self.parts[i + 1].len()
            };
            if value.len() + nextlen > width {
                i += 1;
                break;
            }
            i += 1;
        }
        self.cur = i;
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &[Field] = &[f("LINK", 8, 0), f("VALUE", 6, 1), f("POSSIBLE", 10, 2)];

    fn run(fields: Option<&str>, flags: Flags, rows: &[[&str; 3]]) -> String {
        let (o, e) = Ofmt::open(fields, T, flags, 24);
        assert!(e.is_none());
        let mut o = o.unwrap();
        let mut buf = Vec::new();
        for r in rows {
            o.print(&mut buf, &mut |id| Some(r[id].to_string()));
        }
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn human_overflow_and_wrap() {
        let s = run(
            None,
            Flags {
                wrap: true,
                ..Flags::default()
            },
            &[["averylonglink0", "1", "direct,files,svp"], ["a0", "", "x"]],
        );
        assert_eq!(
            s,
            "LINK    VALUE POSSIBLE\n\
             averylonglink0 1 direct,\n\
             \x20             files,svp\n\
             a0      --    x\n"
        );
    }

    #[test]
    fn parsable_escapes() {
        let s = run(
            Some("link,value"),
            Flags {
                parsable: true,
                ..Flags::default()
            },
            &[["a:b", "c\\d", "x"]],
        );
        assert_eq!(s, "a\\:b:c\\\\d\n");
        let s = run(
            Some("value"),
            Flags {
                parsable: true,
                ..Flags::default()
            },
            &[["a:b", "fe80::1", "x"]],
        );
        assert_eq!(s, "fe80::1\n");
    }

    #[test]
    fn open_errors() {
        let p = Flags {
            parsable: true,
            ..Flags::default()
        };
        assert_eq!(Ofmt::open(None, T, p, 24).1, Some(OfmtError::ParseNone));
        assert_eq!(
            Ofmt::open(Some("ALL"), T, p, 24).1,
            Some(OfmtError::ParseAll)
        );
        assert_eq!(
            Ofmt::open(Some("nope"), T, Flags::default(), 24).1,
            Some(OfmtError::NoFields)
        );
        let (o, e) = Ofmt::open(Some("link,nope,x"), T, Flags::default(), 24);
        assert!(o.is_some());
        assert_eq!(
            strerror(&e.unwrap(), false),
            "ignoring unknown output fields: `nope' `x'"
        );
    }
}
