//! `cargo xtask kmod`: build the illumos kernel object and check it.
//!
//! # Theory of operation
//!
//! `kernel/kmod` is a `staticlib` built like OPTE's xde: the `nightly`
//! toolchain, `-Z build-std=core,alloc`, and the kernel target JSON beside
//! its manifest (kernel code model, no red zone, soft-float, static
//! relocations, panic=abort, frame pointers). The archive is then linked
//! with `ld -r --whole-archive` into one relocatable object, `overlay.o`,
//! which an illumos build host turns into the module with
//! `ld -ztype=kmod ...` (docs/illumos.md).
//!
//! krtld, the kernel's runtime linker, has no GOT or PLT to offer and
//! resolves undefined symbols only against the kernel and the modules named
//! with `-N`, so the object is checked for:
//!
//! 1. no GOT-relative relocations (`R_X86_64_GOTPCREL` and the rest of the
//!    `*GOT*` family), no thread-local-storage relocations, and no
//!    zero-extended 32-bit absolute ones (`R_X86_64_32`) outside debug
//!    sections (the kernel code model lives in the top 2 GiB);
//! 2. every undefined symbol on the allowlist kept in the repo,
//!    `kernel/kmod/allowlist.txt` (one illumos kernel interface a line);
//! 3. `_init`, `_info` and `_fini` defined (global, in text).
//!
//! The checks read the object with binutils (`readelf -rW`, `nm -P`). The
//! last line printed (on stdout) is the object's path.
//!
//! `cargo xtask kmod check <object> [allowlist]` runs only the checks;
//! `cargo xtask kmod host-tests` the host tests of the kernel backends.

use crate::util::{root, Result};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The kernel target JSON's file stem (also its output directory name).
pub const TARGET: &str = "x86_64-illumos-kernel";
/// The symbols a loadable module must define.
pub const REQUIRED: &[&str] = &["_init", "_info", "_fini"];

pub fn run(args: &[String]) -> Result {
    match args.first().map(String::as_str) {
        None => {
            // A fresh clone: make sure nightly + rust-src and binutils exist.
            crate::setup::ensure_illumos_toolchains()?;
            crate::setup::ensure_apt(&["binutils"])?;
            let obj = build()?;
            println!("{}", obj.display());
            Ok(())
        }
        Some("host-tests") => host_tests(),
        Some("check") => {
            let obj = args
                .get(1)
                .ok_or("usage: cargo xtask kmod check <object> [allowlist]")?;
            let allow = match args.get(2) {
                Some(p) => PathBuf::from(p),
                None => kmod_dir().join("allowlist.txt"),
            };
            check_object(Path::new(obj), &load_allowlist(&allow)?)?;
            eprintln!("kmod: {obj}: checks passed");
            Ok(())
        }
        Some(other) => Err(format!(
            "cargo xtask kmod: unknown argument {other:?} (usage: kmod [check <object> [allowlist] | host-tests])"
        )),
    }
}

pub fn kmod_dir() -> PathBuf {
    root().join("kernel").join("kmod")
}

/// Where the kmod build puts its artifacts: `OVERLAY_KMOD_TARGET_DIR`, or
/// `kernel/kmod/target`. Never the caller's `CARGO_TARGET_DIR`: the nightly
/// build-std artifacts must not churn the stable workspace's.
fn target_dir() -> PathBuf {
    match std::env::var_os("OVERLAY_KMOD_TARGET_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => kmod_dir().join("target"),
    }
}

/// Builds, links and checks; returns the object's path.
pub fn build() -> Result<PathBuf> {
    let dir = kmod_dir();
    let tdir = target_dir();
    let json = dir.join(format!("{TARGET}.json"));
    // Run the rustup proxy `cargo` from PATH (not $CARGO, which is the
    // stable toolchain's binary), with nothing of the outer cargo
    // invocation leaking into the nested one.
    let mut cmd = Command::new("cargo");
    cmd.current_dir(&dir)
        .args(["+nightly", "build", "--release", "--target"])
        .arg(&json)
        .args(["-Z", "build-std=core,alloc", "-Z", "json-target-spec"])
        .arg("--target-dir")
        .arg(&tdir);
    for v in [
        "RUSTUP_TOOLCHAIN",
        "RUSTC",
        "RUSTDOC",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_TARGET_DIR",
    ] {
        cmd.env_remove(v);
    }
    run_in(&mut cmd)?;

    let out = tdir.join(TARGET).join("release");
    let archive = out.join("liboverlay_kmod.a");
    let obj = out.join("overlay.o");
    let mut ld = Command::new("ld");
    ld.args(["-r", "-o"])
        .arg(&obj)
        .arg("--whole-archive")
        .arg(&archive)
        .arg("--no-whole-archive");
    run_in(&mut ld)?;

    check_object(&obj, &load_allowlist(&dir.join("allowlist.txt"))?)?;
    eprintln!(
        "kmod: {}: no GOT/TLS/abs32 relocations, undefined symbols allowlisted, {} defined",
        obj.display(),
        REQUIRED.join("/")
    );
    Ok(obj)
}

/// The kmod workspaces' own checks, on the build host: formatting of
/// `kernel/kmod` and `kernel/kmod/hosttest`, and the host tests of the
/// driver's kernel backends (`kernel/overlay/src/illumos` against a mock
/// DDI; see kernel/kmod/hosttest/src/lib.rs).
pub fn host_tests() -> Result {
    let dir = kmod_dir();
    for m in [
        dir.join("Cargo.toml"),
        dir.join("hosttest").join("Cargo.toml"),
    ] {
        let mut fmt = Command::new("cargo");
        fmt.arg("fmt")
            .arg("--manifest-path")
            .arg(&m)
            .args(["--", "--check"]);
        fmt.env_remove("RUSTUP_TOOLCHAIN");
        run_in(&mut fmt)?;
    }
    let mut t = Command::new("cargo");
    t.arg("test")
        .arg("--manifest-path")
        .arg(dir.join("hosttest").join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir().join("hosttest"));
    for v in ["RUSTFLAGS", "CARGO_TARGET_DIR", "CARGO_BUILD_TARGET"] {
        t.env_remove(v);
    }
    run_in(&mut t)
}

fn run_in(cmd: &mut Command) -> Result {
    eprintln!("+ {cmd:?}");
    let st = cmd
        .status()
        .map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("{:?} failed: {st}", cmd.get_program()))
    }
}

fn output(cmd: &mut Command) -> Result<String> {
    let o = cmd
        .output()
        .map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
    if !o.status.success() {
        return Err(format!(
            "{cmd:?} failed: {}: {}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

/// Reads an allowlist: one symbol a line; `#` starts a comment.
pub fn load_allowlist(path: &Path) -> Result<BTreeSet<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read allowlist {}: {e}", path.display()))?;
    parse_allowlist(&text).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn parse_allowlist(text: &str) -> Result<BTreeSet<String>> {
    let mut set = BTreeSet::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if line.split_whitespace().count() != 1 {
            return Err(format!("line {}: one symbol per line: {line:?}", n + 1));
        }
        if !set.insert(line.to_string()) {
            return Err(format!("line {}: {line} listed twice", n + 1));
        }
    }
    Ok(set)
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Violation {
    /// A GOT-relative relocation (`R_X86_64_GOTPCREL`, ...): type and symbol.
    GotRelocation(String, String),
    /// A thread-local-storage relocation: the kernel has no TLS.
    TlsRelocation(String, String),
    /// A zero-extended 32-bit absolute relocation (`R_X86_64_32`) outside
    /// debug sections: the kernel lives in the top 2 GiB, where only
    /// sign-extended (`R_X86_64_32S`) or 64-bit ones fit; section, symbol.
    Abs32Relocation(String, String),
    /// An undefined symbol not on the allowlist.
    NotAllowed(String),
    /// `_init`, `_info` or `_fini` is not defined in text.
    Missing(String),
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Violation::GotRelocation(t, s) => write!(f, "GOT relocation {t} against {s}"),
            Violation::TlsRelocation(t, s) => write!(f, "TLS relocation {t} against {s}"),
            Violation::Abs32Relocation(sec, s) => write!(
                f,
                "R_X86_64_32 against {s} in {sec}: not valid in the kernel code model"
            ),
            Violation::NotAllowed(s) => {
                write!(f, "undefined symbol {s} is not on the kernel allowlist")
            }
            Violation::Missing(s) => write!(f, "{s} is not defined"),
        }
    }
}

/// Runs every check on `obj`; an error lists every violation.
pub fn check_object(obj: &Path, allow: &BTreeSet<String>) -> Result {
    let v = violations(obj, allow)?;
    if v.is_empty() {
        return Ok(());
    }
    let mut msg = format!(
        "{}: {} kernel-object check(s) failed:",
        obj.display(),
        v.len()
    );
    for x in &v {
        msg.push_str("\n  ");
        msg.push_str(&x.to_string());
    }
    Err(msg)
}

pub fn violations(obj: &Path, allow: &BTreeSet<String>) -> Result<Vec<Violation>> {
    if !obj.is_file() {
        return Err(format!("{}: no such object", obj.display()));
    }
    let relocs = output(Command::new("readelf").arg("-rW").arg(obj))?;
    let syms = output(Command::new("nm").arg("-P").arg(obj))?;
    let mut v = reloc_violations(&relocs);
    v.extend(symbol_violations(&syms, allow));
    Ok(v)
}

/// Scans `readelf -rW` output. Relocation lines look like
/// `offset info R_X86_64_GOTPCREL value sym + addend`.
pub fn reloc_violations(readelf: &str) -> Vec<Violation> {
    let mut v = Vec::new();
    let mut seen = BTreeSet::new();
    let mut section = String::new();
    for line in readelf.lines() {
        // "Relocation section '.rela.text' at offset ... contains N entries:"
        if let Some(rest) = line.strip_prefix("Relocation section '") {
            section = rest.split('\'').next().unwrap_or("").to_string();
            continue;
        }
        let mut f = line.split_whitespace();
        let (Some(_off), Some(_info), Some(ty)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if !ty.starts_with("R_X86_64_") && !ty.starts_with("R_386_") {
            continue;
        }
        let sym = f.nth(1).unwrap_or("").to_string();
        let kind = &ty[ty.find("_64_").map_or(6, |i| i + 4)..];
        let x = if kind.contains("GOT") {
            Violation::GotRelocation(ty.to_string(), sym)
        } else if kind.contains("TPOFF") || kind.contains("TLS") || kind.contains("DTPMOD") {
            Violation::TlsRelocation(ty.to_string(), sym)
        } else if ty == "R_X86_64_32" && !section.contains(".debug") {
            Violation::Abs32Relocation(section.clone(), sym)
        } else {
            continue;
        };
        if seen.insert(x.clone()) {
            v.push(x);
        }
    }
    v
}

/// Scans `nm -P` output (`name type value size`).
pub fn symbol_violations(nm: &str, allow: &BTreeSet<String>) -> Vec<Violation> {
    let mut undefined = BTreeSet::new();
    let mut text = BTreeSet::new();
    for line in nm.lines() {
        let mut f = line.split_whitespace();
        let (Some(name), Some(ty)) = (f.next(), f.next()) else {
            continue;
        };
        match ty {
            "U" | "w" | "v" => {
                undefined.insert(name.to_string());
            }
            "T" => {
                text.insert(name.to_string());
            }
            _ => {}
        }
    }
    let mut v: Vec<Violation> = undefined
        .into_iter()
        .filter(|s| !allow.contains(s))
        .map(Violation::NotAllowed)
        .collect();
    for r in REQUIRED {
        if !text.contains(*r) {
            v.push(Violation::Missing(r.to_string()));
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
        .text
        .globl _init, _info, _fini
_init:  call mutex_enter
        ret
_info:  movq kmem_alloc_target(%rip), %rax
        ret
_fini:  xorl %eax, %eax
        ret
        .data
kmem_alloc_target:
        .quad kmem_alloc
"#;

    fn allow() -> BTreeSet<String> {
        parse_allowlist("# test\nmutex_enter\nkmem_alloc  # trailing comment\n\n").unwrap()
    }

    /// Assembles `src` into an object in a fresh temporary directory.
    fn assemble(name: &str, src: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-kmod-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let s = dir.join("t.s");
        let o = dir.join("t.o");
        std::fs::write(&s, src).unwrap();
        let st = Command::new("as")
            .arg("--64")
            .arg("-o")
            .arg(&o)
            .arg(&s)
            .status()
            .expect("binutils `as` is installed (xtask setup installs binutils)");
        assert!(st.success(), "as failed on {name}");
        o
    }

    fn check(name: &str, src: &str) -> Vec<Violation> {
        let o = assemble(name, src);
        let v = violations(&o, &allow()).unwrap();
        let _ = std::fs::remove_dir_all(o.parent().unwrap());
        v
    }

    #[test]
    fn accepts_a_good_object() {
        assert_eq!(check("good", GOOD), vec![]);
        let o = assemble("good2", GOOD);
        check_object(&o, &allow()).unwrap();
        let _ = std::fs::remove_dir_all(o.parent().unwrap());
    }

    #[test]
    fn rejects_gotpcrel() {
        let src = format!("{GOOD}\n.text\nf: movq mutex_enter@GOTPCREL(%rip), %rax\nret\n");
        let v = check("got", &src);
        assert!(
            v.iter().any(|x| matches!(x, Violation::GotRelocation(t, s)
                    if t.contains("GOTPCREL") && s == "mutex_enter")),
            "{v:?}"
        );
        // The assembler also references the GOT itself, which no kernel
        // interface provides.
        assert!(
            v.iter().all(|x| matches!(x, Violation::GotRelocation(..))
                || *x == Violation::NotAllowed("_GLOBAL_OFFSET_TABLE_".into())),
            "{v:?}"
        );
    }

    #[test]
    fn rejects_tls() {
        let src = format!("{GOOD}\n.text\nf: movq %fs:tlsvar@TPOFF, %rax\nret\n");
        let v = check("tls", &src);
        assert!(
            v.iter().any(|x| matches!(x, Violation::TlsRelocation(..))),
            "{v:?}"
        );
    }

    #[test]
    fn rejects_abs32_outside_debug_sections() {
        let src = format!("{GOOD}\n.text\nf: movl $mutex_enter, %eax\nret\n");
        let v = check("abs32", &src);
        assert_eq!(
            v,
            vec![Violation::Abs32Relocation(
                ".rela.text".into(),
                "mutex_enter".into()
            )]
        );
        // The same relocation in a debug section is fine (DWARF offsets).
        let src = format!("{GOOD}\n.section .debug_info,\"\",@progbits\n.long _init\n");
        assert_eq!(check("abs32dbg", &src), vec![]);
        // Sign-extended is what the kernel code model uses.
        let src = format!("{GOOD}\n.text\nf: movq $mutex_enter, %rax\nret\n");
        assert_eq!(check("abs32s", &src), vec![]);
    }

    #[test]
    fn rejects_symbol_not_on_allowlist() {
        let src = format!("{GOOD}\n.text\nf: call printf\nret\n");
        let v = check("undef", &src);
        assert_eq!(v, vec![Violation::NotAllowed("printf".into())]);
        // A weak undefined reference counts too.
        let src = format!("{GOOD}\n.weak malloc\n.data\n.quad malloc\n");
        let v = check("weak", &src);
        assert_eq!(v, vec![Violation::NotAllowed("malloc".into())]);
    }

    #[test]
    fn rejects_missing_entry_points() {
        for missing in REQUIRED {
            let src = GOOD.replace(&format!("{missing}:"), &format!("{missing}_x:"));
            let v = check(&format!("missing{missing}"), &src);
            // `.globl` without a definition also leaves it undefined.
            assert!(
                v.contains(&Violation::Missing(missing.to_string())),
                "{v:?}"
            );
            assert!(
                v.iter().all(|x| matches!(x, Violation::Missing(_))
                    || *x == Violation::NotAllowed(missing.to_string())),
                "{v:?}"
            );
        }
        // Defined but local is not enough: krtld looks them up globally.
        let src = GOOD.replace(".globl _init, _info, _fini", ".globl _init, _info");
        let v = check("local", &src);
        assert_eq!(v, vec![Violation::Missing("_fini".into())]);
        // An undefined reference to _init is not a definition.
        let src = GOOD.replace("_init:", "_init_x:") + "\n.data\n.quad _init\n";
        let v = check("undefinit", &src);
        assert!(v.contains(&Violation::Missing("_init".into())), "{v:?}");
    }

    #[test]
    fn check_object_reports_every_violation() {
        let src = GOOD.replace("_fini:", "_fini_x:")
            + "\n.text\nf: call printf\nmovq x@GOTPCREL(%rip), %rax\nret\n";
        let o = assemble("all", &src);
        let e = check_object(&o, &allow()).unwrap_err();
        let _ = std::fs::remove_dir_all(o.parent().unwrap());
        assert!(e.contains("GOTPCREL"), "{e}");
        assert!(e.contains("printf"), "{e}");
        assert!(e.contains("_fini is not defined"), "{e}");
    }

    #[test]
    fn allowlist_parsing() {
        assert_eq!(allow().len(), 2);
        assert!(parse_allowlist("a b\n").is_err());
        assert!(parse_allowlist("a\na\n").is_err());
    }

    #[test]
    fn repo_allowlist_is_well_formed() {
        let a = load_allowlist(&kmod_dir().join("allowlist.txt")).unwrap();
        for s in [
            "kmem_alloc",
            "mutex_enter",
            "mac_register",
            "ksocket_sendmblk",
        ] {
            assert!(a.contains(s), "{s} missing from allowlist.txt");
        }
        for s in REQUIRED {
            assert!(!a.contains(*s), "{s} must be defined, not allowlisted");
        }
    }
}
