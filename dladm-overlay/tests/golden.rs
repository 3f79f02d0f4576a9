//! Golden output of every subcommand and output mode, against the fake
//! backend. Each test records a transcript (command, stdout, stderr, exit
//! status) and compares it with `tests/golden/<name>.txt`.

mod common;
use common::*;
use dladm_overlay::backend::*;
use dladm_overlay::fake::FakeBackend;

#[test]
fn show_overlay_modes() {
    let mut b = seeded();
    let t = transcript(
        &mut b,
        &[
            "dladm show-overlay",
            "dladm show-overlay demo0",
            "dladm show-overlay -o all demo0",
            "dladm show-overlay -o link,property,value",
            "dladm show-overlay -p -o link,property,value",
            "dladm show-overlay -p -o value demo0",
            "dladm show-overlay --parsable --output=property,possible",
            "dladm show-overlay -o link,bogus",
            "dladm show-overlay -o bogus",
            "dladm show-overlay -p",
            "dladm show-overlay -p -o all",
            "dladm show-overlay -p -o link,bogus",
            "dladm show-overlay -f",
            "dladm show-overlay -f -p -o link,status,details",
            "dladm show-overlay -t",
            "dladm show-overlay -t -p -o link,target,destination",
            "dladm show-overlay -t -p -o target",
        ],
    );
    golden("show-overlay", &t);
}

#[test]
fn show_overlay_degraded_and_many() {
    let mut b = seeded();
    ok(
        &mut b,
        "dladm create-overlay -t -e vxlan -s files -p vxlan/listen_ip=fd00::1 \
         -p vxlan/listen_port=8472 -p files/config=/etc/overlay/hosts.json -p mtu=8900 -v 16777215 \
         averyveryverylongname0",
    );
    let id = b.name2info("demo0").unwrap().linkid;
    b.degrade(id, "failed to contact portolan server: connection refused");
    let t = transcript(
        &mut b,
        &[
            "dladm show-overlay",
            "dladm show-overlay -f",
            "dladm modify-overlay -s 0:1:2:3:4:5=10.0.0.9:4789 averyveryverylongname0",
            "dladm modify-overlay --set-entry 2:8:20:aa:bb:cc=[fd00::2]:4789 averyveryverylongname0",
            "dladm modify-overlay -s 2:8:20:aa:bb:cd=drop averyveryverylongname0",
            "dladm show-overlay -t averyveryverylongname0",
            "dladm modify-overlay -d 0:1:2:3:4:5 averyveryverylongname0",
            "dladm show-overlay -t -p -o target,destination averyveryverylongname0",
            "dladm modify-overlay -f averyveryverylongname0",
            "dladm show-overlay -t averyveryverylongname0",
        ],
    );
    golden("show-overlay-more", &t);
}

#[test]
fn links_and_vnics() {
    let mut b = seeded();
    let t = transcript(
        &mut b,
        &[
            "dladm create-vnic -l demo0 foo0",
            "dladm create-vnic -t -l demo0 -m 2:8:20:1:2:3 -p mtu=1300 bar0",
            "dladm create-vnic -l demo0 -m random baz0",
            "dladm show-vnic",
            "dladm show-vnic foo0",
            "dladm show-vnic -l demo0 -p -o link,macaddress,macaddrtype",
            "dladm show-vnic -P",
            "dladm show-link",
            "dladm",
            "dladm show-link -o all demo0",
            "dladm show-link -p -o link,class,mtu,state,over",
            "dladm show-link -P",
            "dladm delete-vnic bar0",
            "dladm delete-vnic -t baz0",
            "dladm show-link -P",
            "dladm show-vnic -P",
            "dladm delete-vnic baz0",
            "dladm delete-vnic foo0",
            "dladm show-vnic",
            "dladm show-link",
        ],
    );
    golden("links-vnics", &t);
}

#[test]
fn usage_and_help() {
    let mut b = FakeBackend::new();
    let t = transcript(
        &mut b,
        &[
            "dladm help",
            "dladm frobnicate-overlay",
            "dladm delete-overlay",
            "dladm create-overlay -e",
            "dladm create-overlay -x",
            "dladm create-overlay --frob",
            "dladm show-overlay -q",
            "dladm modify-overlay -s",
            "dladm up-overlay a0 b0",
            "dladm show-link -s",
        ],
    );
    golden("usage", &t);
}

#[test]
fn persistence_and_up() {
    let mut b = FakeBackend::new();
    ok(
        &mut b,
        "dladm create-overlay -e vxlan -s direct -p vxlan/listen_ip=10.88.88.69 \
         -p direct/dest_ip=10.88.88.70 -p direct/dest_port=4789 -p mtu=1300 -v 23 demo0",
    );
    ok(
        &mut b,
        "dladm create-overlay -t -e vxlan -s direct -p vxlan/listen_ip=10.88.88.69 \
         -p direct/dest_ip=10.88.88.71 -p direct/dest_port=4789 -v 24 tmp0",
    );
    ok(&mut b, "dladm create-vnic -l demo0 foo0");
    let before = ok(&mut b, "dladm show-overlay demo0");
    b.reboot();
    let t = transcript(
        &mut b,
        &[
            "dladm show-overlay",
            "dladm show-link -P",
            "dladm up-overlay",
            "dladm show-overlay",
            "dladm show-vnic",
            "dladm show-link",
            "dladm up-overlay",
            "dladm up-overlay nope0",
        ],
    );
    golden("persistence", &t);
    // Everything but the new varpd instance id is as before the reboot.
    let strip = |s: &str| -> String {
        s.lines()
            .filter(|l| !l.contains("varpd/id"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        strip(&ok(&mut b, "dladm show-overlay demo0")),
        strip(&before)
    );
}

#[test]
fn overlay_lifecycle() {
    let mut b = FakeBackend::new();
    let t = transcript(
        &mut b,
        &[
            SEED,
            "dladm show-link",
            "dladm show-overlay -p -o link,property,value demo0",
            "dladm create-overlay --temporary --encap=vxlan --search=files \
             --prop=vxlan/listen_ip=fd00::69,files/config=/etc/hosts.json --vnetid=42 dyn0",
            "dladm show-link -P",
            "dladm show-overlay -p -o link,property,value dyn0",
            "dladm delete-overlay -t dyn0",
            "dladm delete-overlay demo0",
            "dladm show-link",
            "dladm show-link -P",
            "dladm show-overlay",
        ],
    );
    golden("lifecycle", &t);
    assert!(b.is_empty());
}

#[test]
fn header_repeats_every_screenful() {
    // Three overlays are 27 rows: libofmt prints the header again before
    // the 24th row (and there would be one before the 46th).
    let mut b = seeded();
    for (i, name) in ["two0", "three0"].iter().enumerate() {
        ok(
            &mut b,
            &format!(
                "dladm create-overlay -e vxlan -s direct -p vxlan/listen_ip=10.0.0.1 \
                 -p direct/dest_ip=10.0.0.2 -p direct/dest_port=4789 -v {} {name}",
                100 + i
            ),
        );
    }
    let out = ok(&mut b, "dladm show-overlay -o link,property");
    let lines: Vec<&str> = out.lines().collect();
    let headers: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with("LINK"))
        .map(|(i, _)| i)
        .collect();
    // Line 0 is the header; rows 1..=22 follow (the search row wraps onto
    // its own line only with POSSIBLE, not selected here); the second
    // header comes before data row 24.
    assert_eq!(headers, vec![0, 24], "{out}");
    assert_eq!(lines.len(), 27 + 2);
}

#[test]
fn vlan_vnics() {
    let mut b = seeded();
    let t = transcript(
        &mut b,
        &[
            "dladm create-vnic -l demo0 -v 5 foo0",
            "dladm create-vnic -t -l demo0 -m 2:8:20:1:2:3 -v 4094 bar0",
            "dladm create-vnic -l demo0 -v 6 -f baz0",
            "dladm create-vnic -l demo0 qux0",
            "dladm show-vnic",
            "dladm show-vnic -p -o link,vid",
            "dladm show-vnic -o link,over,vid foo0",
            "dladm show-vnic -P",
            "dladm create-vnic -l demo0 -v 0 x0",
            "dladm create-vnic -l demo0 -v 4095 x0",
            "dladm create-vnic -l demo0 -v -5 x0",
            "dladm create-vnic -l demo0 -v 5x x0",
            "dladm create-vnic -l demo0 -v '' x0",
            "dladm create-vnic -l demo0 -v 99999999999 x0",
            "dladm create-vnic -l demo0 -v 5 -v 6 x0",
            "dladm create-vnic -l demo0 -f x0",
            "dladm create-vnic -l demo0 -v",
            "dladm create-vnic -l demo0 --vlan-id=7 x0",
            "dladm show-link -P",
        ],
    );
    golden("vlan-vnics", &t);
    // The VLAN id is kept with the link and restored by up-vnic.
    b.reboot();
    let t = transcript(
        &mut b,
        &[
            "dladm show-vnic",
            "dladm show-vnic -P",
            "dladm up-overlay",
            "dladm show-vnic",
            "dladm delete-vnic foo0",
            "dladm show-vnic -p -o link,vid",
        ],
    );
    golden("vlan-vnics-persistence", &t);
}
