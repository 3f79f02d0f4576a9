//! Link names (`dladm_valid_linkname`) and MAC address text
//! (`ether_aton_r`, `ether_ntoa_r`, `_link_aton`).

/// `MAXLINKNAMELEN`: link names are at most 31 bytes.
pub const MAXLINKNAMELEN: usize = 32;

/// `dladm_valid_linkname()`: shorter than 32 bytes, does not start with a
/// digit, ends with a number without leading zeros (a lone `0` is fine),
/// and is made of `[A-Za-z0-9_.]`.
pub fn valid_linkname(link: &str) -> bool {
    let b = link.as_bytes();
    if b.is_empty() || b.len() >= MAXLINKNAMELEN || b[0].is_ascii_digit() {
        return false;
    }
    let nd = b.iter().rev().take_while(|c| c.is_ascii_digit()).count();
    if nd == 0 || (nd > 1 && b[b.len() - nd] == b'0') {
        return false;
    }
    b.iter()
        .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
}

/// `ether_aton_r()`: six `:`-separated groups of one or two hex digits.
pub fn ether_aton(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return None;
    }
    let mut mac = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty() || p.len() > 2 || !p.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        mac[i] = u8::from_str_radix(p, 16).ok()?;
    }
    Some(mac)
}

/// `ether_ntoa_r()` / `dladm_aggr_macaddr2str()`: lowercase hex without
/// leading zeros, e.g. `2:8:20:a:b:c`.
pub fn ether_ntoa(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linknames() {
        for ok in ["demo0", "foo0", "a10", "net.1", "soe_overlay123", "x0"] {
            assert!(valid_linkname(ok), "{ok}");
        }
        for bad in ["", "0a0", "demo", "demo01", "de-mo0", &"a".repeat(31)] {
            assert!(!valid_linkname(bad), "{bad}");
        }
        assert!(valid_linkname(&format!("{}0", "a".repeat(30))));
        assert!(!valid_linkname(&format!("{}0", "a".repeat(31))));
    }

    #[test]
    fn macs() {
        assert_eq!(
            ether_aton("0:1:2:a:bb:FF"),
            Some([0, 1, 2, 0xa, 0xbb, 0xff])
        );
        assert_eq!(ether_aton("0:1:2:a:bb"), None);
        assert_eq!(ether_aton("0:1:2:a:bb:fff"), None);
        assert_eq!(ether_aton("0:1:2:a:bb:g"), None);
        assert_eq!(ether_ntoa(&[2, 8, 0x20, 0, 0xab, 1]), "2:8:20:0:ab:1");
    }
}
