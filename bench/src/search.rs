//! `--search N1,N2,…`: ListCert keyword search and detail reads with N certificates in one
//! account.
//!
//! opencas issues one real certificate (root -> sub -> server certificate) and stops; the
//! `sqlite3` CLI then copies that row into the data directory until the account holds N
//! certificates (distinct identifiers, serials, names, CNs and SANs; the same DER), which
//! the database's own triggers index for search exactly as a write through opencas would.
//! opencas restarts on the data directory and each workload runs closed-loop for the
//! configured time. Sizes grow in the order given: the rows of a smaller size are kept.
//! With `--search-dir` the data directory outlives the run and a later run continues from
//! the rows already there, so a million rows are filled once.

use crate::api::Ctx;
use crate::import;
use crate::load::{self, MakeReq};
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
    /// Work in this directory instead of a temporary one, reusing the rows it holds.
    pub dir: Option<&'a Path>,
    /// Which workloads to run (all when empty).
    pub only: &'a [Workload],
}

/// The workloads of `--search`, in the order they run.
#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// ListCert KeyWord=host<7 digits>: one match, made of common trigrams.
    Host,
    /// ListCert KeyWord=<7 digits>: one match.
    Digits,
    /// ListCert KeyWord=<word>.example: a sixth of the account (six keywords, asked again and
    /// again: after the first of each, the kept result).
    Broad,
    /// ListCert KeyWord=<word>.example, CurrentPage=<1..100>: later pages of a broad keyword.
    BroadPages,
    /// ListCert with a broad keyword (a sixth of the account or more) not asked before in
    /// this server's life: every request a first pass over its matches.
    BroadFirst,
    /// As `broad-first`, while another client deletes a random certificate of the account
    /// every `DELETE_EVERY` (CreateRevokeClientCertificate, then DeleteClientCertificate: a
    /// certificate of a private CA is deleted once revoked): each search sees the rows
    /// deleted since the one before. Best run alone (`--search-workloads broad-first-deletes`), so that its
    /// keywords are first-time ones.
    BroadFirstDeletes,
    /// DescribeClientCertificate (2020-06-30) of a random row.
    PcaDetail,
    /// GetUserCertificateDetail (2020-04-07) of a random row.
    SslDetail,
    /// UploadUserCertificate of distinct rcgen-made certificates and keys.
    Import,
}

/// How often `broad-first-deletes` deletes a certificate.
const DELETE_EVERY: Duration = Duration::from_millis(100);

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
    let id = leaf["Identifier"]
        .as_str()
        .ok_or("no certificate Identifier")?
        .to_owned();
    // into the certificate store, so every copy has a CertId for GetUserCertificateDetail
    ctx.call(PCA, "UploadPcaCertToCas", &[("Ids", &id)]).await?;
    Ok(id)
}

/// Runs `sql` through the `sqlite3` CLI on `db`; returns what it printed.
fn sqlite(db: &Path, sql: &str) -> Result<String, String> {
    let mut child = std::process::Command::new("sqlite3")
        .arg(db)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("sqlite3 (apt-get install sqlite3): {e}"))?;
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!(".timeout 10000\n{sql}").as_bytes())
        .map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() || !out.stderr.is_empty() {
        return Err(format!("sqlite3: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
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
            "BEGIN;\n\
             WITH RECURSIVE seq(n) AS (SELECT {start} UNION ALL SELECT n + 1 FROM seq WHERE n < {end})\n\
             INSERT INTO certificates (account_id, identifier, name, source_type, cert_type, certificate_type, \
             status, issuer_identifier, common_name, sans, subject_dn, issuer, organization, organization_unit, \
             country, province, city, algorithm, key_algorithm, key_size, sign_algorithm, serial_no, \
             fingerprint_md5, fingerprint_sha1, fingerprint_sha256, not_before, not_after, days, has_private_key, \
             cert_der, chain_pem, created_at, in_cert_store)\n\
             SELECT t.account_id, printf('%032x', seq.n), {host}, t.source_type, t.cert_type, t.certificate_type, \
             t.status, t.issuer_identifier, {host}, {host} || ',www.' || {host}, t.subject_dn, t.issuer, \
             t.organization, t.organization_unit, t.country, t.province, t.city, t.algorithm, t.key_algorithm, \
             t.key_size, t.sign_algorithm, printf('bench%012x', seq.n), t.fingerprint_md5, t.fingerprint_sha1, \
             t.fingerprint_sha256, t.not_before, t.not_after, t.days, 0, t.cert_der, t.chain_pem, \
             t.created_at + seq.n, t.in_cert_store\n\
             FROM seq, certificates t WHERE t.identifier = '{template}';\nCOMMIT;\n"
        );
        sqlite(db, &sql)?;
        start = end + 1;
    }
    Ok(())
}

/// What a kept directory already holds: the template's Identifier and how many rows of its
/// kind the account has (the template and its copies, not imports).
fn existing(db: &Path) -> Result<Option<(String, u64)>, String> {
    if !db.exists() {
        return Ok(None);
    }
    let out = sqlite(
        db,
        "SELECT t.identifier, (SELECT COUNT(*) FROM certificates c WHERE c.account_id = t.account_id \
         AND c.source_type = t.source_type) FROM certificates t \
         WHERE t.common_name = 'template.search.example';",
    )?;
    let (id, n) = out
        .split_once('|')
        .ok_or_else(|| format!("{}: no template row", db.display()))?;
    Ok(Some((
        id.to_owned(),
        n.parse().map_err(|e| format!("row count {n}: {e}"))?,
    )))
}

/// The CertIds of the template and its copies, as runs of consecutive ids (imports between
/// two fills sit between runs).
fn cert_ids(db: &Path, template: &str) -> Result<CertIds, String> {
    let out = sqlite(
        db,
        &format!(
            "SELECT MIN(id), MAX(id) FROM (SELECT c.id, c.id - ROW_NUMBER() OVER (ORDER BY c.id) AS g \
             FROM certificates c, certificates t WHERE t.identifier = '{template}' \
             AND c.account_id = t.account_id AND c.source_type = t.source_type) GROUP BY g ORDER BY 1;"
        ),
    )?;
    let mut runs = Vec::new();
    for line in out.lines() {
        let (lo, hi) = line.split_once('|').ok_or_else(|| format!("id runs: {out}"))?;
        let lo: i64 = lo.parse().map_err(|e| format!("id runs {line}: {e}"))?;
        let hi: i64 = hi.parse().map_err(|e| format!("id runs {line}: {e}"))?;
        runs.push((lo, hi - lo + 1));
    }
    if runs.is_empty() {
        return Err("no bench rows".into());
    }
    Ok(CertIds(Arc::new(runs)))
}

/// Runs of consecutive CertIds: (first, length).
#[derive(Clone)]
struct CertIds(Arc<Vec<(i64, i64)>>);

impl CertIds {
    /// A uniformly chosen id of all runs.
    fn pick(&self) -> i64 {
        let total: i64 = self.0.iter().map(|r| r.1).sum();
        let mut i = rand::random_range(0..total);
        for &(lo, len) in self.0.iter() {
            if i < len {
                return lo + i;
            }
            i -= len;
        }
        unreachable!("index below the total")
    }
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

fn check_user_detail(status: StatusCode, body: &[u8]) -> Result<(), String> {
    if status != StatusCode::OK {
        return Err(load::describe_failure(status, body));
    }
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    match (v["Id"].as_i64(), v["Cert"].as_str()) {
        (Some(id), Some(pem)) if id > 0 && pem.starts_with("-----BEGIN CERTIFICATE-----") => Ok(()),
        _ => Err(format!("no certificate: {}", load::describe_failure(status, body))),
    }
}

/// Waits (15 s at most) until the server's log says the keyword index sorted its suffixes,
/// which it does after building the buffer that makes searches fast; a server that does not
/// sort them never says so.
async fn wait_for_sorted_suffixes(log: &Path) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(15) {
        if std::fs::read_to_string(log).is_ok_and(|l| l.contains("suffixes sorted")) {
            println!(
                "broad-first: keyword index suffixes sorted ({:.1} s more)",
                start.elapsed().as_secs_f64()
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("broad-first: no sorted suffixes in the server's log after 15 s: searches scan the text");
}

/// Waits until a first-time broad keyword is answered in under 50 ms (one probe a second,
/// each a keyword of `first`, 60 s at most), so that `broad-first` measures searches and
/// not the server's build of its in-memory keyword index (started when the server opens a
/// large account, or by its first broad search), and says how long that took.
async fn warm_keyword_index(ctx: &Ctx, first: &FirstTime, log: &Path) {
    let start = Instant::now();
    let mut probes = 0;
    while start.elapsed() < Duration::from_secs(60) {
        let Some(k) = first.next() else { break };
        probes += 1;
        let t = Instant::now();
        let ok = load::one_shot(
            ctx.addr,
            ctx.request(SSL, "ListCert", &[("KeyWord", &k), ("ShowSize", "50")]),
        )
        .await
        .is_ok_and(|(status, body)| check_list(status, &body).is_ok());
        let took = t.elapsed();
        if ok && took < Duration::from_millis(50) {
            println!(
                "broad-first: a first-time keyword took {:.1} ms after {:.1} s ({probes} probes): keyword index ready",
                took.as_secs_f64() * 1e3,
                start.elapsed().as_secs_f64()
            );
            wait_for_sorted_suffixes(log).await;
            return;
        }
        tokio::time::sleep(Duration::from_secs(1).saturating_sub(took)).await;
    }
    println!(
        "broad-first: first-time keywords still slow after {:.1} s ({probes} probes)",
        start.elapsed().as_secs_f64()
    );
}

/// Revokes and deletes a random certificate every `DELETE_EVERY` through the API until
/// stopped.
struct Deleter {
    stop: Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<(u64, u64)>,
}

impl Deleter {
    fn start(ctx: &Arc<Ctx>, size: u64) -> Self {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (ctx, flag) = (ctx.clone(), stop.clone());
        let task = tokio::spawn(async move {
            let (mut done, mut failed) = (0, 0);
            let mut tick = tokio::time::interval(DELETE_EVERY);
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                tick.tick().await;
                // the Identifier of a copy, as `pca-detail` picks one
                let id = format!("{:032x}", rand::random_range(1..size.max(2)));
                let p = [("Identifier", id.as_str())];
                match ctx.call(PCA, "CreateRevokeClientCertificate", &p).await {
                    Ok(_) if ctx.call(PCA, "DeleteClientCertificate", &p).await.is_ok() => done += 1,
                    _ => failed += 1,
                }
            }
            (done, failed)
        });
        Self { stop, task }
    }

    /// Stops deleting; answers how many deletes succeeded and failed.
    async fn stop(self) -> (u64, u64) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.task.await.unwrap_or_default()
    }
}

/// The request maker and check of one read workload.
/// Broad keywords, each matching one word's rows (a sixth of the account) or more, none of
/// them `<word>.example` (the `broad` workload's): every distinct piece of three characters
/// or more of `.<word>.example.com,www.host` (the word, its name's rest, the SANs' separator
/// and the second name's start), the words taken in turn: 1,069 keywords, enough for about
/// 0.4 s of first-time searches at the rates a sorted index reaches (~2,500/s at 16
/// connections).
fn first_time_keywords() -> Vec<String> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let texts: Vec<String> = (0..WORD_COUNT as usize)
        .map(|w| format!(".{}.example.com,www.host", &WORDS[w * 6..w * 6 + 6]))
        .collect();
    let len = texts[0].len();
    for from in 0..len {
        for to in from + 3..=len {
            for (w, text) in texts.iter().enumerate() {
                let piece = &text[from..to];
                if piece != format!("{}.example", &WORDS[w * 6..w * 6 + 6]) && seen.insert(piece.to_owned()) {
                    out.push(piece.to_owned());
                }
            }
        }
    }
    out
}

/// The next keyword of `first_time_keywords` not asked yet; `None` once all were.
#[derive(Clone)]
struct FirstTime(Arc<(Vec<String>, std::sync::atomic::AtomicUsize)>);

impl FirstTime {
    fn new() -> Self {
        Self(Arc::new((first_time_keywords(), Default::default())))
    }
    fn next(&self) -> Option<String> {
        let i = self.0.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.0.0.get(i).cloned()
    }
    fn used(&self) -> usize {
        self.0.1.load(std::sync::atomic::Ordering::Relaxed).min(self.0.0.len())
    }
}

fn workload(ctx: &Arc<Ctx>, w: Workload, size: u64, ids: CertIds, first: FirstTime) -> (String, MakeReq, load::Check) {
    let pick = move || rand::random_range(1..size.max(2));
    let broad = move || {
        let i = (pick() % WORD_COUNT as u64) as usize;
        format!("{}.example", &WORDS[i * 6..i * 6 + 6])
    };
    let list = |label: &str, keyword: Arc<dyn Fn() -> String + Send + Sync>| -> (String, MakeReq, load::Check) {
        let ctx = ctx.clone();
        let make: MakeReq = Arc::new(move || {
            let k = keyword();
            ctx.request(SSL, "ListCert", &[("KeyWord", &k), ("ShowSize", "50")])
        });
        (label.to_owned(), make, check_list)
    };
    let ctx = ctx.clone();
    match w {
        Workload::Host => list(
            "ListCert KeyWord=host<7 digits> (one certificate)",
            Arc::new(move || format!("host{:07}", pick())),
        ),
        Workload::Digits => list(
            "ListCert KeyWord=<7 digits> (one certificate)",
            Arc::new(move || format!("{:07}", pick())),
        ),
        Workload::Broad => list("ListCert KeyWord=<word>.example (1/6 of all)", Arc::new(broad)),
        Workload::BroadPages => {
            let ctx = ctx.clone();
            let make: MakeReq = Arc::new(move || {
                let (k, page) = (broad(), rand::random_range(1..=100u32).to_string());
                ctx.request(
                    SSL,
                    "ListCert",
                    &[("KeyWord", &k), ("ShowSize", "50"), ("CurrentPage", &page)],
                )
            });
            (
                "ListCert KeyWord=<word>.example CurrentPage=<1..100>".to_owned(),
                make,
                check_list,
            )
        }
        Workload::BroadFirst | Workload::BroadFirstDeletes => list(
            "ListCert broad keyword asked for the first time",
            Arc::new(move || {
                // once every keyword was asked, requests are repeats: the report says so
                first.next().unwrap_or_else(broad)
            }),
        ),
        Workload::PcaDetail => (
            "DescribeClientCertificate (2020-06-30)".to_owned(),
            Arc::new(move || {
                let id = format!("{:032x}", pick());
                ctx.request(PCA, "DescribeClientCertificate", &[("Identifier", &id)])
            }),
            check_detail,
        ),
        Workload::SslDetail => (
            "GetUserCertificateDetail (2020-04-07)".to_owned(),
            Arc::new(move || {
                let id = ids.pick().to_string();
                ctx.request(SSL, "GetUserCertificateDetail", &[("CertId", &id)])
            }),
            check_user_detail,
        ),
        Workload::Import => unreachable!("import has its own loop"),
    }
}

pub async fn run(a: SearchArgs<'_>) -> Result<(), String> {
    let tmp = tempfile::Builder::new()
        .prefix("opencas-search-bench-")
        .tempdir()
        .map_err(|e| format!("temp dir: {e}"))?;
    let dir = match a.dir {
        Some(d) => {
            std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
            d
        }
        None => tmp.path(),
    };
    let bin = servers::pin_binary(a.bin, dir)?;
    let db = dir.join("opencas-data").join("opencas.db");
    let (tpl, mut filled) = match existing(&db)? {
        Some(found) => found,
        None => {
            let mut opencas = servers::start_opencas(&bin, dir).await?;
            let tpl = template(&Ctx::of(&opencas)).await?;
            opencas.server.stop();
            (tpl, 1)
        }
    };
    println!("load average at start {}", crate::loadavg());
    let mut report = String::new();
    writeln!(
        report,
        "| certificates | workload | connections | req/s | p50 ms | p99 ms | errors |"
    )
    .ok();
    writeln!(report, "|---:|---|---:|---:|---:|---:|---:|").ok();
    let all = [
        Workload::Host,
        Workload::Digits,
        Workload::Broad,
        Workload::BroadPages,
        Workload::BroadFirst,
        Workload::BroadFirstDeletes,
        Workload::PcaDetail,
        Workload::SslDetail,
        Workload::Import,
    ];
    let chosen: Vec<Workload> = all
        .into_iter()
        .filter(|w| a.only.is_empty() || a.only.contains(w))
        .collect();
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
        let ids = cert_ids(&db, &tpl)?;
        let mut server = servers::start_opencas(&bin, dir).await?;
        let ctx = Arc::new(Ctx::of(&server));
        let first = FirstTime::new();
        let mut warmed = false;
        for &w in &chosen {
            // keyword searches are measured once the server's keyword index is built (it
            // takes a core for a few seconds after the start), first-time ones each time
            let keyword = !matches!(w, Workload::PcaDetail | Workload::SslDetail | Workload::Import);
            if keyword && (!warmed || matches!(w, Workload::BroadFirst | Workload::BroadFirstDeletes)) {
                warm_keyword_index(&ctx, &first, &dir.join("opencas.log")).await;
                warmed = true;
            }
            for &c in a.connections {
                let (label, st) = if w == Workload::Import {
                    import::run_point(&ctx, size, c, a.warmup, a.duration).await?
                } else {
                    let (label, make, check) = workload(&ctx, w, size, ids.clone(), first.clone());
                    let deleter = (w == Workload::BroadFirstDeletes).then(|| Deleter::start(&ctx, size));
                    let st = load::run_point(ctx.addr, c, a.warmup, a.duration, make, check).await;
                    let label = match deleter {
                        Some(d) => {
                            let (done, failed) = d.stop().await;
                            format!("{label}, {done} deletes ({failed} failed) meanwhile")
                        }
                        None => label,
                    };
                    (label, st)
                };
                let line = format!(
                    "| {size} | {label} | {c} | {:.0} | {:.2} | {:.2} | {} |",
                    st.per_second(),
                    st.percentile_ms(50.0),
                    st.percentile_ms(99.0),
                    st.errors
                );
                println!("{line}  load {}", crate::loadavg());
                if matches!(w, Workload::BroadFirst | Workload::BroadFirstDeletes) {
                    println!(
                        "    first-time keywords asked so far: {} of {}",
                        first.used(),
                        first.0.0.len()
                    );
                    if first.used() == first.0.0.len() {
                        println!(
                            "    WARNING: the first-time keywords ran out: later requests were repeats, \
                             answered from kept results; shorten --duration/--warmup"
                        );
                    }
                }
                if let Some(e) = &st.first_error {
                    println!("    first error: {e}");
                }
                writeln!(report, "{line}").ok();
            }
        }
        server.server.stop();
    }
    println!("\n{report}");
    if a.keep && a.dir.is_none() {
        println!("kept {}", tmp.keep().display());
    }
    Ok(())
}
