//! `--search N1,N2,…`: ListCert keyword search and detail reads with N certificates in one
//! account.
//!
//! opencas issues one real certificate (root -> sub -> server certificate) and stops; the
//! `sqlite3` CLI then copies that row into the data directory until the account holds N
//! certificates (distinct identifiers, serials, names, CNs and SANs; the same DER), which
//! the database's own triggers index for search exactly as a write through opencas would.
//! opencas restarts on the data directory and each workload runs closed-loop for the
//! configured time. Sizes grow in the order given: the rows of a smaller size are kept.

use crate::api::Ctx;
use crate::load::{self, MakeReq, Stats};
use crate::servers;
use hyper::StatusCode;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Six words of six letters: the second label of every generated name.
const WORDS: &str = "alphasbravoscharlydeltasechoesfoxtrt";
const WORD_COUNT: i64 = 6;

pub struct SearchArgs<'a> {
    pub bin: &'a Path,
    pub sizes: &'a [u64],
    pub connections: &'a [usize],
    pub warmup: Duration,
    pub duration: Duration,
    /// Keep the temporary directory (the filled database) afterwards.
    pub keep: bool,
}

const PCA: &str = "2020-06-30";
const SSL: &str = "2020-04-07";

/// Issues the template certificate; returns its Identifier.
async fn template(ctx: &Ctx) -> Result<String, String> {
    let subject = [
        ("Organization", "Bench"),
        ("OrganizationUnit", "Perf"),
        ("Locality", "Hangzhou"),
        ("State", "Zhejiang"),
        ("CountryCode", "CN"),
        ("Algorithm", "ECC_256"),
    ];
    let mut p = subject.to_vec();
    p.extend([("CommonName", "SearchRoot"), ("Years", "10")]);
    let root = ctx.call(PCA, "CreateRootCACertificate", &p).await?;
    let root_id = root["Identifier"].as_str().ok_or("no root Identifier")?.to_owned();
    let mut p = subject.to_vec();
    p.extend([
        ("CommonName", "SearchSub"),
        ("Years", "5"),
        ("ParentIdentifier", &root_id),
    ]);
    let sub = ctx.call(PCA, "CreateSubCACertificate", &p).await?;
    let sub_id = sub["Identifier"].as_str().ok_or("no sub Identifier")?.to_owned();
    let leaf = ctx
        .call(
            PCA,
            "CreateServerCertificate",
            &[
                ("ParentIdentifier", &sub_id),
                ("Algorithm", "ECC_256"),
                ("CommonName", "template.search.example"),
                ("Days", "365"),
                ("Immediately", "1"),
            ],
        )
        .await?;
    Ok(leaf["Identifier"]
        .as_str()
        .ok_or("no certificate Identifier")?
        .to_owned())
}

/// Copies the template row into rows `from..=to` through the `sqlite3` CLI, in one
/// transaction per 100,000 rows.
fn fill(db: &Path, template: &str, from: u64, to: u64) -> Result<(), String> {
    let mut start = from;
    while start <= to {
        let end = (start + 99_999).min(to);
        let word = format!("substr('{WORDS}', (seq.n % {WORD_COUNT}) * 6 + 1, 6)");
        let host = format!("printf('host%07d.%s.example.com', seq.n, {word})");
        let sql = format!(
            "PRAGMA busy_timeout = 10000;\nBEGIN;\n\
             WITH RECURSIVE seq(n) AS (SELECT {start} UNION ALL SELECT n + 1 FROM seq WHERE n < {end})\n\
             INSERT INTO certificates (account_id, identifier, name, source_type, cert_type, certificate_type, \
             status, issuer_identifier, common_name, sans, subject_dn, issuer, organization, organization_unit, \
             country, province, city, algorithm, key_algorithm, key_size, sign_algorithm, serial_no, \
             fingerprint_md5, fingerprint_sha1, fingerprint_sha256, not_before, not_after, days, has_private_key, \
             cert_der, chain_pem, created_at)\n\
             SELECT t.account_id, printf('%032x', seq.n), {host}, t.source_type, t.cert_type, t.certificate_type, \
             t.status, t.issuer_identifier, {host}, {host} || ',www.' || {host}, t.subject_dn, t.issuer, \
             t.organization, t.organization_unit, t.country, t.province, t.city, t.algorithm, t.key_algorithm, \
             t.key_size, t.sign_algorithm, printf('bench%012x', seq.n), t.fingerprint_md5, t.fingerprint_sha1, \
             t.fingerprint_sha256, t.not_before, t.not_after, t.days, 0, t.cert_der, t.chain_pem, \
             t.created_at + seq.n\n\
             FROM seq, certificates t WHERE t.identifier = '{template}';\nCOMMIT;\n"
        );
        let mut child = std::process::Command::new("sqlite3")
            .arg(db)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("sqlite3 (apt-get install sqlite3): {e}"))?;
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(sql.as_bytes())
            .map_err(|e| e.to_string())?;
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        if !out.status.success() || !out.stderr.is_empty() {
            return Err(format!("sqlite3 fill: {}", String::from_utf8_lossy(&out.stderr)));
        }
        start = end + 1;
    }
    Ok(())
}

fn check_list(status: StatusCode, body: &[u8]) -> Result<(), String> {
    if status != StatusCode::OK {
        return Err(load::describe_failure(status, body));
    }
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    match v["CertList"].as_array() {
        Some(list) if !list.is_empty() && v["TotalCount"].as_i64().unwrap_or(0) >= 1 => Ok(()),
        _ => Err(format!("no match: {}", load::describe_failure(status, body))),
    }
}

fn check_detail(status: StatusCode, body: &[u8]) -> Result<(), String> {
    if status != StatusCode::OK {
        return Err(load::describe_failure(status, body));
    }
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    match v["Certificate"]["X509Certificate"].as_str() {
        Some(pem) if pem.starts_with("-----BEGIN CERTIFICATE-----") => Ok(()),
        _ => Err(format!("no certificate: {}", load::describe_failure(status, body))),
    }
}

/// The workloads: (label, request maker, check).
fn workloads(ctx: &Arc<Ctx>, size: u64) -> Vec<(String, MakeReq, load::Check)> {
    let pick = move || rand::random_range(1..size.max(2));
    let list = |label: &str, keyword: Arc<dyn Fn() -> String + Send + Sync>| -> (String, MakeReq, load::Check) {
        let ctx = ctx.clone();
        let make: MakeReq = Arc::new(move || {
            let k = keyword();
            ctx.request(SSL, "ListCert", &[("KeyWord", &k), ("ShowSize", "50")])
        });
        (label.to_owned(), make, check_list)
    };
    let detail_ctx = ctx.clone();
    let detail: MakeReq = Arc::new(move || {
        let id = format!("{:032x}", pick());
        detail_ctx.request(PCA, "DescribeClientCertificate", &[("Identifier", &id)])
    });
    vec![
        list(
            "ListCert KeyWord=host<7 digits> (one certificate)",
            Arc::new(move || format!("host{:07}", pick())),
        ),
        list(
            "ListCert KeyWord=<7 digits> (one certificate)",
            Arc::new(move || format!("{:07}", pick())),
        ),
        list(
            "ListCert KeyWord=<word>.example (1/6 of all)",
            Arc::new(move || {
                let i = (pick() % WORD_COUNT as u64) as usize;
                format!("{}.example", &WORDS[i * 6..i * 6 + 6])
            }),
        ),
        (
            "DescribeClientCertificate (detail read)".to_owned(),
            detail,
            check_detail,
        ),
    ]
}

pub async fn run(a: SearchArgs<'_>) -> Result<(), String> {
    let tmp = tempfile::Builder::new()
        .prefix("opencas-search-bench-")
        .tempdir()
        .map_err(|e| format!("temp dir: {e}"))?;
    let dir = tmp.path();
    let bin = servers::pin_binary(a.bin, dir)?;
    let mut opencas = servers::start_opencas(&bin, dir).await?;
    let tpl = template(&Ctx::of(&opencas)).await?;
    opencas.server.stop();
    let db = opencas.data_dir.join("opencas.db");
    let mut report = String::new();
    writeln!(
        report,
        "| certificates | workload | connections | req/s | p50 ms | p99 ms | errors |"
    )
    .ok();
    writeln!(report, "|---:|---|---:|---:|---:|---:|---:|").ok();
    let mut filled: u64 = 1;
    for &size in a.sizes {
        if size > filled {
            let t = Instant::now();
            fill(&db, &tpl, filled, size - 1)?;
            println!(
                "filled {} -> {size} certificates in {:.1} s",
                filled,
                t.elapsed().as_secs_f64()
            );
            filled = size;
        }
        let mut server = servers::start_opencas(&bin, dir).await?;
        let ctx = Arc::new(Ctx::of(&server));
        for (label, make, check) in workloads(&ctx, size) {
            for &c in a.connections {
                let st: Stats = load::run_point(ctx.addr, c, a.warmup, a.duration, make.clone(), check).await;
                let line = format!(
                    "| {size} | {label} | {c} | {:.0} | {:.2} | {:.2} | {} |",
                    st.per_second(),
                    st.percentile_ms(50.0),
                    st.percentile_ms(99.0),
                    st.errors
                );
                println!("{line}  load {}", crate::loadavg());
                if let Some(e) = &st.first_error {
                    println!("    first error: {e}");
                }
                writeln!(report, "{line}").ok();
            }
        }
        server.server.stop();
    }
    println!("\n{report}");
    if a.keep {
        println!("kept {}", tmp.keep().display());
    }
    Ok(())
}
