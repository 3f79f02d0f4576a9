//! Persistence of activated instances (`libvarpd_persist.c`, §6.8).
//!
//! Every activated instance is saved as `<id>.varpd` in the state directory
//! (`R/run/varpd` on Linux, `R/var/run/varpd` on illumos: tmpfs, so state
//! survives varpd restarts but not reboots). The file format:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `"varp"` |
//! | 4 | 4 | version, little-endian u32 = 2 (1 was illumos' nvlist/MD5 format) |
//! | 8 | 8 | payload length, little-endian u64 |
//! | 16 | 4 | CRC-32 (IEEE 802.3) of the payload, little-endian |
//! | 20 | 4 | reserved, zero |
//! | 24 | n | payload: one JSON object |
//!
//! The payload keys are those of the illumos nvlist: `vri_id` (u64),
//! `vri_linkid` (u32), `vri_dest` (u32), `vri_mode` (u32), `vri_plugin`
//! (string) and `vri_private` (whatever the plugin's `save` returned).
//!
//! Files are written atomically: a temporary file `.<id>.varpd.tmp` in the
//! same directory, written, `fsync`ed, mode 0600, renamed over the target,
//! and the directory `fsync`ed. Restore at start-up reads every
//! `<decimal>.varpd` regular file; one that fails any check is unlinked.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::errno::Errno;

/// Header magic.
pub const VARPD_PERSIST_MAGIC: &[u8; 4] = b"varp";
/// Our format version.
pub const VARPD_PERSIST_VERSION: u32 = 2;
/// Header size.
pub const VARPD_PERSIST_HDR: usize = 24;
/// Largest payload we read back.
pub const VARPD_PERSIST_MAX: u64 = 1 << 20;

/// The saved form of an instance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Saved {
    pub vri_id: u64,
    pub vri_linkid: u32,
    pub vri_dest: u32,
    pub vri_mode: u32,
    pub vri_plugin: String,
    pub vri_private: serde_json::Value,
}

/// CRC-32 (IEEE, reflected, as zlib's `crc32`).
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xedb8_8320 & mask);
        }
    }
    !crc
}

/// The file name for instance `id`.
pub fn file_name(id: u64) -> String {
    format!("{id}.varpd")
}

/// The instance id a state file name denotes (`<decimal>.varpd`), if any.
pub fn parse_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".varpd")?;
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Encode a state file image.
pub fn encode(s: &Saved) -> Result<Vec<u8>, Errno> {
    let payload = serde_json::to_vec(s).map_err(|_| Errno::EINVAL)?;
    let mut out = Vec::with_capacity(VARPD_PERSIST_HDR + payload.len());
    out.extend_from_slice(VARPD_PERSIST_MAGIC);
    out.extend_from_slice(&VARPD_PERSIST_VERSION.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32(&payload).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&payload);
    Ok(out)
}

/// Why a state file was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PersistError {
    #[error("file too short")]
    Short,
    #[error("bad magic")]
    Magic,
    #[error("unsupported version {0}")]
    Version(u32),
    #[error("payload length mismatch")]
    Length,
    #[error("checksum mismatch")]
    Checksum,
    #[error("bad payload: {0}")]
    Payload(String),
}

/// Decode and verify a state file image.
pub fn decode(b: &[u8]) -> Result<Saved, PersistError> {
    if b.len() <= VARPD_PERSIST_HDR {
        return Err(PersistError::Short);
    }
    if &b[0..4] != VARPD_PERSIST_MAGIC {
        return Err(PersistError::Magic);
    }
    let version = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    if version != VARPD_PERSIST_VERSION {
        return Err(PersistError::Version(version));
    }
    let mut l = [0u8; 8];
    l.copy_from_slice(&b[8..16]);
    let len = u64::from_le_bytes(l);
    if len != (b.len() - VARPD_PERSIST_HDR) as u64 {
        return Err(PersistError::Length);
    }
    let payload = &b[VARPD_PERSIST_HDR..];
    let crc = u32::from_le_bytes([b[16], b[17], b[18], b[19]]);
    if crc != crc32(payload) {
        return Err(PersistError::Checksum);
    }
    serde_json::from_slice(payload).map_err(|e| PersistError::Payload(e.to_string()))
}

/// Atomically write `s` into `dir`.
pub fn write(dir: &Path, s: &Saved) -> Result<(), Errno> {
    let img = encode(s)?;
    let name = file_name(s.vri_id);
    let tmp = dir.join(format!(".{name}.tmp"));
    let fin = dir.join(&name);
    let r = (|| -> std::io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&img)?;
        f.sync_all()?;
        fs::rename(&tmp, &fin)?;
        fs::File::open(dir)?.sync_all()
    })();
    if let Err(e) = r {
        let _ = fs::remove_file(&tmp);
        return Err(Errno::from_io(&e));
    }
    Ok(())
}

/// Remove instance `id`'s file ("torch"); a missing file is fine.
pub fn remove(dir: &Path, id: u64) -> Result<(), Errno> {
    match fs::remove_file(dir.join(file_name(id))) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Errno::from_io(&e)),
    }
}

/// The state files in `dir` (regular files named `<decimal>.varpd`), with
/// their ids, in id order. Stray temporaries are removed.
pub fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>, Errno> {
    let mut out = Vec::new();
    for ent in fs::read_dir(dir).map_err(|e| Errno::from_io(&e))? {
        let ent = ent.map_err(|e| Errno::from_io(&e))?;
        let name = ent.file_name();
        let Some(name) = name.to_str() else { continue };
        let Ok(ft) = ent.file_type() else { continue };
        if !ft.is_file() {
            continue;
        }
        if name.starts_with('.') && name.ends_with(".varpd.tmp") {
            let _ = fs::remove_file(ent.path());
            continue;
        }
        if let Some(id) = parse_name(name) {
            out.push((id, ent.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Read a state file (bounded).
pub fn read(path: &Path) -> Result<Vec<u8>, PersistError> {
    let meta = fs::metadata(path).map_err(|_| PersistError::Short)?;
    if meta.len() > VARPD_PERSIST_MAX + VARPD_PERSIST_HDR as u64 {
        return Err(PersistError::Length);
    }
    fs::read(path).map_err(|_| PersistError::Short)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved() -> Saved {
        Saved {
            vri_id: 17,
            vri_linkid: 3,
            vri_dest: 6,
            vri_mode: 1,
            vri_plugin: "direct".into(),
            vri_private: serde_json::json!({"ip": "10.0.0.1", "port": 4789}),
        }
    }

    #[test]
    fn crc_known_value() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn names() {
        assert_eq!(parse_name("17.varpd"), Some(17));
        assert_eq!(parse_name(".varpd"), None);
        assert_eq!(parse_name("x17.varpd"), None);
        assert_eq!(parse_name("17.varpd.tmp"), None);
        assert_eq!(parse_name("+1.varpd"), None);
        assert_eq!(file_name(5), "5.varpd");
    }

    #[test]
    fn round_trip_and_corruption() {
        let img = encode(&saved()).unwrap();
        assert_eq!(&img[0..4], b"varp");
        assert_eq!(decode(&img).unwrap(), saved());
        let mut bad = img.clone();
        let n = bad.len();
        bad[n - 2] ^= 1;
        assert_eq!(decode(&bad), Err(PersistError::Checksum));
        let mut bad = img.clone();
        bad[0] = b'x';
        assert_eq!(decode(&bad), Err(PersistError::Magic));
        let mut bad = img.clone();
        bad[4] = 1;
        assert_eq!(decode(&bad), Err(PersistError::Version(1)));
        assert_eq!(decode(&img[..24]), Err(PersistError::Short));
        assert_eq!(decode(&img[..img.len() - 1]), Err(PersistError::Length));
    }

    #[test]
    fn write_list_remove() {
        let d = std::env::temp_dir().join(format!("varpd-persist-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        write(&d, &saved()).unwrap();
        fs::write(d.join("junk.varpd"), b"x").unwrap();
        fs::write(d.join(".9.varpd.tmp"), b"x").unwrap();
        fs::create_dir(d.join("4.varpd")).unwrap();
        let l = list(&d).unwrap();
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].0, 17);
        assert!(!d.join(".9.varpd.tmp").exists());
        assert_eq!(decode(&read(&l[0].1).unwrap()).unwrap(), saved());
        remove(&d, 17).unwrap();
        remove(&d, 17).unwrap();
        assert!(list(&d).unwrap().is_empty());
        fs::remove_dir_all(&d).unwrap();
    }
}
