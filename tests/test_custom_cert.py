"""CreateCustomCertificate and ListAllEndEntityInstance (API 2020-06-30) through the
official SDK: a custom end-entity certificate from a CSR under a private sub CA, with the
ApiPassthrough subject/extension/serial overrides, checked with `openssl verify`,
`cryptography` and pkilint for ECC P-256, RSA-2048 and SM2; the defaults; every refusal
(and that a refusal stores nothing); the Validity forms; the Immediately response shapes;
customIdentifier idempotency; isolation between accounts; the sub-CA instance list."""
from __future__ import annotations

import datetime as dt
import math
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID

from opencas_testlib import V_2020_06, assert_ok, is_int, v3_request
from test_ca_hierarchy import EKU_OIDS, SM2_DISTID, add_years, der, load_pems, ms, one_cert, openssl_ok, run
from test_issuance import (
    GENPKEY,
    Hierarchies,
    IApi,
    Keys,
    add_months,
    cert_sans,
    pkilint_findings,
    pubkey_pem,
    subject_attrs,
    tamper,
    write,
)

ACTION = "CreateCustomCertificate"
LIST = "ListAllEndEntityInstance"
CA_NF = "NotFound.CACertificate"
AP = "InvalidParameter.ApiPassthrough"
AP_SN = "InvalidParameter.ApiPassthrough.SerialNumber"

URN_RE = re.compile(r"urn:[A-Za-z0-9][A-Za-z0-9-]{0,31}:[A-Za-z0-9()+,\-.:=@;$_!*'%/?#]+")
SN_OID = "2.5.4.5"
UID_OID = "0.9.2342.19200300.100.1.1"

# the hierarchy (test_issuance.HIER_SPECS) issuing each CSR key algorithm
HIER_OF = {"ECC_256": "ECC_256", "RSA_2048": "RSA", "SM2_256": "SM2"}
KEY_ALGS = ("ECC_256", "ECC_384", "RSA_2048", "SM2_256")


# --------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------

class SmallKeys(Keys):
    """test_issuance.Keys with only the keys this module needs."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.paths = {alg: tmp / f"{alg}.key" for alg in KEY_ALGS}
        with ThreadPoolExecutor(4) as ex:
            list(ex.map(lambda a: openssl_ok(["genpkey", *GENPKEY[a], "-out", str(self.paths[a])]), KEY_ALGS))


@pytest.fixture(scope="module")
def api(server):
    return IApi(server)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return SmallKeys(tmp_path_factory.mktemp("custom-keys"))


@pytest.fixture(scope="module")
def cas(api, tmp_path_factory):
    return Hierarchies(api, tmp_path_factory.mktemp("custom-cas"))


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def uid() -> str:
    return uuid.uuid4().hex[:10]


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def passthrough(m: dict):
    """The SDK's ApiPassthrough model, from its wire-form map."""
    from alibabacloud_cas20200630 import models
    return models.CreateCustomCertificateRequestApiPassthrough().from_map(m)


def create(api: IApi, **fields) -> dict:
    if isinstance(fields.get("api_passthrough"), dict):
        fields["api_passthrough"] = passthrough(fields["api_passthrough"])
    body = api(ACTION, **fields)
    assert isinstance(body.get("Identifier"), str) and body["Identifier"], body
    assert isinstance(body.get("SerialNumber"), str) and body["SerialNumber"], body
    return body


def refuse(api: IApi, status: int, code, **fields):
    if isinstance(fields.get("api_passthrough"), dict):
        fields["api_passthrough"] = passthrough(fields["api_passthrough"])
    return api.error(ACTION, status, code, **fields)


def state(api: IApi, *subs: str) -> tuple:
    """What a refusal must not change: the certificate count and the sub CAs' issued counts."""
    return api.total(), tuple(api.describe(s)["CertIssuedCount"] for s in subs)


def ku_bits(cert: x509.Certificate) -> set[str]:
    v = cert.extensions.get_extension_for_oid(ExtensionOID.KEY_USAGE).value
    names = ["digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
             "key_cert_sign", "crl_sign"]
    got = {n for n in names if getattr(v, n)}
    if v.key_agreement:
        got |= {n for n in ("encipher_only", "decipher_only") if getattr(v, n)}
    return got


def ext(cert: x509.Certificate, oid):
    try:
        return cert.extensions.get_extension_for_oid(oid)
    except x509.ExtensionNotFound:
        return None


def spki(path: Path, kind: str) -> str:
    return pubkey_pem([kind, "-in", str(path), "-noout", "-pubkey"])


def verify_levels(h, leaf: Path) -> None:
    """openssl verify -x509_strict of root <- sub <- leaf (SM2: each level on its own, with the distid)."""
    if h.sm2:
        opt = ["-vfyopt", f"distid:{SM2_DISTID}"]
        for argv, target in ((["-CAfile", str(h.root_pem)], h.root_pem),
                             (["-CAfile", str(h.root_pem)], h.sub_pem),
                             (["-partial_chain", "-CAfile", str(h.sub_pem)], leaf)):
            out = openssl_ok(["verify", "-x509_strict", *opt, *argv, str(target)])
            assert f"{target}: OK" in out, out
    else:
        out = openssl_ok(["verify", "-x509_strict", "-CAfile", str(h.root_pem), "-untrusted", str(h.sub_pem),
                          str(leaf)])
        assert f"{leaf}: OK" in out, out
        # control: not under the sub CA alone
        bad = run(["openssl", "verify", "-x509_strict", "-CAfile", str(h.sub_pem), str(leaf)])
        assert bad.returncode != 0, "the leaf verified with only the sub CA as trust anchor"


# RFC 4055 / RFC 5480: RSA keys encipher, EC (and SM2) keys agree
KU_FOR = {"RSA_2048": ("KeyEncipherment", "key_encipherment")}
KU_DEFAULT = ("KeyAgreement", "key_agreement")

FULL_EXTENSIONS = lambda u, alg: {  # noqa: E731
    "KeyUsage": {"DigitalSignature": True, KU_FOR.get(alg, KU_DEFAULT)[0]: True},
    "ExtendedKeyUsages": ["clientAuth", "serverAuth"],
    "SubjectAlternativeNames": [
        {"Type": "rfc822Name", "Value": f"user-{u}@example.com"},
        {"Type": "dNSName", "Value": f"host-{u}.example.com"},
        {"Type": "uniformResourceIdentifier", "Value": f"urn:uuid:{uuid.uuid4()}"},
        {"Type": "iPAddress", "Value": "192.0.2.17"},
    ],
    "Criticals": ["extendedKeyUsage", "subjectAlternativeName"],
}


# --------------------------------------------------------------------------
# 1. the full custom profile, per key family
# --------------------------------------------------------------------------

@pytest.mark.parametrize("alg", list(HIER_OF))
def test_custom_profile(api, cas, keys, server, tmp_path, alg):
    h = cas.get(HIER_OF[alg])
    u = uid()
    csr = keys.csr(alg, f"csr-{u}.example.com", subj_extra="/C=US/O=Csr Org/OU=Csr OU")
    csr_path = write(tmp_path, "req.csr", csr)
    exts = FULL_EXTENSIONS(u, alg)
    ap = {"SerialNumber": "12345",
          "Subject": {"CommonName": f"Custom {alg} {u}", "Organization": "Override Org",
                      "CustomAttributes": [{"ObjectIdentifier": SN_OID, "Value": f"SN{u}"},
                                           {"ObjectIdentifier": UID_OID, "Value": f"uid-{u}"}]},
          "Extensions": exts}
    n0 = api.total()
    issued0 = api.describe(h.sub_id)["CertIssuedCount"]
    t0 = now_utc()
    body = create(api, parent_identifier=h.sub_id, csr=csr, validity="90d", immediately=2, api_passthrough=ap)
    t1 = dt.datetime.now(dt.timezone.utc)
    cert = one_cert(body["Certificate"])
    leaf = write(tmp_path, "leaf.pem", body["Certificate"])
    assert [der(c) for c in load_pems(body["CertificateChain"])] == [der(h.sub), der(h.root)], \
        "CertificateChain is not sub + root"

    verify_levels(h, leaf)

    # serial number: exactly the requested one, in the response too
    assert cert.serial_number == 12345, cert.serial_number
    assert int(body["SerialNumber"], 16) == 12345, body["SerialNumber"]
    # subject: passthrough > CSR > sub CA, then the custom attributes in request order
    sub_defaults = h.subject_defaults()
    want = [("C", "US"), ("ST", sub_defaults["ST"]), ("L", sub_defaults["L"]), ("O", "Override Org"),
            ("OU", "Csr OU"), ("CN", f"Custom {alg} {u}"), (SN_OID, f"SN{u}"), (UID_OID, f"uid-{u}")]
    want = [(k, v) for k, v in want if v]
    assert subject_attrs(cert) == want, f"subject {subject_attrs(cert)}, want {want}"
    assert cert.issuer.public_bytes() == h.sub.subject.public_bytes()
    # validity
    nb, na = cert.not_valid_before_utc, cert.not_valid_after_utc
    assert t0 - dt.timedelta(seconds=2) <= nb <= t1 + dt.timedelta(seconds=2) and na - nb == dt.timedelta(days=90), \
        (nb, na)
    # extensions
    bc = ext(cert, ExtensionOID.BASIC_CONSTRAINTS)
    assert bc is not None and bc.critical and bc.value.ca is False and bc.value.path_length is None, f"BC {bc}"
    ku = ext(cert, ExtensionOID.KEY_USAGE)
    assert ku is not None and ku.critical, f"keyUsage {ku}"
    assert ku_bits(cert) == {"digital_signature", KU_FOR.get(alg, KU_DEFAULT)[1]}, ku_bits(cert)
    eku = ext(cert, ExtensionOID.EXTENDED_KEY_USAGE)
    assert eku is not None and eku.critical, f"EKU {eku}"
    assert sorted(o.dotted_string for o in eku.value) == sorted(
        o.dotted_string for o in (ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH)), list(eku.value)
    assert len(list(eku.value)) == 2
    san = ext(cert, ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    assert san is not None and san.critical, f"SAN {san}"
    want_sans = [("email", exts["SubjectAlternativeNames"][0]["Value"]),
                 ("DNS", exts["SubjectAlternativeNames"][1]["Value"]),
                 ("URI", exts["SubjectAlternativeNames"][2]["Value"]), ("IP", "192.0.2.17")]
    assert sorted(cert_sans(cert)) == sorted(want_sans), cert_sans(cert)
    ski = ext(cert, ExtensionOID.SUBJECT_KEY_IDENTIFIER)
    aki = ext(cert, ExtensionOID.AUTHORITY_KEY_IDENTIFIER)
    sub_ski = h.sub.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_KEY_IDENTIFIER).value.digest
    assert ski is not None and aki is not None and aki.value.key_identifier == sub_ski, (ski, aki)
    # the CSR's public key
    assert spki(leaf, "x509") == spki(csr_path, "req"), "certificate key != CSR key"
    if not h.sm2:
        csr_obj = x509.load_pem_x509_csr(csr.encode())
        fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        assert cert.public_key().public_bytes(*fmt) == csr_obj.public_key().public_bytes(*fmt)
        cert.verify_directly_issued_by(h.sub)

    # pkilint's URI check knows only web schemes (see test_issuance.test_client_san_types): its
    # invalid_uri_syntax on our own urn: value is not a finding on the certificate; that value is
    # checked against RFC 3986 / RFC 8141 here instead
    urn = exts["SubjectAlternativeNames"][2]["Value"]
    assert URN_RE.fullmatch(urn), urn
    bad = [b for b in pkilint_findings(h, leaf, f"custom-{alg}")
           if not ("pkix.invalid_uri_syntax" in b and f'"{urn}"' in b)]
    assert not bad, "\n".join(bad)

    # stored as a CUSTOM certificate, counted once
    d = api.cert(body["Identifier"])
    assert d.get("CertificateType") == "CUSTOM" and d.get("ParentIdentifier") == h.sub_id, d
    assert int(d["SerialNumber"], 16) == 12345 and der(one_cert(d["X509Certificate"])) == der(cert), d["SerialNumber"]
    lst = api("ListClientCertificate", identifier=body["Identifier"]).get("CertificateList") or []
    assert [x.get("CertificateType") for x in lst] == ["CUSTOM"], lst
    assert api.total() == n0 + 1 and api.describe(h.sub_id)["CertIssuedCount"] == issued0 + 1


# --------------------------------------------------------------------------
# 2. defaults
# --------------------------------------------------------------------------

@pytest.mark.parametrize("alg", ["ECC_256", "RSA_2048"])
def test_defaults(api, cas, keys, tmp_path, alg):
    h = cas.get(HIER_OF[alg])
    u = uid()
    csr = keys.csr(alg, f"default-{u}.example.com", subj_extra="/O=Default Org")
    body = create(api, parent_identifier=h.sub_id, csr=csr, validity="30d", immediately=1)
    cert = one_cert(body["Certificate"])
    assert ku_bits(cert) == {"digital_signature"}, ku_bits(cert)
    assert ext(cert, ExtensionOID.KEY_USAGE).critical
    assert ext(cert, ExtensionOID.EXTENDED_KEY_USAGE) is None, "EKU without ExtendedKeyUsages"
    bc = ext(cert, ExtensionOID.BASIC_CONSTRAINTS)
    assert bc is not None and bc.critical and bc.value.ca is False
    # a random serial (>= 64 bits, <= 20 octets) when none is asked for
    octets = (cert.serial_number.bit_length() + 8) // 8
    assert cert.serial_number > 0 and 9 <= octets <= 20, hex(cert.serial_number)
    assert int(body["SerialNumber"], 16) == cert.serial_number
    # an ApiPassthrough without KeyUsage: still digitalSignature only
    c2 = one_cert(create(api, parent_identifier=h.sub_id, csr=csr, validity="30d", immediately=1,
                         api_passthrough={"Extensions": {"ExtendedKeyUsages": ["codeSigning"]}})["Certificate"])
    assert ku_bits(c2) == {"digital_signature"}, ku_bits(c2)
    e = ext(c2, ExtensionOID.EXTENDED_KEY_USAGE)
    assert e is not None and list(e.value) == [EKU_OIDS["codeSigning"]] and not e.critical, e
    leaf = write(tmp_path, "leaf.pem", body["Certificate"])
    verify_levels(h, leaf)


def test_extension_variants(api, cas, keys):
    h = cas.get("ECC_256")
    csr = keys.csr("ECC_256", "variants.example.com")

    def make(exts: dict) -> x509.Certificate:
        return one_cert(create(api, parent_identifier=h.sub_id, csr=csr, validity="30d", immediately=1,
                               api_passthrough={"Extensions": exts}, tags=[("team", "pki")],
                               resource_group_id="rg-custom")["Certificate"])

    # every KeyUsage bit an EC key may carry; NonRepudiation is ContentCommitment
    c = make({"KeyUsage": {"DigitalSignature": True, "ContentCommitment": True, "KeyAgreement": True,
                           "EncipherOnly": True}})
    assert ku_bits(c) == {"digital_signature", "content_commitment", "key_agreement", "encipher_only"}, ku_bits(c)
    # and the encipherment bits, on an RSA key
    rsa_h = cas.get("RSA")
    c = one_cert(create(api, parent_identifier=rsa_h.sub_id, csr=keys.csr("RSA_2048", "variants-rsa.example.com"),
                        validity="30d", immediately=1,
                        api_passthrough={"Extensions": {"KeyUsage": {"KeyEncipherment": True,
                                                                     "DataEncipherment": True}}})["Certificate"])
    assert ku_bits(c) == {"key_encipherment", "data_encipherment"}, ku_bits(c)
    c = make({"KeyUsage": {"NonRepudiation": True, "KeyAgreement": True, "DecipherOnly": True}})
    assert ku_bits(c) == {"content_commitment", "key_agreement", "decipher_only"}, ku_bits(c)
    # all six EKUs; EKU and SAN not critical unless named; keyUsage/basicConstraints may be named
    c = make({"ExtendedKeyUsages": list(EKU_OIDS),
              "SubjectAlternativeNames": [{"Type": "dNSName", "Value": "v.example.com"},
                                          {"Type": "iPAddress", "Value": "2001:db8::1"}],
              "Criticals": ["keyUsage", "basicConstraints"]})
    e = ext(c, ExtensionOID.EXTENDED_KEY_USAGE)
    assert e is not None and not e.critical and set(e.value) == set(EKU_OIDS.values()) and len(list(e.value)) == 6, e
    san = ext(c, ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    assert san is not None and not san.critical, san
    assert sorted(cert_sans(c)) == [("DNS", "v.example.com"), ("IP", "2001:db8::1")], cert_sans(c)
    assert ext(c, ExtensionOID.KEY_USAGE).critical and ext(c, ExtensionOID.BASIC_CONSTRAINTS).critical
    assert ku_bits(c) == {"digital_signature"}, ku_bits(c)


def test_default_subject_is_the_csrs(api, cas, keys):
    h = cas.get("ECC_256")
    u = uid()
    csr = keys.csr("ECC_256", f"subject-{u}.example.com", subj_extra="/O=Default Org")
    cert = one_cert(create(api, parent_identifier=h.sub_id, csr=csr, validity="30d", immediately=1)["Certificate"])
    assert subject_attrs(cert) == [("O", "Default Org"), ("CN", f"subject-{u}.example.com")], subject_attrs(cert)


def test_key_usage_must_fit_the_key(api, cas, keys):
    # RFC 4055 §1.2: no key agreement with RSA; RFC 5480 §3: no key/data encipherment with EC
    rsa_h, ecc = cas.get("RSA"), cas.get("ECC_256")
    n0 = api.total()
    for h, alg, ku in ((rsa_h, "RSA_2048", {"DigitalSignature": True, "KeyAgreement": True}),
                       (rsa_h, "RSA_2048", {"KeyAgreement": True, "DecipherOnly": True}),
                       (ecc, "ECC_256", {"KeyEncipherment": True}),
                       (ecc, "ECC_256", {"DigitalSignature": True, "DataEncipherment": True})):
        refuse(api, 400, "InvalidParameter.ApiPassthrough", parent_identifier=h.sub_id,
               csr=keys.csr(alg, "ku-fit.example.com"), validity="30d",
               api_passthrough={"Extensions": {"KeyUsage": ku}})
    assert api.total() == n0


# --------------------------------------------------------------------------
# 3. refusals store nothing
# --------------------------------------------------------------------------

def test_refusals(api, cas, keys):
    ecc, rsa_h, sm2 = cas.get("ECC_256"), cas.get("RSA"), cas.get("SM2")
    p256 = keys.csr("ECC_256", "refused.example.com")
    rsa_csr = keys.csr("RSA_2048", "refused-rsa.example.com")
    sm2_csr = keys.csr("SM2_256", "refused-sm2.example.com")
    ok = dict(parent_identifier=ecc.sub_id, csr=p256, validity="30d")
    used = create(api, **ok, api_passthrough={"SerialNumber": "777001"})
    assert int(used["SerialNumber"], 16) == 777001
    before = state(api, ecc.sub_id, rsa_h.sub_id, sm2.sub_id)

    # ParentIdentifier
    refuse(api, 400, ("MissingParameter.ParentIdentifier", "InvalidParameter.ParentIdentifier"),
           csr=p256, validity="30d")
    refuse(api, 404, CA_NF, **dict(ok, parent_identifier=uuid.uuid4().hex))
    refuse(api, 400, ("InvalidParameter.ParentIdentifier", "InvalidParameter.Identifier"),
           **dict(ok, parent_identifier=ecc.root_id))  # a root is not a sub CA
    # Csr
    refuse(api, 400, "MissingParameter.Csr", parent_identifier=ecc.sub_id, validity="30d")
    for bad in ("garbage", "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
                tamper(p256), ecc.sub_pem.read_text()):
        refuse(api, 400, "InvalidParameter.Csr", **dict(ok, csr=bad))
    for h, csr in ((ecc, rsa_csr), (ecc, sm2_csr), (rsa_h, p256), (rsa_h, sm2_csr), (sm2, p256), (sm2, rsa_csr)):
        refuse(api, 400, "InvalidParameter.Csr", **dict(ok, parent_identifier=h.sub_id, csr=csr))
    # Validity
    refuse(api, 400, "MissingParameter.Validity", parent_identifier=ecc.sub_id, csr=p256)
    now = now_utc()
    for v in ("abc", "5", "d", "5w", "-1y", "0d", "1.5y", "2030-13-01T00:00:00Z", "2030-01-01 00:00:00",
              "2030-01-01T00:00:00+08:00", f"{iso(now + dt.timedelta(days=30))}/{iso(now + dt.timedelta(days=10))}",
              "x/y", "/"):
        refuse(api, 400, "InvalidParameter.Validity", **dict(ok, validity=v))
    end = ecc.sub.not_valid_after_utc
    for v in ("6y", "61m", "4000d", iso(end + dt.timedelta(seconds=1)),
              f"{iso(now + dt.timedelta(days=1))}/{iso(end + dt.timedelta(days=1))}"):
        refuse(api, 400, "InvalidParameter.Days", **dict(ok, validity=v))
    # KeyUsage
    for kubits in ({"EncipherOnly": True}, {"DecipherOnly": True}, {"DigitalSignature": True, "EncipherOnly": True},
                   {"KeyEncipherment": True, "DecipherOnly": True}):
        refuse(api, 400, AP, **ok, api_passthrough={"Extensions": {"KeyUsage": kubits}})
    # ExtendedKeyUsages
    for e in (["fooBar"], ["serverAuth", "nope"], ["ServerAuthentication"]):
        refuse(api, 400, AP, **ok, api_passthrough={"Extensions": {"ExtendedKeyUsages": e}})
    # SubjectAlternativeNames
    for t, v in (("x400Address", "x"), ("DNS", "a.example.com"), ("iPAddress", "999.1.1.1"),
                 ("iPAddress", "not-an-ip"), ("rfc822Name", "no-at-sign"), ("dNSName", ""),
                 ("dNSName", "bad host name.example.com"), ("uniformResourceIdentifier", "no scheme here")):
        refuse(api, 400, AP, **ok,
               api_passthrough={"Extensions": {"SubjectAlternativeNames": [{"Type": t, "Value": v}]}})
    # Criticals
    for c in (["fooBar"], ["extendedKeyUsage", "authorityInfoAccessX"]):
        refuse(api, 400, AP, **ok, api_passthrough={"Extensions": {"Criticals": c}})
    # SerialNumber
    for sn in ("0", "-1", "-12345", "abc", "12a", "1.5", "0x10"):
        refuse(api, 400, AP_SN, **ok, api_passthrough={"SerialNumber": sn})
    refuse(api, 400, AP_SN, **ok, api_passthrough={"SerialNumber": "777001"})  # already used by this sub CA

    assert state(api, ecc.sub_id, rsa_h.sub_id, sm2.sub_id) == before, "a refused CreateCustomCertificate stored something"
    # controls: a P-384 CSR under the P-256 sub CA (same family), and the used serial under another sub CA
    c = create(api, **dict(ok, csr=keys.csr("ECC_384", "p384.example.com")))
    assert one_cert(api.cert(c["Identifier"])["X509Certificate"]).public_key().key_size == 384
    c = create(api, parent_identifier=rsa_h.sub_id, csr=rsa_csr, validity="30d",
               api_passthrough={"SerialNumber": "777001"})
    assert int(c["SerialNumber"], 16) == 777001
    # a full-range positive long
    c = create(api, **ok, api_passthrough={"SerialNumber": str(2 ** 63 - 1)})
    assert int(c["SerialNumber"], 16) == 2 ** 63 - 1


# --------------------------------------------------------------------------
# 4. validity, response shapes, customIdentifier, isolation
# --------------------------------------------------------------------------

def test_validity_forms(api, cas, keys):
    h = cas.get("ECC_256")
    csr = keys.csr("ECC_256", "validity.example.com")

    def make(v):
        t0 = now_utc()
        c = one_cert(create(api, parent_identifier=h.sub_id, csr=csr, validity=v, immediately=1)["Certificate"])
        t1 = dt.datetime.now(dt.timezone.utc)
        nb, na = c.not_valid_before_utc, c.not_valid_after_utc
        assert t0 - dt.timedelta(seconds=2) <= nb <= t1 + dt.timedelta(seconds=2) or "/" in v, (v, nb, t0)
        return nb, na

    nb, na = make("30d")
    assert na - nb == dt.timedelta(days=30), (nb, na)
    nb, na = make("1y")
    assert na == add_years(nb, 1), (nb, na)
    nb, na = make("6m")
    assert na == add_months(nb, 6), (nb, na)
    end = (now_utc() + dt.timedelta(days=100)).replace(hour=12, minute=34, second=56)
    nb, na = make(iso(end))
    assert na == end, (na, end)
    start = (now_utc() + dt.timedelta(days=2)).replace(hour=0, minute=0, second=0)
    end = (now_utc() + dt.timedelta(days=200)).replace(hour=23, minute=59, second=59)
    nb, na = make(f"{iso(start)}/{iso(end)}")
    assert (nb, na) == (start, end), (nb, na, start, end)
    # the sub CA's own end is the limit, inclusive
    nb, na = make(iso(h.sub.not_valid_after_utc))
    assert na == h.sub.not_valid_after_utc


def test_immediately_shapes(server, creds, api, cas, keys):
    h = cas.get("ECC_256")
    csr = keys.csr("ECC_256", "shapes.example.com")
    chain = [der(h.sub), der(h.root)]
    for imm, extra in ((0, set()), (1, {"Certificate"}), (2, {"Certificate", "CertificateChain"})):
        body = assert_ok(v3_request(server, creds, ACTION, V_2020_06,
                                    {"ParentIdentifier": h.sub_id, "Csr": csr, "Validity": "30d",
                                     "Immediately": str(imm)}))
        assert set(body) == {"RequestId", "Identifier", "SerialNumber"} | extra, f"Immediately={imm}: {sorted(body)}"
        d = api.cert(body["Identifier"])  # stored in every case
        c = one_cert(d["X509Certificate"])
        assert d["CertificateType"] == "CUSTOM" and int(body["SerialNumber"], 16) == c.serial_number
        if "Certificate" in body:
            assert der(one_cert(body["Certificate"])) == der(c)
        if "CertificateChain" in body:
            assert [der(x) for x in load_pems(body["CertificateChain"])] == chain


def test_custom_identifier(api, cas, keys):
    h = cas.get("ECC_256")
    csr = keys.csr("ECC_256", "custom-id.example.com")
    custom = "cust-" + uid()
    before = state(api, h.sub_id)
    f = dict(parent_identifier=h.sub_id, csr=csr, validity="30d", immediately=1, custom_identifier=custom)
    a = create(api, **f)
    b = create(api, **f)
    assert (b["Identifier"], b["SerialNumber"], b["Certificate"]) == (a["Identifier"], a["SerialNumber"],
                                                                     a["Certificate"]), "customIdentifier repeat re-issued"
    assert state(api, h.sub_id) == (before[0] + 1, (before[1][0] + 1,))
    c = create(api, **dict(f, custom_identifier="cust-" + uid()))
    assert c["Identifier"] != a["Identifier"]
    assert state(api, h.sub_id) == (before[0] + 2, (before[1][0] + 2,))


def test_isolation(server, api, cas, keys):
    h = cas.get("ECC_256")
    csr = keys.csr("ECC_256", "isolation.example.com")
    mine = create(api, parent_identifier=h.sub_id, csr=csr, validity="30d", immediately=1,
                  api_passthrough={"SerialNumber": "424242"})
    before = state(api, h.sub_id)
    other = IApi(server, server.create_account("custom-isolation"))
    other.error(ACTION, 404, CA_NF, parent_identifier=h.sub_id, csr=csr, validity="30d")
    other.error(ACTION, 404, CA_NF, parent_identifier=h.sub_id, csr=csr, validity="30d",
                api_passthrough=passthrough({"SerialNumber": "424243"}))
    other.error("DescribeClientCertificate", 404, "NotFound.Certificate", identifier=mine["Identifier"])
    assert other.total() == 0
    assert (other(LIST).get("List") or []) == [] and other(LIST)["TotalCount"] == 0
    # the other account's own hierarchy: the same serial number is no conflict there
    ro = other.root("ECC_256")["Identifier"]
    so = other.sub(ro, "ECC_256")["Identifier"]
    theirs = create(other, parent_identifier=so, csr=csr, validity="30d", api_passthrough={"SerialNumber": "424242"})
    api.error(ACTION, 404, CA_NF, parent_identifier=so, csr=csr, validity="30d")
    api.error("DescribeClientCertificate", 404, "NotFound.Certificate", identifier=theirs["Identifier"])
    assert other.total() == 1 and state(api, h.sub_id) == before


# --------------------------------------------------------------------------
# 5. ListAllEndEntityInstance
# --------------------------------------------------------------------------

def walk(api: IApi, size: int, **filters) -> list[dict]:
    items, page = [], 1
    while True:
        body = api(LIST, current_page=page, show_size=size, **filters)
        total = body["TotalCount"]
        assert body.get("PageCount") == math.ceil(total / size), (body.get("PageCount"), total, size)
        assert body.get("CurrentPage") == page and body.get("ShowSize") == size, body
        lst = body.get("List") or []
        assert len(lst) == min(size, max(0, total - (page - 1) * size)), (page, len(lst), total)
        items += lst
        if page >= max(1, body["PageCount"]):
            return items
        page += 1


def test_list_all_end_entity_instance(server, keys):
    acct = IApi(server, server.create_account("custom-instances"))
    assert acct(LIST)["TotalCount"] == 0
    ra = acct.root("ECC_256", common_name="Instances Root A")["Identifier"]
    rb = acct.root("RSA_2048", common_name="Instances Root B")["Identifier"]
    subs = {
        "a1": acct.sub(ra, "ECC_256", common_name="Instances Sub A1"),
        "a2": acct.sub(ra, "ECC_384", common_name="Instances Sub A2"),
        "b1": acct.sub(rb, "RSA_2048", common_name="Instances Sub B1"),
    }
    sid = {k: v["Identifier"] for k, v in subs.items()}
    parent = {"a1": ra, "a2": ra, "b1": rb}
    algo = {"a1": "ECC_256", "a2": "ECC_384", "b1": "RSA_2048"}

    body = acct(LIST)
    assert body["TotalCount"] == 3 and body.get("ShowSize") == 20 and body.get("CurrentPage") == 1 \
        and body.get("PageCount") == 1, body
    items = {x["Identifier"]: x for x in body.get("List") or []}
    assert set(items) == set(sid.values()), f"instances {sorted(items)}, want the 3 sub CAs (no roots)"
    ids = set()
    for k, i in sid.items():
        x = items[i]
        cert = one_cert(subs[k]["Certificate"])
        d = acct.describe(i)
        assert is_int(x.get("Id")) and x["Id"] > 0, x
        ids.add(x["Id"])
        assert x.get("InstanceId") == f"cas-pca-{i}" and x.get("ParentIdentifier") == parent[k], x
        assert x.get("CommonName") == f"Instances Sub {k.upper()}" and x.get("Algorithm") == algo[k], x
        assert x.get("Status") == "ISSUE", x
        assert (x.get("CertTotalCount"), x.get("CertIssuedCount"), x.get("CertRemainingCount")) == \
            (d["CertTotalCount"], 0, d["CertTotalCount"]), x
        assert x.get("BeforeTime") == ms(cert.not_valid_before_utc) and x.get("AfterTime") == ms(cert.not_valid_after_utc), x
    assert len(ids) == 3

    # counts move with issuance (custom and ordinary)
    csr = keys.csr("ECC_256", "counted.example.com")
    for _ in range(2):
        create(acct, parent_identifier=sid["a1"], csr=csr, validity="30d")
    acct("CreateClientCertificate", parent_identifier=sid["a1"], common_name="counted client", days=30)
    after = {x["Identifier"]: x for x in acct(LIST)["List"]}
    a1, a1_0 = after[sid["a1"]], items[sid["a1"]]
    assert (a1["CertIssuedCount"], a1["CertRemainingCount"], a1["CertTotalCount"]) == \
        (3, a1_0["CertRemainingCount"] - 3, a1_0["CertTotalCount"]), a1
    for k in ("a2", "b1"):
        assert after[sid[k]]["CertIssuedCount"] == 0, after[sid[k]]

    # paging; MaxResults overrides ShowSize
    for size in (1, 2, 3, 5):
        got = walk(acct, size)
        assert sorted(x["Identifier"] for x in got) == sorted(sid.values()), (size, got)
    body = acct(LIST, show_size=2, max_results=1)
    assert len(body.get("List") or []) == 1 and body["TotalCount"] == 3 and body.get("PageCount") == 3, body
    body = acct(LIST, current_page=2, show_size=2)
    assert len(body.get("List") or []) == 1, body
    body = acct(LIST, current_page=5, show_size=2)
    assert (body.get("List") or []) == [] and body["TotalCount"] == 3, body

    # ParentId: the numeric Id of a root (not in these responses: found by trying small integers)
    by_parent = {}
    for cand in range(1, max(ids) + 10):
        if cand in ids:
            continue
        from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
        try:
            lst = acct(LIST, parent_id=cand, show_size=50).get("List") or []
        except AlibabaCloudException as e:
            assert e.status_code == 404 and e.code == CA_NF, (cand, e.status_code, e.code)
            continue
        if lst:
            by_parent[cand] = sorted(x["Identifier"] for x in lst)
    assert sorted(by_parent.values()) == sorted([sorted([sid["a1"], sid["a2"]]), [sid["b1"]]]), \
        f"ParentId filter results {by_parent}"
    acct.error(LIST, 404, CA_NF, parent_id=987654321)
    root_a_id = next(k for k, v in by_parent.items() if sid["a1"] in v)

    # isolation: another account sees none of them, and not the root by its Id
    other = IApi(server, server.create_account("custom-instances-other"))
    body = other(LIST)
    assert body["TotalCount"] == 0 and (body.get("List") or []) == [], body
    other.error(LIST, 404, CA_NF, parent_id=root_a_id)
    ro = other.root("ECC_256")["Identifier"]
    so = other.sub(ro, "ECC_256")["Identifier"]
    assert [x["Identifier"] for x in other(LIST)["List"]] == [so]
    assert acct(LIST)["TotalCount"] == 3
