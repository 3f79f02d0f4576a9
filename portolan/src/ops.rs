//! The operator subcommands: argument checking, the privilege check, one
//! store call each, and output (a table, `-p` parsable, or `--json`).
//!
//! Mutations (`add-host`, `remove-host`, `add-nic`, `remove-nic`,
//! `move-nic`) need root or a uid listed in `admin_uids` of the
//! configuration file; everyone else gets `portolan: permission denied`.
//! Errors name the culprit: `portolan: unknown host 'cn7'`,
//! `portolan: invalid MAC address 'zz'`. Exit status: 0 success, 1 error,
//! 2 usage.
//!
//! Parsable output (`-p`) is one line per object, fields separated by `:`
//! with `:` and `\` inside a field escaped by `\` (as `dladm -p`).

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::ExitCode;

use clap::Args;
use portolan::config::Config;
use portolan::paths;
use portolan::store::{
    LogEvent, LogRecord, Mac, Nic, StoreError, DEFAULT_UNDERLAY_PORT, VLAN_MAX, VNET_MAX,
};

use crate::Cmd;

/// Output format options.
#[derive(Args, Debug, Clone, Default)]
pub struct OutOpts {
    /// Parsable output: fields separated by ':', no header.
    #[arg(short = 'p', long = "parsable")]
    pub parsable: bool,
    /// JSON output.
    #[arg(long = "json", conflicts_with = "parsable")]
    pub json: bool,
}

/// `--vnet N --mac M`.
#[derive(Args, Debug, Clone)]
pub struct NicKey {
    #[arg(long = "vnet")]
    pub vnet: String,
    #[arg(long = "mac")]
    pub mac: String,
    /// Print the log events written, as JSON.
    #[arg(long = "json")]
    pub json: bool,
}

/// `add-nic` arguments.
#[derive(Args, Debug, Clone)]
pub struct NicArgs {
    #[arg(long = "vnet")]
    pub vnet: String,
    #[arg(long = "mac")]
    pub mac: String,
    #[arg(long = "ip")]
    pub ip: String,
    #[arg(long = "vlan", default_value = "0")]
    pub vlan: String,
    #[arg(long = "host")]
    pub host: String,
    /// Print the NIC and the log events written, as JSON.
    #[arg(long = "json")]
    pub json: bool,
}

/// `move-nic` arguments.
#[derive(Args, Debug, Clone)]
pub struct MoveArgs {
    #[arg(long = "vnet")]
    pub vnet: String,
    #[arg(long = "mac")]
    pub mac: String,
    #[arg(long = "host")]
    pub host: String,
    /// Print the NIC and the log events written, as JSON.
    #[arg(long = "json")]
    pub json: bool,
}

/// `list-nics` arguments.
#[derive(Args, Debug, Clone)]
pub struct ListNicsArgs {
    #[arg(long = "vnet")]
    pub vnet: Option<String>,
    #[command(flatten)]
    pub out: OutOpts,
}

/// `list-events` arguments.
#[derive(Args, Debug, Clone)]
pub struct ListEventsArgs {
    #[arg(long = "host")]
    pub host: Option<String>,
    #[command(flatten)]
    pub out: OutOpts,
}

/// `bench` arguments.
#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Mapping counts to load (comma-separated).
    #[arg(
        long = "mappings",
        default_value = "1000,100000,1000000",
        value_delimiter = ','
    )]
    pub mappings: Vec<u32>,
    /// Client counts (comma-separated).
    #[arg(long = "clients", default_value = "1,4,16", value_delimiter = ',')]
    pub clients: Vec<usize>,
    /// Requests in flight per client.
    #[arg(long = "window", default_value_t = 16)]
    pub window: usize,
    /// Seconds per measurement.
    #[arg(long = "seconds", default_value_t = 3.0)]
    pub seconds: f64,
    /// Lookups to measure: vl2, vl3 or both.
    #[arg(long = "op", default_value = "both")]
    pub op: String,
    /// Server worker threads (0: one per CPU).
    #[arg(long = "threads", default_value_t = 0)]
    pub threads: usize,
    /// Server cache entries per worker and kind (0 disables the cache).
    #[arg(long = "cache-entries", default_value_t = 1 << 19)]
    pub cache_entries: usize,
    /// JSON lines instead of a table.
    #[arg(long = "json")]
    pub json: bool,
}

fn bench(a: &BenchArgs) -> Result<(), Fail> {
    use portolan::bench::{BenchOp, BenchOpts, BenchStore};
    let ops: &[BenchOp] = match a.op.as_str() {
        "vl2" => &[BenchOp::Vl2],
        "vl3" => &[BenchOp::Vl3],
        "both" => &[BenchOp::Vl2, BenchOp::Vl3],
        o => return Err(Fail(format!("invalid op '{o}': must be vl2, vl3 or both"))),
    };
    if !a.seconds.is_finite() || a.seconds <= 0.0 || a.window == 0 {
        return Err(Fail("--seconds and --window must be positive".into()));
    }
    if !a.json {
        println!(
            "{:<4} {:>8} {:>7} {:>6} {:>10} {:>8} {:>8} {:>9} {:>6}",
            "OP",
            "MAPPINGS",
            "CLIENTS",
            "WINDOW",
            "LOOKUPS/S",
            "P50(us)",
            "P99(us)",
            "P99.9(us)",
            "HIT%"
        );
    }
    for &m in &a.mappings {
        let t = std::time::Instant::now();
        let bs = BenchStore::load(m).map_err(Fail)?;
        eprintln!(
            "portolan: loaded {m} mappings in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        for &op in ops {
            for &c in &a.clients {
                let o = BenchOpts {
                    mappings: m,
                    clients: c.max(1),
                    window: a.window,
                    duration: std::time::Duration::from_secs_f64(a.seconds),
                    op,
                    threads: a.threads,
                    cache_entries: a.cache_entries,
                };
                let r = portolan::bench::run(&bs, &o).map_err(Fail)?;
                if a.json {
                    println!("{}", serde_json::json!(r));
                } else {
                    println!(
                        "{:<4} {:>8} {:>7} {:>6} {:>10.0} {:>8.1} {:>8.1} {:>9.1} {:>6.1}",
                        format!("{:?}", r.op).to_uppercase(),
                        r.mappings,
                        r.clients,
                        r.window,
                        r.per_sec,
                        r.p50_us,
                        r.p99_us,
                        r.p999_us,
                        r.cache_hit_pct
                    );
                }
            }
        }
    }
    Ok(())
}

/// A failed command: its message (printed after `portolan: `).
struct Fail(String);

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Fail {
        Fail(e.to_string())
    }
}

fn parse_vnet(s: &str) -> Result<u32, Fail> {
    match s.parse::<u32>() {
        Ok(v) if v <= VNET_MAX => Ok(v),
        _ => Err(Fail(format!("invalid vnet '{s}': must be in 0-{VNET_MAX}"))),
    }
}

fn parse_mac(s: &str) -> Result<Mac, Fail> {
    s.parse::<Mac>()
        .map_err(|_| Fail(format!("invalid MAC address '{s}'")))
}

fn parse_ip(s: &str) -> Result<IpAddr, Fail> {
    s.parse::<IpAddr>()
        .map_err(|_| Fail(format!("invalid IP address '{s}'")))
}

fn parse_vlan(s: &str) -> Result<u16, Fail> {
    match s.parse::<u16>() {
        Ok(v) if v <= VLAN_MAX => Ok(v),
        _ => Err(Fail(format!("invalid VLAN '{s}': must be in 0-{VLAN_MAX}"))),
    }
}

/// `IP`, `IPv4:PORT` or `[IPv6]:PORT`.
fn parse_underlay(s: &str) -> Result<(IpAddr, u16), Fail> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok((ip, DEFAULT_UNDERLAY_PORT));
    }
    match s.parse::<SocketAddr>() {
        Ok(sa) if sa.port() != 0 => Ok((sa.ip(), sa.port())),
        Ok(_) => Err(Fail(format!(
            "invalid underlay address '{s}': port must be in 1-65535"
        ))),
        Err(_) => Err(Fail(format!(
            "invalid underlay address '{s}': must be IP, IPv4:PORT or [IPv6]:PORT"
        ))),
    }
}

/// Escape a parsable field.
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace(':', "\\:")
}

fn parsable(fields: &[String]) -> String {
    fields.iter().map(|f| esc(f)).collect::<Vec<_>>().join(":")
}

fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut w: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, f) in r.iter().enumerate() {
            w[i] = w[i].max(f.len());
        }
    }
    let line = |fs: Vec<&str>| {
        let mut out = String::new();
        for (i, f) in fs.iter().enumerate() {
            if i + 1 == fs.len() {
                out.push_str(f);
            } else {
                out.push_str(&format!("{:<width$} ", f, width = w[i]));
            }
        }
        println!("{}", out.trim_end());
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}

fn emit(out: &OutOpts, header: &[&str], rows: Vec<Vec<String>>, json: serde_json::Value) {
    if out.json {
        println!("{json}");
    } else if out.parsable {
        for r in &rows {
            println!("{}", parsable(r));
        }
    } else {
        table(header, &rows);
    }
}

fn event_row(e: &LogEvent) -> Vec<String> {
    let (ty, mac, ip, vlan) = match &e.record {
        LogRecord::Vl2 { mac } => ("VL2", mac.to_string(), "-".into(), "-".into()),
        LogRecord::Vl3 { ip, mac, vlan } => {
            ("VL3", mac.to_string(), ip.to_string(), vlan.to_string())
        }
    };
    vec![
        e.host.clone(),
        e.vnet.to_string(),
        ty.into(),
        mac,
        ip,
        vlan,
        e.id.to_string(),
    ]
}

fn nic_row(n: &Nic) -> Vec<String> {
    vec![
        n.vnet.to_string(),
        n.mac.to_string(),
        n.ip.to_string(),
        n.vlan.to_string(),
        n.host.clone(),
    ]
}

fn check_privilege(cfg: &Config) -> Result<(), Fail> {
    if cfg.may_mutate() {
        Ok(())
    } else {
        Err(Fail("permission denied".into()))
    }
}

fn open(
    db: &Option<String>,
    root: &Path,
    cfg: &Config,
) -> Result<std::sync::Arc<dyn portolan::store::Store>, Fail> {
    let spec = crate::db_spec(db, cfg, root);
    Ok(portolan::open_store(&spec)?)
}

fn changed(json: bool, nic: Option<&Nic>, events: &[LogEvent]) {
    if json {
        println!("{}", serde_json::json!({ "nic": nic, "events": events }));
    }
}

fn stats(root: &Path, out: &OutOpts) -> Result<(), Fail> {
    let p = paths::stats_socket(root);
    let m = portolan::stats::fetch(&p)
        .map_err(|e| Fail(format!("cannot read stats from {}: {e}", p.display())))?;
    if out.json {
        println!("{}", serde_json::Value::Object(m));
        return Ok(());
    }
    // The server's order, not the map's.
    let order = portolan::stats::Stats::default().snapshot();
    for (k, _) in order {
        let v = m.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
        if out.parsable {
            println!("{k}:{v}");
        } else {
            println!("{k:<24} {v}");
        }
    }
    Ok(())
}

fn exec(cmd: &Cmd, db: &Option<String>, root: &Path, cfg: &Config) -> Result<(), Fail> {
    match cmd {
        Cmd::Stats(out) => stats(root, out),
        Cmd::Bench(a) => bench(a),
        Cmd::AddHost { id, addr } => {
            let (ip, port) = parse_underlay(addr)?;
            check_privilege(cfg)?;
            open(db, root, cfg)?.add_host(id, ip, port)?;
            Ok(())
        }
        Cmd::RemoveHost { id } => {
            check_privilege(cfg)?;
            open(db, root, cfg)?.remove_host(id)?;
            Ok(())
        }
        Cmd::ListHosts(out) => {
            let hosts = open(db, root, cfg)?.list_hosts()?;
            let rows = hosts
                .iter()
                .map(|h| vec![h.id.clone(), h.ip.to_string(), h.port.to_string()])
                .collect();
            emit(
                out,
                &["HOST", "UNDERLAY", "PORT"],
                rows,
                serde_json::json!(hosts),
            );
            Ok(())
        }
        Cmd::AddNic(a) => {
            let nic = Nic {
                vnet: parse_vnet(&a.vnet)?,
                mac: parse_mac(&a.mac)?,
                ip: parse_ip(&a.ip)?,
                vlan: parse_vlan(&a.vlan)?,
                host: a.host.clone(),
            };
            check_privilege(cfg)?;
            let evs = open(db, root, cfg)?.add_nic(&nic)?;
            changed(a.json, Some(&nic), &evs);
            Ok(())
        }
        Cmd::RemoveNic(k) => {
            let (vnet, mac) = (parse_vnet(&k.vnet)?, parse_mac(&k.mac)?);
            check_privilege(cfg)?;
            let (nic, evs) = open(db, root, cfg)?.remove_nic(vnet, mac)?;
            changed(k.json, Some(&nic), &evs);
            Ok(())
        }
        Cmd::MoveNic(m) => {
            let (vnet, mac) = (parse_vnet(&m.vnet)?, parse_mac(&m.mac)?);
            check_privilege(cfg)?;
            let (nic, evs) = open(db, root, cfg)?.move_nic(vnet, mac, &m.host)?;
            changed(m.json, Some(&nic), &evs);
            Ok(())
        }
        Cmd::ListNics(a) => {
            let vnet = a.vnet.as_deref().map(parse_vnet).transpose()?;
            let nics = open(db, root, cfg)?.list_nics(vnet)?;
            let rows = nics.iter().map(nic_row).collect();
            emit(
                &a.out,
                &["VNET", "MAC", "IP", "VLAN", "HOST"],
                rows,
                serde_json::json!(nics),
            );
            Ok(())
        }
        Cmd::ListEvents(a) => {
            let evs = open(db, root, cfg)?.list_events(a.host.as_deref())?;
            let rows = evs.iter().map(event_row).collect();
            emit(
                &a.out,
                &["HOST", "VNET", "TYPE", "MAC", "IP", "VLAN", "ID"],
                rows,
                serde_json::json!(evs),
            );
            Ok(())
        }
    }
}

/// Run a subcommand; prints `portolan: <why>` and exits 1 on failure.
pub fn run(cmd: &Cmd, db: &Option<String>, root: &Path, cfg: &Config) -> ExitCode {
    match exec(cmd, db, root, cfg) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail(m)) => {
            eprintln!("portolan: {m}");
            ExitCode::FAILURE
        }
    }
}
