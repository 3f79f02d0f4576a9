//! Privileges and the state directory (`varpd_dir_setup`,
//! `varpd_daemonize`'s privilege drop).
//!
//! * **illumos**: the directory is owned by netadm (uid 16, gid 65), and
//!   varpd drops to gid netadm / euid netadm with the basic privilege set
//!   minus `proc_exec`, `proc_info`, `proc_fork`, `proc_session`,
//!   `file_link_any`, plus `sys_dl_config` and `net_privaddr` (§6.3).
//! * **Linux**: the device socket was opened while privileged and
//!   fkoverlayd judged our credentials at connect time, so varpd needs no
//!   capability afterwards: it sets `no_new_privs`, empties its capability
//!   bounding set and clears every capability (it stays uid 0, which still
//!   owns the state directory). This runs in the main thread before any
//!   other thread exists, so every thread inherits it.

use std::path::Path;

/// Create the state directory, mode 0700.
pub fn dir_setup(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
    {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    #[cfg(target_os = "illumos")]
    {
        use std::os::unix::ffi::OsStrExt;
        let c = std::ffi::CString::new(dir.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: c is a NUL-terminated path.
        if unsafe { libc::chown(c.as_ptr(), imp::UID_NETADM, imp::GID_NETADM) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Close inherited descriptors above stderr (`closefrom(3)`), allow core
/// files of any size and raise the descriptor limit to its maximum.
pub fn fd_hygiene() {
    // First thing in main: nothing in this process holds a descriptor
    // above 2 yet.
    overlay_daemon::fds::close_inherited();
    // SAFETY: getrlimit/setrlimit write/read the struct we pass.
    unsafe {
        let inf = libc::rlimit {
            rlim_cur: libc::RLIM_INFINITY,
            rlim_max: libc::RLIM_INFINITY,
        };
        libc::setrlimit(libc::RLIMIT_CORE, &inf);
        let mut nf = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut nf) == 0 {
            nf.rlim_cur = nf.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &nf);
        }
    }
}

/// Drop what varpd does not need.
pub fn drop_privileges() -> std::io::Result<()> {
    imp::drop_privileges()
}

#[cfg(target_os = "linux")]
mod imp {
    use std::io;

    #[repr(C)]
    struct CapHeader {
        version: u32,
        pid: i32,
    }

    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct CapData {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }

    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

    pub fn drop_privileges() -> io::Result<()> {
        // SAFETY: prctl with these integer arguments has no memory effects.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(io::Error::last_os_error());
        }
        for cap in 0..64 {
            // SAFETY: as above; unknown capability numbers fail with EINVAL,
            // which ends the loop.
            if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) } != 0 {
                break;
            }
        }
        let mut hdr = CapHeader {
            version: LINUX_CAPABILITY_VERSION_3,
            pid: 0,
        };
        let data = [CapData::default(); 2];
        // SAFETY: capset reads a v3 header and two data structs, which we
        // pass by valid pointers.
        let r =
            unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, data.as_ptr()) };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

#[cfg(target_os = "illumos")]
mod imp {
    use std::ffi::{c_char, c_int, c_void};
    use std::io;

    pub const UID_NETADM: u32 = 16;
    pub const GID_NETADM: u32 = 65;

    const PRIV_SET: c_int = 0;

    extern "C" {
        fn priv_allocset() -> *mut c_void;
        fn priv_freeset(s: *mut c_void);
        fn priv_basicset(s: *mut c_void);
        fn priv_addset(s: *mut c_void, p: *const c_char) -> c_int;
        fn priv_delset(s: *mut c_void, p: *const c_char) -> c_int;
        fn setppriv(op: c_int, which: *const c_char, set: *const c_void) -> c_int;
    }

    pub fn drop_privileges() -> io::Result<()> {
        // SAFETY: plain system calls with integer arguments.
        unsafe {
            if libc::setgroups(0, std::ptr::null()) != 0
                || libc::setgid(GID_NETADM) != 0
                || libc::seteuid(UID_NETADM) != 0
            {
                return Err(io::Error::last_os_error());
            }
        }
        // SAFETY: the set is allocated, filled with NUL-terminated privilege
        // names, applied and freed; every pointer is valid throughout.
        unsafe {
            let set = priv_allocset();
            if set.is_null() {
                return Err(io::Error::last_os_error());
            }
            priv_basicset(set);
            for p in [
                &b"proc_exec\0"[..],
                b"proc_info\0",
                b"proc_fork\0",
                b"proc_session\0",
                b"file_link_any\0",
            ] {
                priv_delset(set, p.as_ptr().cast());
            }
            for p in [&b"sys_dl_config\0"[..], b"net_privaddr\0"] {
                priv_addset(set, p.as_ptr().cast());
            }
            let r = setppriv(PRIV_SET, b"Permitted\0".as_ptr().cast(), set) == 0
                && setppriv(PRIV_SET, b"Effective\0".as_ptr().cast(), set) == 0;
            let e = io::Error::last_os_error();
            priv_freeset(set);
            if !r {
                return Err(e);
            }
        }
        Ok(())
    }
}

#[cfg(not(any(target_os = "linux", target_os = "illumos")))]
mod imp {
    pub fn drop_privileges() -> std::io::Result<()> {
        Ok(())
    }
}

/// Whether `uid` is listed in fkoverlayd's `dl_config_uids` file at
/// `path` (Linux): fkoverlayd grants it `PRIV_SYS_DL_CONFIG`, so varpd's
/// door grants it the mutating commands too. The file counts only if root
/// owns it and nobody else may write it. Read at each call, so a restarted
/// fkoverlayd's list applies at once.
pub fn dl_config_uid(path: &Path, uid: u32) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return false;
    };
    if !meta.is_file() || meta.uid() != 0 || meta.mode() & 0o022 != 0 || meta.len() > 65536 {
        return false;
    }
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .any(|l| l.parse::<u32>() == Ok(uid))
}
