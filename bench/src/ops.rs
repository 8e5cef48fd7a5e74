//! `--ops`: Sign and Verify (API 2020-04-07) requests per second with a managed key of each
//! family (ECC P-256, RSA-2048, SM2), beside `openssl speed` for the same primitives on this
//! machine. Every request carries a fresh ACS3-HMAC-SHA256 signature, as in the issuance bench.

use crate::fastsign::RequestTemplate;
use crate::{OpencasCtx, load, servers, sign};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, StatusCode, Uri};
use std::sync::Arc;
use std::time::{Duration, Instant};

const OPS_VERSION: &str = "2020-04-07";
const MESSAGE: &str = "opencas bench: a short message to sign, as an API caller would send it";

struct Key {
    label: &'static str,
    identifier: String,
    scheme: &'static str,
    signature: String,
}

fn b64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn maker(ctx: &Arc<OpencasCtx>, action: &'static str, params: Vec<(&'static str, String)>) -> load::MakeReq {
    let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let query = sign::canonical_query(&pairs);
    let uri: Uri = format!("/?{query}").parse().expect("valid uri");
    let ctx = ctx.clone();
    Arc::new(move || {
        let mut b = Request::post(uri.clone());
        for (k, v) in sign::v3_headers(&ctx.host, action, OPS_VERSION, &query, &ctx.key_id, &ctx.secret) {
            b = b.header(k, v);
        }
        b.header("content-length", "0")
            .body(Full::new(Bytes::new()))
            .expect("request")
    })
}

/// The point's requests: written straight out with the raw client, through hyper's request
/// type otherwise.
fn point_maker(ctx: &Arc<OpencasCtx>, action: &'static str, params: Vec<(&'static str, String)>) -> load::Maker {
    if !load::raw_client() {
        return load::Maker::Request(maker(ctx, action, params));
    }
    let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let query = sign::canonical_query(&pairs);
    let template = RequestTemplate::new(&ctx.host, action, OPS_VERSION, &query, &ctx.key_id, &ctx.secret);
    load::Maker::Bytes(Arc::new(move |scratch, out| template.write_fresh(scratch, out)))
}

/// The value of the top-level string field `"name":"…"` of a compact JSON object, without
/// parsing the rest (the point's own check; the server's JSON is tested elsewhere).
fn string_field<'a>(body: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let key = format!("\"{name}\":\"");
    let at = body.windows(key.len()).position(|w| w == key.as_bytes())? + key.len();
    let len = body[at..].iter().position(|&b| b == b'"')?;
    Some(&body[at..at + len])
}

fn check_sign(status: StatusCode, body: &[u8]) -> Result<(), String> {
    match string_field(body, "Signature") {
        Some(s) if status == StatusCode::OK && !s.is_empty() => Ok(()),
        _ => Err(load::describe_failure(status, body)),
    }
}

#[cfg(test)]
fn check_sign_parsed(status: StatusCode, body: &[u8]) -> Result<(), String> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    match v["Signature"].as_str() {
        Some(s) if status == StatusCode::OK && !s.is_empty() => Ok(()),
        _ => Err(load::describe_failure(status, body)),
    }
}

fn check_verify(status: StatusCode, body: &[u8]) -> Result<(), String> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    if status == StatusCode::OK && v["SignatureValid"] == serde_json::Value::Bool(true) {
        Ok(())
    } else {
        Err(load::describe_failure(status, body))
    }
}

async fn call(
    ctx: &Arc<OpencasCtx>,
    action: &'static str,
    params: Vec<(&'static str, String)>,
) -> Result<serde_json::Value, String> {
    let req = maker(ctx, action, params)();
    let (status, body) = load::one_shot(ctx.addr, req).await?;
    if status != StatusCode::OK {
        return Err(format!("{action}: {}", load::describe_failure(status, &body)));
    }
    serde_json::from_slice(&body).map_err(|e| format!("{action}: {e}"))
}

async fn make_key(ctx: &Arc<OpencasCtx>, label: &'static str, alg: &str, scheme: &'static str) -> Result<Key, String> {
    let sub = ctx.make_hierarchy(alg, &format!("ops {label}")).await?;
    let cert = ctx
        .call(
            "CreateClientCertificate",
            &[
                ("ParentIdentifier", &sub),
                ("Algorithm", alg),
                ("CommonName", "bench-ops"),
                ("Days", "30"),
                ("Immediately", "1"),
            ],
        )
        .await?;
    let identifier = cert["Identifier"]
        .as_str()
        .ok_or("CreateClientCertificate: no Identifier")?
        .to_owned();
    let signed = call(
        ctx,
        "Sign",
        vec![
            ("CertIdentifier", identifier.clone()),
            ("SigningAlgorithm", scheme.into()),
            ("MessageType", "RAW".into()),
            ("Message", MESSAGE.into()),
        ],
    )
    .await?;
    let signature = signed["Signature"].as_str().ok_or("Sign: no Signature")?.to_owned();
    Ok(Key {
        label,
        identifier,
        scheme,
        signature,
    })
}

fn openssl_speed(seconds: u32) -> String {
    let out = std::process::Command::new("openssl")
        .args(["speed", "-seconds", &seconds.to_string(), "ecdsap256", "rsa2048", "sm2"])
        .output();
    match out {
        Ok(o) => String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter(|l| l.contains("sign") || l.contains("rsa") || l.contains("ecdsa") || l.contains("SM2"))
            .map(|l| format!("    {l}\n"))
            .collect(),
        Err(e) => format!("    openssl speed: {e}\n"),
    }
}

fn busy() -> Option<f64> {
    servers::system_busy_seconds()
}

/// Runs the crypto-operations bench against a started opencas.
pub async fn run(
    ctx: Arc<OpencasCtx>,
    server: &servers::Server,
    connections: &[usize],
    only: &[String],
    warmup: Duration,
    duration: Duration,
) -> Result<(), String> {
    let wanted =
        |key: &str, action: &str| only.is_empty() || only.iter().any(|o| o == key || o == &format!("{key}:{action}"));
    if only.is_empty() {
        println!("openssl speed -seconds 3 ecdsap256 rsa2048 sm2 (one core, same machine, just before):");
        print!("{}", openssl_speed(3));
    }
    let mut keys = Vec::new();
    for (label, alg, scheme) in [
        ("ecc-p256", "ECC_256", "SHA256withECDSA"),
        ("rsa-2048", "RSA_2048", "SHA256withRSA"),
        ("sm2", "SM2_256", "SM3withSM2"),
    ] {
        if wanted(label, "Sign") || wanted(label, "Verify") {
            keys.push(make_key(&ctx, label, alg, scheme).await?);
        }
    }
    println!();
    println!(
        "| key | action | conns | req/s | p50 ms | p99 ms | ok | errors | server cores | client cores | machine busy cores |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for key in &keys {
        for action in ["Sign", "Verify"] {
            if !wanted(key.label, action) {
                continue;
            }
            let mut params = vec![
                ("CertIdentifier", key.identifier.clone()),
                ("SigningAlgorithm", key.scheme.to_owned()),
                ("MessageType", "RAW".to_owned()),
            ];
            let check: load::Check = if action == "Sign" {
                params.push(("Message", MESSAGE.to_owned()));
                check_sign
            } else {
                params.push(("Message", b64(MESSAGE.as_bytes())));
                params.push(("SignatureValue", key.signature.clone()));
                check_verify
            };
            let make = point_maker(&ctx, action, params);
            for &c in connections {
                let own = || servers::process_cpu_seconds("/proc/self/stat");
                let (cpu0, own0, busy0, t0) = (server.cpu_seconds(), own(), busy(), Instant::now());
                let st = load::run_point(ctx.addr, c, warmup, duration, make.clone(), check).await;
                let secs = t0.elapsed().as_secs_f64();
                let cores = |a: Option<f64>, b: Option<f64>| match (a, b) {
                    (Some(a), Some(b)) => format!("{:.2}", (b - a) / secs),
                    _ => "?".into(),
                };
                println!(
                    "| {} | {action} | {c} | {:.0} | {:.2} | {:.2} | {} | {} | {} | {} | {} |",
                    key.label,
                    st.per_second(),
                    st.percentile_ms(50.0),
                    st.percentile_ms(99.0),
                    st.ok,
                    st.errors,
                    cores(cpu0, server.cpu_seconds()),
                    cores(own0, own()),
                    cores(busy0, busy()),
                );
                if let Some(e) = &st.first_error {
                    println!("  first error: {e}");
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    if only.is_empty() {
        println!();
        println!("openssl speed again, after the run:");
        print!("{}", openssl_speed(3));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quick_sign_check_agrees_with_parsing() {
        let cases: [(u16, &str); 6] = [
            (200, r#"{"RequestId":"r","Signature":"MEUCIQ=="}"#),
            (200, r#"{"Signature":"","RequestId":"r"}"#),
            (200, r#"{"RequestId":"r"}"#),
            (400, r#"{"Code":"InvalidParameter","Signature":"x"}"#),
            (200, r#"{"RequestId":"r","Signature":"a/b+c="}"#),
            (200, "not json"),
        ];
        for (status, body) in cases {
            let status = StatusCode::from_u16(status).unwrap();
            assert_eq!(
                check_sign(status, body.as_bytes()).is_ok(),
                check_sign_parsed(status, body.as_bytes()).is_ok(),
                "{body}"
            );
        }
    }
}
