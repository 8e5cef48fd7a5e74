"""Private CA hierarchy (API 2020-06-30) through the official SDK: root and sub CAs for
every key algorithm, their X.509 profile (checked with `cryptography`, `openssl` and
pkilint), Describe/List/Count/Log reads, ClientToken idempotency, every refusal rule,
per-account isolation, status lifecycle, certificate quotas, the public AIA endpoint and
persistence across a restart."""
from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import math
import re
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, ExtensionOID, NameOID

from opencas_testlib import DEFAULT_TEST_CONFIG, cas20200630, free_port, postgres_server_url, raw, requires_sqlite_file

# --------------------------------------------------------------------------
# the SDK, wrapped so every response is checked for private key material
# --------------------------------------------------------------------------

METHODS = {
    "CreateRootCACertificate": "create_root_cacertificate",
    "CreateSubCACertificate": "create_sub_cacertificate",
    "DescribeCACertificate": "describe_cacertificate",
    "DescribeCACertificateList": "describe_cacertificate_list",
    "DescribeCACertificateCount": "describe_cacertificate_count",
    "ListPcaCaCertificate": "list_pca_ca_certificate",
    "DescribePcaAndExternalCACertificateList": "describe_pca_and_external_cacertificate_list",
    "GetCAInstanceStatus": "get_cainstance_status",
    "ListCACertificateLog": "list_cacertificate_log",
    "UpdateCACertificateStatus": "update_cacertificate_status",
    "UpdatePcaCertificate": "update_pca_certificate",
    "AssignCertificateCount": "assign_certificate_count",
}

KEY_LEAK_RE = re.compile(r"PRIVATE KEY|PrivateKey|\"Key(Pem|Der)\"", re.I)

SMALL_QUOTA_CONFIG = dict(DEFAULT_TEST_CONFIG, ca={"root_certificate_quota": 100, "sub_ca_initial_quota": 30})


def no_private_key(text: str, where: str):
    m = KEY_LEAK_RE.search(text)
    assert m is None, f"{where}: response contains {m.group(0)!r}: {text[:2000]}"


class Api:
    """The 2020-06-30 SDK client of one account; calls return the decoded body."""

    def __init__(self, server, creds=None):
        self.server = server
        self.creds = creds or server.creds
        self.client = cas20200630(server, self.creds)

    def __call__(self, action: str, **fields) -> dict:
        from alibabacloud_cas20200630 import models
        method = getattr(self.client, METHODS[action])
        if fields.get("tags") is not None:
            cls = getattr(models, f"{action}RequestTags")
            fields["tags"] = [cls(key=k, value=v) for k, v in fields["tags"]]
        if action == "DescribeCACertificateCount":
            assert not fields
            resp = method()
        else:
            resp = method(getattr(models, f"{action}Request")(**fields))
        assert resp.status_code == 200, (action, resp.status_code)
        body = resp.body.to_map()
        no_private_key(json.dumps(body, ensure_ascii=False), action)
        assert isinstance(body.get("RequestId"), str) and body["RequestId"], body
        return body

    def error(self, action: str, want_status: int, want_code, /, **fields):
        """The call fails with this HTTP status and error Code (or one of several codes)."""
        from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
        codes = {want_code} if isinstance(want_code, str) else set(want_code)
        shown = {k: (v if not isinstance(v, list) or len(v) < 5 else f"<{len(v)} items>") for k, v in fields.items()}
        want = f"expected HTTP {want_status} {' or '.join(sorted(codes))}"
        try:
            body = self(action, **fields)
        except AlibabaCloudException as e:
            assert e.status_code == want_status and e.code in codes, \
                f"{action} {shown}: {want}, got HTTP {e.status_code} {e.code}: {e.message}"
            no_private_key(str(e.message) + json.dumps(e.data or {}, default=str), action)
            assert e.request_id and e.request_id != "None", e
            return e
        pytest.fail(f"{action} {shown}: {want}, got success: {json.dumps(body, ensure_ascii=False)[:600]}")

    # -- shortcuts
    def count(self) -> int:
        n = self("DescribeCACertificateCount")["TotalCount"]
        assert isinstance(n, int) and not isinstance(n, bool), n
        return n

    def describe(self, identifier: str) -> dict:
        body = self("DescribeCACertificate", identifier=identifier)
        assert isinstance(body.get("Certificate"), dict), body
        return body["Certificate"]

    def logs(self, identifier: str) -> list[dict]:
        body = self("ListCACertificateLog", identifier=identifier)
        assert isinstance(body.get("LogList"), list), body
        return body["LogList"]

    def root(self, algorithm: str | None = "ECC_256", years: int = 10, **kw) -> dict:
        fields = subject(kw.pop("common_name", None) or f"Root {algorithm} {uuid.uuid4().hex[:8]}", kw)
        if algorithm is not None:
            fields["algorithm"] = algorithm
        fields["years"] = years
        fields.update(kw)
        return self("CreateRootCACertificate", **fields)

    def sub(self, parent: str | None, algorithm: str | None = "ECC_256", years: int = 5, **kw) -> dict:
        fields = subject(kw.pop("common_name", None) or f"Sub {algorithm} {uuid.uuid4().hex[:8]}", kw)
        if parent is not None:
            fields["parent_identifier"] = parent
        if algorithm is not None:
            fields["algorithm"] = algorithm
        fields["years"] = years
        fields.update(kw)
        return self("CreateSubCACertificate", **fields)


SUBJECT_KEYS = ("organization", "organization_unit", "locality", "state", "country_code")
SUBJECT_DEFAULTS = dict(organization="OpenCAS Test Org", organization_unit="PKI QA",
                        locality="Hangzhou", state="Zhejiang", country_code="CN")


def subject(cn: str, kw: dict) -> dict:
    """Subject fields with test defaults; `kw` entries (popped) override, None omits."""
    out = {"common_name": cn}
    for k in SUBJECT_KEYS:
        v = kw.pop(k) if k in kw else SUBJECT_DEFAULTS[k]
        if v is not None:
            out[k] = v
    return out


def expected_dn(fields: dict) -> str:
    parts = []
    for key, label in (("country_code", "C"), ("state", "ST"), ("locality", "L"), ("organization", "O"),
                       ("organization_unit", "OU"), ("common_name", "CN")):
        if fields.get(key) is not None:
            parts.append(f"{label}={fields[key]}")
    return ",".join(parts)


@pytest.fixture(scope="module")
def api(server):
    return Api(server)


# --------------------------------------------------------------------------
# certificates
# --------------------------------------------------------------------------

@dataclass(frozen=True)
class Alg:
    name: str
    family: str
    bits: int
    sign: str          # SignAlgorithm of a certificate this key signs
    sig_oid: str
    hash_name: str | None
    curve: type | None = None


ALGS = {a.name: a for a in [
    Alg("RSA_1024", "RSA", 1024, "SHA256WITHRSA", "1.2.840.113549.1.1.11", "sha256"),
    Alg("RSA_2048", "RSA", 2048, "SHA256WITHRSA", "1.2.840.113549.1.1.11", "sha256"),
    Alg("RSA_3072", "RSA", 3072, "SHA256WITHRSA", "1.2.840.113549.1.1.11", "sha256"),
    Alg("RSA_4096", "RSA", 4096, "SHA256WITHRSA", "1.2.840.113549.1.1.11", "sha256"),
    Alg("ECC_256", "ECC", 256, "SHA256WITHECDSA", "1.2.840.10045.4.3.2", "sha256", ec.SECP256R1),
    Alg("ECC_384", "ECC", 384, "SHA384WITHECDSA", "1.2.840.10045.4.3.3", "sha384", ec.SECP384R1),
    Alg("ECC_512", "ECC", 521, "SHA512WITHECDSA", "1.2.840.10045.4.3.4", "sha512", ec.SECP521R1),
    Alg("SM2_256", "SM2", 256, "SM3WITHSM2", "1.2.156.10197.1.501", None),
]}

SM2_DISTID = "1234567812345678"
HEX32 = re.compile(r"[0-9a-fA-F]{32}")


def load_pems(text: str) -> list[x509.Certificate]:
    assert isinstance(text, str) and "-----BEGIN CERTIFICATE-----" in text, f"not PEM: {text!r:.200}"
    return x509.load_pem_x509_certificates(text.encode())


def one_cert(text: str) -> x509.Certificate:
    certs = load_pems(text)
    assert len(certs) == 1, f"expected one certificate, got {len(certs)}"
    return certs[0]


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def run(argv: list[str], *, input: bytes | None = None, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(argv, input=input, capture_output=True, timeout=timeout)


def openssl_ok(argv: list[str]) -> str:
    r = run(["openssl", *argv])
    out = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
    assert r.returncode == 0, f"openssl {' '.join(argv)} exited {r.returncode}:\n{out}"
    return out


def asn1_lines(pem_path: Path) -> list[str]:
    return openssl_ok(["asn1parse", "-in", str(pem_path)]).splitlines()


NAME_ATTRS = {"countryName": "C", "stateOrProvinceName": "ST", "localityName": "L",
              "organizationName": "O", "organizationalUnitName": "OU", "commonName": "CN"}


def name_string_types(lines: list[str]) -> list[tuple[str, str]]:
    """(attribute, ASN.1 string type) of every issuer/subject attribute, in order."""
    out = []
    for i, line in enumerate(lines):
        m = re.search(r"prim: OBJECT\s*:(\w+)", line)
        if m and m.group(1) in NAME_ATTRS:
            t = re.search(r"prim: (\w+)", lines[i + 1])
            out.append((NAME_ATTRS[m.group(1)], t.group(1) if t else lines[i + 1]))
    return out


def time_types(lines: list[str]) -> list[str]:
    return [m.group(1) for line in lines if (m := re.search(r"prim: (UTCTIME|GENERALIZEDTIME)", line))]


def sig_oid(cert: x509.Certificate) -> str:
    return cert.signature_algorithm_oid.dotted_string


def key_bits_openssl(pem_path: Path) -> int:
    text = openssl_ok(["x509", "-in", str(pem_path), "-noout", "-text"])
    m = re.search(r"Public-Key: \((\d+) bit\)", text)
    assert m, text
    return int(m.group(1))


def add_years(t: dt.datetime, years: int) -> dt.datetime:
    try:
        return t.replace(year=t.year + years)
    except ValueError:  # 29 February
        return t.replace(year=t.year + years, day=28)


def ms(t: dt.datetime) -> int:
    return int(t.timestamp()) * 1000


# --------------------------------------------------------------------------
# the algorithm matrix: one root and one sub CA per case, created lazily
# --------------------------------------------------------------------------

@dataclass
class Case:
    id: str
    root_alg: str | None          # None: Algorithm omitted (default RSA_2048)
    sub_alg: str
    root_kw: dict = field(default_factory=dict)
    sub_kw: dict = field(default_factory=dict)
    root_years: int = 10
    sub_years: int = 5

    @property
    def root_alg_name(self) -> str:
        return self.root_alg or "RSA_2048"

    @property
    def path_len(self) -> int:
        return self.sub_kw.get("path_len_constraint", 0)


ALL_EKUS = ["serverAuth", "clientAuth", "codeSigning", "emailProtection", "timeStamping", "OCSPSigning"]
EKU_OIDS = {"serverAuth": ExtendedKeyUsageOID.SERVER_AUTH, "clientAuth": ExtendedKeyUsageOID.CLIENT_AUTH,
            "codeSigning": ExtendedKeyUsageOID.CODE_SIGNING, "emailProtection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
            "timeStamping": ExtendedKeyUsageOID.TIME_STAMPING, "OCSPSigning": ExtendedKeyUsageOID.OCSP_SIGNING}

CASES = [
    Case("RSA_1024", "RSA_1024", "RSA_1024", root_years=6, sub_years=5),
    Case("RSA_2048", None, "RSA_2048", sub_kw=dict(extended_key_usages=ALL_EKUS, path_len_constraint=2)),
    Case("RSA_4096", "RSA_4096", "RSA_4096", sub_kw=dict(path_len_constraint=8), sub_years=9),
    Case("ECC_256", "ECC_256", "ECC_256",
         sub_kw=dict(path_len_constraint=1, enable_crl=True, crl_day=7, cert_max_time=365,
                     tags=[("env", "test"), ("team", "pki")])),
    Case("ECC_384", "ECC_384", "ECC_384", root_kw=dict(country_code=None), sub_kw=dict(
        country_code=None, extended_key_usages=["serverAuth", "clientAuth"])),
    Case("ECC_512", "ECC_512", "ECC_512", root_years=6, sub_kw=dict(enable_crl=False), sub_years=5),
    Case("SM2_256", "SM2_256", "SM2_256",
         root_kw=dict(common_name="测试根证书 SM2", organization="开放证书服务", organization_unit="密码部",
                      locality="杭州", state="浙江"),
         sub_kw=dict(common_name="测试子证书 SM2", organization="开放证书服务", organization_unit="密码部",
                     locality="杭州", state="浙江", extended_key_usages=["clientAuth"])),
    # key sizes may differ inside a family; the issuer's key decides the signature hash
    Case("RSA_2048-RSA_3072", "RSA_2048", "RSA_3072"),
    Case("ECC_256-ECC_512", "ECC_256", "ECC_512"),
    Case("ECC_512-ECC_384", "ECC_512", "ECC_384", sub_years=7),
]
CASE_IDS = [c.id for c in CASES]
BY_ID = {c.id: c for c in CASES}


@dataclass
class Built:
    case: Case
    root_req: dict
    sub_req: dict
    root_resp: dict
    sub_resp: dict
    root_desc: dict
    sub_desc: dict
    root: x509.Certificate
    sub: x509.Certificate
    root_pem: Path
    sub_pem: Path
    t0: dt.datetime
    t1: dt.datetime


class Hierarchy:
    def __init__(self, api: Api, tmp: Path):
        self.api = api
        self.tmp = tmp
        self.built: dict[str, Built | Exception] = {}

    def get(self, case_id: str) -> Built:
        if case_id not in self.built:
            try:
                self.built[case_id] = self._build(BY_ID[case_id])
            except Exception as e:  # noqa: BLE001 - re-raised for every test of the case
                self.built[case_id] = e
        b = self.built[case_id]
        if isinstance(b, Exception):
            raise AssertionError(f"creating the {case_id} hierarchy failed: {b!r}") from b
        return b

    def all(self) -> list[Built]:
        return [self.get(c) for c in CASE_IDS]

    def _build(self, case: Case) -> Built:
        api = self.api
        t0 = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        rkw = dict(case.root_kw)
        root_req = subject(rkw.pop("common_name", None) or f"Matrix Root {case.id}", rkw)
        root_req.update(rkw, years=case.root_years)
        if case.root_alg:
            root_req["algorithm"] = case.root_alg
        root_resp = api("CreateRootCACertificate", **root_req)
        skw = dict(case.sub_kw)
        sub_req = subject(skw.pop("common_name", None) or f"Matrix Sub {case.id}", skw)
        sub_req.update(skw, years=case.sub_years, algorithm=case.sub_alg,
                       parent_identifier=root_resp.get("Identifier"))
        sub_resp = api("CreateSubCACertificate", **sub_req)
        t1 = dt.datetime.now(dt.timezone.utc)
        root = one_cert(root_resp["Certificate"])
        sub = one_cert(sub_resp["Certificate"])
        d = self.tmp / case.id.replace("/", "_")
        d.mkdir(parents=True, exist_ok=True)
        (d / "root.pem").write_text(root_resp["Certificate"])
        (d / "sub.pem").write_text(sub_resp["Certificate"])
        return Built(case, root_req, sub_req, root_resp, sub_resp,
                     api.describe(root_resp["Identifier"]), api.describe(sub_resp["Identifier"]),
                     root, sub, d / "root.pem", d / "sub.pem", t0, t1)


@pytest.fixture(scope="module")
def hier(api, tmp_path_factory):
    return Hierarchy(api, tmp_path_factory.mktemp("ca-matrix"))


# --------------------------------------------------------------------------
# 1. every algorithm: creation, chain verification, profile, Describe
# --------------------------------------------------------------------------

@pytest.mark.parametrize("cid", CASE_IDS)
def test_create_responses(hier, cid):
    b = hier.get(cid)
    for resp, kind in ((b.root_resp, "root"), (b.sub_resp, "sub")):
        assert set(resp) >= {"Certificate", "CertificateChain", "Identifier", "RequestId"}, resp
        assert HEX32.fullmatch(resp["Identifier"]), f"{kind} Identifier {resp['Identifier']!r} is not 32 hex"
    assert b.root_resp["Identifier"] != b.sub_resp["Identifier"]
    # a root's chain is itself; a sub CA's chain is its root
    assert [der(c) for c in load_pems(b.root_resp["CertificateChain"])] == [der(b.root)]
    assert [der(c) for c in load_pems(b.sub_resp["CertificateChain"])] == [der(b.root)]


@pytest.mark.parametrize("cid", CASE_IDS)
def test_openssl_verifies_root_to_sub(hier, cid, tmp_path):
    b = hier.get(cid)
    sm2 = b.case.sub_alg.startswith("SM2")
    if sm2:
        # openssl verify sets the SM2 distinguishing id on the target only: root->sub
        openssl_ok(["verify", "-x509_strict", "-vfyopt", f"distid:{SM2_DISTID}", "-CAfile", str(b.root_pem),
                    str(b.sub_pem)])
        for p in (b.root_pem, b.sub_pem):
            text = openssl_ok(["x509", "-in", str(p), "-noout", "-text"])
            assert "SM2-with-SM3" in text and "ASN1 OID: SM2" in text, text
        # the root's self-signature, checked with the standard SM2 id (GB/T 35276)
        (tmp_path / "tbs.der").write_bytes(b.root.tbs_certificate_bytes)
        (tmp_path / "sig.der").write_bytes(b.root.signature)
        pub = openssl_ok(["x509", "-in", str(b.root_pem), "-noout", "-pubkey"])
        (tmp_path / "pub.pem").write_text(pub[pub.index("-----BEGIN"):])
        pk = ["pkeyutl", "-verify", "-pubin", "-inkey", str(tmp_path / "pub.pem"), "-rawin",
              "-in", str(tmp_path / "tbs.der"), "-sigfile", str(tmp_path / "sig.der"), "-digest", "sm3"]
        out = openssl_ok(pk + ["-pkeyopt", f"distid:{SM2_DISTID}"])
        assert "Signature Verified Successfully" in out, out
        # control: the same check with another id fails, so the one above means something
        bad = run(["openssl", *pk, "-pkeyopt", "distid:0000000000000000"])
        assert bad.returncode != 0, "SM2 self-signature verified under a wrong distinguishing id"
        # cryptography parses the certificates (it has no SM2 public key support)
        assert sig_oid(b.root) == sig_oid(b.sub) == ALGS["SM2_256"].sig_oid
    else:
        openssl_ok(["verify", "-x509_strict", "-check_ss_sig", "-CAfile", str(b.root_pem), str(b.sub_pem)])
        openssl_ok(["verify", "-x509_strict", "-check_ss_sig", "-CAfile", str(b.root_pem), str(b.root_pem)])
        b.root.verify_directly_issued_by(b.root)
        b.sub.verify_directly_issued_by(b.root)
    # control: the sub CA does not verify under some other root
    family = b.case.root_alg_name.split("_")[0]
    other = next((o for o in CASE_IDS if o != cid and BY_ID[o].root_alg_name.startswith(family)), "ECC_256")
    bad = run(["openssl", "verify", "-x509_strict", "-CAfile", str(hier.get(other).root_pem), str(b.sub_pem)])
    assert bad.returncode != 0, f"{cid} sub CA verified under the root of {other}"


def check_ca_profile(cert: x509.Certificate, pem: Path, *, is_root: bool, key_alg: str, issuer_alg: str,
                     issuer: x509.Certificate, path_len: int | None, years: int, fields: dict,
                     t0: dt.datetime, t1: dt.datetime):
    what = "root" if is_root else "sub CA"
    k, ik = ALGS[key_alg], ALGS[issuer_alg]
    assert cert.version == x509.Version.v3, f"{what}: version {cert.version}"
    # serial: positive, >= 64 bits of entropy (>= 9 DER content octets), <= 20 octets
    sn = cert.serial_number
    assert sn > 0, f"{what}: serial {sn} not positive"
    octets = (sn.bit_length() + 8) // 8  # DER content length of a positive INTEGER
    assert 9 <= octets <= 20, f"{what}: serial {sn:x} has {octets} octets"
    # names
    assert cert.issuer.public_bytes() == issuer.subject.public_bytes(), f"{what}: issuer != issuer's subject"
    want_attrs = [(lab, fields[key]) for key, lab in (("country_code", "C"), ("state", "ST"), ("locality", "L"),
                                                      ("organization", "O"), ("organization_unit", "OU"),
                                                      ("common_name", "CN")) if fields.get(key) is not None]
    oid_label = {NameOID.COUNTRY_NAME: "C", NameOID.STATE_OR_PROVINCE_NAME: "ST", NameOID.LOCALITY_NAME: "L",
                 NameOID.ORGANIZATION_NAME: "O", NameOID.ORGANIZATIONAL_UNIT_NAME: "OU", NameOID.COMMON_NAME: "CN"}
    got_attrs = [(oid_label.get(a.oid, a.oid.dotted_string), a.value) for a in cert.subject]
    assert got_attrs == want_attrs, f"{what}: subject {got_attrs} != requested {want_attrs}"
    lines = asn1_lines(pem)
    types = name_string_types(lines)
    assert len(types) == len(list(cert.issuer)) + len(list(cert.subject)), f"{what}: asn1parse names {types}"
    for attr, typ in types:
        want = "PRINTABLESTRING" if attr == "C" else "UTF8STRING"
        assert typ == want, f"{what}: {attr} encoded as {typ}, want {want}"
    # validity: Years calendar years from now; before 2050 both times are UTCTime
    nb, na = cert.not_valid_before_utc, cert.not_valid_after_utc
    assert t0 - dt.timedelta(days=1) <= nb <= t1 + dt.timedelta(seconds=2), f"{what}: notBefore {nb} (created {t0}..{t1})"
    assert abs(na - add_years(nb, years)) <= dt.timedelta(days=1), f"{what}: notAfter {na} is not {years} years after {nb}"
    # RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050
    want_times = ["UTCTIME" if t.year < 2050 else "GENERALIZEDTIME" for t in (nb, na)]
    assert time_types(lines) == want_times, f"{what}: validity encoded as {time_types(lines)}, want {want_times}"
    if not is_root:
        assert na <= issuer.not_valid_after_utc, f"sub CA outlives its root: {na} > {issuer.not_valid_after_utc}"
    # extensions
    exts = {e.oid: e for e in cert.extensions}
    bc = exts.get(ExtensionOID.BASIC_CONSTRAINTS)
    assert bc is not None and bc.critical and bc.value.ca is True, f"{what}: basicConstraints {bc}"
    if not is_root:
        assert bc.value.path_length == path_len, f"sub CA pathLen {bc.value.path_length}, requested {path_len}"
    ku = exts.get(ExtensionOID.KEY_USAGE)
    assert ku is not None and ku.critical, f"{what}: keyUsage {ku}"
    assert ku.value.key_cert_sign and ku.value.crl_sign, f"{what}: keyUsage {ku.value}"
    ski = exts.get(ExtensionOID.SUBJECT_KEY_IDENTIFIER)
    assert ski is not None and not ski.critical and ski.value.digest, f"{what}: SKI {ski}"
    issuer_ski = issuer.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_KEY_IDENTIFIER).value.digest
    aki = exts.get(ExtensionOID.AUTHORITY_KEY_IDENTIFIER)
    if not is_root:
        assert aki is not None and not aki.critical, f"sub CA lacks a non-critical AKI: {aki}"
    if aki is not None:
        assert aki.value.key_identifier == issuer_ski, f"{what}: AKI {aki.value.key_identifier!r} != issuer SKI"
    # keys and signatures
    assert sig_oid(cert) == ik.sig_oid, f"{what}: signature {sig_oid(cert)}, want {ik.sig_oid} ({ik.sign})"
    if k.family == "SM2":
        assert key_bits_openssl(pem) == 256
    else:
        pub = cert.public_key()
        if k.family == "RSA":
            assert isinstance(pub, rsa.RSAPublicKey) and pub.key_size == k.bits, f"{what}: key {pub}"
        else:
            assert isinstance(pub, ec.EllipticCurvePublicKey) and isinstance(pub.curve, k.curve), \
                f"{what}: key curve {getattr(pub, 'curve', pub)}"
        assert cert.signature_hash_algorithm.name == ik.hash_name, \
            f"{what}: hash {cert.signature_hash_algorithm.name}, want {ik.hash_name}"


@pytest.mark.parametrize("cid", CASE_IDS)
def test_certificate_profile(hier, server, cid):
    b = hier.get(cid)
    c = b.case
    check_ca_profile(b.root, b.root_pem, is_root=True, key_alg=c.root_alg_name, issuer_alg=c.root_alg_name,
                     issuer=b.root, path_len=None, years=c.root_years, fields=b.root_req, t0=b.t0, t1=b.t1)
    check_ca_profile(b.sub, b.sub_pem, is_root=False, key_alg=c.sub_alg, issuer_alg=c.root_alg_name,
                     issuer=b.root, path_len=c.path_len, years=c.sub_years, fields=b.sub_req, t0=b.t0, t1=b.t1)
    assert b.root.issuer == b.root.subject
    # requested extended key usages, none otherwise
    ekus = c.sub_kw.get("extended_key_usages")
    try:
        got = list(b.sub.extensions.get_extension_for_oid(ExtensionOID.EXTENDED_KEY_USAGE).value)
    except x509.ExtensionNotFound:
        got = None
    if ekus:
        assert got is not None and set(got) == {EKU_OIDS[e] for e in ekus}, f"EKU {got}, requested {ekus}"
    else:
        assert got is None, f"sub CA has EKU {got} though none was requested"
    # AIA caIssuers -> /ca/<root>.crt and CRL DP -> /crl/<root>.crl under the public URL
    root_id = b.root_resp["Identifier"]
    aia = b.sub.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_INFORMATION_ACCESS).value
    issuers = [d.access_location.value for d in aia if d.access_method == AuthorityInformationAccessOID.CA_ISSUERS]
    assert issuers == [f"{server.base_url}/ca/{root_id}.crt"], issuers
    cdp = b.sub.extensions.get_extension_for_oid(ExtensionOID.CRL_DISTRIBUTION_POINTS).value
    urls = [n.value for dp in cdp for n in (dp.full_name or [])]
    assert urls == [f"{server.base_url}/crl/{root_id}.crl"], urls


def check_describe(d: dict, cert: x509.Certificate, pem: Path, *, identifier: str, alg: str, issuer_alg: str,
                   ctype: str, parent: str, years: int, req: dict, chain: list[x509.Certificate]):
    a = ALGS[alg]
    assert d.get("Identifier") == identifier, d
    assert d.get("CertificateType") == ctype, d
    assert (d.get("ParentIdentifier") or "") == parent, d
    assert d.get("Status") == "ISSUE", d
    assert d.get("IssuerType") == "local", d
    assert d.get("Algorithm") == a.family, d
    assert d.get("FullAlgorithm") == alg, d
    assert d.get("KeySize") == a.bits, d
    assert d.get("SignAlgorithm") == ALGS[issuer_alg].sign, d
    assert d.get("Years") == years, d
    assert d.get("SubjectDN") == expected_dn(req), d.get("SubjectDN")
    for key, name in (("common_name", "CommonName"), ("organization", "Organization"),
                      ("organization_unit", "OrganizationUnit"), ("locality", "Locality"), ("state", "State")):
        assert d.get(name) == req[key], (name, d.get(name), req[key])
    assert (d.get("CountryCode") or None) == req.get("country_code"), d.get("CountryCode")
    sn = d.get("SerialNumber")
    assert isinstance(sn, str) and re.fullmatch(r"[0-9a-f]+", sn) and int(sn, 16) == cert.serial_number, \
        f"SerialNumber {sn!r} != {cert.serial_number:x}"
    raw_der = der(cert)
    assert d.get("Md5") == hashlib.md5(raw_der).hexdigest().upper(), d.get("Md5")
    assert d.get("Sha2") == hashlib.sha256(raw_der).hexdigest().upper(), d.get("Sha2")
    assert d.get("BeforeDate") == ms(cert.not_valid_before_utc), (d.get("BeforeDate"), cert.not_valid_before_utc)
    assert d.get("AfterDate") == ms(cert.not_valid_after_utc), (d.get("AfterDate"), cert.not_valid_after_utc)
    assert der(one_cert(d["X509Certificate"])) == raw_der
    got_chain = [der(c) for c in load_pems(d["CaCertChain"])]
    assert got_chain == [der(c) for c in chain], f"CaCertChain has {len(got_chain)} certificates, want {len(chain)}"
    # the same facts from openssl
    for digest, key in (("-sha256", "Sha2"), ("-md5", "Md5")):
        fp = openssl_ok(["x509", "-in", str(pem), "-noout", "-fingerprint", digest])
        assert re.search(r"Fingerprint=([0-9A-F:]+)", fp).group(1).replace(":", "") == d[key], (fp, d[key])
    out = openssl_ok(["x509", "-in", str(pem), "-noout", "-serial", "-subject", "-nameopt", "RFC2253,-esc_msb"])
    assert int(re.search(r"serial=([0-9A-F]+)", out).group(1), 16) == int(sn, 16), out
    rfc2253 = re.search(r"subject=(.*)", out).group(1).strip()
    assert ",".join(reversed(rfc2253.split(","))) == d["SubjectDN"], (rfc2253, d["SubjectDN"])
    for k in ("CertTotalCount", "CertIssuedCount", "CertRemainingCount"):
        assert isinstance(d.get(k), int) and d[k] >= 0, (k, d.get(k))
    tags = d.get("Tags") or []
    assert sorted((t["TagKey"], t["TagValue"]) for t in tags) == sorted(req.get("tags") or []), tags


@pytest.mark.parametrize("cid", CASE_IDS)
def test_describe_matches_certificate(hier, cid):
    b = hier.get(cid)
    c = b.case
    root_id, sub_id = b.root_resp["Identifier"], b.sub_resp["Identifier"]
    check_describe(b.root_desc, b.root, b.root_pem, identifier=root_id, alg=c.root_alg_name,
                   issuer_alg=c.root_alg_name, ctype="ROOT", parent="", years=c.root_years, req=b.root_req,
                   chain=[b.root])
    check_describe(b.sub_desc, b.sub, b.sub_pem, identifier=sub_id, alg=c.sub_alg, issuer_alg=c.root_alg_name,
                   ctype="SUB_ROOT", parent=root_id, years=c.sub_years, req=b.sub_req, chain=[b.sub, b.root])
    # default quotas: the root's pool is 1,000,000; a new sub CA takes 10,000 of it
    assert b.root_desc["CertTotalCount"] == 1_000_000, b.root_desc
    assert b.sub_desc["CertTotalCount"] == 10_000, b.sub_desc
    assert b.sub_desc["CertIssuedCount"] == 0 and b.sub_desc["CertRemainingCount"] == 10_000, b.sub_desc
    assert b.root_desc["CertRemainingCount"] == 1_000_000 - 10_000, b.root_desc
    # sub CA options
    sk = c.sub_kw
    want_crl = {True: {"ENABLE"}, False: {"DISABLE"}, None: {"ENABLE", "DISABLE"}}[sk.get("enable_crl")]
    assert b.sub_desc.get("CrlStatus") in want_crl, (sk.get("enable_crl"), b.sub_desc.get("CrlStatus"))
    if sk.get("enable_crl"):
        assert b.sub_desc.get("CrlDay") == sk["crl_day"] and b.sub_desc.get("CrlUrl"), b.sub_desc
    if "cert_max_time" in sk:
        assert b.sub_desc.get("CertMaxTime") == sk["cert_max_time"], b.sub_desc
    # the list item carries the same facts
    lst = b_list_item(hier.api, sub_id)
    for k in ("Identifier", "CertificateType", "ParentIdentifier", "Algorithm", "KeySize", "SignAlgorithm",
              "SubjectDN", "SerialNumber", "Md5", "Sha2", "BeforeDate", "AfterDate", "Status", "CommonName"):
        assert lst.get(k) == b.sub_desc.get(k), (k, lst.get(k), b.sub_desc.get(k))


def b_list_item(api: Api, identifier: str) -> dict:
    body = api("DescribeCACertificateList", identifier=identifier)
    assert body["TotalCount"] == 1 and len(body["CertificateList"]) == 1, body
    return body["CertificateList"][0]


def test_serial_numbers_unique(hier):
    serials = []
    for b in hier.all():
        serials += [b.root.serial_number, b.sub.serial_number]
    assert len(set(serials)) == len(serials), "duplicate serial numbers"
    keys = [b.root.public_bytes(serialization.Encoding.DER) for b in hier.all()]
    assert len(set(keys)) == len(keys)


def test_default_algorithm_is_rsa_2048(hier):
    b = hier.get("RSA_2048")
    assert "algorithm" not in b.root_req
    assert b.root_desc["FullAlgorithm"] == "RSA_2048" and b.root.public_key().key_size == 2048


# --------------------------------------------------------------------------
# 2. pkilint
# --------------------------------------------------------------------------

def _pkilint_json(main, args: list[str]) -> list[dict]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(["lint", "-f", "JSON", "-s", "INFO", *args])
    findings = []
    for r in json.loads(out.getvalue())["results"]:
        for f in r["finding_descriptions"]:
            findings.append({"path": r["node_path"], "validator": r["validator"], **f})
    return findings


@pytest.mark.parametrize("cid", CASE_IDS)
def test_pkilint(hier, cid):
    try:
        from pkilint.bin import lint_pkix_cert, lint_pkix_signer_signee_cert_chain
    except ImportError as e:  # pragma: no cover - requirements.txt installs it
        pytest.skip(f"pkilint is not installed ({e}); pip install -r tests/requirements.txt")
    b = hier.get(cid)
    bad = []
    for label, findings in (
        ("root", _pkilint_json(lint_pkix_cert.main, [str(b.root_pem)])),
        ("sub", _pkilint_json(lint_pkix_cert.main, [str(b.sub_pem)])),
        ("root->sub", _pkilint_json(lint_pkix_signer_signee_cert_chain.main, [str(b.root_pem), str(b.sub_pem)])),
    ):
        for f in findings:
            line = f"pkilint {cid} {label}: {f['severity']} {f['code']} at {f['path']}" + \
                (f": {f['message']}" if f.get("message") else "")
            if f["severity"] in ("FATAL", "ERROR"):
                bad.append(line)
            elif f["severity"] in ("WARNING", "NOTICE"):
                print(line)  # shown with -s / -rP
    assert not bad, "\n".join(bad)


# --------------------------------------------------------------------------
# public AIA endpoint
# --------------------------------------------------------------------------

def test_public_ca_certificate_endpoint(hier, server):
    b = hier.get("ECC_384")
    import requests
    s = requests.Session()
    s.trust_env = False
    aia = b.sub.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_INFORMATION_ACCESS).value
    url = [d.access_location.value for d in aia if d.access_method == AuthorityInformationAccessOID.CA_ISSUERS][0]
    r = s.get(url, timeout=10)  # no credentials at all
    assert r.status_code == 200, (url, r.status_code, r.text[:300])
    assert r.headers.get("content-type", "").split(";")[0].strip() == "application/pkix-cert", r.headers
    assert r.content == der(b.root), "AIA caIssuers does not serve the issuing root's DER"
    r = raw(server, "GET", f"/ca/{b.sub_resp['Identifier']}.crt")
    assert r.status_code == 200 and r.content == der(b.sub), (r.status_code, r.content[:100])
    for bad in (uuid.uuid4().hex, "not-an-identifier", b.root_resp["Identifier"].upper() + "00"):
        r = raw(server, "GET", f"/ca/{bad}.crt")
        assert r.status_code == 404, (bad, r.status_code, r.content[:200])
        assert b"BEGIN CERTIFICATE" not in r.content and der(b.root) not in r.content


# --------------------------------------------------------------------------
# 3. idempotency
# --------------------------------------------------------------------------

def test_root_client_token_idempotent(api):
    token = "root-" + uuid.uuid4().hex
    before = api.count()
    a = api.root("ECC_256", client_token=token, common_name="Idem Root")
    assert api.count() == before + 1
    again = api.root("ECC_256", client_token=token, common_name="Idem Root")
    assert again["Identifier"] == a["Identifier"], "same ClientToken created a second root"
    assert again["Certificate"] == a["Certificate"] and again["CertificateChain"] == a["CertificateChain"]
    assert api.count() == before + 1
    listed = api("DescribeCACertificateList", show_size=100)["CertificateList"]
    assert sum(1 for x in listed if x["CommonName"] == "Idem Root") == 1, "the replay shows up in the list"
    other = api.root("ECC_256", client_token="root-" + uuid.uuid4().hex, common_name="Idem Root")
    assert other["Identifier"] != a["Identifier"]
    assert api.count() == before + 2
    assert [x["OpType"] for x in api.logs(a["Identifier"])].count("ADD") == 1


def test_sub_client_token_idempotent(api):
    root = api.root("ECC_384")
    rid = root["Identifier"]
    token = "sub-" + uuid.uuid4().hex
    before = api.count()
    a = api.sub(rid, "ECC_384", client_token=token)
    root_after_first = api.describe(rid)
    b = api.sub(rid, "ECC_384", client_token=token)
    assert b["Identifier"] == a["Identifier"] and b["Certificate"] == a["Certificate"]
    assert b["CertificateChain"] == a["CertificateChain"]
    assert api.count() == before + 1
    root_now = api.describe(rid)
    for k in ("CertRemainingCount", "CertIssuedCount", "CertTotalCount"):
        assert root_now[k] == root_after_first[k], f"replay changed the root's {k}: {root_after_first[k]} -> {root_now[k]}"
    c = api.sub(rid, "ECC_384", client_token="sub-" + uuid.uuid4().hex)
    assert c["Identifier"] != a["Identifier"]
    assert api.count() == before + 2
    # a ClientToken used for a root does not answer a sub CA request (and vice versa)
    shared = "shared-" + uuid.uuid4().hex
    r2 = api.root("ECC_256", client_token=shared)
    s2 = api.sub(r2["Identifier"], "ECC_256", client_token=shared)
    assert s2["Identifier"] != r2["Identifier"]
    assert api.describe(s2["Identifier"])["CertificateType"] == "SUB_ROOT"


def test_client_token_concurrent(server):
    """Concurrent creates with one ClientToken make one CA."""
    from concurrent.futures import ThreadPoolExecutor
    api = Api(server)
    before = api.count()
    token = "conc-" + uuid.uuid4().hex

    def one(_):
        return Api(server).root("ECC_256", client_token=token, common_name="Concurrent Root")["Identifier"]

    with ThreadPoolExecutor(6) as ex:
        ids = list(ex.map(one, range(6)))
    assert len(set(ids)) == 1, f"one ClientToken gave {len(set(ids))} CAs"
    assert api.count() == before + 1


def test_raw_wire_forms(server, creds, api):
    """What other SDKs send: lowercase booleans, .N lists, v1 signing with the ClientToken
    in a form body; and the error body of the CA actions."""
    from opencas_testlib import V_2020_06, assert_error, assert_ok, v1_request, v3_request
    rid = api.root("ECC_256")["Identifier"]
    base = {"ParentIdentifier": rid, "CommonName": "Raw Sub", "Organization": "O", "OrganizationUnit": "OU",
            "Locality": "L", "State": "S", "Algorithm": "ECC_256", "Years": "5"}
    for flag, want in (("true", "ENABLE"), ("false", "DISABLE")):
        q = dict(base, EnableCrl=flag, CrlDay="3", **{"ExtendedKeyUsages.1": "serverAuth",
                                                     "ExtendedKeyUsages.2": "OCSPSigning",
                                                     "Tags.1.Key": "k", "Tags.1.Value": "v"})
        body = assert_ok(v3_request(server, creds, "CreateSubCACertificate", V_2020_06, q))
        d = api.describe(body["Identifier"])
        assert d["CrlStatus"] == want and d["Tags"] == [{"TagKey": "k", "TagValue": "v"}], d
        ekus = one_cert(body["Certificate"]).extensions.get_extension_for_oid(ExtensionOID.EXTENDED_KEY_USAGE).value
        assert set(ekus) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.OCSP_SIGNING}, ekus
    token = "v1-" + uuid.uuid4().hex
    before = api.count()
    first = assert_ok(v1_request(server, creds, "CreateSubCACertificate", V_2020_06, base, method="POST",
                                 body_params={"ClientToken": token}))
    again = assert_ok(v1_request(server, creds, "CreateSubCACertificate", V_2020_06, base, method="POST",
                                 body_params={"ClientToken": token}))
    assert first["Identifier"] == again["Identifier"] and api.count() == before + 1
    no_private_key(json.dumps(first), "CreateSubCACertificate (v1)")
    assert_error(v3_request(server, creds, "DescribeCACertificate", V_2020_06, {"Identifier": uuid.uuid4().hex}),
                 404, "NotFound.CACertificate")
    assert_error(v3_request(server, creds, "CreateSubCACertificate", V_2020_06, dict(base, Algorithm="SM2_256")),
                 400, "InvalidParameter.Algorithm")
    root_q = {k: v for k, v in base.items() if k not in ("ParentIdentifier", "CommonName")}
    assert_error(v3_request(server, creds, "CreateRootCACertificate", V_2020_06, root_q),
                 400, "MissingParameter.CommonName")
    assert_error(v3_request(server, creds, "AssignCertificateCount", V_2020_06,
                            {"CaIdentifier": rid, "CertTotalCount": "1"}), 400, "InvalidParameter.CaIdentifier")


# --------------------------------------------------------------------------
# 4. refusals
# --------------------------------------------------------------------------

ROOT_SUBJECT_REQUIRED = [("common_name", "CommonName"), ("organization", "Organization"),
                         ("organization_unit", "OrganizationUnit"), ("locality", "Locality"), ("state", "State")]


def test_root_refusals(api):
    before = api.count()
    base = dict(common_name="Refused Root", organization="O", organization_unit="OU", locality="L", state="S",
                country_code="CN", algorithm="ECC_256", years=10)
    for alg in ("RSA_512", "RSA_8192", "ECC_224", "ECC_521", "SM2_512", "ED25519", "DSA_2048", "rsa2048"):
        api.error("CreateRootCACertificate", 400, "InvalidParameter.Algorithm", **dict(base, algorithm=alg))
    for years in (0, 4, 11, 100, -5):
        api.error("CreateRootCACertificate", 400, "InvalidParameter.Years", **dict(base, years=years))
    no_years = {k: v for k, v in base.items() if k != "years"}
    api.error("CreateRootCACertificate", 400, "MissingParameter.Years", **no_years)
    for cc in ("XX", "China", "CHN", "C", "ZZ", "1A"):
        api.error("CreateRootCACertificate", 400, "InvalidParameter.CountryCode", **dict(base, country_code=cc))
    for key, name in ROOT_SUBJECT_REQUIRED:
        fields = {k: v for k, v in base.items() if k != key}
        api.error("CreateRootCACertificate", 400, f"MissingParameter.{name}", **fields)
    many = [(f"k{i}", f"v{i}") for i in range(21)]
    api.error("CreateRootCACertificate", 400, "InvalidParameter.Tags", **dict(base, tags=many))
    for key in ("aliyun", "aliyun-owner", "acs:rg", "acs:"):
        api.error("CreateRootCACertificate", 400, "InvalidParameter.Tags", **dict(base, tags=[(key, "x")]))
    assert api.count() == before, "a refused CreateRootCACertificate left a CA behind"
    # the boundaries are accepted
    ok = api.root("ECC_256", years=5, tags=[(f"k{i}", f"v{i}") for i in range(20)], country_code="DE")
    d = api.describe(ok["Identifier"])
    assert len(d["Tags"]) == 20 and d["Years"] == 5 and d["CountryCode"] == "DE", d
    assert api.root("ECC_256", years=10, tags=[("Team", "x"), ("myaliyun", "y")])["Identifier"]
    # RFC 5280 upper bounds: a 65-character CommonName would make a certificate linters reject
    api.error("CreateRootCACertificate", 400, "InvalidParameter.CommonName", **dict(base, common_name="x" * 65))
    long_cn = api.root("ECC_256", common_name="y" * 64)
    assert one_cert(long_cn["Certificate"]).subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "y" * 64
    assert api.count() == before + 3


def sub_fields(parent: str | None, **over) -> dict:
    f = dict(common_name="Refused Sub", organization="O", organization_unit="OU", locality="L", state="S",
             country_code="CN", algorithm="ECC_256", years=5)
    if parent is not None:
        f["parent_identifier"] = parent
    f.update(over)
    return {k: v for k, v in f.items() if v is not None}


@pytest.fixture(scope="module")
def roots(api):
    """One root per family for refusal tests."""
    return {fam: api.root(alg, years=10, common_name=f"Refusal root {fam}")["Identifier"]
            for fam, alg in (("RSA", "RSA_2048"), ("ECC", "ECC_256"), ("SM2", "SM2_256"))}


def test_sub_family_mismatch(api, roots):
    before = api.count()
    for fam, rid in roots.items():
        for alg in ALGS:
            if alg.startswith(fam):
                continue
            api.error("CreateSubCACertificate", 400, "InvalidParameter.Algorithm",
                      **sub_fields(rid, algorithm=alg))
    assert api.count() == before
    # same family, other key sizes, are fine
    assert api.sub(roots["RSA"], "RSA_1024")["Identifier"]
    assert api.sub(roots["ECC"], "ECC_384")["Identifier"]


def test_sub_refusals(api, roots):
    rid = roots["ECC"]
    before = api.count()
    root_before = api.describe(rid)
    E = lambda status, code, **over: api.error("CreateSubCACertificate", status, code, **sub_fields(rid, **over))  # noqa: E731
    for alg in ("ECC_224", "RSA_512", "SM9", "XYZ"):
        E(400, "InvalidParameter.Algorithm", algorithm=alg)
    api.error("CreateSubCACertificate", 400, "MissingParameter.Algorithm", **sub_fields(rid, algorithm=None))
    for years in (0, 4, 11):
        E(400, "InvalidParameter.Years", years=years)
    api.error("CreateSubCACertificate", 400, "MissingParameter.Years", **sub_fields(rid, years=None))
    for cc in ("XX", "China"):
        E(400, "InvalidParameter.CountryCode", country_code=cc)
    for key, name in ROOT_SUBJECT_REQUIRED:
        E(400, f"MissingParameter.{name}", **{key: None})
    for pl in (9, 100, -1):
        E(400, "InvalidParameter.PathLenConstraint", path_len_constraint=pl)
    for days in (0, -1):
        E(400, "InvalidParameter.CertMaxTime", cert_max_time=days)
    now = dt.datetime.now(dt.timezone.utc)
    lifetime = (add_years(now, 5) - now).days
    E(400, "InvalidParameter.CertMaxTime", cert_max_time=lifetime + 1)
    for day in (0, 366):
        E(400, "InvalidParameter.CrlDay", enable_crl=True, crl_day=day)
    E(400, "InvalidParameter.ExtendedKeyUsages", extended_key_usages=["serverAuth", "anyExtendedKeyUsage"])
    E(400, "InvalidParameter.Tags", tags=[(f"k{i}", "v") for i in range(21)])
    E(400, "InvalidParameter.Tags", tags=[("aliyun:x", "v")])
    E(400, "InvalidParameter.Tags", tags=[("acs:x", "v")])
    # parents
    api.error("CreateSubCACertificate", 404, "NotFound.CACertificate", **sub_fields(uuid.uuid4().hex))
    sub = api.sub(rid, "ECC_256")["Identifier"]
    api.error("CreateSubCACertificate", 400, "InvalidParameter.ParentIdentifier", **sub_fields(sub))
    # the account has several roots: the parent must be named
    api.error("CreateSubCACertificate", 400, ("InvalidParameter.ParentIdentifier", "MissingParameter.ParentIdentifier"),
              **sub_fields(None))
    # a sub CA must not outlive its root
    short = api.root("ECC_256", years=5)["Identifier"]
    for years in (6, 10):
        api.error("CreateSubCACertificate", 400, "InvalidParameter.Years", **sub_fields(short, years=years))
    assert api.count() == before + 2, "a refused CreateSubCACertificate left a CA behind"
    root_now = api.describe(rid)
    assert root_now["CertRemainingCount"] == root_before["CertRemainingCount"] - 10_000, \
        "refused sub CAs consumed the root's quota"
    # the boundaries are accepted
    ok = api.sub(rid, "ECC_256", years=9, path_len_constraint=8, cert_max_time=1, enable_crl=True, crl_day=365)
    d = api.describe(ok["Identifier"])
    assert (d["CertMaxTime"], d["CrlDay"], d["CrlStatus"]) == (1, 365, "ENABLE"), d
    ok = api.sub(rid, "ECC_256", years=5, cert_max_time=lifetime)
    assert api.describe(ok["Identifier"])["CertMaxTime"] == lifetime
    assert api.sub(rid, "ECC_256", years=6, extended_key_usages=ALL_EKUS)["Identifier"]

def test_other_refusals(api, roots):
    rid = roots["RSA"]
    ghost = uuid.uuid4().hex
    api.error("DescribeCACertificate", 404, "NotFound.CACertificate", identifier=ghost)
    api.error("DescribeCACertificate", 400, "MissingParameter.Identifier")
    api.error("ListCACertificateLog", 404, "NotFound.CACertificate", identifier=ghost)
    api.error("UpdateCACertificateStatus", 404, "NotFound.CACertificate", identifier=ghost, status="FORBIDDEN")
    api.error("UpdateCACertificateStatus", 400, "MissingParameter.Identifier", status="FORBIDDEN")
    for st in ("DELETED", "ENABLE", "DISABLE"):
        api.error("UpdateCACertificateStatus", 400, "InvalidParameter.Status", identifier=rid, status=st)
    api.error("UpdatePcaCertificate", 404, "NotFound.CACertificate", identifier=ghost, alias_name="x")
    api.error("UpdatePcaCertificate", 400, "InvalidParameter.Tags", identifier=rid,
              tags=[(f"k{i}", "v") for i in range(21)])
    api.error("UpdatePcaCertificate", 400, "InvalidParameter.Tags", identifier=rid, tags=[("aliyun-k", "v")])
    api.error("UpdatePcaCertificate", 400, "InvalidParameter.Tags", identifier=rid, tags=[("acs:k", "v")])
    api.error("AssignCertificateCount", 404, "NotFound.CACertificate", ca_identifier=ghost, cert_total_count=1)
    api.error("AssignCertificateCount", 400, "InvalidParameter.CaIdentifier", ca_identifier=rid, cert_total_count=5)
    api.error("GetCAInstanceStatus", 404, ("NotFound.CACertificate", "NotFound.Instance"), identifier=ghost)
    api.error("GetCAInstanceStatus", 404, ("NotFound.CACertificate", "NotFound.Instance"),
              instance_id=f"cas-pca-{ghost}")
    for n in (0, 2001):
        api.error("ListPcaCaCertificate", 400, "InvalidParameter.MaxResults", max_results=n)
    assert api.describe(rid)["Status"] == "ISSUE"
    assert api.describe(rid).get("Tags") in ([], None)


# --------------------------------------------------------------------------
# quotas
# --------------------------------------------------------------------------

def test_quota_assignment(server_factory):
    srv = server_factory(SMALL_QUOTA_CONFIG, name="quota")
    api = Api(srv)
    rid = api.root("ECC_256")["Identifier"]
    r = api.describe(rid)
    assert (r["CertTotalCount"], r["CertRemainingCount"]) == (100, 100), r
    a = api.sub(rid, "ECC_256")["Identifier"]
    b = api.sub(rid, "ECC_256")["Identifier"]
    for sid in (a, b):
        d = api.describe(sid)
        assert (d["CertTotalCount"], d["CertRemainingCount"], d["CertIssuedCount"]) == (30, 30, 0), d
    assert api.describe(rid)["CertRemainingCount"] == 40
    logs_before_a = api.logs(a)
    logs_a = len(logs_before_a)

    resp = api("AssignCertificateCount", ca_identifier=a, cert_total_count=70)
    assert resp.get("CertCount") == 70, resp
    assert api.describe(a)["CertTotalCount"] == 70
    assert api.describe(rid)["CertRemainingCount"] == 0
    assert api.describe(rid)["CertTotalCount"] == 100
    added = new_entries(logs_before_a, api.logs(a))
    assert [x["OpType"] for x in added] == ["UPDATE"], f"quota change logged as {added}"

    api.error("AssignCertificateCount", 400, "QuotaExceeded.CertificateCount", ca_identifier=a, cert_total_count=71)
    api.error("AssignCertificateCount", 400, "QuotaExceeded.CertificateCount", ca_identifier=b, cert_total_count=31)
    assert api.describe(a)["CertTotalCount"] == 70 and api.describe(b)["CertTotalCount"] == 30
    assert len(api.logs(a)) == logs_a + 1, "a refused assignment was logged"

    api("AssignCertificateCount", ca_identifier=b, cert_total_count=10)  # give some back
    assert api.describe(rid)["CertRemainingCount"] == 100 - 70 - 10
    api("AssignCertificateCount", ca_identifier=a, cert_total_count=90)  # its own 70 count as available
    assert api.describe(rid)["CertRemainingCount"] == 0
    api.error("AssignCertificateCount", 400, "InvalidParameter.CaIdentifier", ca_identifier=rid, cert_total_count=50)
    assert api.describe(rid)["CertTotalCount"] == 100
    st = api("GetCAInstanceStatus", identifier=a)["InstanceStatusList"]
    assert len(st) == 1 and st[0]["CertTotalCount"] == 90, st
    # a second root has its own pool
    rid2 = api.root("ECC_256")["Identifier"]
    c = api.sub(rid2, "ECC_256")["Identifier"]
    api("AssignCertificateCount", ca_identifier=c, cert_total_count=100)
    assert api.describe(rid2)["CertRemainingCount"] == 0 and api.describe(rid)["CertRemainingCount"] == 0
    api.error("AssignCertificateCount", 400, "QuotaExceeded.CertificateCount", ca_identifier=c, cert_total_count=101)


def test_default_quota_assignment(api):
    rid = api.root("ECC_256")["Identifier"]
    subs = [api.sub(rid, "ECC_256")["Identifier"] for _ in range(2)]
    assert api.describe(rid)["CertRemainingCount"] == 1_000_000 - 20_000
    api("AssignCertificateCount", ca_identifier=subs[0], cert_total_count=500_000)
    assert api.describe(subs[0])["CertTotalCount"] == 500_000
    assert api.describe(rid)["CertRemainingCount"] == 1_000_000 - 510_000
    api.error("AssignCertificateCount", 400, "QuotaExceeded.CertificateCount", ca_identifier=subs[1],
              cert_total_count=500_001)


# --------------------------------------------------------------------------
# reads: lists, paging, filters, instance status, alias/tags
# --------------------------------------------------------------------------

def new_entries(old: list[dict], new: list[dict]) -> list[dict]:
    """Log entries in `new` that `old` did not have (whatever order the list uses)."""
    rest = list(old)
    out = []
    for e in new:
        if e in rest:
            rest.remove(e)
        else:
            out.append(e)
    assert not rest, f"log entries disappeared: {rest}"
    return out


def walk_describe_list(api: Api, size: int, **filters) -> tuple[list[dict], int]:
    items, page, total = [], 1, None
    while True:
        body = api("DescribeCACertificateList", current_page=page, show_size=size, **filters)
        assert body["CurrentPage"] == page and body["ShowSize"] == size, body
        total = body["TotalCount"] if total is None else total
        assert body["TotalCount"] == total, "TotalCount changed while paging"
        assert body["PageCount"] == math.ceil(total / size), (body["PageCount"], total, size)
        lst = body.get("CertificateList") or []
        if page < body["PageCount"]:
            assert len(lst) == size, (page, len(lst))
        items += lst
        if page >= body["PageCount"]:
            assert len(lst) == (total - (page - 1) * size if total else 0), (page, len(lst), total)
            break
        page += 1
    return items, total


def test_lists_paging_and_filters(api, hier):
    hier.all()
    # add a FORBIDDEN and a REVOKE CA
    dis = api.root("ECC_256", common_name="Disabled list root")["Identifier"]
    rev = api.root("ECC_256", common_name="Revoked list root")["Identifier"]
    api("UpdateCACertificateStatus", identifier=dis, status="FORBIDDEN")
    api("UpdateCACertificateStatus", identifier=rev, status="REVOKE")

    total = api.count()
    assert total >= 2 * len(CASES)
    items, listed_total = walk_describe_list(api, 3)
    ids = [x["Identifier"] for x in items]
    assert listed_total == total and len(ids) == total and len(set(ids)) == total, (listed_total, total, len(ids))
    by_id = {x["Identifier"]: x for x in items}
    assert by_id[dis]["Status"] == "FORBIDDEN" and by_id[rev]["Status"] == "REVOKE"
    for b in hier.all():
        assert b.root_resp["Identifier"] in by_id and b.sub_resp["Identifier"] in by_id

    first = api("DescribeCACertificateList")
    assert first["ShowSize"] == 20 and first["CurrentPage"] == 1 and len(first["CertificateList"]) == min(20, total)

    # filters partition the set
    roots_, n_roots = walk_describe_list(api, 7, cert_type="root")
    subs_, n_subs = walk_describe_list(api, 7, cert_type="subRoot")
    assert {x["CertificateType"] for x in roots_} == {"ROOT"} and {x["CertificateType"] for x in subs_} == {"SUB_ROOT"}
    assert n_roots + n_subs == total
    assert {x["Identifier"] for x in roots_} == {i for i, x in by_id.items() if x["CertificateType"] == "ROOT"}
    counts = {}
    for st in ("issue", "forbidden", "revoke"):
        got, n = walk_describe_list(api, 50, ca_status=st)
        assert {x["Status"] for x in got} <= {st.upper()}, (st, {x["Status"] for x in got})
        counts[st] = n
    assert counts["forbidden"] >= 1 and counts["revoke"] >= 1 and sum(counts.values()) == total, counts
    valid, n_valid = walk_describe_list(api, 50, valid_status="valid")
    _, n_not = walk_describe_list(api, 50, valid_status="notValid")
    assert (n_valid, n_not) == (total, 0)
    one = api("DescribeCACertificateList", identifier=dis)
    assert one["TotalCount"] == 1 and [x["Identifier"] for x in one["CertificateList"]] == [dis]
    assert api("DescribeCACertificateList", identifier=uuid.uuid4().hex)["TotalCount"] == 0

    # ListPcaCaCertificate: NextToken pagination, every CA exactly once
    seen, token, pages = [], None, 0
    while True:
        kw = dict(max_results=4) | ({"next_token": token} if token else {})
        body = api("ListPcaCaCertificate", **kw)
        assert body["TotalCount"] == total and body["MaxResults"] == 4, body
        page = body.get("List") or []
        assert len(page) <= 4
        seen += page
        pages += 1
        token = body.get("NextToken")
        if not token:
            break
        assert len(page) == 4, "a page before the last is short"
        assert pages <= total, "NextToken never ends"
    assert sorted(x["CertIdentifier"] for x in seen) == sorted(ids), "ListPcaCaCertificate does not list every CA once"
    pca = {x["CertIdentifier"]: x for x in seen}
    for b in hier.all()[:3]:
        s = pca[b.sub_resp["Identifier"]]
        assert s["IssuerIdentifier"] == b.root_resp["Identifier"], s
        assert s["PrivateCaInstanceId"] == f"cas-pca-{b.sub_resp['Identifier']}", s
        assert s["CommonName"] == b.sub_req["common_name"] and s["Status"] == "ISSUE", s
    assert pca[rev]["Status"] == "REVOKE"
    big = api("ListPcaCaCertificate", max_results=2000)
    assert len(big["List"]) == total and not big.get("NextToken"), big.get("NextToken")

    # DescribePcaAndExternalCACertificateList: paging, KeyWord, Identifiers
    got, page = [], 1
    while True:
        body = api("DescribePcaAndExternalCACertificateList", current_page=page, show_size=5)
        assert body["TotalCount"] == total, body["TotalCount"]
        got += body.get("CertificateList") or []
        if page >= body["PageCount"]:
            break
        page += 1
    assert sorted(x["Identifier"] for x in got) == sorted(ids)
    b = hier.get("ECC_384")
    kw = api("DescribePcaAndExternalCACertificateList", key_word="Matrix Sub ECC_384")
    assert [x["Identifier"] for x in kw["CertificateList"]] == [b.sub_resp["Identifier"]], kw
    two = [hier.get("ECC_256").root_resp["Identifier"], b.sub_resp["Identifier"]]
    body = api("DescribePcaAndExternalCACertificateList", identifiers=",".join(two))
    assert body["TotalCount"] == 2 and sorted(x["Identifier"] for x in body["CertificateList"]) == sorted(two), body


def test_instance_status(api, hier):
    b = hier.get("ECC_256")
    for ident, kind, desc in ((b.root_resp["Identifier"], "ROOT", b.root_desc),
                              (b.sub_resp["Identifier"], "SUB_ROOT", b.sub_desc)):
        for kw in (dict(identifier=ident), dict(instance_id=f"cas-pca-{ident}")):
            lst = api("GetCAInstanceStatus", **kw)["InstanceStatusList"]
            assert len(lst) == 1, (kw, lst)
            s = lst[0]
            assert s["Identifier"] == ident and s["InstanceId"] == f"cas-pca-{ident}" and s["Type"] == kind, s
            assert s["BeforeTime"] == desc["BeforeDate"] and s["AfterTime"] == desc["AfterDate"], s
            assert s["CertTotalCount"] == desc["CertTotalCount"], s
    everything = api("GetCAInstanceStatus")["InstanceStatusList"]
    assert len(everything) == api.count()


def test_update_alias_resource_group_tags(api):
    rid = api.root("ECC_256", resource_group_id="rg-initial")["Identifier"]
    assert api.describe(rid)["ResourceGroupId"] == "rg-initial"
    logs0 = api.logs(rid)
    api("UpdatePcaCertificate", identifier=rid, alias_name="my alias 别名", resource_group_id="rg-acfm2iu",
        tags=[("env", "prod"), ("owner", "qa")])
    item = b_list_item(api, rid)
    assert item.get("Alias") == "my alias 别名" and item.get("ResourceGroupId") == "rg-acfm2iu", item
    d = api.describe(rid)
    assert d["ResourceGroupId"] == "rg-acfm2iu"
    assert sorted((t["TagKey"], t["TagValue"]) for t in d["Tags"]) == [("env", "prod"), ("owner", "qa")], d["Tags"]
    added = new_entries(logs0, api.logs(rid))
    assert [x["OpType"] for x in added] == ["UPDATE"], f"alias/tags update logged as {added}"
    api("UpdatePcaCertificate", identifier=rid, alias_name="second")
    assert b_list_item(api, rid)["Alias"] == "second"
    assert sorted((t["TagKey"], t["TagValue"]) for t in api.describe(rid)["Tags"]) == [("env", "prod"), ("owner", "qa")], \
        "an alias-only update dropped the tags"


# --------------------------------------------------------------------------
# 5. isolation between accounts
# --------------------------------------------------------------------------

def test_account_isolation(server, api):
    root = api.root("ECC_256", common_name="Isolation Root A")
    rid = root["Identifier"]
    sid = api.sub(rid, "ECC_256", common_name="Isolation Sub A")["Identifier"]
    ids = [rid, sid]
    before = {i: (api.describe(i), api.logs(i)) for i in ids}
    first_count = api.count()

    other = Api(server, server.create_account("ca-isolation"))
    assert other.count() == 0
    lst = other("DescribeCACertificateList", show_size=100)
    assert lst["TotalCount"] == 0 and (lst.get("CertificateList") or []) == [], lst
    for i in ids:
        assert other("DescribeCACertificateList", identifier=i)["TotalCount"] == 0
    pca = other("ListPcaCaCertificate", max_results=100)
    assert pca["TotalCount"] == 0 and (pca.get("List") or []) == [], pca
    ext = other("DescribePcaAndExternalCACertificateList", identifiers=",".join(ids))
    assert ext["TotalCount"] == 0 and (ext.get("CertificateList") or []) == [], ext
    assert other("DescribePcaAndExternalCACertificateList", key_word="Isolation")["TotalCount"] == 0
    assert (other("GetCAInstanceStatus").get("InstanceStatusList") or []) == []

    nf = "NotFound.CACertificate"
    for i in ids:
        other.error("DescribeCACertificate", 404, nf, identifier=i)
        other.error("ListCACertificateLog", 404, nf, identifier=i)
        other.error("UpdateCACertificateStatus", 404, nf, identifier=i, status="FORBIDDEN")
        other.error("UpdateCACertificateStatus", 404, nf, identifier=i)  # default REVOKE
        other.error("UpdatePcaCertificate", 404, nf, identifier=i, alias_name="stolen", tags=[("a", "b")])
        other.error("GetCAInstanceStatus", 404, (nf, "NotFound.Instance"), identifier=i)
        other.error("GetCAInstanceStatus", 404, (nf, "NotFound.Instance"), instance_id=f"cas-pca-{i}")
    other.error("AssignCertificateCount", 404, nf, ca_identifier=sid, cert_total_count=5)
    other.error("CreateSubCACertificate", 404, nf, **sub_fields(rid))
    # without ParentIdentifier, an account with no root gets no sub CA either
    other.error("CreateSubCACertificate", 400, ("MissingParameter.ParentIdentifier", "InvalidParameter.ParentIdentifier"),
                **sub_fields(None))
    assert other.count() == 0

    # nothing of the first account changed
    for i in ids:
        d, logs = before[i]
        assert api.describe(i) == d, f"{i} changed after the other account's calls"
        assert api.logs(i) == logs, f"{i}'s log changed after the other account's calls"
    assert api.count() == first_count

    # ClientTokens are per account
    token = "iso-" + uuid.uuid4().hex
    mine = api.root("ECC_256", client_token=token)
    theirs = other.root("ECC_256", client_token=token)
    assert theirs["Identifier"] != mine["Identifier"] and theirs["Certificate"] != mine["Certificate"]
    assert other.count() == 1 and api.count() == first_count + 1
    # the other account's only root is the implicit parent
    s = other.sub(None, "ECC_256")
    assert other.describe(s["Identifier"])["ParentIdentifier"] == theirs["Identifier"]
    assert der(one_cert(s["CertificateChain"])) == der(one_cert(theirs["Certificate"]))
    for i in (theirs["Identifier"], s["Identifier"]):
        api.error("DescribeCACertificate", 404, nf, identifier=i)
    api.error("CreateSubCACertificate", 404, nf, **sub_fields(theirs["Identifier"]))
    assert api.count() == first_count + 1
    assert {x["CertIdentifier"] for x in other("ListPcaCaCertificate", max_results=100)["List"]} == \
        {theirs["Identifier"], s["Identifier"]}


# --------------------------------------------------------------------------
# 6. status lifecycle
# --------------------------------------------------------------------------

def test_status_lifecycle(api):
    rid = api.root("ECC_256", common_name="Lifecycle Root")["Identifier"]
    s1 = api.sub(rid, "ECC_256")["Identifier"]
    logs = api.logs(rid)
    assert [x["OpType"] for x in logs].count("ADD") == 1, logs
    for entry in logs:
        assert entry["Identifier"] == rid and isinstance(entry["CreateTime"], int), entry
    n_updates = [x["OpType"] for x in logs].count("UPDATE")

    def step(status: str | None, want: str, logged: bool):
        nonlocal n_updates
        t0 = int(time.time() * 1000) - 1000
        kw = {"status": status} if status else {}
        api("UpdateCACertificateStatus", identifier=rid, **kw)
        t1 = int(time.time() * 1000) + 1000
        assert api.describe(rid)["Status"] == want
        entries = api.logs(rid)
        ups = [x for x in entries if x["OpType"] == "UPDATE"]
        if logged:
            assert len(ups) == n_updates + 1, f"{status}: {len(ups)} UPDATE entries, want {n_updates + 1}: {entries}"
            new = max(ups, key=lambda x: x["CreateTime"])
            assert t0 <= new["CreateTime"] <= t1, (new, t0, t1)
            n_updates += 1
        else:
            assert len(ups) == n_updates, f"repeating {status} logged a change: {entries}"

    def refused_sub():
        nonlocal n_updates
        api.error("CreateSubCACertificate", 400, "InvalidStatus.CACertificate", **sub_fields(rid))
        ups = [x for x in api.logs(rid) if x["OpType"] == "UPDATE"]
        assert len(ups) == n_updates, "a refused sub CA creation was logged on the root"

    count0 = api.count()
    step("FORBIDDEN", "FORBIDDEN", True)
    refused_sub()
    step("FORBIDDEN", "FORBIDDEN", False)  # repeating the current status succeeds
    assert b_list_item(api, rid)["Status"] == "FORBIDDEN"
    assert rid in {x["Identifier"] for x in api("DescribeCACertificateList", ca_status="forbidden", show_size=100)["CertificateList"]}
    assert api.describe(s1)["Status"] == "ISSUE", "disabling the root changed its sub CA"
    step("ISSUE", "ISSUE", True)
    s2 = api.sub(rid, "ECC_256")["Identifier"]
    n_updates = [x["OpType"] for x in api.logs(rid)].count("UPDATE")  # issuing s2 may log on the root
    step("ISSUE", "ISSUE", False)
    step(None, "REVOKE", True)  # Status defaults to REVOKE
    refused_sub()
    for st in ("ISSUE", "FORBIDDEN"):
        api.error("UpdateCACertificateStatus", 400, "InvalidStatus.CACertificate", identifier=rid, status=st)
        assert api.describe(rid)["Status"] == "REVOKE"
    step("REVOKE", "REVOKE", False)
    refused_sub()
    assert api.count() == count0 + 1
    # sub CAs have their own status
    api("UpdateCACertificateStatus", identifier=s2, status="FORBIDDEN")
    assert api.describe(s2)["Status"] == "FORBIDDEN"
    api("UpdateCACertificateStatus", identifier=s2, status="REVOKE")
    assert api.describe(s2)["Status"] == "REVOKE"
    api.error("UpdateCACertificateStatus", 400, "InvalidStatus.CACertificate", identifier=s2, status="ISSUE")
    sub_logs = api.logs(s2)
    assert sorted(x["OpType"] for x in sub_logs) == ["ADD", "UPDATE", "UPDATE"], sub_logs
    # a revoked root's certificate is still served and described
    d = api.describe(rid)
    assert d["Status"] == "REVOKE" and "BEGIN CERTIFICATE" in d["X509Certificate"]


# --------------------------------------------------------------------------
# 7. restart persistence, private key material at rest
# --------------------------------------------------------------------------

PKCS8_CLEAR = [
    re.compile(rb"\x02\x01\x00\x30[\x0d-\x15]\x06\x07\x2a\x86\x48\xce\x3d\x02\x01", re.S),   # EC / SM2 PKCS#8
    re.compile(rb"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01\x05\x00\x04\x82", re.S),       # RSA PKCS#8
    re.compile(rb"\x02\x01\x01\x04[\x20\x30\x42]", re.S),                                      # SEC1 ECPrivateKey
]


def key_material_hits(data: bytes) -> list[str]:
    hits = []
    if b"PRIVATE KEY" in data:
        hits.append("PEM 'PRIVATE KEY'")
    for rx in PKCS8_CLEAR:
        if rx.search(data):
            hits.append(f"cleartext key DER {rx.pattern[:12]!r}")
    return hits


def test_key_detector_detects(tmp_path):
    """The data-dir scan below would see real keys (controls for the detector)."""
    keys = [rsa.generate_private_key(65537, 1024), ec.generate_private_key(ec.SECP256R1()),
            ec.generate_private_key(ec.SECP384R1()), ec.generate_private_key(ec.SECP521R1())]
    for k in keys:
        d = k.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        assert key_material_hits(b"xx" + d + b"yy"), type(k)
    r = run(["openssl", "genpkey", "-algorithm", "SM2", "-outform", "DER"])
    if r.returncode == 0:
        assert key_material_hits(r.stdout)
    # and certificates alone do not trigger it
    c = rsa.generate_private_key(65537, 1024)
    assert not key_material_hits(c.public_key().public_bytes(serialization.Encoding.DER,
                                                             serialization.PublicFormat.SubjectPublicKeyInfo))


def scan_data_dir(data_dir: Path) -> tuple[list[str], bytes]:
    hits, blob = [], b""
    for p in sorted(data_dir.rglob("*")):
        if p.is_file():
            data = p.read_bytes()
            blob += data
            hits += [f"{p.name}: {h}" for h in key_material_hits(data)]
    return hits, blob


def test_no_key_material_in_running_data_dir(server, hier):
    requires_sqlite_file()
    hier.all()
    hits, blob = scan_data_dir(server.data_dir)
    assert not hits, f"private key material in the data dir: {hits}"
    assert der(hier.get("ECC_256").root) in blob, "control: the CA certificate is not visible to the scan"


def test_restart_keeps_everything(server_factory):
    srv = server_factory(name="persist")
    api = Api(srv)
    token = "persist-" + uuid.uuid4().hex
    root = api.root("ECC_384", client_token=token, tags=[("keep", "me")], common_name="Persistent Root")
    rid = root["Identifier"]
    s1 = api.sub(rid, "ECC_384", path_len_constraint=2, enable_crl=True, crl_day=9)["Identifier"]
    s2 = api.sub(rid, "ECC_256")["Identifier"]
    rsa_root = api.root("RSA_2048")["Identifier"]
    api("UpdatePcaCertificate", identifier=s1, alias_name="persisted alias")
    api("UpdateCACertificateStatus", identifier=s2, status="FORBIDDEN")
    api("AssignCertificateCount", ca_identifier=s1, cert_total_count=12_345)
    ids = [rid, s1, s2, rsa_root]
    before = {i: api.describe(i) for i in ids}
    logs_before = {i: api.logs(i) for i in ids}
    list_before = sorted(api("DescribeCACertificateList", show_size=100)["CertificateList"], key=lambda x: x["Identifier"])
    count = api.count()
    old_base = srv.base_url

    rc = srv.terminate(timeout=10)
    assert rc == 0, f"SIGTERM: exit code {rc}"
    if not postgres_server_url():  # on PostgreSQL the data dir holds no database to scan
        hits, blob = scan_data_dir(srv.data_dir)
        assert not hits, f"private key material in the data dir: {hits}"
        assert der(one_cert(root["Certificate"])) in blob, "control: the CA certificate is not visible to the scan"

    srv.port = free_port()
    srv.start()
    api = Api(srv)
    assert api.count() == count
    for i in ids:
        d = api.describe(i)
        want = dict(before[i])
        assert d.get("CrlUrl", "") == want.pop("CrlUrl", "").replace(old_base, srv.base_url), d.get("CrlUrl")
        d.pop("CrlUrl", None)
        assert d == want, f"{i} differs after restart:\n{json.dumps(want, indent=1)}\n{json.dumps(d, indent=1)}"
        assert api.logs(i) == logs_before[i], f"log of {i} differs after restart"
    list_after = sorted(api("DescribeCACertificateList", show_size=100)["CertificateList"], key=lambda x: x["Identifier"])
    assert list_after == list_before
    # the ClientToken still replays
    again = api.root("ECC_384", client_token=token, tags=[("keep", "me")], common_name="Persistent Root")
    assert again["Identifier"] == rid and api.count() == count
    # the old root's key still signs
    s3 = api.sub(rid, "ECC_384")
    work = srv.workdir
    (work / "root.pem").write_text(root["Certificate"])
    (work / "s3.pem").write_text(s3["Certificate"])
    openssl_ok(["verify", "-x509_strict", "-check_ss_sig", "-CAfile", str(work / "root.pem"), str(work / "s3.pem")])
    assert api.describe(rid)["CertRemainingCount"] == 1_000_000 - 12_345 - 10_000 - 10_000
    api.error("CreateSubCACertificate", 400, "InvalidParameter.ParentIdentifier", **sub_fields(s1))
    api("UpdateCACertificateStatus", identifier=s2, status="ISSUE")
    assert api.describe(s2)["Status"] == "ISSUE"
    assert api.count() == count + 1
