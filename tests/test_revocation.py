"""Revocation (API 2020-06-30 CreateRevokeClientCertificate / ListRevokeCertificate /
GetCaInstanceCrlAddress, 2020-04-07 RevokeWHClientCertificate, UpdateCACertificateStatus
REVOKE of a sub CA) through the official SDKs, and the public PKI endpoints it feeds: the
CRLs at /crl/<CaIdentifier>.crl (checked with `openssl crl -verify`, `openssl verify
-crl_check[_all]` and `cryptography`) and the OCSP responder at /ocsp (POST and GET, checked
with `openssl ocsp` and `cryptography`); freshness and caching of CRLs, idempotency, the
reads that show a revocation, deletion after revocation, isolation between accounts,
persistence across a restart, and SM2 CRLs."""
from __future__ import annotations

import base64
import datetime as dt
import re
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID

from opencas_testlib import free_port, pct, raw
from test_ca_hierarchy import HEX32, one_cert, openssl_ok, run
from test_issuance import IApi, crl_urls

NF = "NotFound.Certificate"
CRL_DAY = 7


# --------------------------------------------------------------------------
# fixtures: CA hierarchies with CRLs enabled
# --------------------------------------------------------------------------

@dataclass
class RH:
    name: str
    alg: str
    root_id: str
    sub_id: str
    root: x509.Certificate
    sub: x509.Certificate
    dir: Path

    @property
    def root_pem(self) -> Path:
        return self.dir / "root.pem"

    @property
    def sub_pem(self) -> Path:
        return self.dir / "sub.pem"

    @property
    def chain_pem(self) -> Path:
        return self.dir / "chain.pem"

    @property
    def sm2(self) -> bool:
        return self.alg.startswith("SM2")


def build_hier(api: IApi, tmp: Path, name: str, alg: str, **sub_kw) -> RH:
    sub_kw = {"enable_crl": True, "crl_day": CRL_DAY, **sub_kw}
    root = api.root(alg, years=10, common_name=f"Revocation Root {name} {uuid.uuid4().hex[:6]}")
    sub = api.sub(root["Identifier"], alg, years=5, common_name=f"Revocation Sub {name} {uuid.uuid4().hex[:6]}",
                  **sub_kw)
    d = tmp / f"{name}-{uuid.uuid4().hex[:6]}"
    d.mkdir(parents=True)
    (d / "root.pem").write_text(root["Certificate"])
    (d / "sub.pem").write_text(sub["Certificate"])
    (d / "chain.pem").write_text(sub["Certificate"].rstrip("\n") + "\n" + root["Certificate"])
    return RH(name, alg, root["Identifier"], sub["Identifier"], one_cert(root["Certificate"]),
              one_cert(sub["Certificate"]), d)


HIER_ALGS = {"ECC": "ECC_256", "RSA": "RSA_2048", "SM2": "SM2_256"}


class Hiers:
    def __init__(self, api: IApi, tmp: Path):
        self.api, self.tmp = api, tmp
        self.built: dict[str, RH | Exception] = {}
        self.lock = threading.Lock()

    def get(self, name: str) -> RH:
        with self.lock:
            if name not in self.built:
                try:
                    self.built[name] = build_hier(self.api, self.tmp, name, HIER_ALGS[name])
                except Exception as e:  # noqa: BLE001
                    self.built[name] = e
        h = self.built[name]
        if isinstance(h, Exception):
            raise AssertionError(f"creating the {name} hierarchy failed: {h!r}") from h
        return h


@pytest.fixture(scope="module")
def api(server):
    return IApi(server)


@pytest.fixture(scope="module")
def api04(server):
    return IApi(server, version="2020-04-07")


@pytest.fixture(scope="module")
def hiers(api, tmp_path_factory):
    return Hiers(api, tmp_path_factory.mktemp("revocation-cas"))


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

@dataclass
class Leaf:
    identifier: str
    serial: int
    cert: x509.Certificate
    pem: Path
    serial_hex: str  # as the create response spelled it


def leaf(api: IApi, h: RH, *, enable_crl=1, action="CreateServerCertificate", days: int = 30) -> Leaf:
    u = uuid.uuid4().hex[:10]
    f = dict(parent_identifier=h.sub_id, days=days, immediately=1, common_name=f"rev-{u}.example.com")
    if enable_crl is not None:
        f["enable_crl"] = enable_crl
    if action == "CreateServerCertificate":
        f["algorithm"] = h.alg
    body = api(action, **f)
    assert HEX32.fullmatch(body.get("Identifier") or ""), body
    cert = one_cert(body["X509Certificate"])
    assert int(body["SerialNumber"], 16) == cert.serial_number, body["SerialNumber"]
    p = h.dir / f"leaf-{body['Identifier']}.pem"
    p.write_text(body["X509Certificate"])
    return Leaf(body["Identifier"], cert.serial_number, cert, p, body["SerialNumber"])


def revoke(api: IApi, identifier: str) -> tuple[int, int]:
    """CreateRevokeClientCertificate; returns the (t0, t1) window in ms around the call."""
    t0 = int(time.time() * 1000) - 1000
    body = api("CreateRevokeClientCertificate", identifier=identifier)
    t1 = int(time.time() * 1000) + 1000
    assert set(body) >= {"RequestId"}, body
    return t0, t1


def status_of(api: IApi, identifier: str) -> dict:
    st = api("DescribeClientCertificateStatus", identifier=identifier)["CertificateStatus"]
    assert len(st) == 1, st
    return st[0]


def get_crl_raw(server, ca_id: str):
    return raw(server, "GET", f"/crl/{ca_id}.crl")


def fetch_crl(server, ca_id: str) -> tuple[x509.CertificateRevocationList, bytes]:
    r = get_crl_raw(server, ca_id)
    assert r.status_code == 200, f"GET /crl/{ca_id}.crl: HTTP {r.status_code} {r.text[:300]!r}"
    ct = (r.headers.get("content-type") or "").split(";")[0].strip().lower()
    assert ct == "application/pkix-crl", f"CRL content-type {r.headers.get('content-type')!r}"
    crl = x509.load_der_x509_crl(r.content)
    return crl, r.content


def fetch_crl_url(server, url: str) -> tuple[x509.CertificateRevocationList, bytes]:
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == server.base_url, f"CRL URL {url} not on {server.base_url}"
    m = re.fullmatch(r"/crl/([0-9a-f]{32})\.crl", parts.path)
    assert m, f"CRL URL path {parts.path!r}"
    return fetch_crl(server, m.group(1))


def crl_number(crl: x509.CertificateRevocationList) -> int:
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def revoked_serials(crl: x509.CertificateRevocationList) -> set[int]:
    return {e.serial_number for e in crl}


def write_crl(tmp: Path, name: str, data: bytes) -> tuple[Path, Path]:
    d = tmp / f"{name}.der"
    d.write_bytes(data)
    p = tmp / f"{name}.pem"
    openssl_ok(["crl", "-inform", "DER", "-in", str(d), "-out", str(p)])
    return d, p


def out_of(r) -> str:
    return r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")


def ski(cert: x509.Certificate) -> bytes:
    return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest


def verify_sig(issuer: x509.Certificate, signature: bytes, data: bytes, hash_alg) -> None:
    pub = issuer.public_key()
    if isinstance(pub, ec.EllipticCurvePublicKey):
        pub.verify(signature, data, ec.ECDSA(hash_alg))
    else:
        pub.verify(signature, data, padding.PKCS1v15(), hash_alg)


def ocsp_post(server, req_der: bytes):
    return raw(server, "POST", "/ocsp", headers={"Content-Type": "application/ocsp-request"}, body=req_der)


def ocsp_get(server, req_der: bytes):
    return raw(server, "GET", "/ocsp/" + pct(base64.b64encode(req_der).decode()))


def load_ocsp(r) -> ocsp.OCSPResponse:
    assert r.status_code == 200, f"OCSP HTTP {r.status_code} {r.text[:300]!r}"
    ct = (r.headers.get("content-type") or "").split(";")[0].strip().lower()
    assert ct == "application/ocsp-response", f"OCSP content-type {r.headers.get('content-type')!r}"
    return ocsp.load_der_ocsp_response(r.content)


def ocsp_request(issuer: x509.Certificate, cert: x509.Certificate, nonce: bytes | None = None) -> bytes:
    b = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1())
    if nonce is not None:
        b = b.add_extension(x509.OCSPNonce(nonce), critical=False)
    return b.build().public_bytes(serialization.Encoding.DER)


def ms_of(t: dt.datetime) -> int:
    return int(t.timestamp() * 1000)


# --------------------------------------------------------------------------
# 1. the CRL of a sub CA, verified by openssl and cryptography
# --------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["ECC", "RSA"])
def test_crl_verifies(server, api, hiers, name, tmp_path):
    h = hiers.get(name)
    good, bad = leaf(api, h), leaf(api, h)
    want_url = f"{server.base_url}/crl/{h.sub_id}.crl"
    assert crl_urls(bad.cert) == [want_url] and crl_urls(good.cert) == [want_url], crl_urls(bad.cert)
    assert api.cert(bad.identifier)["Status"] == "ISSUE"
    t0, t1 = revoke(api, bad.identifier)
    assert api.cert(bad.identifier)["Status"] == "REVOKE"
    assert api.cert(good.identifier)["Status"] == "ISSUE"
    st = status_of(api, bad.identifier)
    assert st["Status"] == "revoked" and st["SerialNumber"] == bad.serial_hex, st
    assert isinstance(st.get("RevokeTime"), int) and t0 <= st["RevokeTime"] <= t1, (st, t0, t1)

    before = dt.datetime.now(dt.timezone.utc)
    crl, data = fetch_crl_url(server, crl_urls(bad.cert)[0])
    crl_der, crl_pem = write_crl(tmp_path, "crl", data)

    # openssl: the CRL's signature under the chain
    r = run(["openssl", "crl", "-inform", "DER", "-in", str(crl_der), "-CAfile", str(h.chain_pem), "-noout", "-verify"])
    out = out_of(r)
    assert r.returncode == 0 and "verify OK" in out, f"openssl crl -verify:\n{out}"
    # control: with only the root as the trust store the issuer is not found
    r = run(["openssl", "crl", "-inform", "DER", "-in", str(crl_der), "-CAfile", str(h.root_pem), "-noout", "-verify"])
    assert "verify OK" not in out_of(r), f"the sub CA's CRL verified under the root alone:\n{out_of(r)}"

    base = ["openssl", "verify", "-crl_check", "-CAfile", str(h.root_pem), "-untrusted", str(h.sub_pem),
            "-CRLfile", str(crl_pem)]
    r = run(base + [str(bad.pem)])
    assert r.returncode != 0 and "certificate revoked" in out_of(r), f"revoked leaf:\n{out_of(r)}"
    r = run(base + [str(good.pem)])
    assert r.returncode == 0 and f"{good.pem}: OK" in out_of(r), f"good leaf:\n{out_of(r)}"

    text = openssl_ok(["crl", "-inform", "DER", "-in", str(crl_der), "-noout", "-text"])
    assert "Version 2 (0x1)" in text, text

    # cryptography
    assert crl.is_signature_valid(h.sub.public_key())
    assert not crl.is_signature_valid(h.root.public_key())
    assert crl.issuer == h.sub.subject, (crl.issuer, h.sub.subject)
    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ski(h.sub), (aki.key_identifier.hex(), ski(h.sub).hex())
    assert crl_number(crl) >= 0
    entry = crl.get_revoked_certificate_by_serial_number(bad.serial)
    assert entry is not None, f"serial {bad.serial_hex} not on the CRL: {[format(s, 'x') for s in revoked_serials(crl)]}"
    assert crl.get_revoked_certificate_by_serial_number(good.serial) is None
    assert ms_of(entry.revocation_date_utc) == st["RevokeTime"] // 1000 * 1000, (entry.revocation_date_utc, st)
    assert crl.next_update_utc - crl.last_update_utc == dt.timedelta(days=CRL_DAY), \
        (crl.last_update_utc, crl.next_update_utc)
    assert abs((crl.last_update_utc - before).total_seconds()) < 120, (crl.last_update_utc, before)


# --------------------------------------------------------------------------
# 2. freshness and caching
# --------------------------------------------------------------------------

def test_crl_freshness_and_cache(server, api, hiers):
    h = hiers.get("ECC")
    a, b = leaf(api, h), leaf(api, h)
    crl0, _ = fetch_crl(server, h.sub_id)
    n0 = crl_number(crl0)
    addr0 = api("GetCaInstanceCrlAddress", ca_identifier=h.sub_id)
    for x in (a, b):
        revoke(api, x.identifier)
        t = time.monotonic()
        crl, data = fetch_crl(server, h.sub_id)
        assert time.monotonic() - t < 1.0
        assert x.serial in revoked_serials(crl), f"{x.serial_hex} not on the CRL right after the revocation"
        n1 = crl_number(crl)
        assert n1 > n0, f"CRL number did not increase: {n0} -> {n1}"
        n0 = n1
        # no change: the cached CRL (same number, same bytes)
        crl2, data2 = fetch_crl(server, h.sub_id)
        assert crl_number(crl2) == n1 and data2 == data, (crl_number(crl2), n1)
        addr = api("GetCaInstanceCrlAddress", ca_identifier=h.sub_id)
        assert addr.get("HashCode") and addr["HashCode"] != addr0.get("HashCode"), (addr0, addr)
        addr0 = addr
    # repeating a revocation changes nothing
    revoke(api, a.identifier)
    crl3, _ = fetch_crl(server, h.sub_id)
    assert crl_number(crl3) == n0
    assert api("GetCaInstanceCrlAddress", ca_identifier=h.sub_id)["HashCode"] == addr0["HashCode"]


def test_crl_address(server, api, hiers):
    h = hiers.get("ECC")
    crl, _ = fetch_crl(server, h.sub_id)
    addr = api("GetCaInstanceCrlAddress", ca_identifier=h.sub_id)
    assert addr.get("CrlUrl") == f"{server.base_url}/crl/{h.sub_id}.crl", addr
    assert isinstance(addr.get("CaType"), str) and addr["CaType"], addr
    assert isinstance(addr.get("CaInstanceStatus"), str) and addr["CaInstanceStatus"], addr
    nut = addr.get("NextUpdateTime")
    assert isinstance(nut, str) and nut.isdigit(), addr
    assert abs(int(nut) - ms_of(crl.next_update_utc)) <= 1000, (nut, crl.next_update_utc)
    assert isinstance(addr.get("HashCode"), str) and addr["HashCode"], addr
    # roots always have a CRL
    raddr = api("GetCaInstanceCrlAddress", ca_identifier=h.root_id)
    assert raddr.get("CrlUrl") == f"{server.base_url}/crl/{h.root_id}.crl", raddr
    assert raddr["CaType"] != addr["CaType"], (raddr["CaType"], addr["CaType"])
    rcrl, _ = fetch_crl(server, h.root_id)
    assert rcrl.issuer == h.root.subject and rcrl.is_signature_valid(h.root.public_key())
    # a sub CA without CRLs: no URL, no CRL
    nocrl = api.sub(h.root_id, "ECC_256", enable_crl=False)["Identifier"]
    naddr = api("GetCaInstanceCrlAddress", ca_identifier=nocrl)
    assert not naddr.get("CrlUrl"), naddr
    r = get_crl_raw(server, nocrl)
    assert r.status_code == 404, (r.status_code, r.text[:200])
    # unknown CA
    ghost = uuid.uuid4().hex
    api.error("GetCaInstanceCrlAddress", 404, ("NotFound.CACertificate", "NotFound.CaInstance"), ca_identifier=ghost)
    r = get_crl_raw(server, ghost)
    assert r.status_code == 404, (r.status_code, r.text[:200])


# --------------------------------------------------------------------------
# 3. OCSP
# --------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["ECC", "RSA"])
def test_ocsp_openssl(server, api, hiers, name, tmp_path):
    h = hiers.get(name)
    good, bad = leaf(api, h), leaf(api, h)
    aia = bad.cert.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_INFORMATION_ACCESS).value
    ocsp_urls = [d.access_location.value for d in aia if d.access_method == AuthorityInformationAccessOID.OCSP]
    assert ocsp_urls == [f"{server.base_url}/ocsp"], ocsp_urls
    revoke(api, bad.identifier)
    url = ocsp_urls[0]
    for lf, want in ((good, "good"), (bad, "revoked")):
        r = run(["openssl", "ocsp", "-issuer", str(h.sub_pem), "-cert", str(lf.pem), "-url", url,
                 "-CAfile", str(h.chain_pem)])
        out = out_of(r)
        assert r.returncode == 0, out
        assert "Response verify OK" in out, out
        assert re.search(rf"{re.escape(str(lf.pem))}: {want}\b", out), f"want {want}:\n{out}"
        assert "WARNING: no nonce" not in out and "nonce verify error" not in out.lower(), out
        if want == "revoked":
            assert "Revocation Time" in out, out
    # a serial this CA never issued: unknown
    r = run(["openssl", "ocsp", "-issuer", str(h.sub_pem), "-serial", "0x1234567890abcdef", "-url", url,
             "-CAfile", str(h.chain_pem)])
    out = out_of(r)
    assert "Response verify OK" in out and re.search(r"0x1234567890abcdef: unknown", out, re.I), out
    # (openssl ocsp trusts a response signed by the -issuer certificate itself, so the signature
    # is checked independently with `cryptography` in test_ocsp_get_and_post)


@pytest.mark.parametrize("name", ["ECC", "RSA"])
def test_ocsp_get_and_post(server, api, hiers, name, tmp_path):
    h = hiers.get(name)
    good, bad = leaf(api, h), leaf(api, h)
    revoke(api, bad.identifier)
    rt = status_of(api, bad.identifier)["RevokeTime"]
    # GET with a request made by openssl (nonce included)
    req = tmp_path / "req.der"
    openssl_ok(["ocsp", "-issuer", str(h.sub_pem), "-cert", str(bad.pem), "-reqout", str(req)])
    r = ocsp_get(server, req.read_bytes())
    resp = load_ocsp(r)
    assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert resp.serial_number == bad.serial and resp.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert ms_of(resp.revocation_time_utc) == rt // 1000 * 1000, (resp.revocation_time_utc, rt)
    nonce_req = ocsp.load_der_ocsp_request(req.read_bytes()).extensions.get_extension_for_class(x509.OCSPNonce).value
    nonce_resp = resp.extensions.get_extension_for_class(x509.OCSPNonce).value
    assert nonce_resp.nonce == nonce_req.nonce
    verify_sig(h.sub, resp.signature, resp.tbs_response_bytes, resp.signature_hash_algorithm)
    (tmp_path / "resp.der").write_bytes(r.content)
    # (no -cert here: with -cert, openssl ocsp builds a new request with a new nonce and ignores -reqin)
    r2 = run(["openssl", "ocsp", "-respin", str(tmp_path / "resp.der"), "-reqin", str(req), "-issuer", str(h.sub_pem),
              "-CAfile", str(h.chain_pem), "-resp_text"])
    out = out_of(r2)
    assert r2.returncode == 0 and "Response verify OK" in out and "Cert Status: revoked" in out, out
    assert "WARNING" not in out and "Nonce Verify error" not in out, out
    # POST, built with cryptography, with our nonce
    nonce = uuid.uuid4().bytes
    resp = load_ocsp(ocsp_post(server, ocsp_request(h.sub, good.cert, nonce)))
    assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert resp.serial_number == good.serial and resp.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert resp.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce
    verify_sig(h.sub, resp.signature, resp.tbs_response_bytes, resp.signature_hash_algorithm)
    assert resp.next_update_utc is None or resp.next_update_utc > resp.this_update_utc
    # GET of a request whose base64 has '/', '+' and '=': percent-encoded (RFC 6960 appendix A.1)
    # and, as many clients send it, not encoded
    for _ in range(200):
        nonce = uuid.uuid4().bytes + b"\xfb\xff"
        req_der = ocsp_request(h.sub, bad.cert, nonce)
        b64 = base64.b64encode(req_der).decode()
        if "/" in b64 and "+" in b64 and b64.endswith("="):
            break
    else:
        pytest.fail("no request with '/', '+' and '=' in its base64")
    for path in ("/ocsp/" + pct(b64), "/ocsp/" + b64):
        resp = load_ocsp(raw(server, "GET", path))
        assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL, (path, resp.response_status)
        assert resp.certificate_status == ocsp.OCSPCertStatus.REVOKED and resp.serial_number == bad.serial
        assert resp.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce
    # without a nonce: none echoed
    resp = load_ocsp(ocsp_post(server, ocsp_request(h.sub, bad.cert)))
    assert resp.certificate_status == ocsp.OCSPCertStatus.REVOKED
    with pytest.raises(x509.ExtensionNotFound):
        resp.extensions.get_extension_for_class(x509.OCSPNonce)


def test_ocsp_errors(server, api, hiers, tmp_path):
    h = hiers.get("ECC")
    for body in (b"garbage", b"", b"\x30\x03\x02\x01\x01"):
        resp = load_ocsp(ocsp_post(server, body))
        assert resp.response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST, (body, resp.response_status)
    resp = load_ocsp(raw(server, "GET", "/ocsp/" + pct(base64.b64encode(b"not an ocsp request").decode())))
    assert resp.response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST, resp.response_status
    # an issuer that is not on this server
    key, crt = tmp_path / "fake.key", tmp_path / "fake.pem"
    openssl_ok(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key),
                "-out", str(crt), "-subj", "/CN=Fake CA", "-days", "2"])
    fake = one_cert(crt.read_text())
    resp = load_ocsp(ocsp_post(server, ocsp_request(fake, fake, uuid.uuid4().bytes)))
    assert resp.response_status == ocsp.OCSPResponseStatus.UNAUTHORIZED, resp.response_status
    # a fake CA with the same subject as a real sub CA (key hash differs)
    req = tmp_path / "req.der"
    lf = leaf(api, h)
    openssl_ok(["ocsp", "-issuer", str(crt), "-cert", str(lf.pem), "-reqout", str(req)])
    resp = load_ocsp(ocsp_post(server, req.read_bytes()))
    assert resp.response_status == ocsp.OCSPResponseStatus.UNAUTHORIZED, resp.response_status
    # control: the same leaf under its real issuer is good
    resp = load_ocsp(ocsp_post(server, ocsp_request(h.sub, lf.cert)))
    assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert resp.certificate_status == ocsp.OCSPCertStatus.GOOD


# --------------------------------------------------------------------------
# 4. revoking a sub CA
# --------------------------------------------------------------------------

def test_revoke_sub_ca(server, api, tmp_path):
    h = build_hier(api, tmp_path, "SUBREV", "ECC_256")
    assert crl_urls(h.sub) == [f"{server.base_url}/crl/{h.root_id}.crl"], crl_urls(h.sub)
    lf = leaf(api, h)
    sibling = api.sub(h.root_id, "ECC_256", enable_crl=True)
    rcrl0, _ = fetch_crl(server, h.root_id)
    assert h.sub.serial_number not in revoked_serials(rcrl0)
    _, sub_pem_crl = write_crl(tmp_path, "sub", fetch_crl(server, h.sub_id)[1])
    _, root_pem_crl0 = write_crl(tmp_path, "root0", fetch_crl(server, h.root_id)[1])
    base = ["openssl", "verify", "-crl_check_all", "-CAfile", str(h.root_pem), "-untrusted", str(h.sub_pem),
            "-CRLfile", str(sub_pem_crl)]
    r = run(base + ["-CRLfile", str(root_pem_crl0), str(lf.pem)])
    assert r.returncode == 0 and f"{lf.pem}: OK" in out_of(r), f"before the revocation:\n{out_of(r)}"

    api("UpdateCACertificateStatus", identifier=h.sub_id, status="REVOKE")
    assert api.describe(h.sub_id)["Status"] == "REVOKE"
    rcrl1, data = fetch_crl(server, h.root_id)
    assert h.sub.serial_number in revoked_serials(rcrl1), "revoked sub CA not on the root's CRL"
    assert one_cert(sibling["Certificate"]).serial_number not in revoked_serials(rcrl1)
    assert crl_number(rcrl1) > crl_number(rcrl0)
    assert rcrl1.is_signature_valid(h.root.public_key())
    root_crl_der, root_pem_crl1 = write_crl(tmp_path, "root1", data)
    r = run(["openssl", "crl", "-inform", "DER", "-in", str(root_crl_der), "-CAfile", str(h.root_pem), "-noout",
             "-verify"])
    assert "verify OK" in out_of(r), out_of(r)
    r = run(base + ["-CRLfile", str(root_pem_crl1), str(lf.pem)])
    assert r.returncode != 0 and "certificate revoked" in out_of(r), f"after the revocation:\n{out_of(r)}"
    # OCSP at the root answers revoked for the sub CA
    resp = load_ocsp(ocsp_post(server, ocsp_request(h.root, h.sub)))
    assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert resp.certificate_status == ocsp.OCSPCertStatus.REVOKED


# --------------------------------------------------------------------------
# 5. the API around a revocation
# --------------------------------------------------------------------------

def test_idempotent_and_reads(server, api, api04, hiers):
    h = hiers.get("ECC")
    a, b, c = leaf(api, h), leaf(api, h, action="CreateClientCertificate"), leaf(api, h)
    revoke(api, a.identifier)
    rt = status_of(api, a.identifier)["RevokeTime"]
    n0 = crl_number(fetch_crl(server, h.sub_id)[0])
    time.sleep(1.1)
    revoke(api, a.identifier)  # a second revocation succeeds and keeps the first time
    assert status_of(api, a.identifier)["RevokeTime"] == rt
    api04("RevokeWHClientCertificate", identifier=a.identifier)
    assert status_of(api, a.identifier)["RevokeTime"] == rt
    # the 2020-04-07 action revokes too
    t0 = int(time.time() * 1000) - 1000
    api04("RevokeWHClientCertificate", identifier=b.identifier)
    t1 = int(time.time() * 1000) + 1000
    sb = status_of(api, b.identifier)
    assert sb["Status"] == "revoked" and t0 <= sb["RevokeTime"] <= t1, sb
    assert api.cert(b.identifier)["Status"] == "REVOKE"
    crl, _ = fetch_crl(server, h.sub_id)
    assert {a.serial, b.serial} <= revoked_serials(crl) and c.serial not in revoked_serials(crl)
    assert ms_of(crl.get_revoked_certificate_by_serial_number(a.serial).revocation_date_utc) == rt // 1000 * 1000
    assert crl_number(crl) > n0, (n0, crl_number(crl))
    # by serial number
    st = api("DescribeClientCertificateStatusForSerialNumber",
             serial_number=",".join([a.serial_hex, c.serial_hex]))["CertificateStatus"]
    by = {x["SerialNumber"]: x for x in st}
    assert by[a.serial_hex]["Status"] == "revoked" and by[a.serial_hex].get("RevokeTime") == rt, st
    assert by[c.serial_hex]["Status"] == "good" and not by[c.serial_hex].get("RevokeTime"), st
    # ListCert (2020-04-07)
    lst = api04("ListCert", identifiers=",".join([a.identifier, b.identifier, c.identifier]), show_size=50)
    seen = {x["Identifier"]: x.get("Status") for x in lst.get("CertList") or []}
    assert seen == {a.identifier: "REVOKE", b.identifier: "REVOKE", c.identifier: "ISSUE"}, seen
    # unknown identifiers
    ghost = uuid.uuid4().hex
    api.error("CreateRevokeClientCertificate", 404, NF, identifier=ghost)
    api04.error("RevokeWHClientCertificate", 404, NF, identifier=ghost)
    # a CA identifier is not a certificate's
    api.error("CreateRevokeClientCertificate", 404, NF, identifier=h.sub_id)


def test_every_kind_is_revocable(server, api, hiers, tmp_path):
    """Client, custom (CSR) and EnableCrl=0 server certificates are revoked like the others and
    appear on the CA's (complete) CRL and in OCSP."""
    h = hiers.get("ECC")
    client = leaf(api, h, action="CreateClientCertificate")
    no_dp = leaf(api, h, enable_crl=0)
    assert crl_urls(no_dp.cert) is None
    key, csr = tmp_path / "k.pem", tmp_path / "c.csr"
    openssl_ok(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(key)])
    openssl_ok(["req", "-new", "-key", str(key), "-subj", f"/CN=custom-{uuid.uuid4().hex[:8]}", "-out", str(csr)])
    body = api("CreateCustomCertificate", parent_identifier=h.sub_id, csr=csr.read_text(), validity="30d",
               immediately=1)
    cc = one_cert(body["Certificate"])
    custom = Leaf(body["Identifier"], cc.serial_number, cc, tmp_path / "custom.pem", body["SerialNumber"])
    all3 = (client, no_dp, custom)
    for lf in all3:
        revoke(api, lf.identifier)
        assert api.cert(lf.identifier)["Status"] == "REVOKE"
        assert status_of(api, lf.identifier)["Status"] == "revoked"
    crl, _ = fetch_crl(server, h.sub_id)
    for lf in all3:
        assert lf.serial in revoked_serials(crl), f"{lf.identifier} not on the CRL"
        resp = load_ocsp(ocsp_post(server, ocsp_request(h.sub, lf.cert)))
        assert resp.certificate_status == ocsp.OCSPCertStatus.REVOKED, (lf.identifier, resp.certificate_status)


def test_delete_after_revoke(server, api, hiers):
    h = hiers.get("ECC")
    lf = leaf(api, h)
    api.error("DeleteClientCertificate", 400, "InvalidStatus.Certificate", identifier=lf.identifier)
    assert api.cert(lf.identifier)["Status"] == "ISSUE"
    revoke(api, lf.identifier)
    api("DeleteClientCertificate", identifier=lf.identifier)
    api.error("DescribeClientCertificate", 404, NF, identifier=lf.identifier)
    api.error("DeleteClientCertificate", 404, NF, identifier=lf.identifier)
    api.error("CreateRevokeClientCertificate", 404, NF, identifier=lf.identifier)


def test_deleted_revoked_cert_stays_revoked(server, api, hiers):
    """RFC 5280 5.3 / RFC 6960: a revoked certificate stays on the CRL (and OCSP says revoked)
    until it expires, whatever happens to its record."""
    h = hiers.get("ECC")
    lf = leaf(api, h)
    revoke(api, lf.identifier)
    api("DeleteClientCertificate", identifier=lf.identifier)
    crl, _ = fetch_crl(server, h.sub_id)
    assert lf.serial in revoked_serials(crl), "a deleted revoked certificate left the CRL"
    resp = load_ocsp(ocsp_post(server, ocsp_request(h.sub, lf.cert)))
    assert resp.certificate_status == ocsp.OCSPCertStatus.REVOKED, resp.certificate_status


def test_list_revoke_certificate(server, tmp_path):
    acct = server.create_account("revocation-list")
    api = IApi(server, acct)
    first = api("ListRevokeCertificate")
    assert first.get("TotalCount") == 0 and (first.get("CertificateList") or []) == [], first
    h = build_hier(api, tmp_path, "LIST", "ECC_256")
    leaves = [leaf(api, h) for _ in range(5)]
    revoked = leaves[:3]
    for lf in revoked:
        revoke(api, lf.identifier)
    today = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT00:00Z")
    body = api("ListRevokeCertificate")
    assert body.get("TotalCount") == 3 and body.get("ShowSize") == 20 and body.get("CurrentPage") == 1, body
    seen = {}
    for page in (1, 2):
        b = api("ListRevokeCertificate", current_page=page, show_size=2)
        assert b["TotalCount"] == 3 and b["CurrentPage"] == page and b["ShowSize"] == 2, b
        if "PageCount" in b:
            assert b["PageCount"] == 2, b
        items = b.get("CertificateList") or []
        assert len(items) == (2 if page == 1 else 1), items
        for x in items:
            seen[x["Identifier"]] = x
    assert sorted(seen) == sorted(lf.identifier for lf in revoked), sorted(seen)
    b3 = api("ListRevokeCertificate", current_page=3, show_size=2)
    assert (b3.get("CertificateList") or []) == [] and b3["TotalCount"] == 3, b3
    for lf in revoked:
        x = seen[lf.identifier]
        assert x.get("RevokeDate") == today, x
        assert x.get("SerialNumber") == lf.serial_hex, x
        assert x.get("Status") == "REVOKE" and x.get("ParentIdentifier") == h.sub_id, x
        assert x.get("CommonName") == lf.cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value, x
        d = api.cert(lf.identifier)
        for k in ("ParentIdentifier", "CertificateType", "Status", "CommonName", "SubjectDN", "Sans", "SerialNumber",
                  "Md5", "Sha2", "Algorithm", "KeySize", "SignAlgorithm"):
            if k in d:
                assert x.get(k) == d[k], (k, x.get(k), d[k])
        # dates are strings here (the SDK model says so), milliseconds in DescribeClientCertificate
        for k in ("BeforeDate", "AfterDate"):
            day = dt.datetime.fromtimestamp(d[k] / 1000, dt.timezone.utc).strftime("%Y-%m-%dT00:00Z")
            assert x.get(k) == day, (k, x.get(k), d[k])


def test_isolation(server, api, api04, hiers):
    h = hiers.get("ECC")
    mine, mine_rev = leaf(api, h), leaf(api, h)
    revoke(api, mine_rev.identifier)
    other = IApi(server, server.create_account("revocation-isolation"))
    other04 = IApi(server, other.creds, version="2020-04-07")
    assert (other("ListRevokeCertificate").get("CertificateList") or []) == []
    assert other("ListRevokeCertificate").get("TotalCount") == 0
    for i in (mine.identifier, mine_rev.identifier):
        other.error("CreateRevokeClientCertificate", 404, NF, identifier=i)
        other04.error("RevokeWHClientCertificate", 404, NF, identifier=i)
        other.error("DeleteClientCertificate", 404, NF, identifier=i)
    for ca in (h.sub_id, h.root_id):
        other.error("GetCaInstanceCrlAddress", 404, ("NotFound.CACertificate", "NotFound.CaInstance"),
                    ca_identifier=ca)
        other.error("UpdateCACertificateStatus", 404, "NotFound.CACertificate", identifier=ca, status="REVOKE")
    # nothing changed for the owner
    assert api.cert(mine.identifier)["Status"] == "ISSUE"
    assert api.cert(mine_rev.identifier)["Status"] == "REVOKE"
    assert api.describe(h.sub_id)["Status"] == "ISSUE"
    assert mine.serial not in revoked_serials(fetch_crl(server, h.sub_id)[0])


def test_restart_persistence(server_factory, tmp_path):
    srv = server_factory(name="revpersist")
    api = IApi(srv)
    h = build_hier(api, tmp_path, "PERSIST", "ECC_256")
    a, b = leaf(api, h), leaf(api, h)
    revoke(api, a.identifier)
    rt = status_of(api, a.identifier)["RevokeTime"]
    crl1, _ = fetch_crl(srv, h.sub_id)
    n1 = crl_number(crl1)
    assert a.serial in revoked_serials(crl1)

    rc = srv.terminate(timeout=10)
    assert rc == 0, f"SIGTERM: exit code {rc}"
    srv.port = free_port()
    srv.start()
    api = IApi(srv)
    assert api.cert(a.identifier)["Status"] == "REVOKE"
    assert status_of(api, a.identifier)["RevokeTime"] == rt
    crl2, _ = fetch_crl(srv, h.sub_id)
    assert a.serial in revoked_serials(crl2) and b.serial not in revoked_serials(crl2)
    n2 = crl_number(crl2)
    assert n2 >= n1, f"CRL number went back after a restart: {n1} -> {n2}"
    revoke(api, b.identifier)
    crl3, _ = fetch_crl(srv, h.sub_id)
    assert b.serial in revoked_serials(crl3) and crl_number(crl3) > n2, (n2, crl_number(crl3))
    assert crl3.is_signature_valid(h.sub.public_key())
    addr = api("GetCaInstanceCrlAddress", ca_identifier=h.sub_id)
    assert addr["CrlUrl"] == f"{srv.base_url}/crl/{h.sub_id}.crl", addr


# --------------------------------------------------------------------------
# 6. SM2
# --------------------------------------------------------------------------

def test_sm2_crl_and_ocsp(server, api, hiers, tmp_path):
    h = hiers.get("SM2")
    good, bad = leaf(api, h), leaf(api, h)
    assert crl_urls(bad.cert) == [f"{server.base_url}/crl/{h.sub_id}.crl"]
    revoke(api, bad.identifier)
    crl, data = fetch_crl(server, h.sub_id)
    assert bad.serial in revoked_serials(crl) and good.serial not in revoked_serials(crl)
    assert crl.issuer == h.sub.subject
    assert crl.signature_algorithm_oid.dotted_string == "1.2.156.10197.1.501", crl.signature_algorithm_oid
    assert crl.next_update_utc - crl.last_update_utc == dt.timedelta(days=CRL_DAY)
    der_path = tmp_path / "sm2.crl"
    der_path.write_bytes(data)
    text = openssl_ok(["crl", "-inform", "DER", "-in", str(der_path), "-noout", "-text"])
    assert re.search(rf"Serial Number: 0*{bad.serial:X}\b", text, re.I), text
    # OCSP answers (signature not checked: GM/T distinguishing ID)
    resp = load_ocsp(ocsp_post(server, ocsp_request(h.sub, bad.cert, b"sm2-nonce-123456")))
    assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert resp.certificate_status == ocsp.OCSPCertStatus.REVOKED
    resp = load_ocsp(ocsp_post(server, ocsp_request(h.sub, good.cert)))
    assert resp.certificate_status == ocsp.OCSPCertStatus.GOOD


# --------------------------------------------------------------------------
# SM2 with the empty distinguishing ID: what stock OpenSSL 3 verifies with
# --------------------------------------------------------------------------

def test_sm2_openssl_compatible_id(server_factory, tmp_path):
    from opencas_testlib import DEFAULT_TEST_CONFIG
    srv = server_factory({**DEFAULT_TEST_CONFIG, "ca": {"sm2_distinguishing_id": ""}}, name="sm2-empty-id")
    api = IApi(srv)
    h = build_hier(api, tmp_path, "SM2", "SM2_256")
    good, bad = leaf(api, h), leaf(api, h)
    revoke(api, bad.identifier)
    _, data = fetch_crl_url(srv, crl_urls(bad.cert)[0])
    crl_der, crl_pem = write_crl(tmp_path, "sm2", data)
    # no -vfyopt distid anywhere: the chain, the CRL and the OCSP answers all verify with OpenSSL's own ID
    r = run(["openssl", "crl", "-inform", "DER", "-in", str(crl_der), "-CAfile", str(h.chain_pem), "-noout", "-verify"])
    assert r.returncode == 0 and "verify OK" in out_of(r), f"openssl crl -verify:\n{out_of(r)}"
    base = ["openssl", "verify", "-crl_check", "-CAfile", str(h.root_pem), "-untrusted", str(h.sub_pem),
            "-CRLfile", str(crl_pem)]
    r = run(base + [str(good.pem)])
    assert r.returncode == 0 and f"{good.pem}: OK" in out_of(r), f"good leaf:\n{out_of(r)}"
    r = run(base + [str(bad.pem)])
    assert r.returncode != 0 and "certificate revoked" in out_of(r), f"revoked leaf:\n{out_of(r)}"
    for lf, want in ((good, "good"), (bad, "revoked")):
        r = run(["openssl", "ocsp", "-issuer", str(h.sub_pem), "-cert", str(lf.pem), "-url", f"{srv.base_url}/ocsp",
                 "-CAfile", str(h.chain_pem)])
        out = out_of(r)
        assert r.returncode == 0 and "Response verify OK" in out, out
        assert re.search(rf"{re.escape(str(lf.pem))}: {want}\b", out), f"want {want}:\n{out}"


def test_sm2_distinguishing_id_setting_is_checked(tmp_path):
    import subprocess
    from opencas_testlib import DEFAULT_TEST_CONFIG, OpencasServer
    bad = OpencasServer(tmp_path, {**DEFAULT_TEST_CONFIG, "ca": {"sm2_distinguishing_id": "alice"}})
    proc = subprocess.run(bad.argv(), capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert proc.returncode != 0 and "sm2_distinguishing_id" in proc.stdout + proc.stderr, proc
