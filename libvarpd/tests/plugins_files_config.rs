//! The overlay_files(5) parser against good and bad files: every field's
//! validation, and the path:line:column of each error.

use std::net::{Ipv4Addr, Ipv6Addr};

use libvarpd::errno::Errno;
use libvarpd::plugins::files::config::{mac_to_string, parse_mac};
use libvarpd::plugins::files::{FilesConfig, FilesError};

/// The example of overlay_files(5).
const MAN_EXAMPLE: &str = r#"{
	"de:ad:be:ef:00:00": {
		"arp": "10.55.55.2",
		"ip": "10.88.88.69",
		"ndp": "fe80::3",
		"port": 4789
	},
	"de:ad:be:ef:00:01": {
		"arp": "10.55.55.3",
		"dhcp-proxy": "de:ad:be:ef:00:00",
		"ip": "10.88.88.70",
		"ndp": "fe80::4",
		"port": 4789
	},
	"de:ad:be:ef:00:02": {
		"arp": "10.55.55.4",
		"ip": "10.88.88.71",
		"ndp": "fe80::5",
		"port": 4789
	}
}
"#;

const M0: [u8; 6] = [0xde, 0xad, 0xbe, 0xef, 0, 0];
const M1: [u8; 6] = [0xde, 0xad, 0xbe, 0xef, 0, 1];
const M2: [u8; 6] = [0xde, 0xad, 0xbe, 0xef, 0, 2];

#[test]
fn man_page_example() {
    let c = FilesConfig::parse(MAN_EXAMPLE.as_bytes(), true).unwrap();
    assert_eq!(c.len(), 3);
    let e = c.get(&M1).unwrap();
    assert_eq!(e.ip, Ipv4Addr::new(10, 88, 88, 70).to_ipv6_mapped());
    assert_eq!(e.port, Some(4789));
    assert_eq!(e.arp, Some(Ipv4Addr::new(10, 55, 55, 3)));
    assert_eq!(e.ndp, Some("fe80::4".parse().unwrap()));
    assert_eq!(e.dhcp_proxy, Some(M0));
    assert_eq!(c.get(&M0).unwrap().dhcp_proxy, None);
    assert_eq!(c.resolve_arp(Ipv4Addr::new(10, 55, 55, 4)), Some(M2));
    assert_eq!(c.resolve_arp(Ipv4Addr::new(10, 55, 55, 5)), None);
    assert_eq!(c.resolve_ndp("fe80::3".parse().unwrap()), Some(M0));
    assert_eq!(c.resolve_ndp("fe80::6".parse().unwrap()), None);
    assert!(c.get(&[0xde, 0xad, 0xbe, 0xef, 0, 3]).is_none());
}

#[test]
fn other_good_forms() {
    // Short octets and upper case (ether_aton), IPv6 underlay, no port when
    // the encapsulation needs none, an entry with only `ip`, empty object.
    let c = FilesConfig::parse(
        br#"{"DE:AD:BE:EF:0:9": {"ip": "2001:db8::9"}, "2:0:0:0:0:1": {"ip": "192.0.2.1", "port": 1}}"#,
        false,
    )
    .unwrap();
    let e = c.get(&[0xde, 0xad, 0xbe, 0xef, 0, 9]).unwrap();
    assert_eq!(e.ip, "2001:db8::9".parse::<Ipv6Addr>().unwrap());
    assert_eq!(e.port, None);
    assert_eq!(c.get(&[2, 0, 0, 0, 0, 1]).unwrap().port, Some(1));
    assert!(FilesConfig::parse(b" {} ", true).unwrap().is_empty());
}

#[test]
fn mac_text() {
    assert_eq!(
        parse_mac("de:ad:be:ef:0:1"),
        Some([0xde, 0xad, 0xbe, 0xef, 0, 1])
    );
    for bad in [
        "",
        "de:ad:be:ef:00",
        "de:ad:be:ef:00:01:02",
        "de:ad:be:ef:00:001",
        "de-ad-be-ef-00-01",
        "de:ad:be:ef:00:g1",
        "de:ad:be:ef::01",
        "+d:ad:be:ef:00:01",
    ] {
        assert_eq!(parse_mac(bad), None, "{bad}");
    }
    assert_eq!(mac_to_string(&M1), "de:ad:be:ef:00:01");
}

/// Parse `text` (needing a port) and return (line, column, message).
fn bad(text: &str) -> (usize, usize, String) {
    let e = FilesConfig::parse(text.as_bytes(), true).unwrap_err();
    (e.line, e.column, e.msg)
}

#[test]
fn syntax_errors_have_positions() {
    // Missing comma between entries, line 3.
    let (l, c, m) = bad("{\n \"de:ad:be:ef:00:01\": {\"ip\": \"10.0.0.1\", \"port\": 4789}\n \"de:ad:be:ef:00:02\": {}\n}");
    assert_eq!((l, c), (3, 2), "{m}");
    assert!(m.contains("expected `,` or `}`"), "{m}");
    // Unterminated.
    let (l, _, m) = bad("{\n\"de:ad:be:ef:00:01\": {\"ip\": \"10.0.0.1\",\n");
    assert_eq!(l, 3, "{m}");
    assert!(m.contains("EOF"), "{m}");
    // Empty file; trailing garbage; not an object.
    assert!(bad("").2.contains("EOF"));
    let (l, c, m) = bad("{}\n}");
    assert_eq!((l, c), (2, 1));
    assert!(m.contains("trailing"), "{m}");
    let (_, _, m) = bad("[1, 2]");
    assert!(m.contains("object keyed by MAC address"), "{m}");
    // Fractions and exponents are not ports.
    let (l, c, m) = bad("{\"de:ad:be:ef:00:01\": {\"ip\": \"10.0.0.1\", \"port\": 4789.5}}");
    assert_eq!((l, c), (1, 56), "{m}");
    assert!(
        m.contains("\"port\": 4789.5 is not an integer from 1 to 65535"),
        "{m}"
    );
}

#[test]
fn field_errors_have_positions() {
    let cases: &[(&str, (usize, usize), &str)] = &[
        // Key: not a MAC; group MAC; duplicate (after canonicalisation).
        ("{\n  \"de:ad:be:ef:00\": {}}", (2, 18), "\"de:ad:be:ef:00\": not a MAC address"),
        ("{\n  \"ff:ff:ff:ff:ff:ff\": {}}", (2, 21), "multicast or broadcast MAC address cannot have an entry"),
        ("{\n  \"01:00:5e:00:00:01\": {}}", (2, 21), "cannot have an entry"),
        (
            "{\"de:ad:be:ef:0:1\": {\"ip\": \"10.0.0.1\", \"port\": 1},\n \"de:ad:be:ef:00:01\": {}}",
            (2, 20),
            "duplicate entry for de:ad:be:ef:00:01",
        ),
        // Entry not an object.
        ("{\"de:ad:be:ef:00:01\": \"10.0.0.1\"}", (1, 32), "expected an object with the keys ip, port, arp, ndp, dhcp-proxy"),
        // ip.
        ("{\"de:ad:be:ef:00:01\": {\n\"ip\": \"10.0.0.256\", \"port\": 4789}}", (2, 18), "\"ip\": \"10.0.0.256\" is not an IPv4 or IPv6 address"),
        ("{\"de:ad:be:ef:00:01\": {\n\"ip\": \"0.0.0.0\", \"port\": 4789}}", (2, 15), "\"ip\": \"0.0.0.0\" is not a unicast address"),
        ("{\"de:ad:be:ef:00:01\": {\n\"ip\": \"ff02::1\", \"port\": 4789}}", (2, 15), "is not a unicast address"),
        ("{\"de:ad:be:ef:00:01\": {\n\"ip\": 10, \"port\": 4789}}", (2, 8), "invalid type: integer `10`, expected a string"),
        ("{\"de:ad:be:ef:00:01\": {\n\"port\": 4789\n}}", (3, 1), "missing \"ip\""),
        // port.
        ("{\"de:ad:be:ef:00:01\": {\n\"ip\": \"10.0.0.1\"\n}}", (3, 1), "missing \"port\""),
        ("{\"de:ad:be:ef:00:01\": {\"ip\": \"10.0.0.1\",\n\"port\": 0}}", (2, 10), "\"port\": 0 is not an integer from 1 to 65535"),
        ("{\"de:ad:be:ef:00:01\": {\"ip\": \"10.0.0.1\",\n\"port\": 65536}}", (2, 14), "65536 is not an integer"),
        ("{\"de:ad:be:ef:00:01\": {\"ip\": \"10.0.0.1\",\n\"port\": -1}}", (2, 11), "-1 is not an integer"),
        ("{\"de:ad:be:ef:00:01\": {\"ip\": \"10.0.0.1\",\n\"port\": \"4789\"}}", (2, 15), "\"4789\" is not an integer"),
        // arp.
        ("{\"de:ad:be:ef:00:01\": {\"ip\": \"10.0.0.1\", \"port\": 1,\n\"arp\": \"fe80::1\"}}", (2, 17), "\"arp\": \"fe80::1\" is not an IPv4 address"),
        ("{\"de:ad:be:ef:00:01\": {\"ip\": \"10.0.0.1\", \"port\": 1,\n\"arp\": \"224.0.0.1\"}}", (2, 19), "\"arp\": \"224.0.0.1\" is not a unicast address"),
        // ndp.
        ("{\"de:ad:be:ef:00:01\": {\"ip\": \"10.0.0.1\", \"port\": 1,\n\"ndp\": \"10.1.1.1\"}}", (2, 18), "\"ndp\": \"10.1.1.1\" is not an IPv6 address"),
        ("{\"de:ad:be:ef:00:01\": {\"ip\": \"10.0.0.1\", \"port\": 1,\n\"ndp\": \"ff02::1\"}}", (2, 17), "cannot be solicited"),
        ("{\"de:ad:be:ef:00:01\": {\"ip\": \"10.0.0.1\", \"port\": 1,\n\"ndp\": \"::1\"}}", (2, 13), "cannot be solicited"),
        // dhcp-proxy.
        ("{\"de:ad:be:ef:00:01\": {\"ip\": \"10.0.0.1\", \"port\": 1,\n\"dhcp-proxy\": \"nope\"}}", (2, 21), "\"dhcp-proxy\": \"nope\" is not a MAC address"),
        ("{\"de:ad:be:ef:00:01\": {\"ip\": \"10.0.0.1\", \"port\": 1,\n\"dhcp-proxy\": \"ff:ff:ff:ff:ff:ff\"}}", (2, 34), "is a multicast or broadcast address"),
        // Unknown and duplicate keys.
        ("{\"de:ad:be:ef:00:01\": {\"ip\": \"10.0.0.1\", \"port\": 1,\n\"prot\": 4789}}", (2, 6), "unknown key \"prot\""),
        ("{\"de:ad:be:ef:00:01\": {\"ip\": \"10.0.0.1\", \"port\": 1,\n\"ip\": \"10.0.0.2\"}}", (2, 4), "duplicate key \"ip\""),
        // The same overlay address for two MACs.
        (
            "{\"de:ad:be:ef:00:01\": {\"ip\": \"10.0.0.1\", \"port\": 1, \"arp\": \"10.9.9.9\"},\n\"de:ad:be:ef:00:02\": {\"ip\": \"10.0.0.2\", \"port\": 1, \"arp\": \"10.9.9.9\"}}",
            (2, 70),
            "\"arp\" address 10.9.9.9 already belongs to de:ad:be:ef:00:01",
        ),
        (
            "{\"de:ad:be:ef:00:01\": {\"ip\": \"10.0.0.1\", \"port\": 1, \"ndp\": \"fe80::9\"},\n\"de:ad:be:ef:00:02\": {\"ip\": \"10.0.0.2\", \"port\": 1, \"ndp\": \"fe80::9\"}}",
            (2, 69),
            "\"ndp\" address fe80::9 already belongs to de:ad:be:ef:00:01",
        ),
    ];
    let mut wrong = Vec::new();
    for (text, pos, want) in cases {
        let (l, c, m) = bad(text);
        if !m.contains(want) || (l, c) != *pos {
            wrong.push(format!(
                "{text}\n  got {l}:{c}: {m}\n  want {pos:?}: {want}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn load_reports_path_line_column() {
    let dir = std::env::temp_dir().join(format!("pl-files-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.json");
    std::fs::write(&good, MAN_EXAMPLE).unwrap();
    assert_eq!(FilesConfig::load(&good, true).unwrap().len(), 3);

    let badf = dir.join("bad.json");
    std::fs::write(&badf, "{\n  \"de:ad:be:ef:00:01\": {\n    \"ip\": \"10.88.88.300\",\n    \"port\": 4789\n  }\n}\n").unwrap();
    let e = FilesConfig::load(&badf, true).unwrap_err();
    assert_eq!(e.errno(), Errno::EINVAL);
    assert_eq!(
        e.to_string(),
        format!(
            "{}:3:24: \"ip\": \"10.88.88.300\" is not an IPv4 or IPv6 address",
            badf.display()
        )
    );
    assert!(matches!(e, FilesError::Parse { .. }));

    let missing = dir.join("missing.json");
    let e = FilesConfig::load(&missing, true).unwrap_err();
    assert_eq!(e.errno(), Errno::ENOENT);
    assert!(e
        .to_string()
        .starts_with(&format!("{}: ", missing.display())));

    let e = FilesConfig::load(&dir, true).unwrap_err();
    assert_eq!(e.errno(), Errno::EINVAL);

    // Not UTF-8 inside a string.
    std::fs::write(&badf, b"{\"de:ad:be:ef:00:01\": {\"ip\": \"\xff\"}}").unwrap();
    let e = FilesConfig::load(&badf, true).unwrap_err();
    assert_eq!(e.errno(), Errno::EINVAL);
    assert!(e.to_string().contains(":1:"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn arbitrary_text_never_panics() {
    use proptest::prelude::*;
    let mut runner = proptest::test_runner::TestRunner::default();
    let alphabet = prop_oneof![
        Just("{".to_string()),
        Just("}".to_string()),
        Just("\"de:ad:be:ef:00:01\"".to_string()),
        Just("\"ip\"".to_string()),
        Just("\"port\"".to_string()),
        Just("\"arp\"".to_string()),
        Just("\"10.0.0.1\"".to_string()),
        Just(":".to_string()),
        Just(",".to_string()),
        Just("4789".to_string()),
        any::<char>().prop_map(|c| c.to_string()),
    ];
    runner
        .run(&proptest::collection::vec(alphabet, 0..40), |parts| {
            let text = parts.concat();
            let _ = FilesConfig::parse(text.as_bytes(), true);
            let _ = FilesConfig::parse(text.as_bytes(), false);
            Ok(())
        })
        .unwrap();
}

/// Any valid table, written out as JSON (in any key order and MAC
/// spelling), parses back to the same entries.
#[test]
fn generated_configs_round_trip() {
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    let entry = (
        any::<[u8; 4]>().prop_filter("unicast", |o| o[0] != 0 && o[0] < 224),
        proptest::option::of(1u16..),
        proptest::option::of(any::<u8>()),
        proptest::option::of(any::<u16>()),
        proptest::option::of(any::<[u8; 5]>()),
        any::<bool>(),
    );
    let table = proptest::collection::btree_map(any::<[u8; 5]>(), entry, 0..12);
    let mut runner = proptest::test_runner::TestRunner::default();
    runner
        .run(&table, |t: BTreeMap<[u8; 5], _>| {
            let mut json = String::from("{");
            let mut want = Vec::new();
            for (i, (k, (ip, port, arp, ndp, dhcp, upper))) in t.iter().enumerate() {
                // Unicast MACs: clear the group bit of the first octet.
                let mac = [k[0] & 0xfe, k[1], k[2], k[3], k[4], i as u8];
                let key = if *upper {
                    mac_to_string(&mac).to_uppercase()
                } else {
                    mac.iter()
                        .map(|b| format!("{b:x}"))
                        .collect::<Vec<_>>()
                        .join(":")
                };
                // Distinct overlay addresses per entry.
                let arp = arp.map(|a| Ipv4Addr::new(10, a, i as u8, 1));
                let ndp = ndp.map(|a| Ipv6Addr::new(0xfe80, 0, 0, 0, 0, a, 0, i as u16 + 1));
                let dhcp = dhcp.map(|d| [d[0] & 0xfe, d[1], d[2], d[3], d[4], 0]);
                if i > 0 {
                    json.push(',');
                }
                json.push_str(&format!(
                    "\n  \"{key}\": {{\"ip\": \"{}\"",
                    Ipv4Addr::from(*ip)
                ));
                if let Some(p) = port {
                    json.push_str(&format!(", \"port\": {p}"));
                }
                if let Some(a) = arp {
                    json.push_str(&format!(", \"arp\": \"{a}\""));
                }
                if let Some(a) = ndp {
                    json.push_str(&format!(", \"ndp\": \"{a}\""));
                }
                if let Some(d) = dhcp {
                    json.push_str(&format!(", \"dhcp-proxy\": \"{}\"", mac_to_string(&d)));
                }
                json.push('}');
                want.push((mac, Ipv4Addr::from(*ip), *port, arp, ndp, dhcp));
            }
            json.push_str("\n}\n");
            let c = FilesConfig::parse(json.as_bytes(), false)
                .map_err(|e| TestCaseError::fail(format!("{e}\n{json}")))?;
            prop_assert_eq!(c.len(), want.len());
            for (mac, ip, port, arp, ndp, dhcp) in want {
                let e = c.get(&mac).expect("entry");
                prop_assert_eq!(e.ip, ip.to_ipv6_mapped());
                prop_assert_eq!(e.port, port);
                prop_assert_eq!(e.arp, arp);
                prop_assert_eq!(e.ndp, ndp);
                prop_assert_eq!(e.dhcp_proxy, dhcp);
                if let Some(a) = arp {
                    prop_assert_eq!(c.resolve_arp(a), Some(mac));
                }
                if let Some(a) = ndp {
                    prop_assert_eq!(c.resolve_ndp(a), Some(mac));
                }
            }
            Ok(())
        })
        .unwrap();
}

/// The `flood` key (head-end replication, an extension): its entries, and
/// every way to get it wrong.
#[test]
fn flood_key() {
    let ok = r#"{ "flood": [ { "ip": "10.0.0.2", "port": 4789 }, { "ip": "fd00::3", "port": 8472 } ],
                 "de:ad:be:ef:00:00": { "ip": "10.0.0.9", "port": 4789 } }"#;
    let c = FilesConfig::parse(ok.as_bytes(), true).unwrap();
    assert_eq!(
        c.flood(),
        &[
            (Ipv4Addr::new(10, 0, 0, 2).to_ipv6_mapped(), 4789),
            ("fd00::3".parse::<Ipv6Addr>().unwrap(), 8472)
        ]
    );
    assert_eq!(c.len(), 1);
    assert!(FilesConfig::parse(b"{}", true).unwrap().flood().is_empty());
    let many: Vec<String> = (0..65)
        .map(|i| format!(r#"{{ "ip": "10.0.1.{}", "port": 4789 }}"#, i + 1))
        .collect();
    let too_many = format!(r#"{{ "flood": [ {} ] }}"#, many.join(","));
    for (text, want) in [
        (r#"{ "flood": {} }"#, "expected a sequence"),
        (r#"{ "flood": [ 1 ] }"#, "\"flood\" entry 0: not an object"),
        (r#"{ "flood": [ { "port": 4789 } ] }"#, "missing \"ip\""),
        (
            r#"{ "flood": [ { "ip": "10.0.0.2" } ] }"#,
            "missing \"port\"",
        ),
        (
            r#"{ "flood": [ { "ip": "224.0.0.1", "port": 4789 } ] }"#,
            "is not a unicast address",
        ),
        (
            r#"{ "flood": [ { "ip": "10.0.0.2", "port": 0 } ] }"#,
            "is not an integer from 1 to 65535",
        ),
        (
            r#"{ "flood": [ { "ip": "10.0.0.2", "port": 4789, "arp": "1.2.3.4" } ] }"#,
            "unknown key \"arp\"",
        ),
        (
            r#"{ "flood": [ { "ip": "10.0.0.2", "port": 4789 }, { "ip": "10.0.0.2", "port": 4789 } ] }"#,
            "\"flood\" entry 1: duplicate destination",
        ),
        (r#"{ "flood": [], "flood": [] }"#, "duplicate key \"flood\""),
        (too_many.as_str(), "65 entries (at most 64)"),
    ] {
        let e = FilesConfig::parse(text.as_bytes(), true).unwrap_err();
        assert!(e.msg.contains(want), "{text}: {e}");
    }
    // Without a port in the destination, port may be left out.
    let c = FilesConfig::parse(br#"{ "flood": [ { "ip": "10.0.0.2" } ] }"#, false).unwrap();
    assert_eq!(c.flood()[0].1, 0);
}
