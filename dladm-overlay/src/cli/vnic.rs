//! `create-vnic`, `delete-vnic`, `up-vnic` and `show-vnic` (Linux only:
//! on illumos these are the system dladm's).
//!
//! Theory of operation: options are checked as dladm.c's `do_create_vnic`
//! does (`-m` once, `-f` only with `-v`, a decimal VLAN id in 1-4094),
//! then [`libdlvnic`](crate::libdlvnic) asks fkoverlayd for the VNIC and
//! records a persistent one with its link. `show-vnic -P` reads the
//! recorded attributes back (`persistent_vnic`), which `show-link -P` also
//! uses for its OVER column.

use crate::backend::*;
use crate::cli::args::*;
use crate::cli::ctx::{Cli, R};
use crate::getopt::{getopt_long, Opt};
use crate::libdlvnic::{self as vnic, MacSpec};
use crate::linkname::{ether_aton, ether_ntoa, valid_linkname, MAXLINKNAMELEN};
use crate::ofmt::{f, Field, Flags, Ofmt};
use crate::prop;
use crate::status::{ErrList, Status};

pub const VNIC_FIELDS: &[Field] = &[
    f("LINK", 13, 0),
    f("OVER", 13, 1),
    f("SPEED", 7, 2),
    f("MACADDRESS", 18, 3),
    f("MACADDRTYPE", 20, 4),
    f("VID", 7, 5),
];

impl<'a> Cli<'a> {
    pub(crate) fn do_create_vnic(&mut self, args: &[String], use_: &'static str) -> R {
        let p = getopt_long(args, ":tfl:m:p:v:", VNIC_LOPTS);
        let mut flags = DLADM_OPT_ACTIVE | DLADM_OPT_PERSIST;
        let mut vid: u16 = 0;
        let mut force = false;
        let mut devname: Option<String> = None;
        let mut mac: Option<MacSpec> = None;
        let mut unsupported_type: Option<String> = None;
        let mut propstr = String::new();
        for o in &p.opts {
            match o {
                Opt::Opt('t', None) => flags &= !DLADM_OPT_PERSIST,
                Opt::Opt('l', Some(a)) => {
                    if a.len() >= MAXLINKNAMELEN {
                        return Err(self.die("link name too long"));
                    }
                    devname = Some(a.clone());
                }
                Opt::Opt('m', Some(a)) => {
                    if mac.is_some() || unsupported_type.is_some() {
                        return Err(self.die("cannot specify -m option twice"));
                    }
                    if a == "fixed" {
                        return Err(self.die("'fixed' is not a valid MAC address"));
                    }
                    match a.as_str() {
                        "auto" => mac = Some(MacSpec::Auto),
                        "random" => mac = Some(MacSpec::Random),
                        "factory" | "vrrp" => unsupported_type = Some(a.clone()),
                        _ => match ether_aton(a) {
                            Some(m) => mac = Some(MacSpec::Fixed(m)),
                            None => return Err(self.die(&format!("invalid MAC address '{a}'"))),
                        },
                    }
                }
                Opt::Opt('p', Some(a)) => self.add_propstr(&mut propstr, a)?,
                Opt::Opt('v', Some(a)) => {
                    if vid != 0 {
                        return Err(self.die_optdup('v'));
                    }
                    match str2int(a) {
                        Some(v) if (VLAN_ID_MIN as i64..=VLAN_ID_MAX as i64).contains(&v) => {
                            vid = v as u16
                        }
                        _ => return Err(self.die(&format!("invalid VLAN identifier '{a}'"))),
                    }
                }
                Opt::Opt('f', None) => force = true,
                o => return Err(self.die_opterr(o, use_)),
            }
        }
        // -f (force a VLAN over a link without VLAN support) needs -v;
        // an overlay carries tags, so it changes nothing else.
        if force && vid == 0 {
            return Err(self.die("-f option can only be used with -v"));
        }
        let Some(devname) = devname else {
            return Err(self.usage());
        };
        if p.operands.len() != 1 {
            return Err(self.usage());
        }
        let name = &p.operands[0];
        if name.len() >= MAXLINKNAMELEN {
            return Err(self.die(&format!("link name too long '{name}'")));
        }
        if !valid_linkname(name) {
            return Err(self.die(&format!("invalid link name '{name}'")));
        }
        let over = match self.name2id(&devname) {
            Ok(l) => l,
            Err(_) => return Err(self.die(&format!("invalid link name '{devname}'"))),
        };
        let Some(props) = prop::parse_prop_list(&propstr) else {
            return Err(self.die("invalid vnic property"));
        };
        let failmsg = format!("vnic creation over {devname} failed");
        let mut errs = ErrList::new();
        if let Some(t) = &unsupported_type {
            errs.append(format!(
                "MAC address type '{t}' is not supported over an overlay"
            ));
            return Err(self.die_dlerrlist(Status::NotSup, &errs, &failmsg));
        }
        let mut mtu = 0u32;
        for pa in &props {
            match pa.name.as_str() {
                "mtu" => {
                    let range = vnic::mtu_range(self.b, over);
                    match parse_mtu(pa) {
                        Some(m) if range.is_none_or(|(lo, hi)| (lo..=hi).contains(&m)) => mtu = m,
                        _ => {
                            let why = match range {
                                Some((lo, hi)) => format!("must be in {lo}-{hi}"),
                                None => "must be a positive decimal number".into(),
                            };
                            return Err(self.die(&format!(
                                "invalid value '{}' for property mtu: {why}",
                                pa.values.join(",")
                            )));
                        }
                    }
                }
                other => {
                    errs.append(format!(
                        "unsupported property '{other}': a VNIC over an overlay takes only mtu"
                    ));
                    return Err(self.die_dlerrlist(Status::NotSup, &errs, &failmsg));
                }
            }
        }
        let mac = mac.unwrap_or(MacSpec::Auto);
        match vnic::create(self.b, name, over, mac, mtu, vid, flags, &mut errs) {
            Ok(_) => Ok(()),
            Err(s) => Err(self.die_dlerrlist(s, &errs, &failmsg)),
        }
    }

    pub(crate) fn do_delete_vnic(&mut self, args: &[String], use_: &'static str) -> R {
        let p = getopt_long(args, ":t", LOPTS);
        let mut flags = DLADM_OPT_ACTIVE | DLADM_OPT_PERSIST;
        for o in &p.opts {
            match o {
                Opt::Opt('t', None) => flags &= !DLADM_OPT_PERSIST,
                o => return Err(self.die_opterr(o, use_)),
            }
        }
        if p.operands.len() != 1 {
            return Err(self.usage());
        }
        let name = &p.operands[0];
        let linkid = match self.name2id(name) {
            Ok(l) => l,
            Err(_) => return Err(self.die(&format!("invalid link name '{name}'"))),
        };
        vnic::delete(self.b, linkid, flags).map_err(|s| self.die_dlerr(s, "vnic deletion failed"))
    }

    pub(crate) fn do_up_vnic(&mut self, args: &[String], _use: &'static str) -> R {
        if args.len() > 1 {
            return Err(self.usage());
        }
        let linkid = match args.first() {
            Some(n) => match self.name2id(n) {
                Ok(l) => Some(l),
                Err(s) => return Err(self.die_dlerr(s, &format!("could not bring up vnic '{n}'"))),
            },
            None => None,
        };
        let mut errs = ErrList::default();
        match (vnic::up_errs(self.b, linkid, None, &mut errs), args.first()) {
            (Ok(_), _) => Ok(()),
            (Err(s), Some(n)) => {
                Err(self.die_dlerrlist(s, &errs, &format!("could not bring up vnic '{n}'")))
            }
            (Err(s), None) => Err(self.die_dlerrlist(s, &errs, "could not bring vnics up")),
        }
    }

    pub(crate) fn do_show_vnic(&mut self, args: &[String], use_: &'static str) -> R {
        let p = getopt_long(args, ":pPl:o:", LOPTS);
        let mut parsable = false;
        let mut flags = DLADM_OPT_ACTIVE;
        let mut link: Option<String> = None;
        let mut fields: Option<String> = None;
        for o in &p.opts {
            match o {
                Opt::Opt('p', None) => parsable = true,
                Opt::Opt('P', None) => flags = DLADM_OPT_PERSIST,
                Opt::Opt('l', Some(a)) => {
                    if a.len() >= MAXLINKNAMELEN {
                        return Err(self.die("link name too long"));
                    }
                    link = Some(a.clone());
                }
                Opt::Opt('o', Some(a)) => fields = Some(a.clone()),
                o => return Err(self.die_opterr(o, use_)),
            }
        }
        let mut one: Option<(LinkId, String)> = None;
        if p.operands.len() == 1 {
            let n = p.operands[0].clone();
            match self.name2id(&n) {
                Ok(l) => one = Some((l, n)),
                Err(s) => return Err(self.die_dlerr(s, &format!("invalid vnic name '{n}'"))),
            }
        } else if p.operands.len() > 1 {
            return Err(self.usage());
        }
        let mut over_filter = None;
        if let Some(l) = &link {
            match self.name2id(l) {
                Ok(id) => over_filter = Some(id),
                Err(s) => return Err(self.die_dlerr(s, &format!("invalid link name '{l}'"))),
            }
        }
        let oflags = Flags {
            parsable,
            wrap: false,
        };
        let mut of = self.ofmt_open(fields.as_deref(), VNIC_FIELDS, oflags)?;
        match one {
            None => {
                let links = self
                    .b
                    .walk_links(DATALINK_CLASS_VNIC, flags)
                    .unwrap_or_default();
                for l in links {
                    let _ = self.show_vnic(&mut of, l.linkid, flags, over_filter);
                }
            }
            Some((l, n)) => {
                if let Err(s) = self.show_vnic(&mut of, l, flags, over_filter) {
                    return Err(self.die_dlerr(s, &format!("failed to show vnic '{n}'")));
                }
            }
        }
        Ok(())
    }

    /// `print_vnic()`.
    fn show_vnic(
        &mut self,
        of: &mut Ofmt,
        linkid: LinkId,
        flags: u32,
        over_filter: Option<LinkId>,
    ) -> Result<(), Status> {
        let info = self.b.id2info(linkid).map_err(Status::from_errno)?;
        if info.class != DATALINK_CLASS_VNIC {
            return Err(Status::BadArg);
        }
        if info.flags & flags == 0 {
            return Err(Status::NotFound);
        }
        let attr = if flags & DLADM_OPT_ACTIVE != 0 {
            self.b.vnic_info(linkid).map_err(Status::from_errno)?
        } else {
            self.persistent_vnic(&info)?
        };
        if over_filter.is_some_and(|o| o != attr.over) {
            return Ok(());
        }
        let mut cb = |id: usize| -> Option<String> {
            Some(match id {
                0 => info.name.clone(),
                1 => attr.overname.clone(),
                2 => format!("{}", attr.speed_mbps),
                3 => ether_ntoa(&attr.mac),
                4 => if attr.mac_type == VNIC_MAC_ADDR_TYPE_RANDOM {
                    "random"
                } else {
                    "fixed"
                }
                .into(),
                5 => format!("{}", attr.vid),
                _ => return None,
            })
        };
        of.print(self.out, &mut cb);
        Ok(())
    }

    /// A persistent VNIC's attributes from its configuration (`-P`).
    pub(crate) fn persistent_vnic(&mut self, info: &LinkInfo) -> Result<VnicAttr, Status> {
        let conf = self.b.get_conf(info.linkid).map_err(Status::from_errno)?;
        let mut a = VnicAttr {
            linkid: info.linkid,
            name: info.name.clone(),
            over: 0,
            overname: "?".into(),
            flags: info.flags,
            mac_type: VNIC_MAC_ADDR_TYPE_RANDOM,
            mac: [0; 6],
            mtu: 0,
            vid: 0,
            state: u32::MAX,
            speed_mbps: 0,
        };
        for (k, v) in conf {
            match (k.as_str(), v) {
                ("linkover", ConfVal::U64(x)) => a.over = x as u32,
                ("macaddr", ConfVal::Str(s)) => a.mac = ether_aton(&s).unwrap_or([0; 6]),
                ("mac_type", ConfVal::U64(x)) => a.mac_type = x as u32,
                ("mtu", ConfVal::U64(x)) => a.mtu = x as u32,
                ("vid", ConfVal::U64(x)) => a.vid = x as u32,
                _ => {}
            }
        }
        if let Ok(o) = self.b.id2info(a.over) {
            a.overname = o.name;
        }
        Ok(a)
    }
}
