//! opencas-bench: issuance load generator.
//!
//! Starts opencas (and, with `--cfssl`, Cloudflare's cfssl) on free loopback ports in a
//! temporary directory, drives each issuance path from N concurrent HTTP/1.1 connections for
//! a fixed time per point, and prints certificates per second and p50/p99 latency per point
//! plus the opencas/cfssl ratio per path. opencas requests are signed with ACS3-HMAC-SHA256
//! (a fresh nonce and date on every request), as the official SDKs sign them.

mod api;
mod fastsign;
mod import;
mod load;
mod ops;
mod search;
mod servers;
mod sign;

use bytes::Bytes;
use clap::{Parser, ValueEnum};
use http_body_util::Full;
use hyper::{Request, StatusCode, Uri};
use load::{Check, MakeReq, Stats};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

const VERSION: &str = "2020-06-30";
const CN: &str = "bench.example.com";

#[derive(Parser, Debug)]
#[command(about = "Issuance load generator: opencas against cfssl over loopback HTTP")]
struct Args {
    /// The opencas binary to start.
    #[arg(long, default_value = "target/release/opencas")]
    opencas_bin: PathBuf,
    /// Also start cfssl and drive it the same way.
    #[arg(long)]
    cfssl: bool,
    /// The cfssl binary (Debian package golang-cfssl).
    #[arg(long, default_value = "cfssl")]
    cfssl_bin: String,
    /// cfssl serve -loglevel (1 = INFO, its default, logs every request).
    #[arg(long, default_value_t = 1)]
    cfssl_loglevel: u8,
    /// Measured seconds per point.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Warm-up seconds per point (responses discarded).
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Idle seconds between points.
    #[arg(long, default_value_t = 1.0)]
    pause: f64,
    /// Concurrent connections, one point each.
    #[arg(long, value_delimiter = ',', default_value = "4,8,16,32,64")]
    connections: Vec<usize>,
    /// Concurrent connections for the RSA-2048 path (default: --connections).
    #[arg(long, value_delimiter = ',')]
    rsa_connections: Option<Vec<usize>>,
    /// Paths to drive.
    #[arg(long, value_delimiter = ',', default_value = "ecc-csr,ecc-key,rsa-key")]
    paths: Vec<PathKind>,
    /// Stall test: CSR-based ECC on C connections while generated-key RSA-2048 runs on R
    /// more, given as C:R; "none" skips it.
    #[arg(long, default_value = "16:4")]
    mixed: String,
    /// Worker threads of the load generator's runtime (it shares the machine's cores
    /// with the servers).
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// The load generator's HTTP client: `raw` writes requests and reads responses on each
    /// connection's own task, as wrk does; `hyper` is hyper's client (a task per connection,
    /// ~2× the client CPU per request).
    #[arg(long, value_enum, default_value = "raw")]
    http_client: load::Client,
    /// After the run, kill opencas (SIGKILL), restart it on the same data directory and
    /// check that every certificate it answered 200 for is there.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    verify_durability: bool,
    /// Shared machine: before each point wait until other processes use at most this many
    /// cores, and measure a point again when they used more during it. "off" disables.
    #[arg(long, default_value = "0.3")]
    max_other_cores: String,
    /// How many times a disturbed point is measured again.
    #[arg(long, default_value_t = 3)]
    retries: u32,
    /// Longest wait for quiet before a point, seconds.
    #[arg(long, default_value_t = 600.0)]
    max_wait: f64,
    /// Keep the temporary directory (databases, logs) for inspection.
    #[arg(long)]
    keep: bool,
    /// Instead of issuance: ListCert keyword search and detail reads with this many
    /// certificates in one account, one size after the other (e.g. 10000,1000000).
    #[arg(long, value_delimiter = ',')]
    search: Option<Vec<u64>>,
    /// With --search: work in this directory and keep it; a later run reuses its rows.
    #[arg(long)]
    search_dir: Option<PathBuf>,
    /// With --search: the workloads to run (default all).
    #[arg(long, value_delimiter = ',')]
    search_workloads: Vec<search::Workload>,
    /// Instead of issuance: Sign and Verify req/s per key family (ECC P-256, RSA-2048, SM2)
    /// on --connections, beside `openssl speed`.
    #[arg(long)]
    ops: bool,
    /// With --ops: only these keys (ecc-p256, rsa-2048, sm2) and actions (Sign, Verify), e.g.
    /// `ecc-p256:Sign`; `openssl speed` is skipped when a filter is given.
    #[arg(long, value_delimiter = ',')]
    ops_only: Vec<String>,
}

impl Args {
    fn max_other_cores(&self) -> Option<f64> {
        match self.max_other_cores.as_str() {
            "off" | "none" => None,
            v => Some(v.parse::<f64>().expect("--max-other-cores: a number or off")),
        }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
enum PathKind {
    /// CSR-based ECC P-256 (opencas CreateServerCertificateWithCsr, cfssl /sign).
    EccCsr,
    /// Generated-key ECC P-256 (opencas CreateServerCertificate ECC_256, cfssl /newcert ecdsa 256).
    EccKey,
    /// Generated-key RSA-2048 (opencas CreateServerCertificate RSA_2048, cfssl /newcert rsa 2048).
    RsaKey,
}

impl PathKind {
    fn label(self) -> &'static str {
        match self {
            PathKind::EccCsr => "ecc-p256-csr",
            PathKind::EccKey => "ecc-p256-genkey",
            PathKind::RsaKey => "rsa-2048-genkey",
        }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    Opencas,
    Cfssl,
}

impl Target {
    fn label(self) -> &'static str {
        match self {
            Target::Opencas => "opencas",
            Target::Cfssl => "cfssl",
        }
    }
}

/// What opencas requests need: address, credentials and the issuing sub CAs.
struct OpencasCtx {
    addr: SocketAddr,
    host: String,
    key_id: String,
    secret: String,
    ecc_sub: String,
    rsa_sub: Option<String>,
}

impl OpencasCtx {
    fn request(&self, action: &str, params: &[(&str, &str)]) -> load::Req {
        let query = sign::canonical_query(params);
        self.request_with_query(action, &query, &format!("/?{query}").parse::<Uri>().expect("valid uri"))
    }

    fn request_with_query(&self, action: &str, query: &str, uri: &Uri) -> load::Req {
        let mut b = Request::post(uri.clone());
        for (k, v) in sign::v3_headers(&self.host, action, VERSION, query, &self.key_id, &self.secret) {
            b = b.header(k, v);
        }
        b.header("content-length", "0")
            .body(Full::new(Bytes::new()))
            .expect("request")
    }

    async fn call(&self, action: &str, params: &[(&str, &str)]) -> Result<serde_json::Value, String> {
        let (status, body) = load::one_shot(self.addr, self.request(action, params)).await?;
        if status != StatusCode::OK {
            return Err(format!("{action}: {}", load::describe_failure(status, &body)));
        }
        serde_json::from_slice(&body).map_err(|e| format!("{action}: response is not JSON: {e}"))
    }

    /// A root and a sub CA of `algorithm`; returns the sub CA's Identifier.
    async fn make_hierarchy(&self, algorithm: &str, tag: &str) -> Result<String, String> {
        let root_cn = format!("BenchRoot {tag}");
        let root = self
            .call(
                "CreateRootCACertificate",
                &[
                    ("CommonName", &root_cn),
                    ("Organization", "Bench"),
                    ("OrganizationUnit", "Perf"),
                    ("Locality", "Hangzhou"),
                    ("State", "Zhejiang"),
                    ("CountryCode", "CN"),
                    ("Years", "10"),
                    ("Algorithm", algorithm),
                ],
            )
            .await?;
        let root_id = root["Identifier"]
            .as_str()
            .ok_or("CreateRootCACertificate: no Identifier")?;
        let sub_cn = format!("BenchSub {tag}");
        let sub = self
            .call(
                "CreateSubCACertificate",
                &[
                    ("ParentIdentifier", root_id),
                    ("CommonName", &sub_cn),
                    ("Organization", "Bench"),
                    ("OrganizationUnit", "Perf"),
                    ("Locality", "Hangzhou"),
                    ("State", "Zhejiang"),
                    ("CountryCode", "CN"),
                    ("Years", "5"),
                    ("Algorithm", algorithm),
                ],
            )
            .await?;
        Ok(sub["Identifier"]
            .as_str()
            .ok_or("CreateSubCACertificate: no Identifier")?
            .to_owned())
    }

    /// The request maker for one path: the query is fixed, headers are signed afresh.
    fn maker(self: &Arc<Self>, path: PathKind, csr: &str) -> MakeReq {
        let (action, params): (&str, Vec<(&str, String)>) = match path {
            PathKind::EccCsr => (
                "CreateServerCertificateWithCsr",
                vec![
                    ("ParentIdentifier", self.ecc_sub.clone()),
                    ("Csr", csr.to_owned()),
                    ("Days", "30".into()),
                    ("Immediately", "1".into()),
                ],
            ),
            PathKind::EccKey => (
                "CreateServerCertificate",
                vec![
                    ("ParentIdentifier", self.ecc_sub.clone()),
                    ("Algorithm", "ECC_256".into()),
                    ("CommonName", CN.into()),
                    ("Days", "30".into()),
                    ("Immediately", "1".into()),
                ],
            ),
            PathKind::RsaKey => (
                "CreateServerCertificate",
                vec![
                    ("ParentIdentifier", self.rsa_sub.clone().expect("RSA sub CA made")),
                    ("Algorithm", "RSA_2048".into()),
                    ("CommonName", CN.into()),
                    ("Days", "30".into()),
                    ("Immediately", "1".into()),
                ],
            ),
        };
        let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let query = sign::canonical_query(&pairs);
        let uri: Uri = format!("/?{query}").parse().expect("valid uri");
        let ctx = self.clone();
        Arc::new(move || ctx.request_with_query(action, &query, &uri))
    }
}

fn check_opencas(status: StatusCode, body: &[u8]) -> Result<(), String> {
    if status != StatusCode::OK {
        return Err(load::describe_failure(status, body));
    }
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    match v["X509Certificate"].as_str() {
        Some(pem) if pem.starts_with("-----BEGIN CERTIFICATE-----") => Ok(()),
        _ => Err(format!(
            "200 without X509Certificate: {}",
            load::describe_failure(status, body)
        )),
    }
}

fn check_cfssl(status: StatusCode, body: &[u8]) -> Result<(), String> {
    if status != StatusCode::OK {
        return Err(load::describe_failure(status, body));
    }
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    match (v["success"].as_bool(), v["result"]["certificate"].as_str()) {
        (Some(true), Some(pem)) if pem.starts_with("-----BEGIN CERTIFICATE-----") => Ok(()),
        _ => Err(format!("no certificate: {}", load::describe_failure(status, body))),
    }
}

fn cfssl_maker(addr: SocketAddr, path: PathKind, csr: &str) -> MakeReq {
    let (endpoint, body) = match path {
        PathKind::EccCsr => ("sign", serde_json::json!({ "certificate_request": csr })),
        PathKind::EccKey => (
            "newcert",
            serde_json::json!({"request": {"CN": CN, "hosts": [CN], "key": {"algo": "ecdsa", "size": 256}}}),
        ),
        PathKind::RsaKey => (
            "newcert",
            serde_json::json!({"request": {"CN": CN, "hosts": [CN], "key": {"algo": "rsa", "size": 2048}}}),
        ),
    };
    let body = Bytes::from(serde_json::to_vec(&body).expect("json"));
    let uri: Uri = format!("/api/v1/cfssl/{endpoint}").parse().expect("uri");
    let host = addr.to_string();
    Arc::new(move || {
        Request::post(uri.clone())
            .header("host", &host)
            .header("content-type", "application/json")
            .body(Full::new(body.clone()))
            .expect("request")
    })
}

/// One measured point.
#[derive(Clone)]
struct Row {
    target: Target,
    path: String,
    connections: String,
    stats: Stats,
    cores: Cores,
}

struct CpuSnap {
    server: Option<f64>,
    client: Option<f64>,
    system: Option<f64>,
    at: Instant,
}

/// CPU use over a whole point (warm-up included), in cores: the server under test, the
/// load generator, and everything else on the machine (other people's builds).
#[derive(Clone, Copy)]
struct Cores {
    server: Option<f64>,
    client: Option<f64>,
    other: Option<f64>,
}

fn fmt_ms(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn fmt_cores(v: Option<f64>) -> String {
    v.map(|c| format!("{c:.2}")).unwrap_or_else(|| "-".into())
}

fn print_row(r: &Row) {
    println!(
        "| {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} |",
        r.target.label(),
        r.path,
        r.connections,
        r.stats.per_second(),
        fmt_ms(r.stats.percentile_ms(50.0)),
        fmt_ms(r.stats.percentile_ms(99.0)),
        r.stats.ok,
        r.stats.errors,
        fmt_cores(r.cores.server),
        fmt_cores(r.cores.client),
        fmt_cores(r.cores.other),
    );
}

const TABLE_HEADER: &str = "| target | path | conns | certs/s | p50 ms | p99 ms | ok | errors | server cores | bench cores | other cores |\n|---|---|---|---|---|---|---|---|---|---|---|";

pub(crate) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

struct Bench {
    args: Args,
    opencas: servers::Opencas,
    ctx: Arc<OpencasCtx>,
    cfssl: Option<servers::Server>,
    csr: String,
    rows: Vec<Row>,
    /// Every 200 opencas answered with a certificate (all phases), for the durability check.
    opencas_issued: u64,
}

impl Bench {
    fn server(&self, t: Target) -> &servers::Server {
        match t {
            Target::Opencas => &self.opencas.server,
            Target::Cfssl => self.cfssl.as_ref().expect("cfssl started"),
        }
    }

    fn maker(&self, t: Target, path: PathKind) -> (MakeReq, Check, SocketAddr) {
        match t {
            Target::Opencas => (self.ctx.maker(path, &self.csr), check_opencas, self.ctx.addr),
            Target::Cfssl => {
                let addr = self.server(t).addr;
                (cfssl_maker(addr, path, &self.csr), check_cfssl, addr)
            }
        }
    }

    fn targets(&self) -> Vec<Target> {
        let mut t = vec![Target::Opencas];
        if self.cfssl.is_some() {
            t.push(Target::Cfssl);
        }
        t
    }

    async fn smoke(&mut self) -> Result<(), String> {
        for t in self.targets() {
            for &p in &self.args.paths {
                let (make, check, addr) = self.maker(t, p);
                let (status, body) = load::one_shot(addr, make()).await?;
                check(status, &body).map_err(|e| format!("smoke test {} {}: {e}", t.label(), p.label()))?;
                if t == Target::Opencas {
                    self.opencas_issued += 1;
                }
            }
        }
        Ok(())
    }

    fn cpu(&self, t: Target) -> CpuSnap {
        CpuSnap {
            server: self.server(t).cpu_seconds(),
            client: servers::process_cpu_seconds("/proc/self/stat"),
            system: servers::system_busy_seconds(),
            at: Instant::now(),
        }
    }

    fn cores_since(&self, t: Target, before: CpuSnap) -> Cores {
        let after = self.cpu(t);
        let wall = (after.at - before.at).as_secs_f64();
        let d = |a: Option<f64>, b: Option<f64>| Some((b? - a?) / wall);
        let server = d(before.server, after.server);
        let client = d(before.client, after.client);
        let other = match (d(before.system, after.system), server, client) {
            (Some(all), Some(s), Some(c)) => Some((all - s - c).max(0.0)),
            _ => None,
        };
        Cores { server, client, other }
    }

    async fn pause(&self) {
        tokio::time::sleep(Duration::from_secs_f64(self.args.pause)).await;
    }

    /// Waits until the rest of the machine uses less than --max-other-cores (both servers
    /// idle, so all CPU in use is someone else's), at most --max-wait seconds per point.
    async fn wait_quiet(&self) {
        let Some(max) = self.args.max_other_cores() else { return };
        let start = Instant::now();
        let mut said = false;
        loop {
            let t0 = Instant::now();
            let b0 = servers::system_busy_seconds();
            tokio::time::sleep(Duration::from_secs(2)).await;
            let busy = match (b0, servers::system_busy_seconds()) {
                (Some(a), Some(b)) => (b - a) / t0.elapsed().as_secs_f64(),
                _ => return,
            };
            if busy <= max {
                if said {
                    eprintln!(
                        "  quiet again ({busy:.2} cores busy) after {:.0} s",
                        start.elapsed().as_secs_f64()
                    );
                }
                return;
            }
            if start.elapsed().as_secs_f64() > self.args.max_wait {
                eprintln!(
                    "  still {busy:.2} cores busy elsewhere after {:.0} s; measuring anyway",
                    self.args.max_wait
                );
                return;
            }
            if !said {
                eprintln!("  machine busy elsewhere ({busy:.2} cores); waiting for quiet");
                said = true;
            }
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
    }

    /// Whether a point must be measured again: others used too much CPU meanwhile.
    fn disturbed(&self, cores: &Cores, attempt: u32) -> bool {
        match (self.args.max_other_cores(), cores.other) {
            (Some(max), Some(other)) if other > max && attempt < self.args.retries => {
                eprintln!("  disturbed: {other:.2} cores used elsewhere during the point; measuring it again");
                true
            }
            _ => false,
        }
    }

    async fn sweep(&mut self) {
        let warmup = Duration::from_secs_f64(self.args.warmup);
        let duration = Duration::from_secs_f64(self.args.duration);
        for p in self.args.paths.clone() {
            let conns = match (p, &self.args.rsa_connections) {
                (PathKind::RsaKey, Some(c)) => c.clone(),
                _ => self.args.connections.clone(),
            };
            for c in conns {
                for t in self.targets() {
                    let mut attempt = 0;
                    let (stats, cores) = loop {
                        self.wait_quiet().await;
                        let (make, check, addr) = self.maker(t, p);
                        let before = self.cpu(t);
                        let stats = load::run_point(addr, c, warmup, duration, make, check).await;
                        let cores = self.cores_since(t, before);
                        if t == Target::Opencas {
                            self.opencas_issued += stats.issued_total;
                        }
                        self.pause().await;
                        if !self.disturbed(&cores, attempt) {
                            break (stats, cores);
                        }
                        attempt += 1;
                    };
                    let row = Row {
                        target: t,
                        path: p.label().into(),
                        connections: c.to_string(),
                        stats,
                        cores,
                    };
                    print_row(&row);
                    if let Some(e) = &row.stats.first_error {
                        eprintln!("  first error ({} {} c={c}): {e}", t.label(), p.label());
                    }
                    self.rows.push(row);
                }
            }
        }
    }

    /// CSR-based ECC on `c` connections while RSA-2048 key generation runs on `r` more.
    async fn mixed(&mut self, c: usize, r: usize) {
        let warmup = Duration::from_secs_f64(self.args.warmup);
        let duration = Duration::from_secs_f64(self.args.duration);
        for t in self.targets() {
            let mut attempt = 0;
            let (csr_stats, rsa_stats, cores) = loop {
                self.wait_quiet().await;
                let (make_csr, check, addr) = self.maker(t, PathKind::EccCsr);
                let (make_rsa, _, _) = self.maker(t, PathKind::RsaKey);
                let before = self.cpu(t);
                let (csr_stats, rsa_stats) = tokio::join!(
                    load::run_point(addr, c, warmup, duration, make_csr, check),
                    load::run_point(addr, r, warmup, duration, make_rsa, check),
                );
                let cores = self.cores_since(t, before);
                if t == Target::Opencas {
                    self.opencas_issued += csr_stats.issued_total + rsa_stats.issued_total;
                }
                self.pause().await;
                if !self.disturbed(&cores, attempt) {
                    break (csr_stats, rsa_stats, cores);
                }
                attempt += 1;
            };
            for (label, conns, stats) in [
                ("ecc-p256-csr (with rsa)", c, csr_stats),
                ("rsa-2048-genkey (with csr)", r, rsa_stats),
            ] {
                let row = Row {
                    target: t,
                    path: label.into(),
                    connections: format!("{conns}"),
                    stats,
                    cores,
                };
                print_row(&row);
                if let Some(e) = &row.stats.first_error {
                    eprintln!("  first error ({} {label}): {e}", t.label());
                }
                self.rows.push(row);
            }
        }
    }

    fn best(&self, t: Target, path: &str) -> Option<&Row> {
        self.rows
            .iter()
            .filter(|r| r.target == t && r.path == path)
            .max_by(|a, b| a.stats.per_second().total_cmp(&b.stats.per_second()))
    }

    fn summary(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "\n## opencas / cfssl, best throughput per path (target: >= 1.5x)\n");
        let _ = writeln!(
            s,
            "| path | opencas certs/s (conns) | cfssl certs/s (conns) | ratio | >= 1.5x |\n|---|---|---|---|---|"
        );
        for p in &self.args.paths {
            let o = self.best(Target::Opencas, p.label());
            let c = self.best(Target::Cfssl, p.label());
            let cell = |r: Option<&Row>| {
                r.map(|r| format!("{:.0} ({})", r.stats.per_second(), r.connections))
                    .unwrap_or_else(|| "-".into())
            };
            let ratio = match (o, c) {
                (Some(o), Some(c)) if c.stats.per_second() > 0.0 => Some(o.stats.per_second() / c.stats.per_second()),
                _ => None,
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} |",
                p.label(),
                cell(o),
                cell(c),
                ratio.map(|r| format!("{r:.2}x")).unwrap_or_else(|| "-".into()),
                ratio.map(|r| if r >= 1.5 { "yes" } else { "NO" }).unwrap_or("-"),
            );
        }
        if self.cfssl.is_some() {
            let _ = writeln!(s, "\n## opencas / cfssl throughput ratio per connection count\n");
            let mut per: BTreeMap<(String, usize), (f64, f64)> = BTreeMap::new();
            for r in &self.rows {
                if let Ok(c) = r.connections.parse::<usize>()
                    && self.args.paths.iter().any(|p| p.label() == r.path)
                {
                    let e = per.entry((r.path.clone(), c)).or_default();
                    match r.target {
                        Target::Opencas => e.0 = r.stats.per_second(),
                        Target::Cfssl => e.1 = r.stats.per_second(),
                    }
                }
            }
            let _ = writeln!(s, "| path | conns | opencas/cfssl |\n|---|---|---|");
            for ((path, c), (o, f)) in per {
                let ratio = if f > 0.0 { format!("{:.2}x", o / f) } else { "-".into() };
                let _ = writeln!(s, "| {path} | {c} | {ratio} |");
            }
        }
        if let Some(o) = self.best(Target::Opencas, PathKind::EccCsr.label()) {
            let p99 = o.stats.percentile_ms(99.0);
            let _ = writeln!(
                s,
                "\nopencas CSR-based ECC at its best-throughput concurrency ({} conns): p99 {} ms (target < 20 ms: {})",
                o.connections,
                fmt_ms(p99),
                if p99 < 20.0 { "met" } else { "MISSED" }
            );
        }
        s
    }

    /// Kill -9, restart on the same data directory, count the certificates.
    async fn verify_durability(&mut self) -> Result<String, String> {
        let issued = self.opencas_issued;
        let data_dir = self.opencas.data_dir.clone();
        let _ = self.opencas.server.child.kill();
        let _ = self.opencas.server.child.wait();
        let dir = data_dir.parent().expect("data dir in temp dir").to_owned();
        let restarted = servers::start_opencas(&dir.join("opencas"), &dir).await?;
        let ctx = OpencasCtx {
            addr: restarted.server.addr,
            host: restarted.server.addr.to_string(),
            key_id: restarted.access_key_id.clone(),
            secret: restarted.access_key_secret.clone(),
            ecc_sub: String::new(),
            rsa_sub: None,
        };
        let v = ctx
            .call("ListClientCertificate", &[("ShowSize", "1"), ("CurrentPage", "1")])
            .await?;
        let total = v["TotalCount"].as_i64().ok_or("ListClientCertificate: no TotalCount")?;
        self.opencas = restarted;
        let verdict = if total as u64 >= issued {
            "ok"
        } else {
            "MISSING CERTIFICATES"
        };
        Ok(format!(
            "durability: opencas answered 200 with a certificate {issued} times; after SIGKILL and restart it lists {total} certificates: {verdict}"
        ))
    }
}

fn main() {
    let args = Args::parse();
    load::use_client(args.http_client);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads.max(1))
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Err(e) = rt.block_on(run(args)) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), String> {
    if let Some(sizes) = &args.search {
        return search::run(search::SearchArgs {
            bin: &args.opencas_bin,
            sizes,
            connections: &args.connections,
            warmup: Duration::from_secs_f64(args.warmup),
            duration: Duration::from_secs_f64(args.duration),
            keep: args.keep,
            dir: args.search_dir.as_deref(),
            only: &args.search_workloads,
        })
        .await;
    }
    if args.max_other_cores != "off" && args.max_other_cores != "none" {
        args.max_other_cores
            .parse::<f64>()
            .map_err(|e| format!("--max-other-cores: a number or off: {e}"))?;
    }
    let mixed = match args.mixed.as_str() {
        "none" | "" => None,
        m => {
            let (c, r) = m.split_once(':').ok_or("--mixed takes C:R or none")?;
            Some((
                c.parse::<usize>().map_err(|e| format!("--mixed: {e}"))?,
                r.parse::<usize>().map_err(|e| format!("--mixed: {e}"))?,
            ))
        }
    };
    let tmp = tempfile::Builder::new()
        .prefix("opencas-bench-")
        .tempdir()
        .map_err(|e| format!("temp dir: {e}"))?;
    let dir = tmp.path().to_owned();
    println!("# opencas issuance benchmark");
    println!();
    println!(
        "nproc {}, load average at start {}, duration {} s + {} s warm-up per point, bench client threads {} ({:?} HTTP client)",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        loadavg(),
        args.duration,
        args.warmup,
        args.client_threads,
        args.http_client
    );
    println!("work dir {}", dir.display());

    let (syncs, sync_p50, sync_p99) = servers::fsync_probe(&dir, 2.0)?;
    println!(
        "disk under the work dir: {syncs:.0} fdatasync/s (4 KiB appends, one writer), median {sync_p50:.2} ms, p99 {sync_p99:.2} ms"
    );
    let csr = servers::make_csr(&dir)?;
    let pinned = servers::pin_binary(&args.opencas_bin, &dir)?;
    let bin_sha = std::fs::read(&pinned)
        .map(|b| sign::sha256_hex(&b))
        .map_err(|e| format!("{}: {e}", pinned.display()))?;
    let opencas = servers::start_opencas(&pinned, &dir).await?;
    let addr = opencas.server.addr;
    let mut ctx = OpencasCtx {
        addr,
        host: addr.to_string(),
        key_id: opencas.access_key_id.clone(),
        secret: opencas.access_key_secret.clone(),
        ecc_sub: String::new(),
        rsa_sub: None,
    };
    if args.ops {
        let mut opencas = opencas;
        println!(
            "opencas {} (sha256 {}) on {addr}, load average {}",
            args.opencas_bin.display(),
            &bin_sha[..16],
            loadavg()
        );
        let res = ops::run(
            Arc::new(ctx),
            &opencas.server,
            &args.connections,
            &args.ops_only,
            Duration::from_secs_f64(args.warmup),
            Duration::from_secs_f64(args.duration),
        )
        .await;
        println!("\nload average at end {}", loadavg());
        opencas.server.stop();
        return res;
    }
    ctx.ecc_sub = ctx.make_hierarchy("ECC_256", "ECC").await?;
    if args.paths.contains(&PathKind::RsaKey) || mixed.is_some() {
        ctx.rsa_sub = Some(ctx.make_hierarchy("RSA_2048", "RSA").await?);
    }
    println!(
        "opencas {} (sha256 {}) on {addr} (ECC sub CA {}, RSA sub CA {})",
        args.opencas_bin.display(),
        &bin_sha[..16],
        ctx.ecc_sub,
        ctx.rsa_sub.as_deref().unwrap_or("-")
    );
    let cfssl = if args.cfssl {
        let s = servers::start_cfssl(&args.cfssl_bin, &dir, args.cfssl_loglevel).await?;
        println!(
            "cfssl {} on {} (ECDSA P-256 CA, -loglevel {}, no database)",
            args.cfssl_bin, s.addr, args.cfssl_loglevel
        );
        Some(s)
    } else {
        None
    };
    let mut bench = Bench {
        args,
        opencas,
        ctx: Arc::new(ctx),
        cfssl,
        csr,
        rows: Vec::new(),
        opencas_issued: 0,
    };
    bench.smoke().await?;
    println!();
    println!("{TABLE_HEADER}");
    bench.sweep().await;
    if let Some((c, r)) = mixed {
        bench.mixed(c, r).await;
    }
    println!("\nload average at end {}", loadavg());

    let summary = bench.summary();
    println!("{summary}");
    let all_errors: u64 = bench.rows.iter().map(|r| r.stats.errors).sum();
    println!("errors over all points: {all_errors}");
    if bench.args.verify_durability {
        match bench.verify_durability().await {
            Ok(line) => println!("{line}"),
            Err(e) => println!("durability check failed: {e}"),
        }
    }
    bench.opencas.server.stop();
    if let Some(c) = bench.cfssl.as_mut() {
        c.stop();
    }
    if bench.args.keep {
        let kept = tmp.keep();
        println!("kept {}", kept.display());
    }
    Ok(())
}
