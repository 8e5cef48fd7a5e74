"""Pebble (Let's Encrypt's test ACME CA) and its challenge test server on loopback, for tests
that send DV orders to an ACME upstream. `pebble-challtestsrv` is both the DNS server Pebble
validates against and the one opencas's own pre-check asks, so a TXT record set through
`set_txt` is seen by both.

Skips (or, with OPENCAS_REQUIRE_PEBBLE=1 as `scripts/test` sets it, fails) when Pebble is not
installed."""
from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _free_port(udp_too: bool = False) -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not udp_too:
            return port
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue


def _tls_identity(directory: Path) -> Path:
    """A throw-away root and a 127.0.0.1 server certificate for Pebble's HTTPS; returns the root."""
    now = dt.datetime.now(dt.timezone.utc)
    root_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "opencas test Pebble TLS root")])
    root = (x509.CertificateBuilder().subject_name(root_name).issuer_name(root_name)
            .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(root_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(root_name).public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                critical=False)
            .sign(root_key, hashes.SHA256()))
    (directory / "tls-cert.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (directory / "tls-key.pem").write_bytes(leaf_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    root_path = directory / "tls-root.pem"
    root_path.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    return root_path


class Pebble:
    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="opencas-pebble-"))
        self.tls_root = _tls_identity(self.dir)
        self.acme_port, self.mgmt_port = _free_port(), _free_port()
        self.dns_port, self.http01_port = _free_port(udp_too=True), _free_port()
        self.chall_mgmt_port = _free_port()
        self.procs: list[subprocess.Popen] = []

    @property
    def directory_url(self) -> str:
        return f"https://127.0.0.1:{self.acme_port}/dir"

    @property
    def dns_address(self) -> str:
        return f"127.0.0.1:{self.dns_port}"

    def _spawn(self, name: str, argv: list[str], env: dict | None = None):
        log = open(self.dir / f"{name}.log", "ab")
        self.procs.append(subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                           env={**os.environ, **(env or {})}))

    def start(self) -> "Pebble":
        self._spawn("challtestsrv", ["pebble-challtestsrv", "-dns01", self.dns_address,
                                     "-http01", f"127.0.0.1:{self.http01_port}",
                                     "-management", f"127.0.0.1:{self.chall_mgmt_port}",
                                     "-https01", "", "-tlsalpn01", "", "-defaultIPv6", ""])
        config = {"pebble": {
            "listenAddress": f"127.0.0.1:{self.acme_port}",
            "managementListenAddress": f"127.0.0.1:{self.mgmt_port}",
            "certificate": str(self.dir / "tls-cert.pem"),
            "privateKey": str(self.dir / "tls-key.pem"),
            "httpPort": self.http01_port,
            "tlsPort": _free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }}
        (self.dir / "pebble.json").write_text(json.dumps(config))
        self._spawn("pebble", ["pebble", "-config", str(self.dir / "pebble.json"), "-dnsserver", self.dns_address],
                    env={"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0", "PEBBLE_AUTHZREUSE": "0"})
        deadline = time.monotonic() + 60
        for port in (self.chall_mgmt_port, self.http01_port, self.acme_port, self.mgmt_port):
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if any(p.poll() is not None for p in self.procs) or time.monotonic() > deadline:
                        self.stop()
                        raise RuntimeError(f"Pebble did not start:\n{self.logs()}")
                    time.sleep(0.05)
        return self

    def logs(self) -> str:
        return "".join(f"--- {p.name} ---\n{p.read_text(errors='replace')}" for p in self.dir.glob("*.log"))

    def set_txt(self, record_name: str, value: str):
        self._manage("/set-txt", {"host": record_name.rstrip(".") + ".", "value": value})

    def add_http01(self, token: str, content: str):
        self._manage("/add-http01", {"token": token, "content": content})

    def _manage(self, path: str, body: dict):
        r = requests.post(f"http://127.0.0.1:{self.chall_mgmt_port}{path}", json=body, timeout=10)
        assert r.status_code == 200, (path, r.status_code, r.text)

    def issuing_root_pem(self) -> str:
        """The root Pebble signs certificates under (it makes a new one at every start)."""
        r = requests.get(f"https://127.0.0.1:{self.mgmt_port}/roots/0", verify=str(self.tls_root), timeout=10)
        r.raise_for_status()
        return r.text

    def stop(self):
        for p in self.procs:
            p.kill()
            p.wait(timeout=10)
        self.procs.clear()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def pebble():
    if not (shutil.which("pebble") and shutil.which("pebble-challtestsrv")):
        why = "pebble / pebble-challtestsrv not installed (apt-get install -y pebble)"
        if os.environ.get("OPENCAS_REQUIRE_PEBBLE") == "1":
            pytest.fail(f"{why}, and OPENCAS_REQUIRE_PEBBLE=1")
        pytest.skip(why)
    p = Pebble().start()
    yield p
    p.stop()
