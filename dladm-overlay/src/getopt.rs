//! `getopt_long(3C)` as dladm uses it.
//!
//! dladm's subcommands parse their arguments with an option string that
//! starts with `:` (so a missing argument is reported as `:` and an unknown
//! option as `?`, both turned into messages by `die_opterr`) and a table of
//! long options. illumos' `getopt_long` is GNU-compatible: it permutes, so
//! operands may come before options, `--` ends option parsing, short options
//! may be clustered (`-pP`) and take their argument attached (`-vfoo`) or as
//! the next word, long options take `--name=value` or `--name value` and may
//! be abbreviated to a unique prefix.
//!
//! The parser returns the options as a list of events *in order*, so a
//! command can act on them one by one (and fail at the first bad one) just
//! as the C `while ((opt = getopt_long(...)) != -1)` loop does.

/// One entry of a long-option table (`struct option`).
#[derive(Clone, Copy, Debug)]
pub struct LongOpt {
    pub name: &'static str,
    pub has_arg: bool,
    pub val: char,
}

/// Shorthand for a table entry.
pub const fn lo(name: &'static str, has_arg: bool, val: char) -> LongOpt {
    LongOpt { name, has_arg, val }
}

/// One result of the option loop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Opt {
    /// A recognised option and its argument.
    Opt(char, Option<String>),
    /// `:`: the option needs an argument and none was given (its letter).
    MissingArg(String),
    /// `?`: the option is not in the option string / table.
    Unknown(String),
}

/// The parsed command line: option events in order, then the operands.
#[derive(Clone, Debug, Default)]
pub struct Parsed {
    pub opts: Vec<Opt>,
    pub operands: Vec<String>,
}

/// Whether short option `c` exists in `optstring` and takes an argument.
fn short_spec(optstring: &str, c: char) -> Option<bool> {
    if c == ':' {
        return None;
    }
    let s: Vec<char> = optstring.trim_start_matches(':').chars().collect();
    let i = s.iter().position(|&x| x == c)?;
    Some(s.get(i + 1) == Some(&':'))
}

/// Parse `args` (the words after the subcommand name).
pub fn getopt_long(args: &[String], optstring: &str, longopts: &[LongOpt]) -> Parsed {
    let mut p = Parsed::default();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--" {
            p.operands.extend(args[i..].iter().cloned());
            break;
        }
        if let Some(body) = a.strip_prefix("--") {
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            let exact = longopts.iter().find(|l| l.name == name);
            let lopt = match exact {
                Some(l) => Some(*l),
                None => {
                    let cands: Vec<&LongOpt> = longopts
                        .iter()
                        .filter(|l| l.name.starts_with(name))
                        .collect();
                    // An ambiguous prefix is only harmless if every
                    // candidate is the same option (parsable/parseable).
                    if !name.is_empty()
                        && !cands.is_empty()
                        && cands
                            .iter()
                            .all(|c| c.val == cands[0].val && c.has_arg == cands[0].has_arg)
                    {
                        Some(*cands[0])
                    } else {
                        None
                    }
                }
            };
            match lopt {
                None => p.opts.push(Opt::Unknown(format!("--{name}"))),
                Some(l) if l.has_arg => {
                    if let Some(v) = inline {
                        p.opts.push(Opt::Opt(l.val, Some(v)));
                    } else if i < args.len() {
                        p.opts.push(Opt::Opt(l.val, Some(args[i].clone())));
                        i += 1;
                    } else {
                        // getopt_long reports the option's `val` (optopt).
                        p.opts.push(Opt::MissingArg(l.val.to_string()));
                    }
                }
                Some(l) => {
                    if inline.is_some() {
                        // GNU: "option '--x' doesn't allow an argument" is
                        // reported as an unknown option ('?').
                        p.opts.push(Opt::Unknown(format!("--{}", l.name)));
                    } else {
                        p.opts.push(Opt::Opt(l.val, None));
                    }
                }
            }
            continue;
        }
        if a.len() > 1 && a.starts_with('-') {
            let chars: Vec<char> = a.chars().skip(1).collect();
            let mut j = 0;
            while j < chars.len() {
                let c = chars[j];
                j += 1;
                match short_spec(optstring, c) {
                    None => p.opts.push(Opt::Unknown(c.to_string())),
                    Some(false) => p.opts.push(Opt::Opt(c, None)),
                    Some(true) => {
                        if j < chars.len() {
                            let v: String = chars[j..].iter().collect();
                            p.opts.push(Opt::Opt(c, Some(v)));
                        } else if i < args.len() {
                            p.opts.push(Opt::Opt(c, Some(args[i].clone())));
                            i += 1;
                        } else {
                            p.opts.push(Opt::MissingArg(c.to_string()));
                        }
                        break;
                    }
                }
            }
            continue;
        }
        p.operands.push(a.clone());
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    const L: &[LongOpt] = &[
        lo("encap", true, 'e'),
        lo("temporary", false, 't'),
        lo("parsable", false, 'p'),
        lo("parseable", false, 'p'),
    ];

    #[test]
    fn short_long_and_permutation() {
        let p = getopt_long(
            &v(&[
                "demo0",
                "-te",
                "vxlan",
                "--encap=x",
                "-evx",
                "--temp",
                "--",
                "-t",
            ]),
            ":te:",
            L,
        );
        assert_eq!(
            p.opts,
            vec![
                Opt::Opt('t', None),
                Opt::Opt('e', Some("vxlan".into())),
                Opt::Opt('e', Some("x".into())),
                Opt::Opt('e', Some("vx".into())),
                Opt::Opt('t', None),
            ]
        );
        assert_eq!(p.operands, v(&["demo0", "-t"]));
    }

    #[test]
    fn errors() {
        let p = getopt_long(&v(&["-x", "--pars", "--nope", "-e"]), ":te:", L);
        assert_eq!(
            p.opts,
            vec![
                Opt::Unknown("x".into()),
                Opt::Opt('p', None),
                Opt::Unknown("--nope".into()),
                Opt::MissingArg("e".into()),
            ]
        );
    }
}
