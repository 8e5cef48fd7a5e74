//! opencas-revocation-bench: CRL generation at 10 000 / 100 000 / 1 000 000 revoked
//! certificates, and OCSP responses per second over HTTP beside the raw signing rate.
//!
//! CRL part: one server whose refresher runs every `--crl-refresh` seconds. Per size, a sub
//! CA is made through the API and its revoked certificates are inserted straight into the
//! data directory's SQLite database (the API would take hours for a million), then:
//! the first fetch after the change (rows read, encoded, signed, stored), a cached fetch,
//! and the refresher's re-signing of the unchanged CRL (its own timing from the server log).
//! While the first fetch of the largest CRL runs, OCSP requests with a nonce go to another
//! CA on a second connection: their latency shows whether the rebuild holds others up.
//!
//! OCSP part: a fresh server, a P-256 and an RSA-2048 hierarchy with one leaf each; GET
//! and POST, with and without a nonce (requests made by `openssl ocsp -reqout`), closed
//! loop on N connections. `openssl speed` runs in the same process for the raw rate.

#![allow(dead_code)] // the shared modules carry the issuance bench's helpers too

#[path = "load.rs"]
mod load;
#[path = "servers.rs"]
mod servers;
#[path = "sign.rs"]
mod sign;

use bytes::Bytes;
use clap::Parser;
use http_body_util::Full;
use hyper::{Request, StatusCode, Uri};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const VERSION: &str = "2020-06-30";

#[derive(Parser, Debug)]
#[command(about = "CRL generation and OCSP throughput of opencas")]
struct Args {
    #[arg(long, default_value = "target/release/opencas")]
    opencas_bin: PathBuf,
    /// Revoked certificates per CRL, one sub CA each.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000,1000000")]
    crl_sizes: Vec<u64>,
    /// Refresh interval the CRL server runs with (seconds).
    #[arg(long, default_value_t = 15)]
    crl_refresh: u64,
    /// Concurrent connections of the OCSP points.
    #[arg(long, value_delimiter = ',', default_value = "16")]
    connections: Vec<usize>,
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Skip a part: "crl" or "ocsp".
    #[arg(long, value_delimiter = ',')]
    skip: Vec<String>,
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    #[arg(long)]
    keep: bool,
}

struct Ctx {
    addr: SocketAddr,
    host: String,
    key_id: String,
    secret: String,
}

impl Ctx {
    fn new(o: &servers::Opencas) -> Self {
        Ctx {
            addr: o.server.addr,
            host: o.server.addr.to_string(),
            key_id: o.access_key_id.clone(),
            secret: o.access_key_secret.clone(),
        }
    }

    async fn call(&self, action: &str, params: &[(&str, &str)]) -> Result<serde_json::Value, String> {
        let query = sign::canonical_query(params);
        let mut b = Request::post(format!("/?{query}").parse::<Uri>().expect("uri"));
        for (k, v) in sign::v3_headers(&self.host, action, VERSION, &query, &self.key_id, &self.secret) {
            b = b.header(k, v);
        }
        let req = b.header("content-length", "0").body(Full::new(Bytes::new())).unwrap();
        let (status, body) = load::one_shot(self.addr, req).await?;
        if status != StatusCode::OK {
            return Err(format!("{action}: {}", load::describe_failure(status, &body)));
        }
        serde_json::from_slice(&body).map_err(|e| format!("{action}: {e}"))
    }

    /// Root and CRL-enabled sub CA of `alg`: (sub identifier, sub certificate PEM).
    async fn hierarchy(&self, alg: &str, tag: &str) -> Result<(String, String), String> {
        let subject = [
            ("Organization", "Bench"),
            ("OrganizationUnit", "Perf"),
            ("Locality", "Hangzhou"),
            ("State", "Zhejiang"),
            ("CountryCode", "CN"),
        ];
        let root_cn = format!("RevBench Root {tag}");
        let mut p = vec![("CommonName", root_cn.as_str()), ("Years", "10"), ("Algorithm", alg)];
        p.extend(subject);
        let root = self.call("CreateRootCACertificate", &p).await?;
        let root_id = root["Identifier"].as_str().ok_or("no root Identifier")?.to_owned();
        let sub_cn = format!("RevBench Sub {tag}");
        let mut p = vec![
            ("ParentIdentifier", root_id.as_str()),
            ("CommonName", sub_cn.as_str()),
            ("Years", "5"),
            ("Algorithm", alg),
            ("EnableCrl", "true"),
            ("CrlDay", "7"),
        ];
        p.extend(subject);
        let sub = self.call("CreateSubCACertificate", &p).await?;
        let id = sub["Identifier"].as_str().ok_or("no sub Identifier")?.to_owned();
        let pem = sub["Certificate"].as_str().ok_or("no sub Certificate")?.to_owned();
        Ok((id, pem))
    }

    async fn leaf_id(&self, sub: &str) -> Result<String, String> {
        let p = [
            ("ParentIdentifier", sub),
            ("Algorithm", "ECC_256"),
            ("CommonName", "crl.bench.example.com"),
            ("Days", "30"),
            ("Immediately", "1"),
            ("EnableCrl", "1"),
        ];
        let body = self.call("CreateServerCertificate", &p).await?;
        Ok(body["Identifier"].as_str().ok_or("no Identifier")?.to_owned())
    }

    async fn leaf(&self, sub: &str, alg: &str) -> Result<String, String> {
        let p = [
            ("ParentIdentifier", sub),
            ("Algorithm", alg),
            ("CommonName", "ocsp.bench.example.com"),
            ("Days", "30"),
            ("Immediately", "1"),
            ("EnableCrl", "1"),
        ];
        let body = self.call("CreateServerCertificate", &p).await?;
        Ok(body["X509Certificate"].as_str().ok_or("no X509Certificate")?.to_owned())
    }

    fn get(&self, path: &str) -> load::Req {
        Request::get(path)
            .header("host", &self.host)
            .body(Full::new(Bytes::new()))
            .unwrap()
    }

    fn ocsp_post(&self, der: &Bytes) -> load::Req {
        Request::post("/ocsp")
            .header("host", &self.host)
            .header("content-type", "application/ocsp-request")
            .body(Full::new(der.clone()))
            .unwrap()
    }
}

/// A successful OCSPResponse: `SEQUENCE { ENUMERATED 0, ... }`.
fn ocsp_ok(status: StatusCode, body: &[u8]) -> Result<(), String> {
    let head = &body[..body.len().min(8)];
    if status == StatusCode::OK && body.len() > 16 && head.windows(3).any(|w| w == [0x0a, 0x01, 0x00]) {
        Ok(())
    } else {
        Err(format!("OCSP: HTTP {status}, {} bytes {:02x?}", body.len(), head))
    }
}

fn crl_ok(status: StatusCode, body: &[u8]) -> Result<(), String> {
    if status == StatusCode::OK && body.first() == Some(&0x30) {
        Ok(())
    } else {
        Err(load::describe_failure(status, body))
    }
}

fn sh(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{cmd:?}: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Inserts `n` revoked certificates of `sub` into the database and bumps the CA's
/// revocation sequence, as `CreateRevokeClientCertificate` would.
fn fill_revoked(db: &Path, sub: &str, n: u64) -> Result<f64, String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let sql = format!(
        "PRAGMA busy_timeout = 60000; BEGIN IMMEDIATE; \
         INSERT INTO certificates (account_id, identifier, name, source_type, cert_type, certificate_type, status, \
           issuer_identifier, common_name, sans, subject_dn, issuer, algorithm, key_algorithm, key_size, \
           sign_algorithm, serial_no, fingerprint_md5, fingerprint_sha1, fingerprint_sha256, not_before, not_after, \
           days, has_private_key, cert_der, chain_pem, revoked_at, revoke_reason, created_at) \
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) \
         SELECT (SELECT account_id FROM cas WHERE identifier = '{sub}'), lower(hex(randomblob(16))), 'bench', 'pca', \
           'SERVER', 'SERVER', 'REVOKE', '{sub}', 'bench', '', 'CN=bench', 'CN=sub', 'ECC', 'ECC', 256, \
           'SHA256WITHECDSA', '1' || substr(lower(hex(randomblob(16))), 2), '', '', '', {now}, {end}, 30, 0, x'', '', \
           {now} - i * 1000, CASE WHEN i % 4 = 0 THEN 'keyCompromise' END, {now} FROM n; \
         UPDATE cas SET revocation_seq = revocation_seq + 1 WHERE identifier = '{sub}'; COMMIT;",
        end = now + 30 * 86_400_000
    );
    let t = Instant::now();
    sh(Command::new("sqlite3").arg(db).arg(sql))?;
    Ok(t.elapsed().as_secs_f64())
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\x1b' {
            for d in it.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn field(line: &str, name: &str) -> Option<u64> {
    let at = line.find(&format!(" {name}="))? + name.len() + 2;
    line[at..].split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// The server's "CRL signed" log lines for `ca`: (number, bytes, entries_ms, signed_ms, total_ms).
fn crl_log(log: &Path, ca: &str) -> Vec<[u64; 5]> {
    let text = strip_ansi(&std::fs::read_to_string(log).unwrap_or_default());
    text.lines()
        .filter(|l| l.contains("CRL signed") && l.contains(ca))
        .filter_map(|l| {
            Some([
                field(l, "number")?,
                field(l, "bytes")?,
                field(l, "entries_ms")?,
                field(l, "signed_ms")?,
                field(l, "total_ms")?,
            ])
        })
        .collect()
}

async fn fetch(ctx: &Ctx, path: &str) -> Result<(f64, usize), String> {
    let t = Instant::now();
    let (status, body) = load::one_shot(ctx.addr, ctx.get(path)).await?;
    crl_ok(status, &body)?;
    Ok((t.elapsed().as_secs_f64(), body.len()))
}

async fn crl_part(args: &Args, dir: &Path) -> Result<(), String> {
    let sub_dir = dir.join("crl");
    std::fs::create_dir_all(&sub_dir).map_err(|e| e.to_string())?;
    let o = servers::start_opencas(&args.opencas_bin, &sub_dir).await?;
    let ctx = Ctx::new(&o);
    let db = o.data_dir.join("opencas.db");
    let (probe_sub, probe_pem) = ctx.hierarchy("ECC_256", "probe").await?;
    let probe_leaf = ctx.leaf(&probe_sub, "ECC_256").await?;
    let probe_req = ocsp_request(dir, &probe_pem, &probe_leaf, true)?;
    println!(
        "\n== CRL generation (P-256 sub CA, refresher every {} s) ==",
        args.crl_refresh
    );
    println!(
        "{:>9} {:>9} {:>10} {:>12} {:>12} {:>10} {:>22}",
        "revoked", "fill s", "CRL MiB", "1st fetch s", "(read+sign)", "cached s", "re-sign unchanged s"
    );
    for &n in &args.crl_sizes {
        let (sub, _) = ctx.hierarchy("ECC_256", &format!("crl{n}")).await?;
        let path = format!("/crl/{sub}.crl");
        let late = ctx.leaf_id(&sub).await?; // revoked through the API once the CRL is large
        fetch(&ctx, &path).await?; // the empty CRL: the fill below is a change
        let fill = fill_revoked(&db, &sub, n)?;
        // other requests during the rebuild: OCSP with a nonce (signed fresh) to another CA
        let stop = Arc::new(AtomicBool::new(false));
        let prober = {
            let (stop, addr, req) = (stop.clone(), ctx.addr, probe_req.clone());
            let host = ctx.host.clone();
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut sender = load::connect(addr).await.ok();
                while !stop.load(Ordering::Relaxed) {
                    let Some(s) = sender.as_mut() else { break };
                    let r = Request::post("/ocsp")
                        .header("host", &host)
                        .body(Full::new(req.clone()))
                        .unwrap();
                    let t = Instant::now();
                    if load::send(s, r).await.is_err() {
                        break;
                    }
                    lat.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                lat
            })
        };
        let (first, bytes) = fetch(&ctx, &path).await?;
        stop.store(true, Ordering::Relaxed);
        let mut lat = prober.await.unwrap_or_default();
        lat.sort_by(f64::total_cmp);
        let (cached, _) = fetch(&ctx, &path).await?;
        let first_log = crl_log(&o.server.log, &sub);
        let Some(built) = first_log.last().copied() else {
            return Err(format!("no CRL log line for {sub}"));
        };
        // wait for the refresher to re-sign the unchanged CRL
        let deadline = Instant::now() + Duration::from_secs(args.crl_refresh * 4 + 120);
        let resign = loop {
            if let Some(l) = crl_log(&o.server.log, &sub).into_iter().find(|l| l[0] > built[0]) {
                break Some(l);
            }
            if Instant::now() > deadline {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        // one more revocation through the API: the CRL is extended, not re-read
        ctx.call("CreateRevokeClientCertificate", &[("Identifier", &late)])
            .await?;
        let (after_one, _) = fetch(&ctx, &path).await?;
        let after_log = crl_log(&o.server.log, &sub).last().copied().unwrap_or_default();
        println!(
            "{n:>9} {fill:>9.1} {:>10.1} {first:>12.2} {:>12} {cached:>10.3} {:>22}",
            bytes as f64 / 1048576.0,
            format!(
                "{:.2}+{:.2}",
                built[2] as f64 / 1000.0,
                (built[3] - built[2]) as f64 / 1000.0
            ),
            resign.map_or("none".into(), |l| format!(
                "{:.2} (read {:.2})",
                l[4] as f64 / 1000.0,
                l[2] as f64 / 1000.0
            )),
        );
        println!(
            "          one more revocation through the API, then a fetch: {after_one:.2} s (entries {:.2} s)",
            after_log[2] as f64 / 1000.0
        );
        if !lat.is_empty() {
            println!(
                "          OCSP (nonce, other CA) during the 1st fetch: {} requests, p50 {:.1} ms, max {:.1} ms",
                lat.len(),
                lat[lat.len() / 2],
                lat[lat.len() - 1]
            );
        }
    }
    drop(o);
    Ok(())
}

/// An OCSP request for `leaf_pem` under `issuer_pem`, made by openssl.
fn ocsp_request(dir: &Path, issuer_pem: &str, leaf_pem: &str, nonce: bool) -> Result<Bytes, String> {
    let tag = format!("{:x}", rand::random::<u64>());
    let (i, l, r) = (
        dir.join(format!("i{tag}.pem")),
        dir.join(format!("l{tag}.pem")),
        dir.join(format!("r{tag}.der")),
    );
    std::fs::write(&i, issuer_pem).map_err(|e| e.to_string())?;
    std::fs::write(&l, leaf_pem).map_err(|e| e.to_string())?;
    let mut cmd = Command::new("openssl");
    cmd.args(["ocsp", "-issuer"])
        .arg(&i)
        .arg("-cert")
        .arg(&l)
        .arg("-reqout")
        .arg(&r);
    if !nonce {
        cmd.arg("-no_nonce");
    }
    sh(&mut cmd)?;
    Ok(Bytes::from(std::fs::read(&r).map_err(|e| e.to_string())?))
}

/// `openssl speed -seconds 3 ecdsap256 rsa2048`: (P-256 sign/s, RSA-2048 sign/s), one core.
fn openssl_speed() -> Result<(f64, f64), String> {
    let out = sh(Command::new("openssl").args(["speed", "-seconds", "3", "ecdsap256", "rsa2048"]))?;
    let rate = |prefix: &str| -> Option<f64> {
        let line = out.lines().find(|l| l.trim_start().starts_with(prefix))?;
        // "rsa 2048 bits 0.000623s 0.000018s ... 1605.0 54870.5 ..." and
        // " 256 bits ecdsa (nistp256) 0.0000s 0.0001s 42066.6 13530.7": the bare numbers
        // are the key size, then sign/s
        let nums: Vec<f64> = line.split_whitespace().filter_map(|w| w.parse().ok()).collect();
        nums.get(1).copied()
    };
    let ec = rate("256 bits ecdsa").ok_or(format!("no ecdsa line in:\n{out}"))?;
    let rsa = rate("rsa 2048 bits").ok_or(format!("no rsa line in:\n{out}"))?;
    Ok((ec, rsa))
}

async fn ocsp_part(args: &Args, dir: &Path) -> Result<(), String> {
    let sub_dir = dir.join("ocsp");
    std::fs::create_dir_all(&sub_dir).map_err(|e| e.to_string())?;
    let o = servers::start_opencas(&args.opencas_bin, &sub_dir).await?;
    let ctx = Arc::new(Ctx::new(&o));
    let (ec, rsa) = openssl_speed()?;
    println!(
        "\n== OCSP over HTTP (openssl speed on this machine, 1 core: P-256 {ec:.0} sign/s, RSA-2048 {rsa:.0} sign/s) =="
    );
    println!(
        "{:<9} {:<5} {:<8} {:>5} {:>10} {:>9} {:>9} {:>12} {:>13} {:>13}",
        "CA", "verb", "nonce", "conns", "resp/s", "p50 ms", "p99 ms", "of raw sign", "srv CPU µs/r", "raw sign µs"
    );
    for (alg, label, raw) in [("ECC_256", "P-256", ec), ("RSA_2048", "RSA-2048", rsa)] {
        let (sub, pem) = ctx.hierarchy(alg, &format!("ocsp-{label}")).await?;
        let leaf = ctx.leaf(&sub, alg).await?;
        for nonce in [false, true] {
            let req = ocsp_request(dir, &pem, &leaf, nonce)?;
            for verb in ["GET", "POST"] {
                for &c in &args.connections {
                    let make: load::MakeReq = if verb == "GET" {
                        let path = format!("/ocsp/{}", sign::percent_encode(&base64(&req)));
                        let ctx = ctx.clone();
                        Arc::new(move || ctx.get(&path))
                    } else {
                        let (ctx, req) = (ctx.clone(), req.clone());
                        Arc::new(move || ctx.ocsp_post(&req))
                    };
                    let cpu_before = o.server.cpu_seconds();
                    let st = load::run_point(
                        ctx.addr,
                        c,
                        Duration::from_secs_f64(args.warmup),
                        Duration::from_secs_f64(args.duration),
                        make,
                        ocsp_ok,
                    )
                    .await;
                    // Server CPU per answer: unlike the rate, it does not depend on how much of
                    // the shared machine other processes take. The warm-up ran at about the
                    // measured rate, so it is counted in as well.
                    let answered = st.per_second() * (args.warmup + args.duration);
                    let cpu_us = match (cpu_before, o.server.cpu_seconds()) {
                        (Some(a), Some(b)) if answered > 0.0 => format!("{:.0}", (b - a) * 1e6 / answered),
                        _ => "?".into(),
                    };
                    if st.errors > 0 {
                        eprintln!("  {} errors, first: {:?}", st.errors, st.first_error);
                    }
                    println!(
                        "{label:<9} {verb:<5} {:<8} {c:>5} {:>10.0} {:>9.2} {:>9.2} {:>11.0}% {cpu_us:>13} {:>13.0}",
                        if nonce { "yes" } else { "no" },
                        st.per_second(),
                        st.percentile_ms(50.0),
                        st.percentile_ms(99.0),
                        100.0 * st.per_second() / raw,
                        1e6 / raw
                    );
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }
    drop(o);
    Ok(())
}

fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(A[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    // Inherited by the servers this starts: how often the refresher re-signs.
    // SAFETY: no other thread exists yet.
    unsafe { std::env::set_var("OPENCAS_CRL_REFRESH_INTERVAL_SECONDS", args.crl_refresh.to_string()) };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads.max(1))
        .enable_all()
        .build()
        .expect("runtime");
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = if args.keep { tmp.keep() } else { tmp.path().to_owned() };
    println!(
        "opencas-revocation-bench: {} ; {} cores; dir {}",
        args.opencas_bin.display(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        dir.display()
    );
    let result = rt.block_on(async {
        if !args.skip.iter().any(|s| s == "crl") {
            crl_part(&args, &dir).await?;
        }
        if !args.skip.iter().any(|s| s == "ocsp") {
            ocsp_part(&args, &dir).await?;
        }
        Ok::<(), String>(())
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
