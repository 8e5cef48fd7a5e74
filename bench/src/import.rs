//! The `import` workload of `--search`: UploadUserCertificate (2020-04-07) throughput.
//!
//! Each request uploads a distinct certificate and private key: before a point, rcgen makes
//! a pool of self-signed ECDSA P-256 certificates (a CN and two SANs each) with their PKCS#8
//! keys, more than the point can use; the point then takes them in turn. Making them costs
//! the load generator nothing during the measured window.

use crate::api::Ctx;
use crate::load::{self, MakeReq, Stats};
use hyper::StatusCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const SSL: &str = "2020-04-07";

struct Pair {
    name: String,
    cert_pem: String,
    key_pem: String,
}

/// `n` distinct certificates and keys named `imp-<tag>-<i>`.
fn pool(tag: &str, n: usize) -> Result<Vec<Pair>, String> {
    (0..n)
        .map(|i| {
            let host = format!("imp{i}-{tag}.import.example");
            let key = rcgen::KeyPair::generate().map_err(|e| format!("rcgen key: {e}"))?;
            let mut params = rcgen::CertificateParams::new(vec![host.clone(), format!("www.{host}")])
                .map_err(|e| format!("rcgen params: {e}"))?;
            params.distinguished_name.push(rcgen::DnType::CommonName, host);
            let cert = params.self_signed(&key).map_err(|e| format!("rcgen cert: {e}"))?;
            Ok(Pair {
                name: format!("imp-{tag}-{i}"),
                cert_pem: cert.pem(),
                key_pem: key.serialize_pem(),
            })
        })
        .collect()
}

fn check_upload(status: StatusCode, body: &[u8]) -> Result<(), String> {
    if status != StatusCode::OK {
        return Err(load::describe_failure(status, body));
    }
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    match v["CertId"].as_i64() {
        Some(id) if id > 0 => Ok(()),
        _ => Err(format!("no CertId: {}", load::describe_failure(status, body))),
    }
}

/// One closed-loop point of uploads on `connections` connections.
pub async fn run_point(
    ctx: &Arc<Ctx>,
    size: u64,
    connections: usize,
    warmup: Duration,
    duration: Duration,
) -> Result<(String, Stats), String> {
    // enough for 5,000 uploads a second, far above what one upload path does on 2 cores
    let wanted = ((warmup + duration).as_secs_f64() * 5_000.0) as usize + 1_000;
    let t = Instant::now();
    let tag = format!("{size}-{connections}-{}", rand::random::<u32>());
    let pairs = Arc::new(pool(&tag, wanted)?);
    println!(
        "    made {} certificates and keys in {:.1} s",
        pairs.len(),
        t.elapsed().as_secs_f64()
    );
    let next = Arc::new(AtomicUsize::new(0));
    let c = ctx.clone();
    let used = next.clone();
    let p = pairs.clone();
    let make: MakeReq = Arc::new(move || {
        // past the pool's end the name repeats and the upload is refused: counted as an error
        let pair = &p[used.fetch_add(1, Ordering::Relaxed) % p.len()];
        c.request(
            SSL,
            "UploadUserCertificate",
            &[("Name", &pair.name), ("Cert", &pair.cert_pem), ("Key", &pair.key_pem)],
        )
    });
    let st = load::run_point(ctx.addr, connections, warmup, duration, make, check_upload).await;
    if next.load(Ordering::Relaxed) > pairs.len() {
        return Err(format!("the pool of {} certificates ran out", pairs.len()));
    }
    Ok(("UploadUserCertificate (import)".to_owned(), st))
}
