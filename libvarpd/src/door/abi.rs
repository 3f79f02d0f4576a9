//! The varpd door ABI (`libvarpd_impl.h`, `libvarpd_client.h`).
//!
//! Every door call carries one `varpd_client_arg_t`: a 616-byte envelope
//! (`vca_command` u32 @0, `vca_errno` u32 @4, the `vca_un` union @8) whose
//! union holds one of the payload structures below. The server returns the
//! (possibly modified) buffer in full, or an 8-byte `varpd_client_eresp_t`
//! for a request it could not even read. CACHE_WALK's buffer is longer: the
//! walk header plus `vtcw_count` 36-byte kernel cache entries.
//!
//! Payloads are plain Rust structs with `encode`/`decode` on the union bytes
//! (LP64 offsets of spec/userland.md §1.4, asserted in the tests), so the
//! same bytes serve the illumos door and the Linux socket.

use std::net::Ipv6Addr;

use crate::ksys::{
    get_in6, get_mac, get_u16, get_u32, get_u64, put_u16, put_u32, put_u64, TargCacheEntry,
};

/// `sizeof (varpd_client_arg_t)`.
pub const VARPD_CLIENT_ARG_SIZE: usize = 616;
/// Offset of `vca_un`.
pub const VCA_UN: usize = 8;
/// `sizeof (varpd_client_eresp_t)`.
pub const VARPD_CLIENT_ERESP_SIZE: usize = 8;
/// varpd's cap on `vtcw_count`.
pub const VARPD_CACHE_WALK_MAX: u64 = 200;
/// The client's batch size for cache walks.
pub const VARPD_CLIENT_WALK_BATCH: u64 = 100;
/// `LIBVARPD_PROP_SIZEMAX`.
pub const PROP_SIZEMAX: usize = 256;
/// `LIBVARPD_PROP_NAMELEN`.
pub const PROP_NAMELEN: usize = 64;
/// `vcfa_propid` meaning "look up by name".
pub const PROPID_BY_NAME: u32 = u32::MAX;
/// Largest door request the server accepts.
pub const VARPD_DOOR_MAX: usize =
    VCA_UN + WalkArg::HDR + VARPD_CACHE_WALK_MAX as usize * TargCacheEntry::SIZE;

/// `varpd_client_command_t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Command {
    Invalid = 0,
    Create = 1,
    Activate = 2,
    Destroy = 3,
    Nprops = 4,
    Propinfo = 5,
    Getprop = 6,
    Setprop = 7,
    Lookup = 8,
    TargetMode = 9,
    CacheFlush = 10,
    CacheDelete = 11,
    CacheGet = 12,
    CacheSet = 13,
    CacheWalk = 14,
    Max = 15,
}

impl Command {
    /// A dispatchable command (1..=14); `None` for INVALID, MAX and beyond.
    pub fn from_u32(v: u32) -> Option<Command> {
        use Command::*;
        Some(match v {
            1 => Create,
            2 => Activate,
            3 => Destroy,
            4 => Nprops,
            5 => Propinfo,
            6 => Getprop,
            7 => Setprop,
            8 => Lookup,
            9 => TargetMode,
            10 => CacheFlush,
            11 => CacheDelete,
            12 => CacheGet,
            13 => CacheSet,
            14 => CacheWalk,
            _ => return None,
        })
    }

    /// Whether the command changes state and so needs privilege (§12 #2:
    /// illumos checked only the three cache mutations).
    pub fn is_mutating(self) -> bool {
        use Command::*;
        matches!(
            self,
            Create | Activate | Destroy | Setprop | CacheFlush | CacheDelete | CacheSet
        )
    }
}

/// A fresh zeroed envelope for `cmd`.
pub fn envelope(cmd: Command) -> Vec<u8> {
    let mut b = vec![0u8; VARPD_CLIENT_ARG_SIZE];
    put_u32(&mut b, 0, cmd as u32);
    b
}

/// `vca_command`.
pub fn vca_command(b: &[u8]) -> u32 {
    get_u32(b, 0)
}
/// `vca_errno`.
pub fn vca_errno(b: &[u8]) -> u32 {
    get_u32(b, 4)
}
/// Set `vca_errno`.
pub fn set_vca_errno(b: &mut [u8], e: u32) {
    put_u32(b, 4, e)
}

/// The 8-byte `varpd_client_eresp_t {VARPD_CLIENT_INVALID, errno}`.
pub fn eresp(errno: i32) -> Vec<u8> {
    let mut b = vec![0u8; VARPD_CLIENT_ERESP_SIZE];
    put_u32(&mut b, 4, errno as u32);
    b
}

fn cstr(b: &[u8]) -> String {
    let n = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..n]).into_owned()
}

fn put_cstr(b: &mut [u8], s: &str) {
    b.fill(0);
    let n = s.len().min(b.len().saturating_sub(1));
    b[..n].copy_from_slice(&s.as_bytes()[..n]);
}

/// `varpd_client_create_arg_t` (80 bytes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CreateArg {
    pub linkid: u32,
    pub id: u64,
    pub plugin: String,
}
impl CreateArg {
    pub const SIZE: usize = 80;
    pub fn encode(&self, u: &mut [u8]) {
        put_u32(u, 0, self.linkid);
        put_u64(u, 8, self.id);
        put_cstr(&mut u[16..80], &self.plugin);
    }
    /// Decode, forcing a NUL at `vcca_plugin[63]` as the server does.
    pub fn decode(u: &[u8]) -> CreateArg {
        CreateArg {
            linkid: get_u32(u, 0),
            id: get_u64(u, 8),
            plugin: cstr(&u[16..79]),
        }
    }
}

/// `varpd_client_instance_arg_t` (8 bytes).
pub fn instance_id(u: &[u8]) -> u64 {
    get_u64(u, 0)
}

/// `varpd_client_nprops_arg_t` (16 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NpropsArg {
    pub id: u64,
    pub nprops: u32,
}
impl NpropsArg {
    pub const SIZE: usize = 16;
    pub fn encode(&self, u: &mut [u8]) {
        put_u64(u, 0, self.id);
        put_u32(u, 8, self.nprops);
    }
    pub fn decode(u: &[u8]) -> NpropsArg {
        NpropsArg {
            id: get_u64(u, 0),
            nprops: get_u32(u, 8),
        }
    }
}

/// `varpd_client_propinfo_arg_t` (608 bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PropinfoArg {
    pub id: u64,
    pub propid: u32,
    pub ptype: u32,
    pub prot: u32,
    pub defsize: u32,
    pub psize: u32,
    pub name: String,
    pub default: [u8; PROP_SIZEMAX],
    pub poss: [u8; PROP_SIZEMAX],
}
impl Default for PropinfoArg {
    fn default() -> Self {
        PropinfoArg {
            id: 0,
            propid: 0,
            ptype: 0,
            prot: 0,
            defsize: 0,
            psize: 0,
            name: String::new(),
            default: [0; PROP_SIZEMAX],
            poss: [0; PROP_SIZEMAX],
        }
    }
}
impl PropinfoArg {
    pub const SIZE: usize = 608;
    pub fn encode(&self, u: &mut [u8]) {
        put_u64(u, 0, self.id);
        put_u32(u, 8, self.propid);
        put_u32(u, 12, self.ptype);
        put_u32(u, 16, self.prot);
        put_u32(u, 20, self.defsize);
        put_u32(u, 24, self.psize);
        u[28..32].fill(0);
        put_cstr(&mut u[32..96], &self.name);
        u[96..352].copy_from_slice(&self.default);
        u[352..608].copy_from_slice(&self.poss);
    }
    /// Decode, forcing a NUL at `vcfa_name[63]`.
    pub fn decode(u: &[u8]) -> PropinfoArg {
        let mut p = PropinfoArg {
            id: get_u64(u, 0),
            propid: get_u32(u, 8),
            ptype: get_u32(u, 12),
            prot: get_u32(u, 16),
            defsize: get_u32(u, 20),
            psize: get_u32(u, 24),
            name: cstr(&u[32..95]),
            ..Default::default()
        };
        p.default.copy_from_slice(&u[96..352]);
        p.poss.copy_from_slice(&u[352..608]);
        p
    }
}

/// `varpd_client_prop_arg_t` (280 bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PropArg {
    pub id: u64,
    pub propid: u32,
    pub buf: [u8; PROP_SIZEMAX],
    pub bufsize: u64,
}
impl Default for PropArg {
    fn default() -> Self {
        PropArg {
            id: 0,
            propid: 0,
            buf: [0; PROP_SIZEMAX],
            bufsize: 0,
        }
    }
}
impl PropArg {
    pub const SIZE: usize = 280;
    pub fn encode(&self, u: &mut [u8]) {
        put_u64(u, 0, self.id);
        put_u32(u, 8, self.propid);
        u[12..268].copy_from_slice(&self.buf);
        u[268..272].fill(0);
        put_u64(u, 272, self.bufsize);
    }
    pub fn decode(u: &[u8]) -> PropArg {
        let mut p = PropArg {
            id: get_u64(u, 0),
            propid: get_u32(u, 8),
            bufsize: get_u64(u, 272),
            ..Default::default()
        };
        p.buf.copy_from_slice(&u[12..268]);
        p
    }
}

/// `varpd_client_lookup_arg_t` (16 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LookupArg {
    pub linkid: u32,
    pub id: u64,
}
impl LookupArg {
    pub const SIZE: usize = 16;
    pub fn encode(&self, u: &mut [u8]) {
        put_u32(u, 0, self.linkid);
        put_u32(u, 4, 0);
        put_u64(u, 8, self.id);
    }
    pub fn decode(u: &[u8]) -> LookupArg {
        LookupArg {
            linkid: get_u32(u, 0),
            id: get_u64(u, 8),
        }
    }
}

/// `varpd_client_target_mode_arg_t` (16 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TargetModeArg {
    pub id: u64,
    pub dest: u32,
    pub mode: u32,
}
impl TargetModeArg {
    pub const SIZE: usize = 16;
    pub fn encode(&self, u: &mut [u8]) {
        put_u64(u, 0, self.id);
        put_u32(u, 8, self.dest);
        put_u32(u, 12, self.mode);
    }
    pub fn decode(u: &[u8]) -> TargetModeArg {
        TargetModeArg {
            id: get_u64(u, 0),
            dest: get_u32(u, 8),
            mode: get_u32(u, 12),
        }
    }
}

/// `varpd_client_cache_entry_t` (28 bytes): a destination as the client
/// API presents it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheEntry {
    /// `vcp_mac`: destination MAC (for `D_ETHERNET` encapsulations).
    pub mac: [u8; 6],
    /// `vcp_flags` (`OVERLAY_TARGET_CACHE_DROP` = 1).
    pub flags: u16,
    /// `vcp_ip`.
    pub ip: Ipv6Addr,
    /// `vcp_port`.
    pub port: u16,
}
impl Default for CacheEntry {
    fn default() -> Self {
        CacheEntry {
            mac: [0; 6],
            flags: 0,
            ip: Ipv6Addr::UNSPECIFIED,
            port: 0,
        }
    }
}
impl CacheEntry {
    pub const SIZE: usize = 28;
    pub fn encode(&self, u: &mut [u8]) {
        u[0..6].copy_from_slice(&self.mac);
        put_u16(u, 6, self.flags);
        u[8..24].copy_from_slice(&self.ip.octets());
        put_u16(u, 24, self.port);
        u[26..28].fill(0);
    }
    pub fn decode(u: &[u8]) -> CacheEntry {
        CacheEntry {
            mac: get_mac(u, 0),
            flags: get_u16(u, 6),
            ip: get_in6(u, 8),
            port: get_u16(u, 24),
        }
    }
    /// From a kernel cache entry (`otce_*`); returns (key, entry).
    pub fn from_kernel(e: &TargCacheEntry) -> ([u8; 6], CacheEntry) {
        (
            e.mac,
            CacheEntry {
                mac: e.dest.mac,
                flags: e.flags,
                ip: e.dest.ip,
                port: e.dest.port,
            },
        )
    }
}

/// `varpd_client_target_cache_arg_t` (48 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TargetCacheArg {
    pub id: u64,
    pub key: [u8; 6],
    pub entry: CacheEntry,
}
impl TargetCacheArg {
    pub const SIZE: usize = 48;
    pub fn encode(&self, u: &mut [u8]) {
        put_u64(u, 0, self.id);
        u[8..14].copy_from_slice(&self.key);
        u[14..16].fill(0);
        self.entry.encode(&mut u[16..44]);
    }
    pub fn decode(u: &[u8]) -> TargetCacheArg {
        TargetCacheArg {
            id: get_u64(u, 0),
            key: get_mac(u, 8),
            entry: CacheEntry::decode(&u[16..44]),
        }
    }
}

/// `varpd_client_target_walk_arg_t` header (24 bytes) followed by
/// `vtcw_count` 36-byte `overlay_targ_cache_entry_t`s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WalkArg {
    pub id: u64,
    pub marker: u64,
    pub count: u64,
}
impl WalkArg {
    pub const HDR: usize = 24;
    pub fn encode(&self, u: &mut [u8]) {
        put_u64(u, 0, self.id);
        put_u64(u, 8, self.marker);
        put_u64(u, 16, self.count);
    }
    pub fn decode(u: &[u8]) -> WalkArg {
        WalkArg {
            id: get_u64(u, 0),
            marker: get_u64(u, 8),
            count: get_u64(u, 16),
        }
    }
    /// The door buffer size for a walk of `n` entries: envelope header,
    /// walk header and `n` kernel-sized entries (fixing §12 #3), but never
    /// smaller than the envelope.
    pub fn request_size(n: u64) -> usize {
        (VCA_UN + Self::HDR + n as usize * TargCacheEntry::SIZE).max(VARPD_CLIENT_ARG_SIZE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_fit_union() {
        for s in [
            CreateArg::SIZE,
            NpropsArg::SIZE,
            PropinfoArg::SIZE,
            PropArg::SIZE,
            LookupArg::SIZE,
            TargetModeArg::SIZE,
            TargetCacheArg::SIZE,
            WalkArg::HDR,
        ] {
            assert!(VCA_UN + s <= VARPD_CLIENT_ARG_SIZE);
        }
        assert_eq!(VCA_UN + PropinfoArg::SIZE, VARPD_CLIENT_ARG_SIZE);
        assert_eq!(WalkArg::request_size(100), 8 + 24 + 3600);
        assert_eq!(WalkArg::request_size(0), 616);
    }

    #[test]
    fn create_offsets() {
        let mut u = [0u8; 80];
        CreateArg {
            linkid: 3,
            id: 9,
            plugin: "direct".into(),
        }
        .encode(&mut u);
        assert_eq!(get_u32(&u, 0), 3);
        assert_eq!(get_u64(&u, 8), 9);
        assert_eq!(&u[16..23], b"direct\0");
        let mut u = [b'a'; 80];
        put_u32(&mut u, 0, 1);
        assert_eq!(CreateArg::decode(&u).plugin.len(), 63);
    }

    #[test]
    fn propinfo_offsets() {
        let mut p = PropinfoArg {
            id: 1,
            propid: 2,
            ptype: 3,
            prot: 4,
            defsize: 5,
            psize: 6,
            name: "direct/dest_ip".into(),
            ..Default::default()
        };
        p.default[0] = 0xaa;
        p.poss[255] = 0xbb;
        let mut u = [0u8; 608];
        p.encode(&mut u);
        assert_eq!(get_u32(&u, 8), 2);
        assert_eq!(get_u32(&u, 12), 3);
        assert_eq!(get_u32(&u, 16), 4);
        assert_eq!(get_u32(&u, 20), 5);
        assert_eq!(get_u32(&u, 24), 6);
        assert_eq!(&u[32..46], b"direct/dest_ip");
        assert_eq!(u[96], 0xaa);
        assert_eq!(u[607], 0xbb);
        assert_eq!(PropinfoArg::decode(&u), p);
    }

    #[test]
    fn prop_and_small_offsets() {
        let mut u = [0u8; 280];
        let mut p = PropArg {
            id: 1,
            propid: 7,
            bufsize: 16,
            ..Default::default()
        };
        p.buf[0] = 1;
        p.encode(&mut u);
        assert_eq!(u[12], 1);
        assert_eq!(get_u64(&u, 272), 16);
        assert_eq!(PropArg::decode(&u), p);

        let mut u = [0u8; 16];
        LookupArg { linkid: 4, id: 5 }.encode(&mut u);
        assert_eq!(get_u64(&u, 8), 5);
        TargetModeArg {
            id: 1,
            dest: 6,
            mode: 2,
        }
        .encode(&mut u);
        assert_eq!((get_u32(&u, 8), get_u32(&u, 12)), (6, 2));
        NpropsArg { id: 1, nprops: 3 }.encode(&mut u);
        assert_eq!(get_u32(&u, 8), 3);

        let mut u = [0u8; 48];
        let e = CacheEntry {
            mac: [1; 6],
            flags: 1,
            ip: "::1".parse().unwrap(),
            port: 4789,
        };
        TargetCacheArg {
            id: 2,
            key: [7; 6],
            entry: e,
        }
        .encode(&mut u);
        assert_eq!(&u[8..14], &[7; 6]);
        assert_eq!(&u[16..22], &[1; 6]);
        assert_eq!(get_u16(&u, 22), 1);
        assert_eq!(u[39], 1);
        assert_eq!(get_u16(&u, 40), 4789);
        assert_eq!(TargetCacheArg::decode(&u).entry, e);
    }

    #[test]
    fn commands() {
        assert_eq!(Command::from_u32(0), None);
        assert_eq!(Command::from_u32(15), None);
        assert_eq!(Command::from_u32(14), Some(Command::CacheWalk));
        assert!(Command::Create.is_mutating());
        assert!(!Command::CacheGet.is_mutating());
        assert_eq!(eresp(22), vec![0, 0, 0, 0, 22, 0, 0, 0]);
    }
}
