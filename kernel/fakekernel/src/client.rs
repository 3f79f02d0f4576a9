//! A minimal client of fkoverlayd's dld socket, for `fkoverlayd stats`.

use overlay_sys::fk::{
    fk_get_str, fk_hdr_t, fk_stat_t, fk_stats_t, FK_HDR_SIZE, FK_MAGIC, FK_STATS,
};
use overlay_sys::Pod;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// One request on the dld socket: (errno, copied-out argument).
pub fn call(root: &Path, cmd: u32, arg: &[u8]) -> Result<(u32, Vec<u8>), String> {
    let path = crate::server::socket_paths(root).0;
    let mut s = UnixStream::connect(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let h = fk_hdr_t {
        fh_magic: FK_MAGIC,
        fh_cmd: cmd,
        fh_arglen: arg.len() as u32,
        fh_datalen: 0,
    };
    let mut b = h.to_wire().to_vec();
    b.extend_from_slice(arg);
    s.write_all(&b).map_err(|e| e.to_string())?;
    let mut hb = [0u8; FK_HDR_SIZE];
    s.read_exact(&mut hb).map_err(|e| e.to_string())?;
    let r = fk_hdr_t::from_wire(&hb);
    if !r.valid() {
        return Err("malformed reply".into());
    }
    let mut out = vec![0u8; r.fh_arglen as usize];
    s.read_exact(&mut out).map_err(|e| e.to_string())?;
    let mut data = vec![0u8; r.fh_datalen as usize];
    s.read_exact(&mut data).map_err(|e| e.to_string())?;
    Ok((r.fh_cmd, out))
}

/// Every counter of the daemon serving `root`.
pub fn stats(root: &Path) -> Result<Vec<(String, u64)>, String> {
    const ROOM: usize = 128;
    let mut arg = fk_stats_t {
        fs_nstats: ROOM as u32,
        fs_pad: 0,
    }
    .as_bytes()
    .to_vec();
    arg.resize(arg.len() + ROOM * std::mem::size_of::<fk_stat_t>(), 0);
    let (e, out) = call(root, FK_STATS, &arg)?;
    if e != 0 {
        return Err(overlay_sys::errno::strerror(e as i32).to_string());
    }
    let hdr = fk_stats_t::from_bytes_padded(&out);
    let n = (hdr.fs_nstats as usize).min(ROOM);
    let base = std::mem::size_of::<fk_stats_t>();
    let sz = std::mem::size_of::<fk_stat_t>();
    Ok((0..n)
        .filter_map(|i| out.get(base + i * sz..base + (i + 1) * sz))
        .map(fk_stat_t::from_bytes_padded)
        .map(|s| {
            (
                String::from_utf8_lossy(fk_get_str(&s.fst_name)).into_owned(),
                s.fst_value,
            )
        })
        .collect())
}
