//! Starting and stopping the two servers on free loopback ports in a temporary directory.

use crate::load;
use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child server process; terminated (SIGTERM, then SIGKILL) when dropped.
pub struct Server {
    pub name: &'static str,
    pub addr: SocketAddr,
    pub child: Child,
    pub log: PathBuf,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the server: SIGTERM, up to 10 s for a graceful exit, then SIGKILL.
    pub fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// User + system CPU seconds the server process has used so far.
    pub fn cpu_seconds(&self) -> Option<f64> {
        process_cpu_seconds(&format!("/proc/{}/stat", self.pid()))
    }

    fn ensure_running(&mut self) -> Result<(), String> {
        if let Ok(Some(status)) = self.child.try_wait() {
            let tail = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: String = tail
                .lines()
                .rev()
                .take(20)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            return Err(format!(
                "{} exited early ({status}); log {}:\n{tail}",
                self.name,
                self.log.display()
            ));
        }
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Clock ticks per second for /proc/*/stat (sysconf CLK_TCK; 100 on Linux).
fn clock_ticks() -> f64 {
    use std::sync::OnceLock;
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

pub fn process_cpu_seconds(stat_path: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(stat_path).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

/// Busy CPU seconds of the whole machine so far (/proc/stat: user, nice, system, irq,
/// softirq, steal; not idle or iowait).
pub fn system_busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let f: Vec<f64> = line.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
    let busy = f.first()? + f.get(1)? + f.get(2)? + f.get(5)? + f.get(6)? + f.get(7).unwrap_or(&0.0);
    Some(busy / clock_ticks())
}

pub fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

fn spawn(name: &'static str, mut cmd: Command, addr: SocketAddr, log: PathBuf) -> Result<Server, String> {
    let out = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let child = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("starting {name} ({cmd:?}): {e}"))?;
    Ok(Server { name, addr, child, log })
}

/// Waits until `ready` answers true, the process dies, or 60 s pass.
async fn wait_ready<F, Fut>(server: &mut Server, mut ready: F) -> Result<(), String>
where
    F: FnMut(SocketAddr) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        server.ensure_running()?;
        if ready(server.addr).await {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{} did not become ready within 60 s; log {}",
                server.name,
                server.log.display()
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub struct Opencas {
    pub server: Server,
    pub access_key_id: String,
    pub access_key_secret: String,
    pub data_dir: PathBuf,
}

/// The configuration the benchmark runs opencas with: no rate limit, quotas out of the way.
pub const OPENCAS_CONFIG: &str =
    "[rate_limit]\nenabled = false\n[ca]\nsub_ca_initial_quota = 100000000\nroot_certificate_quota = 1000000000\n";

pub async fn start_opencas(bin: &Path, dir: &Path) -> Result<Opencas, String> {
    start_opencas_replica(bin, dir, &dir.join("opencas-data"), None, "opencas").await
}

/// One opencas process with its log `dir/<name>.log`: on the SQLite database in `data_dir`,
/// or on `database` (a PostgreSQL URL), where several replicas may share `data_dir` (its
/// master key and credentials) and the database.
pub async fn start_opencas_replica(
    bin: &Path,
    dir: &Path,
    data_dir: &Path,
    database: Option<&str>,
    name: &'static str,
) -> Result<Opencas, String> {
    let port = free_port()?;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let data_dir = data_dir.to_owned();
    let config = dir.join("opencas.toml");
    std::fs::write(&config, OPENCAS_CONFIG).map_err(|e| e.to_string())?;
    let mut cmd = Command::new(bin);
    cmd.arg("serve")
        .arg("--listen")
        .arg(addr.to_string())
        .arg("--data-dir")
        .arg(&data_dir)
        .arg("--config")
        .arg(&config);
    if let Some(url) = database {
        cmd.arg("--database").arg(url);
    }
    let mut server = spawn(name, cmd, addr, dir.join(format!("{name}.log")))?;
    wait_ready(&mut server, |addr| async move {
        let req = Request::get("/healthz")
            .header("host", addr.to_string())
            .body(Full::new(Bytes::new()))
            .unwrap();
        matches!(load::one_shot(addr, req).await, Ok((s, _)) if s.as_u16() == 200)
    })
    .await?;
    let creds_path = data_dir.join("credentials.json");
    let text = std::fs::read_to_string(&creds_path).map_err(|e| format!("{}: {e}", creds_path.display()))?;
    let creds: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", creds_path.display()))?;
    let field = |k: &str| {
        creds[k]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("{}: no {k}", creds_path.display()))
    };
    Ok(Opencas {
        access_key_id: field("AccessKeyId")?,
        access_key_secret: field("AccessKeySecret")?,
        server,
        data_dir,
    })
}

fn run(cmd: &mut Command) -> Result<Vec<u8>, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(out.stdout)
}

/// cfssl with a fresh ECDSA P-256 CA and a default signing profile for server certificates
/// (720 h). It stores nothing (no -db-config).
pub async fn start_cfssl(bin: &str, dir: &Path, loglevel: u8) -> Result<Server, String> {
    let cf = dir.join("cfssl");
    std::fs::create_dir_all(&cf).map_err(|e| e.to_string())?;
    let ca_csr = cf.join("ca-csr.json");
    std::fs::write(
        &ca_csr,
        r#"{"CN":"Bench cfssl CA","key":{"algo":"ecdsa","size":256},"names":[{"C":"CN","ST":"Zhejiang","L":"Hangzhou","O":"Bench","OU":"Perf"}]}"#,
    )
    .map_err(|e| e.to_string())?;
    let out = run(Command::new(bin)
        .arg("gencert")
        .arg("-initca")
        .arg(&ca_csr)
        .stderr(Stdio::piped()))?;
    let v: serde_json::Value =
        serde_json::from_slice(&out).map_err(|e| format!("cfssl gencert -initca output: {e}"))?;
    let (ca_pem, ca_key) = (cf.join("ca.pem"), cf.join("ca-key.pem"));
    std::fs::write(&ca_pem, v["cert"].as_str().ok_or("gencert: no cert")?).map_err(|e| e.to_string())?;
    std::fs::write(&ca_key, v["key"].as_str().ok_or("gencert: no key")?).map_err(|e| e.to_string())?;
    let config = cf.join("config.json");
    std::fs::write(
        &config,
        r#"{"signing":{"default":{"usages":["signing","digital signature","key encipherment","server auth"],"expiry":"720h"}}}"#,
    )
    .map_err(|e| e.to_string())?;
    let port = free_port()?;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut cmd = Command::new(bin);
    cmd.arg("serve")
        .arg("-address")
        .arg("127.0.0.1")
        .arg("-port")
        .arg(port.to_string())
        .arg("-ca")
        .arg(&ca_pem)
        .arg("-ca-key")
        .arg(&ca_key)
        .arg("-config")
        .arg(&config)
        .arg("-loglevel")
        .arg(loglevel.to_string());
    let mut server = spawn("cfssl", cmd, addr, cf.join("serve.log"))?;
    wait_ready(&mut server, |addr| async move {
        tokio::net::TcpStream::connect(addr).await.is_ok()
    })
    .await?;
    Ok(server)
}

/// A P-256 CSR (CN and DNS SAN bench.example.com) made once with the openssl CLI.
pub fn make_csr(dir: &Path) -> Result<String, String> {
    let key = dir.join("csr-key.pem");
    let csr = dir.join("csr.pem");
    run(Command::new("openssl")
        .args([
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
        ])
        .arg(&key)
        .args([
            "-subj",
            "/CN=bench.example.com",
            "-addext",
            "subjectAltName=DNS:bench.example.com",
            "-out",
        ])
        .arg(&csr)
        .stderr(Stdio::piped()))?;
    std::fs::read_to_string(&csr).map_err(|e| e.to_string())
}

/// Copies the opencas binary into the work directory, so that a rebuild of the original
/// during the run (or before the durability restart) cannot change what is measured.
pub fn pin_binary(bin: &Path, dir: &Path) -> Result<PathBuf, String> {
    let pinned = dir.join("opencas");
    std::fs::copy(bin, &pinned).map_err(|e| format!("copying {}: {e}", bin.display()))?;
    Ok(pinned)
}

/// What one durable write costs on the work directory's disk: 4 KiB appends, each followed
/// by fdatasync, for `secs`. Returns (syncs per second, median ms, p99 ms).
pub fn fsync_probe(dir: &Path, secs: f64) -> Result<(f64, f64, f64), String> {
    use std::io::Write;
    let path = dir.join("fsync-probe");
    let mut f = std::fs::File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let block = [0x5au8; 4096];
    let mut lat = Vec::new();
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < secs {
        let t0 = Instant::now();
        f.write_all(&block).map_err(|e| e.to_string())?;
        f.sync_data().map_err(|e| e.to_string())?;
        lat.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    let wall = start.elapsed().as_secs_f64();
    drop(f);
    let _ = std::fs::remove_file(&path);
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| lat[((p / 100.0 * lat.len() as f64).ceil() as usize).clamp(1, lat.len()) - 1];
    Ok((lat.len() as f64 / wall, pct(50.0), pct(99.0)))
}
