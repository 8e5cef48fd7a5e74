"""CreateExternalCACertificate (API 2020-06-30): a root of the account signs a
subordinate CA certificate for a key held outside opencas, from an openssl CSR.

RSA-2048, a P-256 root with a P-384 CSR, and SM2: the certificate verifies under its root
(`openssl verify -x509_strict`), carries the CSR's key and subject with the ApiPassthrough
overrides, the requested path length and EKUs, passes pkilint; the external key then really
signs a leaf that verifies root -> external CA -> leaf. The reads (Describe, lists, log,
the root's counters), the Validity forms, every refusal (and that a refusal stores
nothing), the InstanceId forms and per-account isolation."""
from __future__ import annotations

import datetime as dt
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtensionOID

from opencas_testlib import V_2020_06, assert_error, assert_ok, v3_request
from test_ca_hierarchy import (
    ALGS,
    EKU_OIDS,
    HEX32,
    SM2_DISTID,
    _pkilint_json,
    add_years,
    asn1_lines,
    b_list_item,
    der,
    load_pems,
    name_string_types,
    one_cert,
    openssl_ok,
    run,
)
from test_issuance import IApi, add_months, pubkey_pem, subject_attrs, tamper, write

ACTION = "CreateExternalCACertificate"
NF = "NotFound.CACertificate"

# --------------------------------------------------------------------------
# keys (openssl, generated in parallel once) and CSRs
# --------------------------------------------------------------------------

GENPKEY = {
    "rsa": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    "p256": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    "p384": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
    # the brief's form: an EC key on the SM2 curve
    "sm2": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:SM2"],
    "leaf_rsa": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    "leaf_ec": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
}


class Keys:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.paths = {k: tmp / f"{k}.key" for k in GENPKEY}
        with ThreadPoolExecutor(6) as ex:
            list(ex.map(lambda k: openssl_ok(["genpkey", *GENPKEY[k], "-out", str(self.paths[k])]), GENPKEY))

    def csr(self, key: str, subj: str, *, addext: list[str] | None = None) -> str:
        out = self.tmp / f"{uuid.uuid4().hex}.csr"
        argv = ["req", "-new", "-key", str(self.paths[key]), "-subj", subj, "-utf8", "-out", str(out)]
        for e in addext or []:
            argv += ["-addext", e]
        if key == "sm2":
            argv += ["-sm3", "-sigopt", f"distid:{SM2_DISTID}"]
        openssl_ok(argv)
        return out.read_text()


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return Keys(tmp_path_factory.mktemp("ext-keys"))


@pytest.fixture(scope="module")
def api(server):
    return IApi(server)


def passthrough(subject: dict | None = None, eku: list[str] | None = None, path_len: int | None = None):
    """The SDK's ApiPassthrough model."""
    from alibabacloud_cas20200630 import models as m
    s = m.CreateExternalCACertificateRequestApiPassthroughSubject(**subject) if subject else None
    e = None
    if eku is not None or path_len is not None:
        e = m.CreateExternalCACertificateRequestApiPassthroughExtensions(extended_key_usages=eku,
                                                                        path_len_constraint=path_len)
    return m.CreateExternalCACertificateRequestApiPassthrough(subject=s, extensions=e)


SDK_SUBJECT_KEY = {"CN": "common_name", "O": "organization", "OU": "organization_unit", "L": "locality",
                   "ST": "state", "C": "country"}


def subj_arg(attrs: list[tuple[str, str]]) -> str:
    return "".join(f"/{k}={v}" for k, v in attrs)


def overridden(csr_attrs: list[tuple[str, str]], override: dict) -> list[tuple[str, str]]:
    """The CSR's subject with the override's fields replaced/added, in C ST L O OU CN order."""
    vals = dict(csr_attrs)
    vals.update(override)
    return [(k, vals[k]) for k in ("C", "ST", "L", "O", "OU", "CN") if vals.get(k)]


def create(api: IApi, **fields) -> dict:
    body = api(ACTION, **fields)
    assert set(body) >= {"Certificate", "CertificateChain", "Identifier", "RequestId"}, body
    assert HEX32.fullmatch(body["Identifier"] or ""), f"Identifier {body['Identifier']!r} is not 32 hex"
    return body


# --------------------------------------------------------------------------
# 1. the matrix: RSA, ECC (P-256 root, P-384 CSR), SM2
# --------------------------------------------------------------------------

@dataclass
class ExtCase:
    id: str
    root_alg: str
    key: str               # Keys name of the external key
    full_alg: str          # FullAlgorithm of the external CA
    csr_subject: list
    override: dict         # label -> value
    eku: list | None
    path_len: int
    validity: str | None
    months: int            # expected validity in months
    instance_prefix: bool  # InstanceId = cas-pca-<root> (else the bare Identifier)
    leaf_key: str | None   # sign a leaf with the external key
    extra: dict = field(default_factory=dict)

    @property
    def sm2(self) -> bool:
        return self.key == "sm2"


CASES = [
    ExtCase("RSA_2048", "RSA_2048", "rsa", "RSA_2048",
            [("C", "CN"), ("ST", "Zhejiang"), ("L", "Hangzhou"), ("O", "CSR Org"), ("OU", "CSR Unit"),
             ("CN", "CSR RSA CA")],
            {"CN": "External RSA CA", "O": "Override Org"}, ["serverAuth", "clientAuth"], 1, "3y", 36, True,
            "leaf_rsa",
            extra=dict(cert_max_time=365, resource_group_id="rg-external", tags=[("env", "ext"), ("team", "pki")])),
    ExtCase("ECC_256-P384", "ECC_256", "p384", "ECC_384",
            [("O", "CSR Org"), ("CN", "CSR ECC CA")],
            {"C": "DE", "ST": "Berlin", "L": "Berlin", "OU": "Override OU"}, None, 0, "18m", 18, False, "leaf_ec"),
    ExtCase("SM2_256", "SM2_256", "sm2", "SM2_256",
            [("C", "CN"), ("ST", "浙江"), ("L", "杭州"), ("O", "开放证书服务"), ("OU", "密码部"), ("CN", "外部 SM2 CA")],
            {"OU": "外部密码部"}, ["clientAuth"], 2, None, 60, True, None),
]
CASE_IDS = [c.id for c in CASES]
BY_ID = {c.id: c for c in CASES}


@dataclass
class Built:
    case: ExtCase
    root_id: str
    ext_id: str
    resp: dict
    root: x509.Certificate
    ext: x509.Certificate
    root_pem: Path
    ext_pem: Path
    csr_path: Path
    root_before: dict
    root_after: dict
    t0: dt.datetime
    t1: dt.datetime
    dir: Path


class Matrix:
    def __init__(self, api: IApi, keys: Keys, tmp: Path):
        self.api, self.keys, self.tmp = api, keys, tmp
        self.built: dict[str, Built | Exception] = {}

    def get(self, cid: str) -> Built:
        if cid not in self.built:
            try:
                self.built[cid] = self._build(BY_ID[cid])
            except Exception as e:  # noqa: BLE001 - reported by every test of the case
                self.built[cid] = e
        b = self.built[cid]
        if isinstance(b, Exception):
            raise AssertionError(f"creating the {cid} external CA failed: {b!r}") from b
        return b

    def _build(self, c: ExtCase) -> Built:
        api = self.api
        root = api.root(c.root_alg, years=10, common_name=f"External Root {c.id}")
        rid = root["Identifier"]
        csr = self.keys.csr(c.key, subj_arg(c.csr_subject))
        d = self.tmp / c.id
        d.mkdir(parents=True, exist_ok=True)
        root_before = api.describe(rid)
        fields = dict(csr=csr, instance_id=f"cas-pca-{rid}" if c.instance_prefix else rid,
                      api_passthrough=passthrough({SDK_SUBJECT_KEY[k]: v for k, v in c.override.items()},
                                                  c.eku, c.path_len))
        if c.validity is not None:
            fields["validity"] = c.validity
        fields.update(c.extra)
        t0 = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        resp = create(api, **fields)
        t1 = dt.datetime.now(dt.timezone.utc)
        return Built(c, rid, resp["Identifier"], resp, one_cert(root["Certificate"]), one_cert(resp["Certificate"]),
                     write(d, "root.pem", root["Certificate"]), write(d, "ext.pem", resp["Certificate"]),
                     write(d, "ext.csr", csr), root_before, api.describe(rid), t0, t1, d)


@pytest.fixture(scope="module")
def matrix(api, keys, tmp_path_factory):
    return Matrix(api, keys, tmp_path_factory.mktemp("ext-matrix"))


def verify_ext(b: Built, ext_pem: Path | None = None, root_pem: Path | None = None):
    argv = ["openssl", "verify", "-x509_strict"]
    if b.case.sm2:
        argv += ["-vfyopt", f"distid:{SM2_DISTID}"]
    return run(argv + ["-CAfile", str(root_pem or b.root_pem), str(ext_pem or b.ext_pem)])


@pytest.mark.parametrize("cid", CASE_IDS)
def test_external_certificate(matrix, cid):
    b = matrix.get(cid)
    c = b.case
    cert = b.ext
    # the chain is the root
    assert [der(x) for x in load_pems(b.resp["CertificateChain"])] == [der(b.root)], "CertificateChain is not the root"
    # openssl verifies it under its root, and not under another root
    r = verify_ext(b)
    out = (r.stdout + r.stderr).decode(errors="replace")
    assert r.returncode == 0 and f"{b.ext_pem}: OK" in out, f"openssl verify failed:\n{out}"
    other = next(o for o in CASE_IDS if o != cid)
    bad = verify_ext(b, root_pem=matrix.get(other).root_pem)
    assert bad.returncode != 0, f"the {cid} external CA verified under the {other} root"
    # the CSR's public key
    cert_pub = pubkey_pem(["x509", "-in", str(b.ext_pem), "-noout", "-pubkey"])
    assert cert_pub == pubkey_pem(["req", "-in", str(b.csr_path), "-noout", "-pubkey"]), "certificate key != CSR key"
    assert cert_pub == pubkey_pem(["pkey", "-in", str(matrix.keys.paths[c.key]), "-pubout"])
    if not c.sm2:
        csr_obj = x509.load_pem_x509_csr(b.csr_path.read_bytes())
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        assert cert.public_key().public_bytes(serialization.Encoding.DER, spki) == \
            csr_obj.public_key().public_bytes(serialization.Encoding.DER, spki)
        cert.verify_directly_issued_by(b.root)
    else:
        text = openssl_ok(["x509", "-in", str(b.ext_pem), "-noout", "-text"])
        assert "SM2-with-SM3" in text and "ASN1 OID: SM2" in text, text
    assert cert.signature_algorithm_oid.dotted_string == ALGS[c.root_alg].sig_oid, \
        f"signature {cert.signature_algorithm_oid.dotted_string}, want the root's {ALGS[c.root_alg].sign}"
    # subject: the CSR's with the ApiPassthrough overrides; issuer: the root
    want = overridden(c.csr_subject, c.override)
    assert subject_attrs(cert) == want, f"subject {subject_attrs(cert)}, want {want}"
    assert cert.issuer.public_bytes() == b.root.subject.public_bytes()
    for attr, typ in name_string_types(asn1_lines(b.ext_pem)):
        assert typ == ("PRINTABLESTRING" if attr == "C" else "UTF8STRING"), f"{attr} encoded as {typ}"
    # serial number
    octets = (cert.serial_number.bit_length() + 8) // 8
    assert cert.serial_number > 0 and 9 <= octets <= 20, f"serial {cert.serial_number:x}"
    # validity: Validity (default 5 years) from now, inside the root
    nb, na = cert.not_valid_before_utc, cert.not_valid_after_utc
    assert b.t0 - dt.timedelta(days=1) <= nb <= b.t1 + dt.timedelta(seconds=2), f"notBefore {nb} ({b.t0}..{b.t1})"
    if c.months % 12 == 0:
        assert abs(na - add_years(nb, c.months // 12)) <= dt.timedelta(days=1), \
            f"notAfter {na} is not {c.months // 12} years after {nb} (Validity {c.validity!r})"
    else:
        assert abs(na - add_months(nb, c.months)) <= dt.timedelta(days=5), \
            f"notAfter {na} is not {c.months} months after {nb} (Validity {c.validity!r})"
    assert na <= b.root.not_valid_after_utc
    # extensions
    exts = {e.oid: e for e in cert.extensions}
    bc = exts.get(ExtensionOID.BASIC_CONSTRAINTS)
    assert bc is not None and bc.critical and bc.value.ca is True, f"basicConstraints {bc}"
    assert bc.value.path_length == c.path_len, f"pathLen {bc.value.path_length}, requested {c.path_len}"
    ku = exts.get(ExtensionOID.KEY_USAGE)
    assert ku is not None and ku.critical and ku.value.key_cert_sign and ku.value.crl_sign, f"keyUsage {ku}"
    eku = exts.get(ExtensionOID.EXTENDED_KEY_USAGE)
    if c.eku:
        assert eku is not None and set(eku.value) == {EKU_OIDS[e] for e in c.eku}, f"EKU {eku}, requested {c.eku}"
    else:
        assert eku is None, f"EKU {eku} though none was requested"
    ski = exts.get(ExtensionOID.SUBJECT_KEY_IDENTIFIER)
    assert ski is not None and not ski.critical and ski.value.digest, f"SKI {ski}"
    root_ski = b.root.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_KEY_IDENTIFIER).value.digest
    aki = exts.get(ExtensionOID.AUTHORITY_KEY_IDENTIFIER)
    assert aki is not None and not aki.critical and aki.value.key_identifier == root_ski, f"AKI {aki} != root SKI"


@pytest.mark.parametrize("cid", CASE_IDS)
def test_pkilint(matrix, cid):
    try:
        from pkilint.bin import lint_pkix_cert, lint_pkix_signer_signee_cert_chain
    except ImportError as e:  # pragma: no cover - requirements.txt installs it
        pytest.skip(f"pkilint is not installed ({e})")
    b = matrix.get(cid)
    bad = []
    for label, findings in (
        ("ext", _pkilint_json(lint_pkix_cert.main, [str(b.ext_pem)])),
        ("root->ext", _pkilint_json(lint_pkix_signer_signee_cert_chain.main, [str(b.root_pem), str(b.ext_pem)])),
    ):
        for f in findings:
            line = f"pkilint {cid} {label}: {f['severity']} {f['code']} at {f['path']}" + \
                (f": {f['message']}" if f.get("message") else "")
            if f["severity"] in ("FATAL", "ERROR"):
                bad.append(line)
            elif f["severity"] in ("WARNING", "NOTICE"):
                print(line)
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("cid", CASE_IDS)
def test_describe_and_lists(api, matrix, cid):
    b = matrix.get(cid)
    c = b.case
    a = ALGS[c.full_alg]
    d = api.describe(b.ext_id)
    assert d.get("Identifier") == b.ext_id
    assert d.get("CertificateType") == "SUB_ROOT", d
    assert d.get("IssuerType") == "external", d
    assert d.get("ParentIdentifier") == b.root_id, d
    assert d.get("Status") == "ISSUE", d
    assert (d.get("CertTotalCount"), d.get("CertIssuedCount")) == (0, 0), d
    assert d.get("CertRemainingCount") in (0, None), d
    assert d.get("Algorithm") == a.family and d.get("FullAlgorithm") == c.full_alg and d.get("KeySize") == a.bits, \
        (d.get("Algorithm"), d.get("FullAlgorithm"), d.get("KeySize"))
    assert d.get("SignAlgorithm") == ALGS[c.root_alg].sign, d.get("SignAlgorithm")
    assert d.get("SubjectDN") == ",".join(f"{k}={v}" for k, v in subject_attrs(b.ext)), d.get("SubjectDN")
    assert d.get("CommonName") == dict(subject_attrs(b.ext))["CN"], d
    assert int(d.get("SerialNumber"), 16) == b.ext.serial_number, d.get("SerialNumber")
    assert der(one_cert(d["X509Certificate"])) == der(b.ext)
    assert [der(x) for x in load_pems(d["CaCertChain"])] == [der(b.ext), der(b.root)], "CaCertChain != ext + root"
    assert d.get("BeforeDate") == int(b.ext.not_valid_before_utc.timestamp()) * 1000
    assert d.get("AfterDate") == int(b.ext.not_valid_after_utc.timestamp()) * 1000
    for k, v in c.extra.items():
        if k == "tags":
            assert sorted((t["TagKey"], t["TagValue"]) for t in d.get("Tags") or []) == sorted(v), d.get("Tags")
        else:
            name = {"cert_max_time": "CertMaxTime", "resource_group_id": "ResourceGroupId"}[k]
            assert d.get(name) == v, (name, d.get(name), v)
    # the lists
    item = b_list_item(api, b.ext_id)
    assert item["CertificateType"] == "SUB_ROOT" and item["ParentIdentifier"] == b.root_id, item
    assert item["Sha2"] == d["Sha2"], item
    body = api("DescribePcaAndExternalCACertificateList", identifiers=b.ext_id)
    assert body["TotalCount"] == 1 and [x["Identifier"] for x in body["CertificateList"]] == [b.ext_id], body
    x = body["CertificateList"][0]
    assert x["CertificateType"] == "SUB_ROOT" and x["ParentIdentifier"] == b.root_id, x
    assert b.ext_id in {x["CertIdentifier"] for x in api("ListPcaCaCertificate", max_results=2000)["List"]}
    # the log
    logs = api.logs(b.ext_id)
    adds = [e for e in logs if e["OpType"] == "ADD"]
    assert len(adds) == 1 and len(logs) == 1, f"log of a new external CA: {logs}"
    assert "external" in (adds[0].get("Content") or "").lower(), f"ADD entry does not mention 'external': {adds[0]}"
    # the root signed one more certificate, and gave no quota away
    assert b.root_after["CertIssuedCount"] == b.root_before["CertIssuedCount"] + 1, \
        (b.root_before["CertIssuedCount"], b.root_after["CertIssuedCount"])
    assert b.root_after["CertRemainingCount"] == b.root_before["CertRemainingCount"], \
        "an external CA (CertTotalCount 0) took quota from the root"


@pytest.mark.parametrize("cid", CASE_IDS)
def test_cannot_issue_here(api, matrix, keys, cid):
    b = matrix.get(cid)
    alg = b.case.full_alg
    before = api.describe(b.ext_id)
    api.error("CreateServerCertificate", 400, "InvalidStatus.CACertificate", parent_identifier=b.ext_id,
              algorithm=alg, common_name="nope.example.com", days=30)
    api.error("CreateClientCertificate", 400, "InvalidStatus.CACertificate", parent_identifier=b.ext_id,
              algorithm=alg, common_name="nope client", days=30)
    api.error("AssignCertificateCount", 400, "InvalidParameter.CaIdentifier", ca_identifier=b.ext_id,
              cert_total_count=10)
    # it cannot parent a CA here either
    api.error("CreateSubCACertificate", 400, "InvalidParameter.ParentIdentifier", parent_identifier=b.ext_id,
              common_name="Sub of external", organization="O", organization_unit="OU", locality="L", state="S",
              algorithm=alg, years=5)
    after = api.describe(b.ext_id)
    assert (after["CertTotalCount"], after["CertIssuedCount"]) == (before["CertTotalCount"], before["CertIssuedCount"])


LEAF_EXT = """basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature{ke}
extendedKeyUsage=serverAuth
subjectAltName=DNS:{host},DNS:www.{host}
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
"""


@pytest.mark.parametrize("cid", [c.id for c in CASES if c.leaf_key])
def test_external_key_signs_a_leaf(matrix, keys, cid, tmp_path):
    """The point of an external CA: its own key (never seen by opencas) issues, and the
    result chains to the opencas root."""
    b = matrix.get(cid)
    c = b.case
    host = f"leaf-{uuid.uuid4().hex[:8]}.example.com"
    csr = write(tmp_path, "leaf.csr", keys.csr(c.leaf_key, f"/O=Leaf Org/CN={host}"))
    extfile = write(tmp_path, "leaf.ext", LEAF_EXT.format(host=host, ke=",keyEncipherment" if c.key == "rsa" else ""))
    leaf = tmp_path / "leaf.pem"
    openssl_ok(["x509", "-req", "-in", str(csr), "-CA", str(b.ext_pem), "-CAkey", str(keys.paths[c.key]),
                "-set_serial", "0x" + uuid.uuid4().hex, "-days", "30", "-sha256", "-extfile", str(extfile),
                "-out", str(leaf)])
    out = openssl_ok(["verify", "-x509_strict", "-purpose", "sslserver", "-CAfile", str(b.root_pem),
                      "-untrusted", str(b.ext_pem), str(leaf)])
    assert f"{leaf}: OK" in out, out
    chain = openssl_ok(["verify", "-show_chain", "-CAfile", str(b.root_pem), "-untrusted", str(b.ext_pem), str(leaf)])
    assert "depth=2" in chain, f"the chain is not root -> ext -> leaf:\n{chain}"
    cert = x509.load_pem_x509_certificate(leaf.read_bytes())
    cert.verify_directly_issued_by(b.ext)
    # controls: without the external CA, or under another root, it does not verify
    assert run(["openssl", "verify", "-x509_strict", "-CAfile", str(b.root_pem), str(leaf)]).returncode != 0
    other = next(o for o in CASE_IDS if o != cid)
    assert run(["openssl", "verify", "-x509_strict", "-CAfile", str(matrix.get(other).root_pem),
                "-untrusted", str(b.ext_pem), str(leaf)]).returncode != 0
    # with the path length the CA got, a CA below it works iff pathLen >= 1
    if c.path_len >= 1:
        sub_csr = write(tmp_path, "sub.csr", keys.csr(c.leaf_key, "/CN=Below external"))
        sub_ext = write(tmp_path, "sub.ext", "basicConstraints=critical,CA:TRUE,pathlen:0\n"
                                             "keyUsage=critical,keyCertSign,cRLSign\n"
                                             "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
        sub = tmp_path / "below.pem"
        openssl_ok(["x509", "-req", "-in", str(sub_csr), "-CA", str(b.ext_pem), "-CAkey", str(keys.paths[c.key]),
                    "-set_serial", "0x" + uuid.uuid4().hex, "-days", "30", "-sha256", "-extfile", str(sub_ext),
                    "-out", str(sub)])
        openssl_ok(["verify", "-x509_strict", "-CAfile", str(b.root_pem), "-untrusted", str(b.ext_pem), str(sub)])


# --------------------------------------------------------------------------
# 2. Validity forms and limits
# --------------------------------------------------------------------------

def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def ecc_root(api):
    r = api.root("ECC_256", years=10, common_name="External validity root")
    return r["Identifier"], one_cert(r["Certificate"])


def test_validity_forms(api, keys, ecc_root):
    rid, root = ecc_root
    csr = keys.csr("p256", "/CN=Validity external")

    def make(validity):
        t0 = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        kw = {} if validity is None else {"validity": validity}
        c = one_cert(create(api, instance_id=rid, csr=csr, **kw)["Certificate"])
        return c.not_valid_before_utc, c.not_valid_after_utc, t0

    second = dt.timedelta(seconds=2)
    nb, na, t0 = make("30d")
    assert abs(nb - t0) <= second and abs((na - nb) - dt.timedelta(days=30)) <= second, (nb, na)
    nb, na, t0 = make("2y")
    assert abs(nb - t0) <= second and abs(na - add_years(nb, 2)) <= dt.timedelta(days=1), (nb, na)
    nb, na, t0 = make(None)  # default: 5 years
    assert abs(na - add_years(nb, 5)) <= dt.timedelta(days=1), (nb, na)
    end = (t0 + dt.timedelta(days=100)).replace(hour=12, minute=0, second=0)
    nb, na, t0 = make(iso(end))
    assert abs(nb - t0) <= second and na == end, (nb, na, end)
    start = (t0 + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0)
    end = (t0 + dt.timedelta(days=200)).replace(hour=23, minute=59, second=59)
    nb, na, _ = make(f"{iso(start)}/{iso(end)}")
    assert (nb, na) == (start, end), (nb, na, start, end)
    # the root's own end is the limit, inclusive
    nb, na, _ = make(iso(root.not_valid_after_utc))
    assert na == root.not_valid_after_utc


def test_validity_months_are_calendar_months(api, keys, ecc_root):
    rid, _ = ecc_root
    csr = keys.csr("p256", "/CN=Months external")
    got = {}
    for months in (6, 13, 18):
        c = one_cert(create(api, instance_id=rid, csr=csr, validity=f"{months}m")["Certificate"])
        nb, na = c.not_valid_before_utc, c.not_valid_after_utc
        got[months] = (nb, na, add_months(nb, months))
    bad = {k: f"{na} != {want} (notBefore {nb})" for k, (nb, na, want) in got.items() if na != want}
    assert not bad, f"Validity Nm is not N calendar months: {bad}"


def test_validity_refusals(api, keys, ecc_root):
    rid, root = ecc_root
    csr = keys.csr("p256", "/CN=Refused validity")
    count, issued = api.count(), api.describe(rid)["CertIssuedCount"]
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    garbage = ["abc", "5", "y", "5w", "-1y", "0d", "1.5y", "2030-13-01T00:00:00Z", "2030-01-01 00:00:00",
               "2030-01-01T00:00:00+08:00", "2001-01-01T00:00:00Z", f"{iso(now + dt.timedelta(days=30))}/"
               f"{iso(now + dt.timedelta(days=10))}", "x/y", "/"]
    for v in garbage:
        api.error(ACTION, 400, "InvalidParameter.Validity", instance_id=rid, csr=csr, validity=v)
    # beyond the root
    for v in ("11y", "200m", "4000d", iso(root.not_valid_after_utc + dt.timedelta(seconds=1)),
              f"{iso(root.not_valid_before_utc - dt.timedelta(days=1))}/{iso(now + dt.timedelta(days=30))}"):
        api.error(ACTION, 400, "InvalidParameter.Validity", instance_id=rid, csr=csr, validity=v)
    assert api.count() == count and api.describe(rid)["CertIssuedCount"] == issued, \
        "a refused CreateExternalCACertificate stored something"


# --------------------------------------------------------------------------
# 3. refusals
# --------------------------------------------------------------------------

def test_instance_and_csr_refusals(api, keys, matrix, ecc_root):
    rid, _ = ecc_root
    rsa = matrix.get("RSA_2048")
    sm2 = matrix.get("SM2_256")
    local_sub = api.sub(rid, "ECC_256", common_name="Local sub, not a root")["Identifier"]
    p256 = keys.csr("p256", "/CN=Refusal CSR")
    count = api.count()
    issued = {r: api.describe(r)["CertIssuedCount"] for r in (rid, rsa.root_id, sm2.root_id)}
    # InstanceId
    ghost = uuid.uuid4().hex
    for inst in (ghost, f"cas-pca-{ghost}"):
        api.error(ACTION, 404, NF, instance_id=inst, csr=p256)
    for inst in (local_sub, f"cas-pca-{local_sub}", rsa.ext_id, f"cas-pca-{rsa.ext_id}"):
        api.error(ACTION, 400, "InvalidParameter.InstanceId", instance_id=inst, csr=p256)
    # the account has several roots: one must be named
    api.error(ACTION, 400, "InvalidParameter.ParentIdentifier", csr=p256)
    # Csr
    api.error(ACTION, 400, "MissingParameter.Csr", instance_id=rid)
    good = keys.csr("p256", "/CN=Tampered external")
    bad_sig = tamper(good)
    for bad in ("garbage", "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
                bad_sig, rsa.ext_pem.read_text()):
        api.error(ACTION, 400, "InvalidParameter.Csr", instance_id=rid, csr=bad)
    # the key family must be the root's
    rsa_csr = keys.csr("rsa", "/CN=RSA key under ECC")
    sm2_csr = keys.csr("sm2", "/CN=SM2 key under ECC")
    for inst, csr in ((rid, rsa_csr), (rid, sm2_csr), (rsa.root_id, p256), (rsa.root_id, sm2_csr),
                      (sm2.root_id, p256), (sm2.root_id, rsa_csr)):
        api.error(ACTION, 400, "InvalidParameter.Csr", instance_id=inst, csr=csr)
    # other parameters
    api.error(ACTION, 400, "InvalidParameter.Tags", instance_id=rid, csr=p256, tags=[("aliyun:x", "v")])
    api.error(ACTION, 400, "InvalidParameter.ApiPassthrough", instance_id=rid, csr=p256,
              api_passthrough=passthrough(path_len=9))
    assert api.count() == count, "a refused CreateExternalCACertificate left a CA behind"
    for r, n in issued.items():
        assert api.describe(r)["CertIssuedCount"] == n, f"a refusal counted on root {r}"
    # controls: the untampered CSR, and both InstanceId forms
    for inst in (rid, f"cas-pca-{rid}"):
        body = create(api, instance_id=inst, csr=good)
        assert api.describe(body["Identifier"])["ParentIdentifier"] == rid


def test_common_name_upper_bound(api, keys, ecc_root):
    rid, _ = ecc_root
    count = api.count()
    long_cn = "y" * 65
    codes = ("InvalidParameter.CommonName", "InvalidParameter.ApiPassthrough", "InvalidParameter.Csr")
    csr = keys.csr("p256", "/CN=Short CN")
    api.error(ACTION, 400, codes, instance_id=rid, csr=csr, api_passthrough=passthrough({"common_name": long_cn}))
    assert api.count() == count
    # 64 characters are fine
    ok = create(api, instance_id=rid, csr=csr, api_passthrough=passthrough({"common_name": "z" * 64}))
    assert dict(subject_attrs(one_cert(ok["Certificate"])))["CN"] == "z" * 64


def test_disabled_root_refuses(api, keys):
    rid = api.root("ECC_256", common_name="External disabled root")["Identifier"]
    csr = keys.csr("p256", "/CN=Under a disabled root")
    api("UpdateCACertificateStatus", identifier=rid, status="FORBIDDEN")
    api.error(ACTION, 400, "InvalidStatus.CACertificate", instance_id=rid, csr=csr)
    api("UpdateCACertificateStatus", identifier=rid, status="ISSUE")
    assert create(api, instance_id=rid, csr=csr)["Identifier"]


def raw_create(server, creds, **params):
    return v3_request(server, creds, ACTION, V_2020_06, params)


def test_api_passthrough_raw(server, creds, api, keys, ecc_root):
    """ApiPassthrough is one JSON string on the wire: check what the SDK cannot send."""
    rid, _ = ecc_root
    csr = keys.csr("p256", "/C=CN/O=Raw Org/CN=Raw CSR CN")
    count = api.count()
    for bad in ("{not json", "[]", '"x"', '{"Subject": "CN"}', '{"Foo": 1}', '{"Subject": {"Email": "a@b.c"}}',
                '{"Subject": {"CommonName": "x", "Serial": "1"}}', '{"Extensions": {"KeyUsage": ["x"]}}',
                '{"Extensions": {"PathLenConstraint": -1}}', '{"Extensions": {"PathLenConstraint": 9}}',
                '{"Extensions": {"PathLenConstraint": "two"}}', '{"Extensions": {"ExtendedKeyUsages": "serverAuth"}}'):
        assert_error(raw_create(server, creds, InstanceId=rid, Csr=csr, ApiPassthrough=bad),
                     400, "InvalidParameter.ApiPassthrough")
    assert_error(raw_create(server, creds, InstanceId=rid, Csr=csr,
                            ApiPassthrough='{"Extensions": {"ExtendedKeyUsages": ["fooBar"]}}'),
                 400, ("InvalidParameter.ApiPassthrough", "InvalidParameter.ExtendedKeyUsages"))
    assert api.count() == count
    # a valid raw JSON string works as the SDK's model does
    body = assert_ok(raw_create(server, creds, InstanceId=f"cas-pca-{rid}", Csr=csr, Validity="400d",
                                ApiPassthrough=json.dumps({"Subject": {"CommonName": "Raw Override", "Locality": "Xi'an"},
                                                           "Extensions": {"PathLenConstraint": 3,
                                                                          "ExtendedKeyUsages": ["OCSPSigning"]}})))
    cert = one_cert(body["Certificate"])
    assert subject_attrs(cert) == [("C", "CN"), ("L", "Xi'an"), ("O", "Raw Org"), ("CN", "Raw Override")], \
        subject_attrs(cert)
    assert cert.extensions.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS).value.path_length == 3
    assert list(cert.extensions.get_extension_for_oid(ExtensionOID.EXTENDED_KEY_USAGE).value) == [EKU_OIDS["OCSPSigning"]]
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == dt.timedelta(days=400)
    # the upper bound of PathLenConstraint, and an empty object
    for text, want in (('{"Extensions": {"PathLenConstraint": 8}}', 8), ("{}", None)):
        c = one_cert(assert_ok(raw_create(server, creds, InstanceId=rid, Csr=csr, ApiPassthrough=text))["Certificate"])
        assert subject_attrs(c) == [("C", "CN"), ("O", "Raw Org"), ("CN", "Raw CSR CN")], subject_attrs(c)
        pl = c.extensions.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS).value.path_length
        if want is not None:
            assert pl == want, pl
    assert api.count() == count + 3


# --------------------------------------------------------------------------
# 4. the implicit root, and isolation between accounts
# --------------------------------------------------------------------------

def test_implicit_root(server, keys):
    other = IApi(server, server.create_account("ext-implicit"))
    csr = keys.csr("p256", "/CN=Implicit root external")
    other.error(ACTION, 400, "MissingParameter.ParentIdentifier", csr=csr)
    assert other.count() == 0
    root = other.root("ECC_256", common_name="The only root")
    body = create(other, csr=csr)  # InstanceId omitted: the account's only root
    d = other.describe(body["Identifier"])
    assert d["ParentIdentifier"] == root["Identifier"] and d["IssuerType"] == "external", d
    assert [der(x) for x in load_pems(body["CertificateChain"])] == [der(one_cert(root["Certificate"]))]
    # sub CAs do not count as roots; a second root does
    other.sub(root["Identifier"], "ECC_256")
    assert create(other, csr=csr)["Identifier"]
    other.root("ECC_256", common_name="A second root")
    other.error(ACTION, 400, "InvalidParameter.ParentIdentifier", csr=csr)


def test_account_isolation(server, api, keys, matrix):
    b = matrix.get("ECC_256-P384")
    other = IApi(server, server.create_account("ext-isolation"))
    csr = keys.csr("p384", "/CN=Stolen root")
    before = api.describe(b.root_id)
    for inst in (b.root_id, f"cas-pca-{b.root_id}"):
        other.error(ACTION, 404, NF, instance_id=inst, csr=csr)
    other.error("DescribeCACertificate", 404, NF, identifier=b.ext_id)
    other.error("ListCACertificateLog", 404, NF, identifier=b.ext_id)
    other.error("AssignCertificateCount", 404, NF, ca_identifier=b.ext_id, cert_total_count=5)
    other.error("CreateServerCertificate", 404, NF, parent_identifier=b.ext_id, algorithm="ECC_384",
                common_name="x.example.com", days=30)
    assert other("DescribePcaAndExternalCACertificateList", identifiers=b.ext_id)["TotalCount"] == 0
    assert other("DescribeCACertificateList", identifier=b.ext_id)["TotalCount"] == 0
    assert other.count() == 0
    after = api.describe(b.root_id)
    assert after == before, "the other account's calls changed the first account's root"
    # and the other way round: its own root is invisible to the first account
    own = other.root("ECC_256", common_name="Other account root")["Identifier"]
    api.error(ACTION, 404, NF, instance_id=own, csr=keys.csr("p256", "/CN=x"))
