"""DV orders sent to an ACME upstream: Pebble (Let's Encrypt's test CA) stands in for Let's
Encrypt. The order's challenges shown by DescribeCertificateState are Pebble's (dns-01:
`_acme-challenge` TXT; http-01: the key authorization under /.well-known/acme-challenge/);
once the test publishes them through Pebble's challenge server, opencas pre-checks them,
tells Pebble, finalizes with the order's CSR and stores the chain, which verifies against
Pebble's root. The ACME account is created once and reused after a restart."""
from __future__ import annotations

import sqlite3
import subprocess

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from opencas_testlib import poll
from pebble_fixture import pebble  # noqa: F401  (fixture)
from test_orders import FREE, MULTI, Dv, account_id, grant
from test_orders_issuance import wait_state
from opencas_testlib import requires_sqlite_file


def acme_config(peb, http_domains=()) -> dict:
    validation = {"resolver": peb.dns_address, "dns_timeout_seconds": 2, "http_timeout_seconds": 2}
    if http_domains:
        validation["host_overrides"] = {d: f"127.0.0.1:{peb.http01_port}" for d in http_domains}
    return {
        "rate_limit": {"enabled": False},
        "validation": validation,
        "orders": {"validation_deadline_seconds": 120, "retry_initial_seconds": 1, "retry_max_seconds": 1,
                   "poll_interval_ms": 100, "issuers": {FREE: "pebble", MULTI: "pebble"}},
        "acme": {"pebble": {"directory_url": peb.directory_url, "ca_bundle": str(peb.tls_root)}},
    }


def verify_with_pebble_root(tmp_path, peb, chain_pem: str, domains: list[str]) -> x509.Certificate:
    certs = x509.load_pem_x509_certificates(chain_pem.encode())
    (tmp_path / "root.pem").write_text(peb.issuing_root_pem())
    (tmp_path / "leaf.pem").write_bytes(certs[0].public_bytes(serialization.Encoding.PEM))
    (tmp_path / "chain.pem").write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs[1:]))
    r = subprocess.run(["openssl", "verify", "-CAfile", str(tmp_path / "root.pem"), "-untrusted",
                        str(tmp_path / "chain.pem"), str(tmp_path / "leaf.pem")], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    sans = certs[0].extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sorted(sans.get_values_for_type(x509.DNSName)) == sorted(domains)
    return certs[0]


def publish_until_issued(dv: Dv, peb, order_id: int) -> dict:
    """Publishes every challenge the order shows (one domain at a time) until it ends; the
    order is `process` while opencas talks to the CA."""
    published = set()

    def step():
        st = dv.state(order_id)
        if st["Type"] in ("certificate", "verify_fail"):
            return st
        if st.get("RecordDomain") and (st["RecordDomain"], st["RecordValue"]) not in published:
            assert st["RecordType"] == "TXT" and st["RecordDomain"].startswith("_acme-challenge."), st
            peb.set_txt(st["RecordDomain"], st["RecordValue"])
            published.add((st["RecordDomain"], st["RecordValue"]))
        if st.get("Uri") and st["Uri"] not in published:
            assert "/.well-known/acme-challenge/" in st["Uri"], st
            peb.add_http01(st["Uri"].rsplit("/", 1)[1], st["Content"])
            published.add(st["Uri"])
        return None

    final = poll(step, 90, 0.2)
    assert final, f"order {order_id} did not end: {dv.state(order_id)}"
    return final


def test_dns01_order_issued_by_pebble_and_account_reused(server_factory, pebble, tmp_path):  # noqa: F811
    srv = server_factory(acme_config(pebble))
    dv = Dv(srv)
    grant(srv, account_id(srv.creds), MULTI, 3)
    domains = ["acme.example.test", "www.acme.example.test"]
    order = dv.order(",".join(domains), MULTI, "DNS")
    done = publish_until_issued(dv, pebble, order)
    assert done["Type"] == "certificate", done
    leaf = verify_with_pebble_root(tmp_path, pebble, done["Certificate"], domains)
    key = serialization.load_pem_private_key(done["PrivateKey"].encode(), None)
    assert key.public_key().public_numbers() == leaf.public_key().public_numbers()
    assert dv.package(MULTI) == (3, 1, 1)

    # the ACME account is sealed in the store and reused after a restart
    requires_sqlite_file()
    db = srv.data_dir / "opencas.db"
    with sqlite3.connect(db) as c:
        (creds_before,) = c.execute("SELECT credentials_sealed FROM acme_accounts WHERE name = 'pebble'").fetchone()
    assert b"PRIVATE" not in creds_before and b"pkcs8" not in creds_before
    srv.stop()
    srv.start()
    second = dv.order("second.example.test", MULTI, "DNS")
    assert publish_until_issued(dv, pebble, second)["Type"] == "certificate"
    with sqlite3.connect(db) as c:
        (creds_after,) = c.execute("SELECT credentials_sealed FROM acme_accounts WHERE name = 'pebble'").fetchone()
    assert creds_after == creds_before, "a second ACME account was created"


def test_http01_order_and_an_unpublished_challenge_fails(server_factory, pebble, tmp_path):  # noqa: F811
    cfg = acme_config(pebble, ["web.example.test"])
    cfg["orders"]["validation_deadline_seconds"] = 10
    srv = server_factory(cfg)
    dv = Dv(srv)
    grant(srv, account_id(srv.creds), FREE, 3)
    order = dv.order("web.example.test", FREE, "FILE")
    done = publish_until_issued(dv, pebble, order)
    assert done["Type"] == "certificate", done
    verify_with_pebble_root(tmp_path, pebble, done["Certificate"], ["web.example.test"])
    # nothing published: the pre-check never passes, the order fails at its deadline with a reason
    failing = dv.order("never.example.test", FREE, "DNS")
    st = wait_state(dv, failing, {"verify_fail", "certificate"}, timeout=60)
    assert st["Type"] == "verify_fail", st
    assert dv.package(FREE) == (3, 2, 1)
