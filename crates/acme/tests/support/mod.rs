//! A private Pebble ACME CA on loopback for the integration tests: `pebble-challtestsrv` answers
//! the CA's DNS queries and serves http-01 files, `pebble` is the CA. Each test gets its own pair
//! on free ports and its own TLS root, so tests run in parallel and leave nothing behind.

#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use opencas_acme::{AcmeClient, AcmeOrderState};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tempfile::TempDir;

/// How long the two daemons get to open their ports; generous because the machine is shared.
const STARTUP_DEADLINE: Duration = Duration::from_secs(60);

pub struct Pebble {
    dir: TempDir,
    pebble_bin: PathBuf,
    children: Vec<(&'static str, Child)>,
    pub directory_url: String,
    /// The root that signs Pebble's own HTTPS certificate (not the issuing root).
    pub tls_root_pem: Vec<u8>,
    ports: Ports,
}

#[derive(Clone, Copy)]
struct Ports {
    acme: u16,
    mgmt: u16,
    dns: u16,
    http01: u16,
    tls_alpn: u16,
    chall_mgmt: u16,
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

impl Pebble {
    /// Starts Pebble and its challenge server, or returns `None` (after saying so on stderr) when
    /// they are not installed. Any other start-up failure panics.
    pub fn start(test: &str) -> Option<Pebble> {
        let (Some(pebble_bin), Some(chall_bin)) = (which("pebble"), which("pebble-challtestsrv")) else {
            let why = "`pebble` / `pebble-challtestsrv` not found on PATH (apt-get install -y pebble)";
            // scripts/test installs Pebble and sets this, so there a missing Pebble is a failure.
            if std::env::var_os("OPENCAS_REQUIRE_PEBBLE").is_some_and(|v| v == "1") {
                panic!("{test}: {why}, and OPENCAS_REQUIRE_PEBBLE=1");
            }
            // Straight to the stderr handle: libtest captures eprintln! of passing tests, and a
            // skip must be seen.
            let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let tls_root_pem = write_tls_identity(dir.path());
        let ports = free_ports();
        let mut pebble = Pebble {
            dir,
            pebble_bin,
            children: Vec::new(),
            directory_url: format!("https://127.0.0.1:{}/dir", ports.acme),
            tls_root_pem,
            ports,
        };
        let chall = Command::new(chall_bin)
            .args(["-dns01", &format!("127.0.0.1:{}", ports.dns)])
            .args(["-http01", &format!("127.0.0.1:{}", ports.http01)])
            .args(["-management", &format!("127.0.0.1:{}", ports.chall_mgmt)])
            .args(["-https01", "", "-tlsalpn01", "", "-defaultIPv6", ""])
            .stdout(pebble.log_file("challtestsrv"))
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start pebble-challtestsrv");
        pebble.children.push(("pebble-challtestsrv", chall));
        pebble.start_ca();
        pebble.wait_for_ports(&[ports.chall_mgmt, ports.http01]);
        Some(pebble)
    }

    fn log_file(&self, name: &str) -> Stdio {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("{name}.log")))
            .unwrap();
        Stdio::from(file)
    }

    fn start_ca(&mut self) {
        let p = self.ports;
        let config = serde_json::json!({"pebble": {
            "listenAddress": format!("127.0.0.1:{}", p.acme),
            "managementListenAddress": format!("127.0.0.1:{}", p.mgmt),
            "certificate": self.dir.path().join("tls-cert.pem"),
            "privateKey": self.dir.path().join("tls-key.pem"),
            "httpPort": p.http01,
            "tlsPort": p.tls_alpn,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
        }});
        let config_path = self.dir.path().join("pebble-config.json");
        std::fs::write(&config_path, config.to_string()).unwrap();
        let child = Command::new(&self.pebble_bin)
            .arg("-config")
            .arg(&config_path)
            .args(["-dnsserver", &format!("127.0.0.1:{}", p.dns)])
            // Validate at once, never reject nonces at random, and never reuse an earlier valid
            // authorization: every order then asks for its challenges, which the tests rely on.
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0")
            .stdout(self.log_file("pebble"))
            .stderr(self.log_file("pebble"))
            .spawn()
            .expect("start pebble");
        self.children.push(("pebble", child));
        self.wait_for_ports(&[p.acme, p.mgmt]);
    }

    /// Stops the CA and starts a fresh one on the same ports: Pebble keeps everything in
    /// memory, so every account and order is forgotten.
    pub fn restart_ca(&mut self) {
        let at = self.children.iter().position(|(n, _)| *n == "pebble").unwrap();
        let (_, mut child) = self.children.remove(at);
        child.kill().unwrap();
        child.wait().unwrap();
        self.start_ca();
    }

    fn wait_for_ports(&mut self, ports: &[u16]) {
        let started = Instant::now();
        for port in ports {
            while TcpStream::connect(("127.0.0.1", *port)).is_err() {
                let exited = self
                    .children
                    .iter_mut()
                    .find_map(|(name, child)| child.try_wait().unwrap().map(|status| (*name, status)));
                if let Some((name, status)) = exited {
                    panic!("{name} exited during start-up ({status}):\n{}", self.logs_text());
                }
                if started.elapsed() > STARTUP_DEADLINE {
                    panic!("port {port} did not open:\n{}", self.logs_text());
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    fn logs_text(&self) -> String {
        ["pebble", "challtestsrv"]
            .iter()
            .map(|n| {
                let text = std::fs::read_to_string(self.dir.path().join(format!("{n}.log"))).unwrap_or_default();
                format!("--- {n} ---\n{text}")
            })
            .collect()
    }

    /// A client for this CA, trusting its TLS root.
    pub async fn connect(&self, stored: Option<String>) -> (AcmeClient, String) {
        AcmeClient::connect(&self.directory_url, stored, Some(self.tls_root_pem.clone()), None)
            .await
            .expect("connect to pebble")
    }

    /// Publishes a TXT record through the challenge server's DNS.
    pub fn set_txt(&self, record_name: &str, value: &str) {
        let body = serde_json::json!({"host": format!("{record_name}."), "value": value});
        http_post(self.ports.chall_mgmt, "/set-txt", &body);
    }

    /// Serves `content` at `/.well-known/acme-challenge/<token>` on every name.
    pub fn add_http01(&self, token: &str, content: &str) {
        let body = serde_json::json!({"token": token, "content": content});
        http_post(self.ports.chall_mgmt, "/add-http01", &body);
    }

    /// The root Pebble issues under, from its management interface.
    pub fn issuing_root_pem(&self) -> String {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(&self.tls_root_pem).unwrap())
            .unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
        let sock = TcpStream::connect(("127.0.0.1", self.ports.mgmt)).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, sock);
        // HTTP/1.0 so that the answer is never chunked and ends when the connection does.
        tls.write_all(b"GET /roots/0 HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap();
        let body = read_response(&mut tls, "GET /roots/0");
        assert!(body.contains("BEGIN CERTIFICATE"), "not a PEM root: {body}");
        body
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("{}", self.logs_text());
        }
    }
}

fn http_post(port: u16, path: &str, body: &serde_json::Value) {
    let body = body.to_string();
    let mut sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        sock,
        "POST {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    read_response(&mut sock, path);
}

/// Reads an HTTP/1.0 answer to its end; panics unless it is a 200. Returns the body.
fn read_response(stream: &mut impl Read, what: &str) -> String {
    let mut raw = Vec::new();
    if let Err(e) = stream.read_to_end(&mut raw) {
        // Some servers close TCP without a TLS close_notify; what arrived is complete for 1.0.
        assert_eq!(e.kind(), ErrorKind::UnexpectedEof, "{what}: {e}");
    }
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    assert!(head.split_whitespace().nth(1) == Some("200"), "{what}: {head}\n{body}");
    body.to_owned()
}

/// Ports free for TCP (and UDP for DNS), held until all are chosen so they differ.
fn free_ports() -> Ports {
    let mut held = Vec::new();
    let mut next = |udp_too: bool| loop {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = tcp.local_addr().unwrap().port();
        let udp = if udp_too {
            match UdpSocket::bind(("127.0.0.1", port)) {
                Ok(udp) => Some(udp),
                Err(_) => continue,
            }
        } else {
            None
        };
        held.push((tcp, udp));
        return port;
    };
    Ports {
        acme: next(false),
        mgmt: next(false),
        dns: next(true),
        http01: next(false),
        tls_alpn: next(false),
        chall_mgmt: next(false),
    }
}

/// Pebble's HTTPS identity: a throw-away root and a leaf for 127.0.0.1 and localhost. Returns the
/// root in PEM, which is what the client is told to trust.
fn write_tls_identity(dir: &Path) -> Vec<u8> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "opencas-acme test TLS root");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    std::fs::write(dir.join("tls-cert.pem"), leaf.pem()).unwrap();
    std::fs::write(dir.join("tls-key.pem"), leaf_key.serialize_pem()).unwrap();
    ca.pem().into_bytes()
}

/// A CSR for `domains` and the key it carries.
pub fn csr_for(domains: &[String]) -> (Vec<u8>, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let csr = CertificateParams::new(domains.to_vec())
        .unwrap()
        .serialize_request(&key)
        .unwrap();
    (csr.der().to_vec(), key)
}

/// Polls until the order reaches `want` (or any final state, which then fails the test).
pub async fn wait_for_state(client: &AcmeClient, order_url: &str, want: &AcmeOrderState) -> AcmeOrderState {
    let mut last = None;
    for _ in 0..600 {
        let state = client.poll(order_url).await.expect("poll");
        if std::mem::discriminant(&state) == std::mem::discriminant(want) {
            return state;
        }
        if matches!(state, AcmeOrderState::Invalid(_) | AcmeOrderState::Valid) {
            panic!("order reached {state:?} while waiting for {want:?}");
        }
        last = Some(state);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("order still {last:?} while waiting for {want:?}");
}

/// Polls the chain until the CA has issued it.
pub async fn wait_for_chain(client: &AcmeClient, order_url: &str) -> String {
    for _ in 0..600 {
        if let Some(chain) = client.certificate_chain(order_url).await.expect("certificate_chain") {
            return chain;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no certificate was issued for {order_url}");
}

fn openssl(args: &[&str], dir: &Path) -> String {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "openssl {args:?} failed: {text}");
    text
}

/// Checks with `openssl verify` that the chain (leaf first) leads to Pebble's issuing root, that
/// the leaf names exactly `domains`, and that it certifies the CSR's key.
pub fn verify_chain(pebble: &Pebble, chain: &str, domains: &[String], key: &KeyPair) {
    let certs: Vec<&str> = chain
        .split_inclusive("-----END CERTIFICATE-----")
        .filter(|c| c.contains("BEGIN CERTIFICATE"))
        .collect();
    assert!(certs.len() >= 2, "expected leaf and intermediate, got {}", certs.len());
    let dir = tempfile::tempdir_in(pebble.path()).unwrap();
    std::fs::write(dir.path().join("root.pem"), pebble.issuing_root_pem()).unwrap();
    std::fs::write(dir.path().join("leaf.pem"), certs[0]).unwrap();
    std::fs::write(dir.path().join("untrusted.pem"), certs[1..].concat()).unwrap();
    let verdict = openssl(
        &[
            "verify",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "untrusted.pem",
            "leaf.pem",
        ],
        dir.path(),
    );
    assert!(verdict.contains("leaf.pem: OK"), "{verdict}");

    let sans = openssl(
        &["x509", "-in", "leaf.pem", "-noout", "-ext", "subjectAltName"],
        dir.path(),
    );
    let mut got: Vec<String> = sans
        .split([',', '\n'])
        .filter_map(|s| s.trim().strip_prefix("DNS:"))
        .map(str::to_owned)
        .collect();
    let mut want = domains.to_vec();
    got.sort();
    want.sort();
    assert_eq!(got, want, "{sans}");

    let pubkey = openssl(&["x509", "-in", "leaf.pem", "-noout", "-pubkey"], dir.path());
    assert_eq!(pubkey.trim(), key.public_key_pem().trim());
}
