"""Crash safety: client threads issue (server certificates with server keys and with CSRs,
client certificates), revoke and upload through the official SDKs while a controller
SIGKILLs the server at random moments (at least 20 times) and restarts it on the same data
dir and port. Every success a client received is logged; at the end the test proves that
nothing acknowledged was lost or changed:

* every acknowledged certificate reads back through the API with identical bytes;
* no serial repeats within a CA (through the API, and through sqlite3 on the stopped DB);
* each sub CA's issued counter equals the number of certificates it really issued;
* every acknowledged revocation is on the CA's CRL (fetched from the CRL URL);
* `PRAGMA integrity_check` is ok.
"""
from __future__ import annotations

import collections
import random
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from opencas_testlib import OpencasServer, cas20200407, cas20200630, new_workdir, raw, self_signed_ec as self_signed

KILLS = 22
WORKERS = 6
CONFIG = {"rate_limit": {"enabled": False}}


def pem_to_der(pem: str) -> bytes:
    return x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)



def csr_pem(cn: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM).decode()


@dataclass
class Ledger:
    """What the clients were told, under one lock."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    issued: dict = field(default_factory=dict)  # identifier -> (sub CA, serial hex, PEM)
    revoked: dict = field(default_factory=dict)  # identifier -> (sub CA, serial int)
    uploads: dict = field(default_factory=dict)  # CertId -> uploaded PEM
    revocable: list = field(default_factory=list)
    conn_errors: int = 0
    http_errors: collections.Counter = field(default_factory=collections.Counter)
    ops: collections.Counter = field(default_factory=collections.Counter)


def is_connection_error(e: Exception) -> bool:
    from Tea.exceptions import UnretryableException
    return isinstance(e, UnretryableException)


def worker(srv: OpencasServer, subs: list[str], ledger: Ledger, stop: threading.Event, seed: int):
    from alibabacloud_cas20200407 import models as m04
    from alibabacloud_cas20200630 import models as m06
    rnd = random.Random(seed)
    # short timeouts: a request to a killed server fails fast and the client moves on
    kw = dict(connect_timeout=2000, read_timeout=20000)
    c06 = cas20200630(srv, srv.creds, **kw)
    c04 = cas20200407(srv, srv.creds, **kw)
    while not stop.is_set():
        sub = rnd.choice(subs)
        cn = f"crash-{uuid.uuid4().hex[:12]}.example.com"
        kind = rnd.choices(["server_key", "server_csr", "client", "revoke", "upload"], [3, 2, 2, 2, 1])[0]
        with ledger.lock:
            if kind == "revoke" and not ledger.revocable:
                kind = "client"
            target = ledger.revocable.pop(rnd.randrange(len(ledger.revocable))) if kind == "revoke" else None
        upload = self_signed() if kind == "upload" else None
        try:
            if kind == "server_key":
                b = c06.create_server_certificate(m06.CreateServerCertificateRequest(
                    parent_identifier=sub, algorithm="ECC_256", common_name=cn, days=30, enable_crl=1,
                    immediately=1)).body.to_map()
            elif kind == "server_csr":
                b = c06.create_server_certificate_with_csr(m06.CreateServerCertificateWithCsrRequest(
                    parent_identifier=sub, csr=csr_pem(cn), days=30, enable_crl=1, immediately=1)).body.to_map()
            elif kind == "client":
                b = c06.create_client_certificate(m06.CreateClientCertificateRequest(
                    parent_identifier=sub, common_name=cn, days=30, enable_crl=1, immediately=1)).body.to_map()
            elif kind == "revoke":
                c06.create_revoke_client_certificate(m06.CreateRevokeClientCertificateRequest(identifier=target[0]))
            else:
                b = c04.upload_user_certificate(m04.UploadUserCertificateRequest(
                    name=f"up-{uuid.uuid4().hex[:16]}", cert=upload[0], key=upload[1])).body.to_map()
        except Exception as e:  # noqa: BLE001
            with ledger.lock:
                if is_connection_error(e):
                    ledger.conn_errors += 1
                else:
                    ledger.http_errors[f"{kind}: {getattr(e, 'status_code', '?')} {getattr(e, 'code', repr(e))}"] += 1
            if is_connection_error(e):
                time.sleep(0.05)  # the server is down: retry shortly
            continue
        with ledger.lock:
            ledger.ops[kind] += 1
            if kind == "revoke":
                ledger.revoked[target[0]] = (target[1], target[2])
            elif kind == "upload":
                ledger.uploads[b["CertId"]] = upload[0]
            else:
                ledger.issued[b["Identifier"]] = (sub, b["SerialNumber"], b["X509Certificate"])
                serial = x509.load_pem_x509_certificate(b["X509Certificate"].encode()).serial_number
                ledger.revocable.append((b["Identifier"], sub, serial))


def list_all_issued(c06) -> list[dict]:
    from alibabacloud_cas20200630 import models as m06
    out, page = [], 1
    while True:
        b = c06.list_client_certificate(m06.ListClientCertificateRequest(current_page=page, show_size=1000)).body.to_map()
        out += b.get("CertificateList") or []
        if page >= max(1, b["PageCount"]):
            return out
        page += 1


@pytest.fixture
def crash_server(request):
    srv = OpencasServer(new_workdir("opencas-crash-"), config=CONFIG, name="crash")
    srv.start()
    yield srv
    srv.stop()
    if request.session.testsfailed == 0:
        import shutil
        shutil.rmtree(srv.workdir, ignore_errors=True)


def test_sigkill_loses_nothing_acknowledged(crash_server):
    from alibabacloud_cas20200407 import models as m04
    from alibabacloud_cas20200630 import models as m06
    srv = crash_server
    c06 = cas20200630(srv, srv.creds)
    root = c06.create_root_cacertificate(m06.CreateRootCACertificateRequest(
        common_name=f"Crash Root {uuid.uuid4().hex[:6]}", organization="OpenCAS", organization_unit="QA",
        locality="Hangzhou", state="Zhejiang", country_code="CN", algorithm="ECC_256", years=10)).body.to_map()
    subs = []
    for i in range(2):
        s = c06.create_sub_cacertificate(m06.CreateSubCACertificateRequest(
            parent_identifier=root["Identifier"], common_name=f"Crash Sub {i} {uuid.uuid4().hex[:6]}",
            organization="OpenCAS", organization_unit="QA", locality="Hangzhou", state="Zhejiang",
            country_code="CN", algorithm="ECC_256", years=5, enable_crl=True, crl_day=7)).body.to_map()
        subs.append(s["Identifier"])

    ledger, stop = Ledger(), threading.Event()
    threads = [threading.Thread(target=worker, args=(srv, subs, ledger, stop, i), daemon=True)
               for i in range(WORKERS)]
    for t in threads:
        t.start()
    rnd = random.Random(9)
    acked_at_kill = []
    try:
        for i in range(KILLS):
            # every third kill comes right after the restart, while the clients that waited
            # out the outage all reconnect at once
            time.sleep(rnd.uniform(0.05, 0.3) if i % 3 == 0 else rnd.uniform(0.4, 2.0))
            srv.proc.kill()  # SIGKILL
            srv.proc.wait(10)
            with ledger.lock:
                acked_at_kill.append(sum(ledger.ops.values()))
            srv.start()
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert srv.starts == KILLS + 1
    ops = dict(ledger.ops)
    print(f"\nkills={KILLS} acknowledged={ops} connection errors={ledger.conn_errors} "
          f"acks before each kill={acked_at_kill}")
    # the clients got work done between the kills, not just connection errors
    assert all(ledger.ops[k] > 0 for k in ("server_key", "server_csr", "client", "revoke", "upload")), ops
    assert not ledger.http_errors, f"error responses other than dropped connections: {dict(ledger.http_errors)}"

    # 1. every acknowledged issued certificate reads back with identical bytes
    for ident, (sub, serial_hex, pem) in ledger.issued.items():
        got = c06.describe_client_certificate(m06.DescribeClientCertificateRequest(identifier=ident)).body.to_map()
        cert = got["Certificate"]
        assert pem_to_der(cert["X509Certificate"]) == pem_to_der(pem), ident
        assert cert["SerialNumber"] == serial_hex and cert["ParentIdentifier"] == sub, (ident, cert)
    # ... and every acknowledged upload too
    c04 = cas20200407(srv, srv.creds)
    for cert_id, pem in ledger.uploads.items():
        got = c04.get_user_certificate_detail(m04.GetUserCertificateDetailRequest(cert_id=cert_id)).body.to_map()
        assert pem_to_der(got["Cert"]) == pem_to_der(pem), cert_id

    # 2. no serial repeats within a CA, as the API lists them
    listed = list_all_issued(c06)
    by_ca = collections.defaultdict(list)
    for c in listed:
        by_ca[c["ParentIdentifier"]].append(c["SerialNumber"])
    for ca, serials in by_ca.items():
        dup = [s for s, n in collections.Counter(serials).items() if n > 1]
        assert not dup, f"serials repeated under {ca}: {dup}"
    assert set(ledger.issued) <= {c["Identifier"] for c in listed}

    # 3. the quota counters count what was really issued (acknowledged or not)
    for sub in subs:
        d = c06.describe_cacertificate(m06.DescribeCACertificateRequest(identifier=sub)).body.to_map()["Certificate"]
        assert d["CertIssuedCount"] == len(by_ca[sub]), (sub, d["CertIssuedCount"], len(by_ca[sub]))
        assert d["CertIssuedCount"] + d["CertRemainingCount"] == d["CertTotalCount"], d
    root_d = c06.describe_cacertificate(m06.DescribeCACertificateRequest(
        identifier=root["Identifier"])).body.to_map()["Certificate"]
    assert root_d["CertIssuedCount"] in (0, len(subs)), root_d

    # 4. every acknowledged revocation is on its CA's CRL
    for sub in subs:
        r = raw(srv, "GET", f"/crl/{sub}.crl")
        assert r.status_code == 200, r.text[:300]
        crl = x509.load_der_x509_crl(r.content)
        on_crl = {e.serial_number for e in crl}
        want = {serial for (ca, serial) in ledger.revoked.values() if ca == sub}
        assert want <= on_crl, f"acknowledged revocations missing from the CRL of {sub}: {sorted(want - on_crl)}"
        assert want, f"no revocation was acknowledged under {sub}"

    # 5. the stopped database: same facts through sqlite3, and its integrity check
    assert srv.terminate() == 0
    db = sqlite3.connect(srv.data_dir / "opencas.db")
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        dups = db.execute("SELECT issuer_identifier, serial_no, COUNT(*) FROM certificates "
                          "WHERE issuer_identifier IS NOT NULL GROUP BY issuer_identifier, serial_no "
                          "HAVING COUNT(*) > 1").fetchall()
        assert dups == [], dups
        dups = db.execute("SELECT issuer_identifier, serial_number, COUNT(*) FROM cas "
                          "GROUP BY issuer_identifier, serial_number HAVING COUNT(*) > 1").fetchall()
        assert dups == [], dups
        for sub in subs:
            (stored,) = db.execute("SELECT COUNT(*) FROM certificates WHERE issuer_identifier = ?", (sub,)).fetchone()
            (counter,) = db.execute("SELECT cert_issued_count FROM cas WHERE identifier = ?", (sub,)).fetchone()
            assert stored == counter == len(by_ca[sub]), (sub, stored, counter, len(by_ca[sub]))
        for ident, (sub, serial_hex, pem) in ledger.issued.items():
            (der,) = db.execute("SELECT cert_der FROM certificates WHERE identifier = ?", (ident,)).fetchone()
            assert bytes(der) == pem_to_der(pem), ident
        revoked_rows = {r[0] for r in db.execute("SELECT identifier FROM certificates WHERE revoked_at IS NOT NULL")}
        assert set(ledger.revoked) <= revoked_rows
    finally:
        db.close()
