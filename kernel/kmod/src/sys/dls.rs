//! sys/dls_mgmt.h / sys/dls.h: datalink registration with DLS.

use super::mac::mac_handle_t;
use super::types::{boolean_t, c_int, datalink_id_t, zoneid_t};

extern "C" {
    pub fn dls_devnet_create(mh: mac_handle_t, linkid: datalink_id_t, zoneid: zoneid_t) -> c_int;
    pub fn dls_devnet_destroy(mh: mac_handle_t, idp: *mut datalink_id_t, wait: boolean_t) -> c_int;
}
