"""End-entity certificate issuance by private sub CAs (API 2020-06-30, and
CreateWHClientCertificate / ListCert of 2020-04-07) through the official SDKs: every key
algorithm x {server, client} x {generated key, openssl CSR} checked with `openssl verify`,
pkilint and `cryptography`; real mutual-TLS handshakes with `openssl s_server`/`s_client`;
every refusal rule (and that a refusal stores nothing); ClientToken / CustomIdentifier
idempotency (also concurrent); the Immediately / AsynchronousFlag response shapes; validity
arithmetic; the reads (Describe/List/Status/ListCert/private key export); CRL distribution
points; isolation between accounts; certificate quotas."""
from __future__ import annotations

import base64
import calendar
import datetime as dt
import hashlib
import ipaddress
import json
import math
import queue
import re
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, ExtensionOID, NameOID

from opencas_testlib import (
    DEFAULT_TEST_CONFIG,
    V_2020_06,
    assert_ok,
    cas20200407,
    cas20200630,
    free_port,
    v3_request,
)
from test_ca_hierarchy import (
    ALGS,
    HEX32,
    SM2_DISTID,
    Api,
    _pkilint_json,
    add_years,
    der,
    load_pems,
    no_private_key,
    one_cert,
    openssl_ok,
    run,
)

# --------------------------------------------------------------------------
# the SDKs, wrapped: every action by name, every response checked for keys
# --------------------------------------------------------------------------

_METHOD_CACHE: dict[tuple[type, str], str] = {}


def sdk_method(client, action: str) -> str:
    """The SDK method of an action: CreateServerCertificate -> create_server_certificate."""
    key = (type(client), action)
    if key not in _METHOD_CACHE:
        want = action.lower()
        names = [n for n in dir(client) if not n.startswith("_") and n.replace("_", "") == want]
        assert len(names) == 1, f"no single SDK method for {action}: {names}"
        _METHOD_CACHE[key] = names[0]
    return _METHOD_CACHE[key]


class IApi(Api):
    """Api of test_ca_hierarchy for every action of one SDK (2020-06-30 by default)."""

    def __init__(self, server, creds=None, version: str = V_2020_06):
        self.server = server
        self.creds = creds or server.creds
        self.version = version
        if version == V_2020_06:
            from alibabacloud_cas20200630 import models
            self.client = cas20200630(server, self.creds)
        else:
            from alibabacloud_cas20200407 import models
            self.client = cas20200407(server, self.creds)
        self.models = models

    def __call__(self, action: str, **fields) -> dict:
        method = getattr(self.client, sdk_method(self.client, action))
        if fields.get("tags") is not None:
            cls = getattr(self.models, f"{action}RequestTags")
            fields["tags"] = [cls(key=k, value=v) for k, v in fields["tags"]]
        if action == "DescribeCACertificateCount":
            resp = method()
        else:
            resp = method(getattr(self.models, f"{action}Request")(**fields))
        assert resp.status_code == 200, (action, resp.status_code)
        body = resp.body.to_map()
        text = json.dumps(body, ensure_ascii=False)
        if action in ("DescribeCertificatePrivateKey", "ListCert", "ListCertificates"):
            # the one action that returns a key (encrypted only), and two with an ExistPrivateKey flag
            assert "BEGIN PRIVATE KEY" not in text and "BEGIN EC PRIVATE KEY" not in text \
                and "BEGIN RSA PRIVATE KEY" not in text, f"cleartext key in {action}: {text[:300]}"
        else:
            no_private_key(text, action)
        assert isinstance(body.get("RequestId"), str) and body["RequestId"], body
        return body

    def error(self, action: str, want_status: int, want_code, /, **fields):
        if action != "DescribeCertificatePrivateKey":
            return super().error(action, want_status, want_code, **fields)
        # its messages may well say "private key": check for key material only
        from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
        codes = {want_code} if isinstance(want_code, str) else set(want_code)
        try:
            body = self(action, **fields)
        except AlibabaCloudException as e:
            assert e.status_code == want_status and e.code in codes, \
                f"{action} {fields}: expected HTTP {want_status} {sorted(codes)}, got HTTP {e.status_code} {e.code}: {e.message}"
            assert "-----BEGIN" not in str(e.message) + json.dumps(e.data or {}, default=str), e
            return e
        pytest.fail(f"{action} {fields}: expected HTTP {want_status} {sorted(codes)}, got success: {str(body)[:300]}")

    # -- shortcuts
    def cert(self, identifier: str) -> dict:
        body = self("DescribeClientCertificate", identifier=identifier)
        assert isinstance(body.get("Certificate"), dict), body
        return body["Certificate"]

    def total(self, **filters) -> int:
        n = self("ListClientCertificate", **filters)["TotalCount"]
        assert isinstance(n, int) and not isinstance(n, bool), n
        return n

    def counts(self, ca_identifier: str) -> tuple[int, int, int]:
        d = self.describe(ca_identifier)
        return d["CertIssuedCount"], d["CertRemainingCount"], d["CertTotalCount"]


@pytest.fixture(scope="module")
def api(server):
    return IApi(server)


@pytest.fixture(scope="module")
def api04(server):
    return IApi(server, version="2020-04-07")


# --------------------------------------------------------------------------
# CA hierarchies shared by the module (one root + sub CA each)
# --------------------------------------------------------------------------

SM2_SUBJECT = dict(organization="开放证书服务", organization_unit="密码部", locality="杭州", state="浙江",
                   country_code="CN")

# name -> (root algorithm, sub algorithm, sub CA options)
HIER_SPECS = {
    "RSA": ("RSA_2048", "RSA_2048", {}),
    "ECC_256": ("ECC_256", "ECC_256", dict(enable_crl=True, crl_day=7)),
    "ECC_384": ("ECC_384", "ECC_384", dict(enable_crl=False)),
    "ECC_512": ("ECC_512", "ECC_512", {}),
    "SM2": ("SM2_256", "SM2_256", SM2_SUBJECT),
}
# the leaf algorithm -> the hierarchy issuing it (cross key sizes inside a family on purpose)
LEAF_HIER = {"RSA_1024": "RSA", "RSA_2048": "RSA", "RSA_3072": "RSA", "RSA_4096": "RSA",
             "ECC_256": "ECC_256", "ECC_384": "ECC_512", "ECC_512": "ECC_384", "SM2_256": "SM2"}
LEAF_ALGS = list(LEAF_HIER)


@dataclass
class Hier:
    name: str
    root_alg: str
    sub_alg: str
    root_id: str
    sub_id: str
    root: x509.Certificate
    sub: x509.Certificate
    root_pem: Path
    sub_pem: Path
    sub_desc: dict

    @property
    def sm2(self) -> bool:
        return self.sub_alg.startswith("SM2")

    def subject_defaults(self) -> dict:
        d = self.sub_desc
        return {"C": d.get("CountryCode") or None, "ST": d.get("State"), "L": d.get("Locality"),
                "O": d.get("Organization"), "OU": d.get("OrganizationUnit")}


class Hierarchies:
    def __init__(self, api: IApi, tmp: Path):
        self.api, self.tmp = api, tmp
        self.built: dict[str, Hier | Exception] = {}
        self.lock = threading.Lock()

    def get(self, name: str) -> Hier:
        with self.lock:
            if name not in self.built:
                try:
                    self.built[name] = self._build(name)
                except Exception as e:  # noqa: BLE001 - reported by every test that needs it
                    self.built[name] = e
        h = self.built[name]
        if isinstance(h, Exception):
            raise AssertionError(f"creating the {name} CA hierarchy failed: {h!r}") from h
        return h

    def _build(self, name: str) -> Hier:
        root_alg, sub_alg, kw = HIER_SPECS[name]
        kw = dict(kw)
        subj = {k: kw.pop(k) for k in list(kw) if k in SM2_SUBJECT}
        root = self.api.root(root_alg, years=10, common_name=f"Issuance Root {name}", **subj)
        sub = self.api.sub(root["Identifier"], sub_alg, years=5, common_name=f"Issuance Sub {name}", **subj, **kw)
        d = self.tmp / name
        d.mkdir(parents=True, exist_ok=True)
        (d / "root.pem").write_text(root["Certificate"])
        (d / "sub.pem").write_text(sub["Certificate"])
        return Hier(name, root_alg, sub_alg, root["Identifier"], sub["Identifier"], one_cert(root["Certificate"]),
                    one_cert(sub["Certificate"]), d / "root.pem", d / "sub.pem", self.api.describe(sub["Identifier"]))


@pytest.fixture(scope="module")
def cas(api, tmp_path_factory):
    return Hierarchies(api, tmp_path_factory.mktemp("issuance-cas"))


# --------------------------------------------------------------------------
# keys and CSRs made by openssl
# --------------------------------------------------------------------------

GENPKEY = {
    "RSA_1024": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"],
    "RSA_2048": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    "RSA_3072": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"],
    "RSA_4096": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:4096"],
    "ECC_256": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    "ECC_384": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
    "ECC_512": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"],
    "SM2_256": ["-algorithm", "SM2"],
}


class Keys:
    """One openssl key per algorithm (generated in parallel up front), CSRs on demand."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.paths = {alg: tmp / f"{alg}.key" for alg in GENPKEY}
        with ThreadPoolExecutor(4) as ex:
            list(ex.map(lambda a: openssl_ok(["genpkey", *GENPKEY[a], "-out", str(self.paths[a])]), GENPKEY))

    def csr(self, alg: str, cn: str, san: str | None = None, subj_extra: str = "") -> str:
        out = self.tmp / f"{uuid.uuid4().hex}.csr"
        argv = ["req", "-new", "-key", str(self.paths[alg]), "-subj", f"{subj_extra}/CN={cn}", "-out", str(out),
                "-utf8"]
        if san:
            argv += ["-addext", f"subjectAltName={san}"]
        if alg.startswith("SM2"):
            argv += ["-sm3", "-sigopt", f"distid:{SM2_DISTID}"]
        openssl_ok(argv)
        return out.read_text()


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return Keys(tmp_path_factory.mktemp("issuance-keys"))


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

PASSWORD = "Pw,.+-_#42"
CREATE = {("server", "key"): "CreateServerCertificate", ("server", "csr"): "CreateServerCertificateWithCsr",
          ("client", "key"): "CreateClientCertificate", ("client", "csr"): "CreateClientCertificateWithCsr"}
ALL_CREATES = list(CREATE.values())

# every certificate the module issued, per (server, account): identifier -> serial
_ISSUED: dict[tuple[str, str], dict[str, int]] = {}


def issued_of(api: "IApi") -> dict[str, int]:
    return _ISSUED.setdefault((api.server.base_url, api.creds["AccessKeyId"]), {})


def uid() -> str:
    return uuid.uuid4().hex[:10]


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def issue(api: IApi, action: str, **fields) -> dict:
    body = api(action, **fields)
    assert HEX32.fullmatch(body.get("Identifier") or ""), f"{action}: Identifier {body.get('Identifier')!r}"
    sn = body.get("SerialNumber")
    assert isinstance(sn, str) and re.fullmatch(r"[0-9a-f]+", sn), f"{action}: SerialNumber {sn!r}"
    issued_of(api)[body["Identifier"]] = int(sn, 16)
    return body


def base_fields(action: str, parent: str, keys: Keys | None = None, alg: str = "ECC_256", **over) -> dict:
    """A minimal valid request for one of the four create actions."""
    f: dict = dict(parent_identifier=parent, days=30)
    cn = f"base-{uid()}.example.com"
    if action == "CreateServerCertificate":
        f.update(algorithm=alg, common_name=cn)
    elif action == "CreateClientCertificate":
        f.update(common_name=cn)
    else:
        assert keys is not None
        f.update(csr=keys.csr(alg, cn))
    f.update(over)
    return {k: v for k, v in f.items() if v is not None}


def quick(api: IApi, parent: str, action: str = "CreateServerCertificate", keys: Keys | None = None,
          alg: str = "ECC_256", **over) -> dict:
    return issue(api, action, **base_fields(action, parent, keys, alg, **over))


def write(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.write_text(text)
    return p


def pubkey_pem(argv: list[str]) -> str:
    out = openssl_ok(argv)
    return out[out.index("-----BEGIN PUBLIC KEY-----"):out.index("-----END PUBLIC KEY-----")]


def decrypt_key(api: IApi, identifier: str, tmp: Path, password: str = PASSWORD) -> Path:
    """DescribeCertificatePrivateKey, opened with openssl; returns an unencrypted PEM key file."""
    body = api("DescribeCertificatePrivateKey", identifier=identifier, encrypted_code=password)
    enc = body.get("EncryptedData")
    assert isinstance(enc, str) and "-----BEGIN ENCRYPTED PRIVATE KEY-----" in enc, f"EncryptedData {enc!r:.200}"
    enc_path = write(tmp, f"{identifier}.enc.pem", enc)
    key_path = tmp / f"{identifier}.key.pem"
    openssl_ok(["pkcs8", "-in", str(enc_path), "-passin", f"pass:{password}", "-out", str(key_path)])
    # `openssl pkey` opens it too
    openssl_ok(["pkey", "-in", str(enc_path), "-passin", f"pass:{password}", "-noout"])
    bad = run(["openssl", "pkcs8", "-in", str(enc_path), "-passin", "pass:not-the-password"])
    assert bad.returncode != 0, "the encrypted key opened with a wrong password"
    return key_path


SAN_KIND = {x509.DNSName: "DNS", x509.IPAddress: "IP", x509.RFC822Name: "email",
            x509.UniformResourceIdentifier: "URI"}


def cert_sans(cert: x509.Certificate) -> list[tuple[str, str]]:
    try:
        ext = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    except x509.ExtensionNotFound:
        return []
    out = []
    for g in ext.value:
        kind = SAN_KIND.get(type(g), type(g).__name__)
        out.append((kind, str(g.value) if kind == "IP" else g.value))
    return out


def norm_san(kind: str, value: str) -> tuple[str, str]:
    return (kind, str(ipaddress.ip_address(value))) if kind == "IP" else (kind, value)


def norm_value(v: str) -> str:
    try:
        return str(ipaddress.ip_address(v))
    except ValueError:
        return v


def eku(cert: x509.Certificate) -> list:
    return list(cert.extensions.get_extension_for_oid(ExtensionOID.EXTENDED_KEY_USAGE).value)


def crl_urls(cert: x509.Certificate) -> list[str] | None:
    try:
        cdp = cert.extensions.get_extension_for_oid(ExtensionOID.CRL_DISTRIBUTION_POINTS).value
    except x509.ExtensionNotFound:
        return None
    return [n.value for dp in cdp for n in (dp.full_name or [])]


def ms(t: dt.datetime) -> int:
    return int(t.timestamp()) * 1000


def add_months(t: dt.datetime, months: int) -> dt.datetime:
    total = t.year * 12 + t.month - 1 + months
    y, m = divmod(total, 12)
    m += 1
    return t.replace(year=y, month=m, day=min(t.day, calendar.monthrange(y, m)[1]))


OID_LABEL = {NameOID.COUNTRY_NAME: "C", NameOID.STATE_OR_PROVINCE_NAME: "ST", NameOID.LOCALITY_NAME: "L",
             NameOID.ORGANIZATION_NAME: "O", NameOID.ORGANIZATIONAL_UNIT_NAME: "OU", NameOID.COMMON_NAME: "CN"}


def subject_attrs(cert: x509.Certificate) -> list[tuple[str, str]]:
    return [(OID_LABEL.get(a.oid, a.oid.dotted_string), a.value) for a in cert.subject]


def want_attrs(values: dict) -> list[tuple[str, str]]:
    return [(k, values[k]) for k in ("C", "ST", "L", "O", "OU", "CN") if values.get(k)]


def verify_chain(h: Hier, leaf: Path, purpose: str) -> None:
    """openssl verify of leaf <- sub <- root for a TLS purpose, with a control of the other purpose."""
    other = "sslclient" if purpose == "sslserver" else "sslserver"
    if h.sm2:
        # OpenSSL 3.0 cannot check an SM2 intermediate signed with the GM/T id: sub -> leaf only
        base = ["verify", "-x509_strict", "-vfyopt", f"distid:{SM2_DISTID}", "-partial_chain", "-CAfile",
                str(h.sub_pem)]
    else:
        base = ["verify", "-x509_strict", "-CAfile", str(h.root_pem), "-untrusted", str(h.sub_pem)]
    out = openssl_ok(base[:1] + ["-purpose", purpose] + base[1:] + [str(leaf)])
    assert f"{leaf}: OK" in out, out
    bad = run(["openssl", *base[:1], "-purpose", other, *base[1:], str(leaf)])
    assert bad.returncode != 0, f"a {purpose} certificate also verified for {other}"
    if not h.sm2:
        # and only under its own root
        bad = run(["openssl", "verify", "-x509_strict", "-CAfile", str(h.sub_pem), str(leaf)])
        assert bad.returncode != 0, "the leaf verified with only its sub CA as trust anchor (no -partial_chain)"


def pkilint_findings(h: Hier, leaf: Path, label: str) -> list[str]:
    from pkilint.bin import lint_pkix_cert, lint_pkix_signer_signee_cert_chain
    bad = []
    for what, findings in (
        ("leaf", _pkilint_json(lint_pkix_cert.main, [str(leaf)])),
        ("sub->leaf", _pkilint_json(lint_pkix_signer_signee_cert_chain.main, [str(h.sub_pem), str(leaf)])),
    ):
        for f in findings:
            line = f"pkilint {label} {what}: {f['severity']} {f['code']} at {f['path']}" + \
                (f": {f['message']}" if f.get("message") else "")
            if f["severity"] in ("FATAL", "ERROR"):
                bad.append(line)
            elif f["severity"] in ("WARNING", "NOTICE"):
                print(line)
    return bad


def check_leaf_profile(cert: x509.Certificate, h: Hier, *, kind: str, alg: str, subject: dict,
                       sans: list[tuple[str, str]], days: int | None, t0: dt.datetime, t1: dt.datetime,
                       base_url: str, crl: bool = False):
    a, ia = ALGS[alg], ALGS[h.sub_alg]
    assert cert.version == x509.Version.v3
    sn = cert.serial_number
    octets = (sn.bit_length() + 8) // 8
    assert sn > 0 and 9 <= octets <= 20, f"serial {sn:x} ({octets} DER octets): not >= 64 random bits / <= 20 octets"
    assert cert.issuer.public_bytes() == h.sub.subject.public_bytes(), "issuer != the sub CA's subject"
    assert subject_attrs(cert) == want_attrs(subject), f"subject {subject_attrs(cert)} != {want_attrs(subject)}"
    nb, na = cert.not_valid_before_utc, cert.not_valid_after_utc
    assert t0 - dt.timedelta(seconds=2) <= nb <= t1 + dt.timedelta(seconds=2), f"notBefore {nb} (issued {t0}..{t1})"
    if days is not None:
        assert na - nb == dt.timedelta(days=days), f"validity {na - nb}, requested Days={days}"
    assert na <= h.sub.not_valid_after_utc
    exts = {e.oid: e for e in cert.extensions}
    bc = exts.get(ExtensionOID.BASIC_CONSTRAINTS)
    assert bc is not None and bc.critical and bc.value.ca is False and bc.value.path_length is None, f"BC {bc}"
    ku = exts.get(ExtensionOID.KEY_USAGE)
    assert ku is not None and ku.critical, f"keyUsage {ku}"
    v = ku.value
    got_ku = {n for n in ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                          "key_agreement", "key_cert_sign", "crl_sign") if getattr(v, n)}
    want_ku = {"digital_signature"} | ({"key_encipherment"} if a.family == "RSA" else set())
    assert got_ku == want_ku, f"keyUsage {sorted(got_ku)}, want {sorted(want_ku)} for a {alg} key"
    want_eku = ExtendedKeyUsageOID.SERVER_AUTH if kind == "server" else ExtendedKeyUsageOID.CLIENT_AUTH
    assert eku(cert) == [want_eku], f"EKU {eku(cert)}"
    ski = exts.get(ExtensionOID.SUBJECT_KEY_IDENTIFIER)
    assert ski is not None and not ski.critical and ski.value.digest, f"SKI {ski}"
    sub_ski = h.sub.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_KEY_IDENTIFIER).value.digest
    aki = exts.get(ExtensionOID.AUTHORITY_KEY_IDENTIFIER)
    assert aki is not None and not aki.critical and aki.value.key_identifier == sub_ski, f"AKI {aki} != sub SKI"
    got_sans = cert_sans(cert)
    want = [norm_san(k, v) for k, v in sans]
    assert sorted(got_sans) == sorted(want), f"SAN {got_sans}, want {want}"
    assert len(set(got_sans)) == len(got_sans), f"duplicate SAN entries {got_sans}"
    if got_sans:
        assert not exts[ExtensionOID.SUBJECT_ALTERNATIVE_NAME].critical  # the subject is not empty
    aia = exts.get(ExtensionOID.AUTHORITY_INFORMATION_ACCESS)
    assert aia is not None, "no AIA"
    issuers = [d.access_location.value for d in aia.value if d.access_method == AuthorityInformationAccessOID.CA_ISSUERS]
    assert issuers == [f"{base_url}/ca/{h.sub_id}.crt"], issuers
    want_crl = [f"{base_url}/crl/{h.sub_id}.crl"] if crl else None
    assert crl_urls(cert) == want_crl, f"CRL DP {crl_urls(cert)}, want {want_crl}"
    assert cert.signature_algorithm_oid.dotted_string == ia.sig_oid, \
        f"signature {cert.signature_algorithm_oid.dotted_string}, want {ia.sig_oid} ({ia.sign})"
    if a.family != "SM2":
        pub = cert.public_key()
        if a.family == "RSA":
            assert isinstance(pub, rsa.RSAPublicKey) and pub.key_size == a.bits, pub
        else:
            assert isinstance(pub, ec.EllipticCurvePublicKey) and isinstance(pub.curve, a.curve), pub.curve
        cert.verify_directly_issued_by(h.sub)


def check_describe(d: dict, cert: x509.Certificate, h: Hier, *, kind: str, alg: str, identifier: str,
                   days: int | None):
    a = ALGS[alg]
    assert d.get("Identifier") == identifier, d
    assert d.get("ParentIdentifier") == h.sub_id, d
    assert d.get("CertificateType") == kind.upper(), d
    assert d.get("Status") == "ISSUE", d
    cn = [v for k, v in subject_attrs(cert) if k == "CN"][0]
    assert d.get("CommonName") == cn, d
    assert d.get("SubjectDN") == ",".join(f"{k}={v}" for k, v in subject_attrs(cert)), d.get("SubjectDN")
    assert d.get("Algorithm") == a.family and d.get("FullAlgorithm") == alg and d.get("KeySize") == a.bits, \
        (d.get("Algorithm"), d.get("FullAlgorithm"), d.get("KeySize"))
    assert d.get("SignAlgorithm") == ALGS[h.sub_alg].sign, d.get("SignAlgorithm")
    assert int(d.get("SerialNumber"), 16) == cert.serial_number, d.get("SerialNumber")
    raw_der = der(cert)
    assert d.get("Md5") == hashlib.md5(raw_der).hexdigest().upper(), d.get("Md5")
    assert d.get("Sha2") == hashlib.sha256(raw_der).hexdigest().upper(), d.get("Sha2")
    assert d.get("BeforeDate") == ms(cert.not_valid_before_utc) and d.get("AfterDate") == ms(cert.not_valid_after_utc)
    if days is not None:
        assert d.get("Days") == days, d.get("Days")
    assert der(one_cert(d["X509Certificate"])) == raw_der
    assert [der(c) for c in load_pems(d["CertChain"])] == [der(h.sub), der(h.root)], "CertChain != sub + root"
    sans = [x for x in (d.get("Sans") or "").split(",") if x]
    assert sorted(norm_value(x) for x in sans) == sorted(v for _, v in cert_sans(cert)), (d.get("Sans"), cert_sans(cert))


# --------------------------------------------------------------------------
# 1. the algorithm matrix
# --------------------------------------------------------------------------

MATRIX = [(alg, kind, src) for alg in LEAF_ALGS for kind in ("server", "client") for src in ("key", "csr")
          # RSA_4096 is generated by the server once (server/key); its CSR cases share one openssl key
          if not (alg == "RSA_4096" and kind == "client" and src == "key")]


@pytest.mark.parametrize("alg,kind,src", MATRIX, ids=[f"{a}-{k}-{s}" for a, k, s in MATRIX])
def test_issue_matrix(api, cas, keys, server, tmp_path, alg, kind, src):
    h = cas.get(LEAF_HIER[alg])
    action = CREATE[(kind, src)]
    u = uid()
    days = 20 + LEAF_ALGS.index(alg)
    req: dict = dict(parent_identifier=h.sub_id, days=days, immediately=2)
    subject = dict(h.subject_defaults())
    if kind == "server":
        cn = f"{alg.lower().replace('_', '-')}-{u}.example.com"
        extras = [("DNS", f"www-{u}.example.com"), ("IP", "10.20.30.40"), ("IP", "2001:db8::7")]
        req["domain"] = ",".join(v for _, v in extras)
        if src == "key":
            req.update(algorithm=alg, common_name=cn)
            sans = [("DNS", cn)] + extras
        else:
            from_csr = [("DNS", f"csr-alt-{u}.example.com"), ("IP", "192.0.2.5")]
            req.update(csr=keys.csr(alg, cn, f"DNS:csr-alt-{u}.example.com,IP:192.0.2.5"),
                       common_name=f"ignored-{u}.example.com")
            if alg == "RSA_1024":
                req["algorithm"] = "RSA_1024"
            sans = [("DNS", cn)] + from_csr + extras
    else:
        cn = f"Client {alg} {u}"
        if src == "key":
            sans = [("email", f"user-{u}@example.com"), ("email", f"ops-{u}@example.org")]
            req.update(common_name=cn, san_type=1, san_value=",".join(v for _, v in sans), organization="Client Org",
                       organization_unit="Client OU", locality="Shenzhen", state="Guangdong", country="US",
                       alias_name=f"alias {u}")
            subject.update(C="US", ST="Guangdong", L="Shenzhen", O="Client Org", OU="Client OU")
            if alg != h.sub_alg:  # omitted: the sub CA's algorithm
                req["algorithm"] = alg
        else:
            # (pkilint's URI check knows only web schemes: spiffe:/urn: are in test_client_san_types)
            sans = [("email", f"csr-{u}@example.com"), ("URI", f"https://example.org/clients/{u}")]
            req.update(csr=keys.csr(alg, cn, f"email:csr-{u}@example.com"), common_name=f"ignored {u}",
                       san_type=6, san_value=f"https://example.org/clients/{u}")
            if alg == "RSA_1024":
                req["algorithm"] = "RSA_1024"
    subject["CN"] = cn

    t0 = now_utc()
    body = issue(api, action, **req)
    t1 = dt.datetime.now(dt.timezone.utc)
    cert = one_cert(body["X509Certificate"])
    assert int(body["SerialNumber"], 16) == cert.serial_number, (body["SerialNumber"], cert.serial_number)
    assert [der(c) for c in load_pems(body["CertificateChain"])] == [der(h.sub), der(h.root)], \
        "CertificateChain is not sub + root"
    leaf = write(tmp_path, "leaf.pem", body["X509Certificate"])

    check_leaf_profile(cert, h, kind=kind, alg=alg, subject=subject, sans=sans, days=days, t0=t0, t1=t1,
                       base_url=server.base_url)
    verify_chain(h, leaf, "sslserver" if kind == "server" else "sslclient")
    bad = pkilint_findings(h, leaf, f"{alg}-{kind}-{src}")
    assert not bad, "\n".join(bad)

    d = api.cert(body["Identifier"])
    check_describe(d, cert, h, kind=kind, alg=alg, identifier=body["Identifier"], days=days)
    if "alias_name" in req:
        assert d.get("AliasName") == req["alias_name"], d.get("AliasName")

    cert_pub = pubkey_pem(["x509", "-in", str(leaf), "-noout", "-pubkey"])
    if src == "key":
        key = decrypt_key(api, body["Identifier"], tmp_path)
        assert pubkey_pem(["pkey", "-in", str(key), "-pubout"]) == cert_pub, "exported key does not match the cert"
    else:
        csr_path = write(tmp_path, "req.csr", req["csr"])
        assert pubkey_pem(["req", "-in", str(csr_path), "-noout", "-pubkey"]) == cert_pub, "cert key != CSR key"
        api.error("DescribeCertificatePrivateKey", 404, "NotFound.PrivateKey", identifier=body["Identifier"],
                  encrypted_code=PASSWORD)


def test_serial_numbers_unique_and_random(api, cas):
    h = cas.get("ECC_256")
    for _ in range(max(0, 40 - len(issued_of(api)))):
        quick(api, h.sub_id)
    serials = list(issued_of(api).values())
    assert len(set(serials)) == len(serials), "duplicate serial numbers among issued certificates"
    for s in serials:
        assert 9 <= (s.bit_length() + 8) // 8 <= 20, f"serial {s:x}"
    # >= 64 random bits: no fixed high or low 64-bit pattern across certificates
    assert len({s & ((1 << 64) - 1) for s in serials}) == len(serials)
    assert len({s >> max(0, s.bit_length() - 64) for s in serials}) == len(serials)


def test_aia_serves_issuer(api, cas, server):
    h = cas.get("ECC_384")
    body = quick(api, h.sub_id, immediately=1)
    aia = one_cert(body["X509Certificate"]).extensions.get_extension_for_oid(
        ExtensionOID.AUTHORITY_INFORMATION_ACCESS).value
    url = [x.access_location.value for x in aia if x.access_method == AuthorityInformationAccessOID.CA_ISSUERS][0]
    import requests
    s = requests.Session()
    s.trust_env = False
    r = s.get(url, timeout=10)  # no credentials
    assert r.status_code == 200 and r.content == der(h.sub), (url, r.status_code, r.content[:100])


# --------------------------------------------------------------------------
# 2. real TLS handshakes
# --------------------------------------------------------------------------

class SServer:
    def __init__(self, argv: list[str]):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.lines: queue.Queue = queue.Queue()
        self.out: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in iter(self.proc.stdout.readline, b""):
            self.lines.put(line.decode(errors="replace"))

    def wait_for(self, text: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            self.out.append(line)
            if text in line:
                return
        raise AssertionError(f"s_server did not print {text!r}: {''.join(self.out)}")

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        while not self.lines.empty():
            self.out.append(self.lines.get())
        return "".join(self.out)


def tls_round(api, h: Hier, alg: str, tmp: Path):
    u = uid()
    host = f"tls-{u}.example.com"
    srv = issue(api, "CreateServerCertificate", parent_identifier=h.sub_id, algorithm=alg, common_name=host,
                domain="localhost,127.0.0.1", days=7, immediately=1)
    cli = issue(api, "CreateClientCertificate", parent_identifier=h.sub_id, algorithm=alg,
                common_name=f"TLS Client {u}", san_type=1, san_value=f"tls-{u}@example.com", days=7, immediately=1)
    srv_pem, cli_pem = write(tmp, "srv.pem", srv["X509Certificate"]), write(tmp, "cli.pem", cli["X509Certificate"])
    srv_key, cli_key = decrypt_key(api, srv["Identifier"], tmp), decrypt_key(api, cli["Identifier"], tmp)
    port = free_port()
    s = SServer(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(srv_pem), "-key", str(srv_key),
                 "-cert_chain", str(h.sub_pem), "-www", "-Verify", "1", "-verify_return_error",
                 "-CAfile", str(h.root_pem)])
    try:
        s.wait_for("ACCEPT")
        base = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", str(h.root_pem),
                "-verify_return_error", "-servername", host, "-ign_eof"]

        def client(*extra: str) -> tuple[int, str]:
            r = run([*base, *extra], input=b"GET / HTTP/1.0\r\n\r\n", timeout=20)
            return r.returncode, r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")

        rc, out = client("-verify_hostname", host, "-cert", str(cli_pem), "-key", str(cli_key),
                         "-cert_chain", str(h.sub_pem))
        assert rc == 0 and "Verify return code: 0 (ok)" in out, f"s_client rc={rc}:\n{out}"
        assert "HTTP/1.0 200 ok" in out and "Client certificate" in out, f"server did not report a client cert:\n{out}"
        assert f"TLS Client {u}" in out, out
        # the client cert the server reports is ours
        pems = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", out, re.S)
        assert cli["X509Certificate"].strip() in [p.strip() for p in pems] or \
            any(der(one_cert(p)) == der(one_cert(cli["X509Certificate"])) for p in pems), out
        # controls: a wrong host name, and no client certificate, fail
        rc, out = client("-verify_hostname", "wrong.example.org", "-cert", str(cli_pem), "-key", str(cli_key),
                         "-cert_chain", str(h.sub_pem))
        assert rc != 0 or "Verify return code: 0 (ok)" not in out, f"a wrong host name verified:\n{out}"
        rc, out = client("-verify_hostname", host)
        assert "Client certificate" not in out and "HTTP/1.0 200 ok" not in out, f"served without a client cert:\n{out}"
    finally:
        log = s.stop()
    assert "ACCEPT" in log


def test_tls_handshake_ecdsa_p256(api, cas, tmp_path):
    tls_round(api, cas.get("ECC_256"), "ECC_256", tmp_path)


def test_tls_handshake_rsa_2048(api, cas, tmp_path):
    tls_round(api, cas.get("RSA"), "RSA_2048", tmp_path)


# --------------------------------------------------------------------------
# 3. refusals: status, code, and nothing stored
# --------------------------------------------------------------------------

def snapshot(api: IApi, *subs: str) -> tuple:
    """What a refused issuance must leave alone: the certificate lists and the sub CAs' counters."""
    list_cert = IApi(api.server, api.creds, version="2020-04-07")("ListCert")["TotalCount"]
    return (api.total(), list_cert) + tuple(api.counts(s)[:2] for s in subs)


def test_refuse_key_family(api, cas, keys):
    hs = {n: cas.get(n) for n in ("RSA", "ECC_256", "SM2")}
    before = snapshot(api, *(h.sub_id for h in hs.values()))
    for name, h in hs.items():
        fam = ALGS[h.sub_alg].family
        for alg in ALGS:
            if ALGS[alg].family == fam:
                continue
            api.error("CreateServerCertificate", 400, "InvalidParameter.Algorithm",
                      **base_fields("CreateServerCertificate", h.sub_id, alg=alg))
            api.error("CreateClientCertificate", 400, "InvalidParameter.Algorithm",
                      **base_fields("CreateClientCertificate", h.sub_id, algorithm=alg))
        # a CSR with a key of another family
        other = {"RSA": "ECC_256", "ECC": "RSA_2048", "SM2": "ECC_256"}[fam]
        for action in ("CreateServerCertificateWithCsr", "CreateClientCertificateWithCsr"):
            api.error(action, 400, "InvalidParameter.Csr", **base_fields(action, h.sub_id, keys, alg=other))
    # unknown algorithm names
    h = hs["ECC_256"]
    for alg in ("ECC_224", "RSA_512", "XYZ"):
        api.error("CreateServerCertificate", 400, "InvalidParameter.Algorithm",
                  **base_fields("CreateServerCertificate", h.sub_id, alg=alg))
    assert snapshot(api, *(h.sub_id for h in hs.values())) == before, "a refused issuance stored something"


def tamper(csr_pem: str) -> str:
    b64 = "".join(l for l in csr_pem.strip().splitlines() if not l.startswith("-----"))
    d = bytearray(base64.b64decode(b64))
    d[-1] ^= 0x01  # the last byte of the signature
    body = base64.encodebytes(bytes(d)).decode().replace("\n", "")
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE REQUEST-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE REQUEST-----\n"


def test_refuse_csr(api, cas, keys, tmp_path):
    rsa_h, ecc_h = cas.get("RSA"), cas.get("ECC_256")
    before = snapshot(api, rsa_h.sub_id, ecc_h.sub_id)
    r1024 = keys.csr("RSA_1024", "small.example.com")
    good = keys.csr("ECC_256", "tampered.example.com")
    bad_sig = tamper(good)
    # control: the tampered CSR still parses, only its signature fails
    p = write(tmp_path, "bad.csr", bad_sig)
    openssl_ok(["req", "-in", str(p), "-noout", "-subject"])
    r = run(["openssl", "req", "-in", str(p), "-noout", "-verify"])
    assert b"verify failure" in r.stdout + r.stderr, r  # (openssl 3.0 exits 0 here)
    garbage = ["garbage", "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
               ecc_h.sub_pem.read_text()]
    # keys outside the API's algorithms: Ed25519, P-224, RSA-512 (even with Algorithm=RSA_1024)
    odd = {}
    for name, gen in (("ed25519", ["-algorithm", "ED25519"]), ("p224", ["-algorithm", "EC", "-pkeyopt",
                                                                       "ec_paramgen_curve:P-224"]),
                      ("rsa512", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:512"])):
        k = tmp_path / f"{name}.key"
        openssl_ok(["genpkey", *gen, "-out", str(k)])
        openssl_ok(["req", "-new", "-key", str(k), "-subj", f"/CN={name}.example.com", "-out", str(k) + ".csr"])
        odd[name] = Path(str(k) + ".csr").read_text()
    for action in ("CreateServerCertificateWithCsr", "CreateClientCertificateWithCsr"):
        for alg in (None, "RSA_2048"):
            api.error(action, 400, "InvalidParameter.Csr", parent_identifier=rsa_h.sub_id, csr=r1024, days=30,
                      **({"algorithm": alg} if alg else {}))
        api.error(action, 400, "InvalidParameter.Csr", parent_identifier=ecc_h.sub_id, csr=bad_sig, days=30)
        for g in garbage:
            api.error(action, 400, "InvalidParameter.Csr", parent_identifier=ecc_h.sub_id, csr=g, days=30)
        api.error(action, 400, "InvalidParameter.Csr", parent_identifier=ecc_h.sub_id, csr=odd["ed25519"], days=30)
        api.error(action, 400, "InvalidParameter.Csr", parent_identifier=ecc_h.sub_id, csr=odd["p224"], days=30)
        api.error(action, 400, "InvalidParameter.Csr", parent_identifier=rsa_h.sub_id, csr=odd["rsa512"], days=30,
                  algorithm="RSA_1024")
        api.error(action, 400, "MissingParameter.Csr", parent_identifier=ecc_h.sub_id, days=30)
    assert snapshot(api, rsa_h.sub_id, ecc_h.sub_id) == before, "a refused issuance stored something"
    # controls: the untampered CSR and the 1024-bit one with Algorithm=RSA_1024 are accepted
    quick(api, ecc_h.sub_id, "CreateServerCertificateWithCsr", csr=good, keys=keys)
    quick(api, rsa_h.sub_id, "CreateClientCertificateWithCsr", csr=r1024, algorithm="RSA_1024", keys=keys)


def test_refuse_parent(api, cas, keys):
    h = cas.get("ECC_256")
    dis = api.sub(h.root_id, "ECC_256", common_name="Disabled issuing sub")["Identifier"]
    rev = api.sub(h.root_id, "ECC_256", common_name="Revoked issuing sub")["Identifier"]
    api("UpdateCACertificateStatus", identifier=dis, status="FORBIDDEN")
    api("UpdateCACertificateStatus", identifier=rev, status="REVOKE")
    before = snapshot(api, h.sub_id, dis, rev)
    root_before = api.counts(h.root_id)
    for action in ALL_CREATES:
        f = base_fields(action, h.sub_id, keys)
        api.error(action, 400, "InvalidParameter.ParentIdentifier", **dict(f, parent_identifier=h.root_id))
        api.error(action, 404, "NotFound.CACertificate", **dict(f, parent_identifier=uuid.uuid4().hex))
        api.error(action, 400, "InvalidStatus.CACertificate", **dict(f, parent_identifier=dis))
        api.error(action, 400, "InvalidStatus.CACertificate", **dict(f, parent_identifier=rev))
        api.error(action, 400, "MissingParameter.ParentIdentifier",
                  **{k: v for k, v in f.items() if k != "parent_identifier"})
    f = base_fields("CreateServerCertificate", h.sub_id)
    api.error("CreateServerCertificate", 400, "MissingParameter.Algorithm", **dict(f, algorithm=None))
    api.error("CreateServerCertificate", 400, "MissingParameter.CommonName", **dict(f, common_name=None))
    assert snapshot(api, h.sub_id, dis, rev) == before, "a refused issuance stored something"
    assert api.counts(h.root_id) == root_before
    # re-enabled, the disabled sub CA issues again
    api("UpdateCACertificateStatus", identifier=dis, status="ISSUE")
    quick(api, dis)
    assert api.counts(dis)[0] == before[3][0] + 1


def test_refuse_validity(api, cas):
    h = cas.get("ECC_256")
    short = api.sub(h.root_id, "ECC_256", common_name="Short-lived policy sub", cert_max_time=30)["Identifier"]
    before = snapshot(api, h.sub_id, short)
    now = int(time.time())
    sub_end = int(h.sub.not_valid_after_utc.timestamp())
    left = (sub_end - now) // 86400
    for action in ("CreateServerCertificate", "CreateClientCertificate"):
        f = base_fields(action, h.sub_id)
        del f["days"]
        E = lambda code, **v: api.error(action, 400, code, **f, **v)  # noqa: E731
        E("InvalidParameter.Days", days=left + 2)
        E("InvalidParameter.Days", years=6)
        E("InvalidParameter.Days", months=61)
        E("InvalidParameter.Days", before_time=now, after_time=sub_end + 1)
        E("InvalidParameter.Days", days=0)
        E("InvalidParameter.Days", days=-5)
        E("InvalidParameter.AfterTime", before_time=now)
        E(("InvalidParameter.BeforeTime", "InvalidParameter.AfterTime", "MissingParameter.BeforeTime"),
          after_time=now + 86400)
        E("MissingParameter.Days")
        E(("InvalidParameter.AfterTime", "InvalidParameter.BeforeTime", "InvalidParameter.Days"),
          before_time=now + 86400, after_time=now)  # reversed
        E("InvalidParameter.AfterTime", before_time=now - 3 * 86400, after_time=now - 86400)  # already expired
        # the sub CA's CertMaxTime
        g = dict(f, parent_identifier=short)
        api.error(action, 400, "InvalidParameter.Days", **g, days=31)
        api.error(action, 400, "InvalidParameter.Days", **g, years=1)
        api.error(action, 400, "InvalidParameter.Days", **g, before_time=now, after_time=now + 31 * 86400)
    assert snapshot(api, h.sub_id, short) == before, "a refused issuance stored something"
    # the limits themselves are accepted
    ok = quick(api, short, days=30, immediately=1)
    c = one_cert(ok["X509Certificate"])
    assert c.not_valid_after_utc - c.not_valid_before_utc == dt.timedelta(days=30)
    ok = quick(api, h.sub_id, days=None, before_time=now, after_time=sub_end, immediately=1)
    assert one_cert(ok["X509Certificate"]).not_valid_after_utc == h.sub.not_valid_after_utc


SAN_OK = {1: ["alice@example.com", "bob.smith+tag@mail.example.org"],
          2: ["api.example.com", "*.wild.example.com", "xn--bcher-kva.example"],
          6: ["https://example.com/path?q=1", "spiffe://trust.example/ns/default/sa/web"],
          7: ["192.0.2.10", "2001:db8::1"]}
SAN_BAD = {1: ["not-an-email", "a@@example.com", "@example.com", "user@"],
           2: ["bad host.example.com", "-lead.example.com", "under_score..example.com", "exa$mple.com"],
           6: ["no scheme", "http//missing-colon"],
           7: ["256.1.1.1", "10.0.0", "2001:db8::g", "example.com"]}
SAN_KINDS = {1: "email", 2: "DNS", 6: "URI", 7: "IP"}


def test_client_san_types(api, cas):
    h = cas.get("ECC_256")
    for t, values in SAN_OK.items():
        body = quick(api, h.sub_id, "CreateClientCertificate", san_type=t, san_value=",".join(values), immediately=1,
                     common_name=f"SAN type {t}")
        want = [norm_san(SAN_KINDS[t], v) for v in values]
        assert sorted(cert_sans(one_cert(body["X509Certificate"]))) == sorted(want), (t, cert_sans(one_cert(body["X509Certificate"])))


def test_server_common_name_in_san(api, cas, tmp_path):
    """The CN joins the SAN when it is a DNS name or an IP address, once."""
    h = cas.get("ECC_256")
    cases = [
        ("10.9.8.7", "a.example.com", [("IP", "10.9.8.7"), ("DNS", "a.example.com")]),
        ("2001:db8::42", None, [("IP", "2001:db8::42")]),
        ("*.wild.example.com", "wild.example.com", [("DNS", "*.wild.example.com"), ("DNS", "wild.example.com")]),
        ("Internal Service", "svc.example.com,10.1.1.1", [("DNS", "svc.example.com"), ("IP", "10.1.1.1")]),
        ("dup.example.com", "dup.example.com,other.example.com,other.example.com",
         [("DNS", "dup.example.com"), ("DNS", "other.example.com")]),
    ]
    for cn, domain, want in cases:
        body = quick(api, h.sub_id, common_name=cn, domain=domain, immediately=1)
        cert = one_cert(body["X509Certificate"])
        got = cert_sans(cert)
        assert sorted(got) == sorted(norm_san(k, v) for k, v in want), (cn, domain, got)
        assert len(set(got)) == len(got), f"duplicate SAN entries for CN={cn} Domain={domain}: {got}"
        assert [v for k, v in subject_attrs(cert) if k == "CN"] == [cn]
        # openssl agrees the certificate is for that name
        p = write(tmp_path, "cn.pem", body["X509Certificate"])
        k, v = want[0]
        flag = "-verify_ip" if k == "IP" else "-verify_hostname"
        name = v.replace("*", "x") if k == "DNS" else v
        openssl_ok(["verify", "-x509_strict", "-purpose", "sslserver", flag, name, "-CAfile", str(h.root_pem),
                    "-untrusted", str(h.sub_pem), str(p)])
        bad = run(["openssl", "verify", "-purpose", "sslserver", "-verify_hostname", "not-listed.example.net",
                   "-CAfile", str(h.root_pem), "-untrusted", str(h.sub_pem), str(p)])
        assert bad.returncode != 0, f"{cn}: verified for a host name it does not carry"


def test_client_san_uri_without_authority(api, cas):
    h = cas.get("ECC_256")
    values = ["urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66", "mailto:someone@example.com"]
    body = quick(api, h.sub_id, "CreateClientCertificate", san_type=6, san_value=",".join(values), immediately=1)
    assert sorted(cert_sans(one_cert(body["X509Certificate"]))) == sorted(("URI", v) for v in values)


def test_refuse_sans_and_subject(api, cas, keys):
    h = cas.get("ECC_256")
    before = snapshot(api, h.sub_id)
    for action in ("CreateClientCertificate", "CreateClientCertificateWithCsr"):
        f = base_fields(action, h.sub_id, keys)
        for t, values in SAN_BAD.items():
            for v in values:
                api.error(action, 400, "InvalidParameter.SanValue", **f, san_type=t, san_value=v)
            # one bad value among good ones
            api.error(action, 400, "InvalidParameter.SanValue", **f, san_type=t,
                      san_value=",".join(SAN_OK[t][:1] + values[:1]))
        for t in (0, 3, 4, 5, 8):
            api.error(action, 400, "InvalidParameter.SanType", **f, san_type=t, san_value="x@example.com")
    for action in ("CreateServerCertificate", "CreateServerCertificateWithCsr"):
        f = base_fields(action, h.sub_id, keys)
        for d in ("bad host.example.com", "ok.example.com,exa$mple.com", "-x.example.com", "a..b.example.com"):
            api.error(action, 400, "InvalidParameter.Domain", **f, domain=d)
    for action in ALL_CREATES:
        f = base_fields(action, h.sub_id, keys)
        for cc in ("XX", "China", "cn1"):
            api.error(action, 400, "InvalidParameter.Country", **f, country=cc)
    assert snapshot(api, h.sub_id) == before, "a refused issuance stored something"


# --------------------------------------------------------------------------
# quotas
# --------------------------------------------------------------------------

def test_quota_assigned_exhausted(api, cas, keys):
    h = cas.get("ECC_256")
    sid = api.sub(h.root_id, "ECC_256", common_name="Quota sub")["Identifier"]
    issued0, remaining0, total0 = api.counts(sid)
    assert (issued0, remaining0) == (0, total0), api.describe(sid)
    token = "quota-" + uuid.uuid4().hex
    replay = base_fields("CreateClientCertificate", sid, client_token=token, immediately=1)
    first = issue(api, "CreateClientCertificate", **replay)
    assert api.counts(sid)[:2] == (1, total0 - 1)
    quick(api, sid, "CreateServerCertificate")
    assert api.counts(sid)[:2] == (2, total0 - 2)
    api("AssignCertificateCount", ca_identifier=sid, cert_total_count=2)
    assert api.counts(sid) == (2, 0, 2)
    n = api.total()
    for action in ALL_CREATES:
        api.error(action, 400, "QuotaExceeded.CertificateCount", **base_fields(action, sid, keys))
    wh = IApi(api.server, version="2020-04-07")
    wh.error("CreateWHClientCertificate", 400, "QuotaExceeded.CertificateCount", parent_identifier=sid,
             common_name="wh quota", days=30)
    assert api.counts(sid) == (2, 0, 2) and api.total() == n, "a refused issuance stored something"
    # a ClientToken replay is not a new issuance
    again = api("CreateClientCertificate", **replay)
    assert again["Identifier"] == first["Identifier"], "a ClientToken replay was refused / re-issued"
    api("AssignCertificateCount", ca_identifier=sid, cert_total_count=3)
    quick(api, sid, "CreateServerCertificateWithCsr", keys=keys)
    assert api.counts(sid) == (3, 0, 3)
    api.error("CreateServerCertificate", 400, "QuotaExceeded.CertificateCount", **base_fields("CreateServerCertificate", sid))


def test_quota_from_config(server_factory, tmp_path):
    srv = server_factory(dict(DEFAULT_TEST_CONFIG, ca={"sub_ca_initial_quota": 2}), name="quota2")
    a = IApi(srv)
    rid = a.root("ECC_256")["Identifier"]
    sid = a.sub(rid, "ECC_256")["Identifier"]
    assert a.counts(sid) == (0, 2, 2)
    quick(a, sid)
    assert a.counts(sid) == (1, 1, 2)
    quick(a, sid, "CreateClientCertificate")
    assert a.counts(sid) == (2, 0, 2)
    a.error("CreateServerCertificate", 400, "QuotaExceeded.CertificateCount", **base_fields("CreateServerCertificate", sid))
    a.error("CreateClientCertificate", 400, "QuotaExceeded.CertificateCount", **base_fields("CreateClientCertificate", sid))
    assert a.counts(sid) == (2, 0, 2) and a.total() == 2


# --------------------------------------------------------------------------
# 4. idempotency
# --------------------------------------------------------------------------

def test_client_token(api, cas):
    h = cas.get("ECC_256")
    token = "ct-" + uuid.uuid4().hex
    n0, c0 = api.total(), api.counts(h.sub_id)
    f = base_fields("CreateClientCertificate", h.sub_id, client_token=token, immediately=1, san_type=1,
                    san_value="token@example.com")
    a = issue(api, "CreateClientCertificate", **f)
    b = issue(api, "CreateClientCertificate", **f)
    assert b["Identifier"] == a["Identifier"] and b["X509Certificate"] == a["X509Certificate"], "ClientToken replay re-issued"
    assert api.total() == n0 + 1 and api.counts(h.sub_id)[0] == c0[0] + 1
    c = issue(api, "CreateClientCertificate", **dict(f, client_token="ct-" + uuid.uuid4().hex))
    assert c["Identifier"] != a["Identifier"]
    assert api.total() == n0 + 2 and api.counts(h.sub_id)[0] == c0[0] + 2


def test_custom_identifier(api, cas, keys):
    h = cas.get("ECC_256")
    n0 = api.total()
    for action in ALL_CREATES:
        custom = f"custom-{uid()}"
        f = base_fields(action, h.sub_id, keys, custom_identifier=custom, immediately=1)
        a = issue(api, action, **f)
        b = issue(api, action, **f)
        assert b["Identifier"] == a["Identifier"] and b["X509Certificate"] == a["X509Certificate"], \
            f"{action}: CustomIdentifier repeat made a new certificate"
        assert api.cert(a["Identifier"]).get("CustomIdentifier") == custom
    assert api.total() == n0 + len(ALL_CREATES)


def test_concurrent_repeats(server, api, cas):
    h = cas.get("ECC_256")
    n0, c0 = api.total(), api.counts(h.sub_id)[0]
    token, custom = "conc-" + uuid.uuid4().hex, "conc-" + uid()

    f_token = base_fields("CreateClientCertificate", h.sub_id, client_token=token)
    f_custom = base_fields("CreateServerCertificate", h.sub_id, custom_identifier=custom)

    def by_token(_):
        return IApi(server)("CreateClientCertificate", **f_token)["Identifier"]

    def by_custom(_):
        return IApi(server)("CreateServerCertificate", **f_custom)["Identifier"]

    for fn, what in ((by_token, "ClientToken"), (by_custom, "CustomIdentifier")):
        with ThreadPoolExecutor(6) as ex:
            ids = list(ex.map(fn, range(6)))
        assert len(set(ids)) == 1, f"6 concurrent repeats of one {what} made {len(set(ids))} certificates"
    assert api.total() == n0 + 2 and api.counts(h.sub_id)[0] == c0 + 2


# --------------------------------------------------------------------------
# 5. response shapes
# --------------------------------------------------------------------------

WIRE = {"parent_identifier": "ParentIdentifier", "algorithm": "Algorithm", "common_name": "CommonName", "days": "Days",
        "csr": "Csr", "immediately": "Immediately", "asynchronous_flag": "AsynchronousFlag"}


def test_response_shapes(server, creds, api, cas, keys):
    h = cas.get("ECC_256")
    chain = [der(h.sub), der(h.root)]
    for action in ALL_CREATES:
        for imm, async_, want in ((None, None, set()), (0, None, set()), (1, None, {"X509Certificate"}),
                                  (2, None, {"X509Certificate", "CertificateChain"}), (2, True, set()),
                                  (1, False, {"X509Certificate"})):
            f = base_fields(action, h.sub_id, keys, immediately=imm, asynchronous_flag=async_)
            q = {WIRE[k]: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in f.items()}
            body = assert_ok(v3_request(server, creds, action, V_2020_06, q))
            assert set(body) == {"RequestId", "Identifier", "SerialNumber"} | want, \
                f"{action} Immediately={imm} AsynchronousFlag={async_}: keys {sorted(body)}"
            d = api.cert(body["Identifier"])  # the certificate is there afterwards in every case
            assert d["Status"] == "ISSUE" and d["SerialNumber"] == body["SerialNumber"]
            c = one_cert(d["X509Certificate"])
            assert int(body["SerialNumber"], 16) == c.serial_number
            if "X509Certificate" in body:
                assert der(one_cert(body["X509Certificate"])) == der(c)
            if "CertificateChain" in body:
                assert [der(x) for x in load_pems(body["CertificateChain"])] == chain
            issued_of(api)[body["Identifier"]] = c.serial_number


def test_wh_client_certificate(api, api04, cas, keys, tmp_path):
    h = cas.get("RSA")
    n0 = api.total()
    for src in ("key", "csr"):
        u = uid()
        f = dict(parent_identifier=h.sub_id, common_name=f"WH client {u}", san_type=1, san_value=f"wh-{u}@example.com",
                 days=40, immediately=2)
        if src == "csr":
            f["csr"] = keys.csr("RSA_2048", f"WH CSR {u}")
        else:
            f["algorithm"] = "RSA_2048"
        body = api04("CreateWHClientCertificate", **f)
        assert HEX32.fullmatch(body.get("Identifier") or ""), body
        for k in ("X509Certificate", "CertificateChain", "ParentX509Certificate", "RootX509Certificate"):
            assert "BEGIN CERTIFICATE" in (body.get(k) or ""), (k, body.get(k))
        cert = one_cert(body["X509Certificate"])
        issued_of(api)[body["Identifier"]] = cert.serial_number
        assert der(one_cert(body["ParentX509Certificate"])) == der(h.sub)
        assert der(one_cert(body["RootX509Certificate"])) == der(h.root)
        assert [der(x) for x in load_pems(body["CertificateChain"])] == [der(h.sub), der(h.root)]
        assert eku(cert) == [ExtendedKeyUsageOID.CLIENT_AUTH]
        assert cert_sans(cert) == [("email", f"wh-{u}@example.com")]
        assert cert.not_valid_after_utc - cert.not_valid_before_utc == dt.timedelta(days=40)
        verify_chain(h, write(tmp_path, f"wh-{src}.pem", body["X509Certificate"]), "sslclient")
        d = api.cert(body["Identifier"])
        assert d["CertificateType"] == "CLIENT" and d["CommonName"] == (f"WH CSR {u}" if src == "csr" else f"WH client {u}")
    assert api.total() == n0 + 2


# --------------------------------------------------------------------------
# 6. validity
# --------------------------------------------------------------------------

def validity(api, parent: str, **v) -> tuple[dt.datetime, dt.datetime, dt.datetime, dt.datetime, dict]:
    t0 = now_utc()
    body = quick(api, parent, "CreateClientCertificate", **{"days": None, "immediately": 1, **v})
    t1 = dt.datetime.now(dt.timezone.utc)
    c = one_cert(body["X509Certificate"])
    d = api.cert(body["Identifier"])
    assert d["BeforeDate"] == ms(c.not_valid_before_utc) and d["AfterDate"] == ms(c.not_valid_after_utc), d
    return c.not_valid_before_utc, c.not_valid_after_utc, t0, t1, d


def near(t: dt.datetime, t0: dt.datetime, t1: dt.datetime) -> bool:
    return t0 - dt.timedelta(seconds=2) <= t <= t1 + dt.timedelta(seconds=2)


def test_validity(api, cas):
    h = cas.get("ECC_256")
    nb, na, t0, t1, d = validity(api, h.sub_id, days=397)
    assert near(nb, t0, t1) and na - nb == dt.timedelta(days=397) and d["Days"] == 397, (nb, na, d["Days"])
    # BeforeTime + AfterTime: exactly those instants
    before = int(time.time()) + 3600
    after = before + 10 * 86400 + 12345
    nb, na, *_ = validity(api, h.sub_id, before_time=before, after_time=after)
    assert (int(nb.timestamp()), int(na.timestamp())) == (before, after), (nb, na)
    # Years / Months: calendar arithmetic from now
    nb, na, t0, t1, _ = validity(api, h.sub_id, years=1)
    assert near(nb, t0, t1) and na == add_years(nb, 1), (nb, na)
    nb, na, t0, t1, _ = validity(api, h.sub_id, months=3)
    assert near(nb, t0, t1) and na == add_months(nb, 3), (nb, na)
    # Days wins over the others
    nb, na, t0, t1, d = validity(api, h.sub_id, days=5, years=2)
    assert near(nb, t0, t1) and na - nb == dt.timedelta(days=5), (nb, na)
    nb, na, *_ = validity(api, h.sub_id, days=5, months=7, before_time=before, after_time=after)
    assert na - nb == dt.timedelta(days=5), f"Days=5 with BeforeTime/AfterTime/Months gave {na - nb}"
    assert int(nb.timestamp()) == before or near(nb, t0, dt.datetime.now(dt.timezone.utc)), nb
    # up to the sub CA's end is fine, beyond is refused (test_refuse_validity)
    left = int((h.sub.not_valid_after_utc - dt.datetime.now(dt.timezone.utc)).total_seconds()) // 86400
    nb, na, *_ = validity(api, h.sub_id, days=left - 1)
    assert na <= h.sub.not_valid_after_utc
    api.error("CreateClientCertificate", 400, "InvalidParameter.Days",
              **base_fields("CreateClientCertificate", h.sub_id, days=left + 2))


# --------------------------------------------------------------------------
# reads
# --------------------------------------------------------------------------

def walk_list(api: IApi, size: int, **filters) -> tuple[list[dict], int]:
    items, page, total = [], 1, None
    while True:
        body = api("ListClientCertificate", current_page=page, show_size=size, **filters)
        total = body["TotalCount"] if total is None else total
        assert body["TotalCount"] == total, "TotalCount changed while paging"
        assert body.get("PageCount") == math.ceil(total / size), (body.get("PageCount"), total, size)
        assert body.get("CurrentPage") == page and body.get("ShowSize") == size, body
        lst = body.get("CertificateList") or []
        want = min(size, max(0, total - (page - 1) * size))
        assert len(lst) == want, (page, len(lst), want)
        items += lst
        if page >= max(1, body["PageCount"]):
            break
        page += 1
    return items, total


def test_reads(api, api04, cas, keys, tmp_path):
    h = cas.get("ECC_256")
    rg = "rg-" + uid()
    mine = [quick(api, h.sub_id, "CreateServerCertificate", resource_group_id=rg, tags=[("env", "qa"), ("k", "v")],
                  domain="reads.example.com"),
            quick(api, h.sub_id, "CreateClientCertificate", resource_group_id=rg, alias_name="reads alias",
                  san_type=2, san_value="c.example.com"),
            quick(api, h.sub_id, "CreateClientCertificateWithCsr", keys=keys, resource_group_id=rg)]
    ids = [m["Identifier"] for m in mine]
    serials = [m["SerialNumber"] for m in mine]
    d0 = api.cert(ids[0])
    assert sorted((t["TagKey"], t["TagValue"]) for t in d0.get("Tags") or []) == [("env", "qa"), ("k", "v")], d0.get("Tags")
    assert d0.get("ResourceGroupId") == rg
    assert api.cert(ids[1]).get("AliasName") == "reads alias"

    # ListClientCertificate: paging over everything, default page size, filters
    total = api.total()
    items, listed = walk_list(api, 7)
    got = [x["Identifier"] for x in items]
    assert listed == total and len(got) == total == len(set(got)), (listed, total, len(got))
    known = set(issued_of(api))
    assert known <= set(got), f"issued certificates missing from the list: {sorted(known - set(got))[:5]}"
    first = api("ListClientCertificate")
    assert first.get("ShowSize") == 20 and first.get("CurrentPage") == 1 and len(first["CertificateList"]) == min(20, total)
    one = api("ListClientCertificate", identifier=ids[1])
    assert one["TotalCount"] == 1 and [x["Identifier"] for x in one["CertificateList"]] == [ids[1]], one
    item = one["CertificateList"][0]
    d1 = api.cert(ids[1])
    for k in ("Identifier", "ParentIdentifier", "CertificateType", "Status", "CommonName", "SubjectDN", "Sans",
              "SerialNumber", "Md5", "Sha2", "BeforeDate", "AfterDate", "X509Certificate", "AliasName", "KeySize"):
        assert item.get(k) == d1.get(k), (k, item.get(k), d1.get(k))
    by_rg, n_rg = walk_list(api, 2, resource_group_id=rg)
    assert n_rg == 3 and sorted(x["Identifier"] for x in by_rg) == sorted(ids), by_rg
    assert api.total(identifier=uuid.uuid4().hex) == 0

    # by serial number
    body = api("DescribeClientCertificateForSerialNumber", serial_number=",".join(serials[:2] + ["abcdef0123"]))
    lst = body.get("CertificateList") or []
    assert sorted(x["Identifier"] for x in lst) == sorted(ids[:2]), lst
    for x in lst:
        assert x["SerialNumber"] in serials and x["Status"] == "ISSUE", x

    # status
    st = api("DescribeClientCertificateStatus", identifier=",".join(ids))["CertificateStatus"]
    assert sorted((x["SerialNumber"], x["Status"]) for x in st) == sorted((s, "good") for s in serials), st
    ghost = "0123456789abcdef0123"
    st = api("DescribeClientCertificateStatusForSerialNumber", serial_number=f"{serials[0]},{ghost}")["CertificateStatus"]
    assert sorted((x["SerialNumber"], x["Status"]) for x in st) == sorted([(serials[0], "good"), (ghost, "unknown")]), st

    # ListCert (2020-04-07) sees them as CERT / aliyun / ISSUE
    seen, page = {}, 1
    while True:
        body = api04("ListCert", current_page=page, show_size=50)
        for x in body.get("CertList") or []:
            seen[x["Identifier"]] = x
        if page * 50 >= body["TotalCount"]:
            break
        page += 1
    for i, m in zip(ids, mine):
        x = seen.get(i)
        assert x is not None, f"{i} missing from ListCert"
        d = api.cert(i)
        assert (x.get("CertType"), x.get("SourceType"), x.get("Status")) == ("CERT", "aliyun", "ISSUE"), x
        assert x.get("CommonName") == d["CommonName"] and x.get("Sans") == d["Sans"], (x, d["Sans"])
        assert x.get("SerialNo") == m["SerialNumber"], x

    # deletion needs revocation first; reads of unknown identifiers
    for i in ids:
        api.error("DeleteClientCertificate", 400, "InvalidStatus.Certificate", identifier=i)
        assert api.cert(i)["Status"] == "ISSUE"
    ghost_id = uuid.uuid4().hex
    api.error("DeleteClientCertificate", 404, "NotFound.Certificate", identifier=ghost_id)
    api.error("DescribeClientCertificate", 404, "NotFound.Certificate", identifier=ghost_id)
    api.error("DescribeCertificatePrivateKey", 404, "NotFound.Certificate", identifier=ghost_id, encrypted_code=PASSWORD)
    # EncryptedCode rules
    for code in ("has space", "x" * 33, "slash/", "中文", "quote'"):
        api.error("DescribeCertificatePrivateKey", 400, "InvalidParameter.EncryptedCode", identifier=ids[0],
                  encrypted_code=code)
    for code in ("A", "Zz9,.+-_#" * 3 + "abcde"):  # 1 and 32 characters
        assert len(code) in (1, 32)
        decrypt_key(api, ids[0], tmp_path, password=code)
    assert api.total() == total


# --------------------------------------------------------------------------
# 7. isolation
# --------------------------------------------------------------------------

def test_isolation(server, api, cas, keys):
    h = cas.get("ECC_256")
    custom = "iso-" + uid()
    mine = quick(api, h.sub_id, "CreateServerCertificate", custom_identifier=custom)
    known = issued_of(api)
    ids = sorted(known)
    serials = [format(known[i], "x") for i in ids]
    n_before, counts_before = api.total(), api.counts(h.sub_id)
    sample = api.cert(mine["Identifier"])

    other = IApi(server, server.create_account("issuance-isolation"))
    other04 = IApi(server, other.creds, version="2020-04-07")
    assert other.total() == 0 and (other04("ListCert").get("CertList") or []) == []
    nf = "NotFound.Certificate"
    for i in ids:
        other.error("DescribeClientCertificate", 404, nf, identifier=i)
        other.error("DescribeCertificatePrivateKey", 404, nf, identifier=i, encrypted_code=PASSWORD)
        other.error("DeleteClientCertificate", 404, nf, identifier=i)
        assert other.total(identifier=i) == 0
    for chunk in range(0, len(ids), 50):
        part = ids[chunk:chunk + 50]
        st = other("DescribeClientCertificateStatus", identifier=",".join(part)).get("CertificateStatus") or []
        assert all(x.get("Status") == "unknown" for x in st), f"status of another account's certificates: {st[:3]}"
        sp = serials[chunk:chunk + 50]
        lst = other("DescribeClientCertificateForSerialNumber", serial_number=",".join(sp)).get("CertificateList") or []
        assert lst == [], f"another account's certificates by serial: {lst[:2]}"
        st = other("DescribeClientCertificateStatusForSerialNumber", serial_number=",".join(sp))["CertificateStatus"]
        assert {x["Status"] for x in st} == {"unknown"}, st[:3]
    ca_nf = "NotFound.CACertificate"
    for action in ALL_CREATES:
        other.error(action, 404, ca_nf, **base_fields(action, h.sub_id, keys))
    other04.error("CreateWHClientCertificate", 404, ca_nf, parent_identifier=h.sub_id, common_name="iso", days=30)
    other.error("DescribeCACertificate", 404, ca_nf, identifier=h.sub_id)
    # CustomIdentifier and ClientToken are per account
    ro = other.root("ECC_256")["Identifier"]
    so = other.sub(ro, "ECC_256")["Identifier"]
    theirs = quick(other, so, "CreateServerCertificate", custom_identifier=custom)
    assert theirs["Identifier"] != mine["Identifier"]
    api.error("DescribeClientCertificate", 404, nf, identifier=theirs["Identifier"])
    assert other.total() == 1
    # nothing of the first account changed
    assert api.total() == n_before and api.counts(h.sub_id) == counts_before
    assert api.cert(mine["Identifier"]) == sample


# --------------------------------------------------------------------------
# 8. CRL distribution points
# --------------------------------------------------------------------------

def test_crl_distribution_point(api, cas, server, tmp_path, keys):
    crl_h, no_crl_h = cas.get("ECC_256"), cas.get("ECC_384")
    assert crl_h.sub_desc.get("CrlStatus") == "ENABLE" and no_crl_h.sub_desc.get("CrlStatus") == "DISABLE", \
        (crl_h.sub_desc.get("CrlStatus"), no_crl_h.sub_desc.get("CrlStatus"))
    want = f"{server.base_url}/crl/{crl_h.sub_id}.crl"
    for h, flag, expect in ((crl_h, 1, True), (crl_h, 0, False), (crl_h, None, False),
                            (no_crl_h, 1, False), (no_crl_h, 0, False)):
        for action in ("CreateServerCertificate", "CreateServerCertificateWithCsr", "CreateClientCertificate"):
            body = quick(api, h.sub_id, action, keys=keys, enable_crl=flag, immediately=1)
            p = write(tmp_path, "c.pem", body["X509Certificate"])
            text = openssl_ok(["x509", "-in", str(p), "-noout", "-text"])
            has = "X509v3 CRL Distribution Points" in text
            assert has == expect, f"{h.name} EnableCrl={flag} {action}: CRL DP present={has}\n{text}"
            if expect:
                assert crl_urls(one_cert(body["X509Certificate"])) == [want], crl_urls(one_cert(body["X509Certificate"]))
                assert f"URI:{want}" in text
