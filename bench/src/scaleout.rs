//! opencas-scaleout-bench: issuance and read throughput on SQLite, on PostgreSQL with one
//! replica, and on PostgreSQL with two replicas, in one run (issue 10).
//!
//! Starts a throwaway PostgreSQL cluster (`scripts/pg-cluster`, loopback, fsync on), then for
//! each setup a fresh database and its opencas processes. Replicas share one data directory
//! (the master key) and one database; the load's connections are split evenly across them,
//! as a load balancer would. Each point is closed-loop for a fixed time: CSR-less ECC P-256
//! issuance (CreateClientCertificate), then DescribeClientCertificate of certificates issued
//! in the first point. Every request carries a fresh ACS3-HMAC-SHA256 signature and nonce,
//! so on PostgreSQL every request also claims its nonce in the database.

#![allow(dead_code)] // the shared modules carry the issuance bench's helpers too

#[path = "api.rs"]
mod api;
#[path = "load.rs"]
mod load;
#[path = "servers.rs"]
mod servers;
#[path = "sign.rs"]
mod sign;

use api::Ctx;
use clap::Parser;
use hyper::StatusCode;
use load::{MakeReq, Stats};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

const PCA: &str = "2020-06-30";

#[derive(Parser, Debug)]
#[command(about = "opencas issuance and reads: SQLite, PostgreSQL x1, PostgreSQL x2 replicas")]
struct Args {
    #[arg(long, default_value = "target/release/opencas")]
    opencas_bin: PathBuf,
    /// The cluster script (initdb/pg_ctl on loopback in a temporary directory).
    #[arg(long, default_value = "scripts/pg-cluster")]
    pg_cluster: PathBuf,
    /// Concurrent connections in all (split across the replicas).
    #[arg(long, default_value_t = 16)]
    connections: usize,
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
}

fn check_issued(status: StatusCode, body: &[u8]) -> Result<(), String> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    match v["X509Certificate"].as_str() {
        Some(pem) if status == StatusCode::OK && pem.starts_with("-----BEGIN CERTIFICATE-----") => Ok(()),
        _ => Err(load::describe_failure(status, body)),
    }
}

fn check_detail(status: StatusCode, body: &[u8]) -> Result<(), String> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    match v["Certificate"]["Identifier"].as_str() {
        Some(_) if status == StatusCode::OK => Ok(()),
        _ => Err(load::describe_failure(status, body)),
    }
}

/// Root and sub CA (ECC P-256) through the first replica; returns the sub CA's Identifier.
async fn hierarchy(ctx: &Ctx) -> Result<String, String> {
    let subject = [
        ("Organization", "Bench"),
        ("OrganizationUnit", "Perf"),
        ("Locality", "Hangzhou"),
        ("State", "Zhejiang"),
        ("CountryCode", "CN"),
        ("Algorithm", "ECC_256"),
    ];
    let mut p = subject.to_vec();
    p.extend([("CommonName", "ScaleRoot"), ("Years", "10")]);
    let root = ctx.call(PCA, "CreateRootCACertificate", &p).await?;
    let root_id = root["Identifier"].as_str().ok_or("no root Identifier")?.to_owned();
    let mut p = subject.to_vec();
    p.extend([
        ("CommonName", "ScaleSub"),
        ("Years", "5"),
        ("ParentIdentifier", &root_id),
    ]);
    let sub = ctx.call(PCA, "CreateSubCACertificate", &p).await?;
    Ok(sub["Identifier"].as_str().ok_or("no sub Identifier")?.to_owned())
}

/// Runs one point with the connections split across `ctxs`; `make` builds a maker per replica.
async fn point(a: &Args, ctxs: &[Ctx], make: impl Fn(&Ctx) -> MakeReq, check: load::Check) -> Stats {
    let per = a.connections.div_ceil(ctxs.len()).max(1);
    let runs: Vec<_> = ctxs
        .iter()
        .map(|c| {
            tokio::spawn(load::run_point(
                c.addr,
                per,
                Duration::from_secs_f64(a.warmup),
                Duration::from_secs_f64(a.duration),
                make(c),
                check,
            ))
        })
        .collect();
    let mut total = Stats::default();
    for r in runs {
        let part = r.await.expect("load task");
        total.window = total.window.max(part.window);
        total.merge(part);
    }
    total.latencies_us.sort_unstable();
    total
}

struct Row {
    setup: String,
    issue: Stats,
    read: Stats,
}

async fn measure(a: &Args, label: &str, dir: &Path, database: Option<&str>, replicas: usize) -> Result<Row, String> {
    let data = dir.join("data");
    let mut servers = Vec::new();
    const NAMES: [&str; 4] = ["replica-a", "replica-b", "replica-c", "replica-d"];
    for name in NAMES.iter().take(replicas) {
        servers.push(servers::start_opencas_replica(&a.opencas_bin, dir, &data, database, name).await?);
    }
    let ctxs: Vec<Ctx> = servers.iter().map(Ctx::of).collect();
    let sub = hierarchy(&ctxs[0]).await?;
    let issue = point(
        a,
        &ctxs,
        |c| {
            let (c, sub) = (c.clone(), sub.clone());
            Arc::new(move || {
                c.request(
                    PCA,
                    "CreateClientCertificate",
                    &[
                        ("ParentIdentifier", &sub),
                        ("CommonName", "scale.example.com"),
                        ("Days", "30"),
                        ("Immediately", "1"),
                    ],
                )
            })
        },
        check_issued,
    )
    .await;
    let listed = ctxs[0]
        .call(
            PCA,
            "ListClientCertificate",
            &[("ShowSize", "100"), ("CurrentPage", "1")],
        )
        .await?;
    let ids: Arc<Vec<String>> = Arc::new(
        listed["CertificateList"]
            .as_array()
            .ok_or("ListClientCertificate: no CertificateList")?
            .iter()
            .filter_map(|c| c["Identifier"].as_str().map(str::to_owned))
            .collect(),
    );
    if ids.is_empty() {
        return Err(format!("{label}: nothing issued to read back"));
    }
    let read = point(
        a,
        &ctxs,
        |c| {
            let (c, ids) = (c.clone(), ids.clone());
            Arc::new(move || {
                let id = &ids[rand::random_range(0..ids.len())];
                c.request(PCA, "DescribeClientCertificate", &[("Identifier", id)])
            })
        },
        check_detail,
    )
    .await;
    for mut s in servers {
        s.server.stop();
    }
    Ok(Row {
        setup: label.to_owned(),
        issue,
        read,
    })
}

fn run_cmd(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{cmd:?}: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn create_database(server: &str, name: &str) -> Result<String, String> {
    run_cmd(Command::new("psql").args(["-X", "-q", "-d", server, "-c", &format!("CREATE DATABASE {name}")]))?;
    let base = server.rsplit_once('/').map_or(server, |(b, _)| b);
    Ok(format!("{base}/{name}"))
}

async fn bench(a: &Args, dir: &Path, pg: &str) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    let setups: [(&str, Option<&str>, usize); 3] = [
        ("SQLite, 1 process", None, 1),
        ("PostgreSQL, 1 replica", Some("scale_pg1"), 1),
        ("PostgreSQL, 2 replicas", Some("scale_pg2"), 2),
    ];
    for (n, (label, db, replicas)) in setups.into_iter().enumerate() {
        let d = dir.join(format!("setup{n}"));
        std::fs::create_dir_all(&d).map_err(|e| e.to_string())?;
        let url = db.map(|name| create_database(pg, name)).transpose()?;
        eprintln!("== {label}");
        let row = measure(a, label, &d, url.as_deref(), replicas).await?;
        print_row(a, &row);
        rows.push(row);
    }
    Ok(rows)
}

fn print_row(a: &Args, r: &Row) {
    for (what, s) in [("issue", &r.issue), ("read", &r.read)] {
        println!(
            "| {} | {what} | {} | {:.0}/s | {:.1} ms | {:.1} ms | {} |",
            r.setup,
            a.connections,
            s.per_second(),
            s.percentile_ms(50.0),
            s.percentile_ms(99.0),
            s.errors
        );
    }
}

fn main() {
    let a = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(a.client_threads.max(1))
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::Builder::new()
        .prefix("opencas-scaleout-")
        .tempdir()
        .expect("temp dir");
    let pg_dir = dir.path().join("pg");
    let pg = match run_cmd(Command::new(&a.pg_cluster).arg("start").arg(&pg_dir)) {
        Ok(url) => url,
        Err(e) => {
            eprintln!("cannot start PostgreSQL: {e}");
            std::process::exit(1);
        }
    };
    println!("| setup | load | connections | per second | p50 | p99 | errors |");
    println!("|---|---|---|---|---|---|---|");
    let result = rt.block_on(bench(&a, dir.path(), &pg));
    let _ = run_cmd(Command::new(&a.pg_cluster).arg("stop").arg(&pg_dir));
    if let Err(e) = result {
        eprintln!("scale-out bench failed: {e}");
        std::process::exit(1);
    }
}
