//! sys/types.h (and friends): the scalar types of the amd64 kernel.

pub use core::ffi::{c_char, c_int, c_long, c_short, c_uint, c_ulong, c_ushort, c_void};

pub type boolean_t = c_int;
pub const B_FALSE: boolean_t = 0;
pub const B_TRUE: boolean_t = 1;

pub type caddr_t = *mut c_char;
pub type clock_t = c_long;
pub type daddr_t = c_long;
pub type datalink_id_t = u32;
pub type dev_t = c_ulong;
pub type hrtime_t = i64;
pub type intptr_t = isize;
pub type major_t = c_uint;
pub type minor_t = c_uint;
pub type off_t = c_long;
pub type offset_t = i64;
pub type size_t = usize;
pub type socklen_t = u32;
pub type uint_t = c_uint;
pub type zoneid_t = i32;

/// `GLOBAL_ZONEID` from sys/zone.h.
pub const GLOBAL_ZONEID: zoneid_t = 0;

/// Declares opaque kernel structures: only ever used behind a pointer.
macro_rules! opaque {
    ($($name:ident),* $(,)?) => {
        $(
            #[repr(C)]
            pub struct $name {
                _private: [u8; 0],
                _not_send_sync: core::marker::PhantomData<*mut u8>,
            }
        )*
    };
}
pub(crate) use opaque;

opaque!(
    dev_info_t,
    cred_t,
    queue_t,
    buf_t,
    uio_t,
    pollhead_t,
    aio_req_t,
    streamtab_t,
    bus_ops_t
);
