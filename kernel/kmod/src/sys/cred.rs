//! sys/cred.h: credentials.

use super::types::{cred_t, zoneid_t};

extern "C" {
    /// The kernel's own credential (a global `cred_t *`).
    pub static kcred: *mut cred_t;
    pub fn crgetzoneid(cr: *const cred_t) -> zoneid_t;
}
