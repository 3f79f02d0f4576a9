//! sys/policy.h: privilege checks.

use super::types::{c_int, cred_t};

extern "C" {
    /// 0 if `cr` may configure datalinks (PRIV_SYS_DL_CONFIG, or
    /// PRIV_SYS_NET_CONFIG), else `EPERM`.
    pub fn secpolicy_dl_config(cr: *const cred_t) -> c_int;
}
