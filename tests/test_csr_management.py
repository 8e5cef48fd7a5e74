"""CSR management (API 2020-04-07) through the official SDK: CreateCsr for every algorithm
(checked with `openssl req -verify` and `cryptography`), UploadCsr of requests and keys made
by `openssl` (PKCS#8, PKCS#1, SEC1), ListCsr filters and paging, GetCsrDetail, UpdateCsr,
DeleteCsr, isolation between accounts, every refusal with its code and status, the key
sealed at rest, and a CSR made here issuing certificates through the 2020-06-30 actions."""
from __future__ import annotations

import base64
import sqlite3
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtensionOID, NameOID

from csr_testlib import (
    SM2_DISTID,
    CsrApi,
    Keys,
    attrs,
    cert_pubkey,
    check_item_types,
    create_fields,
    csr_pubkey,
    csr_sans,
    fresh_api,
    key_pubkey,
    openssl,
    parsed,
    req_verify,
    spki_sha256,
    tamper,
    write,
)
from opencas_testlib import V_2020_04, assert_error, assert_ok, cas20200630, v3_request
from opencas_testlib import requires_sqlite_file


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return Keys(tmp_path_factory.mktemp("csr-keys"))


@pytest.fixture(scope="module")
def api(server, creds):
    return CsrApi(server, creds)


@pytest.fixture(scope="module")
def other(server):
    """A second account of the same server."""
    return fresh_api(server)


# --------------------------------------------------------------------------
# CreateCsr
# --------------------------------------------------------------------------

CREATE_ALGS = [("RSA", 2048), ("RSA", 3072), ("RSA", 4096), ("ECC", 256), ("SM2", 256)]


@pytest.mark.parametrize("alg,size", CREATE_ALGS, ids=[f"{a}_{s}" for a, s in CREATE_ALGS])
def test_create_csr(api, other, tmp_path, alg, size):
    cn = f"{alg.lower()}-{uuid.uuid4().hex[:8]}.example.com"
    fields = create_fields(algorithm=alg, key_size=size, common_name=cn, sans="alt1.example.com,*.example.org,192.0.2.10",
                           corp_name="Example Corp", department="Web Ops", country_code="US", province="California",
                           locality="San Francisco", name=f"my_{alg}.csr-{size}")
    body = api("CreateCsr", **fields)
    assert set(body) == {"RequestId", "CsrId", "Csr"}, body
    assert type(body["CsrId"]) is int and body["CsrId"] > 0, body
    pem = body["Csr"]
    assert pem.startswith("-----BEGIN CERTIFICATE REQUEST-----"), pem[:80]

    # the signature verifies with openssl; SM2 with the GM/T default ID (and not the empty one)
    if alg == "SM2":
        assert req_verify(tmp_path, pem, SM2_DISTID)
        assert not req_verify(tmp_path, pem), "an SM2 CSR verified with the empty ID as well"
        assert not req_verify(tmp_path, tamper(pem), SM2_DISTID)
    else:
        assert req_verify(tmp_path, pem)
        assert not req_verify(tmp_path, tamper(pem)), "openssl accepted a tampered CSR: the check means nothing"

    csr = parsed(pem)
    want = [(NameOID.COUNTRY_NAME, "US"), (NameOID.STATE_OR_PROVINCE_NAME, "California"),
            (NameOID.LOCALITY_NAME, "San Francisco"), (NameOID.ORGANIZATION_NAME, "Example Corp"),
            (NameOID.ORGANIZATIONAL_UNIT_NAME, "Web Ops"), (NameOID.COMMON_NAME, cn)]
    assert [(a.oid, a.value) for a in csr.subject] == want, csr.subject.rfc4514_string()
    assert csr_sans(csr) == [cn, "alt1.example.com", "*.example.org", "192.0.2.10"]
    text = openssl("req", "-in", str(write(tmp_path, pem)), "-noout", "-text")
    if alg == "RSA":
        assert csr.is_signature_valid
        key = csr.public_key()
        assert isinstance(key, rsa.RSAPublicKey) and key.key_size == size
    elif alg == "ECC":
        assert csr.is_signature_valid
        key = csr.public_key()
        assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
    else:
        # cryptography has no SM2: openssl names the curve and the signature algorithm
        assert "ASN1 OID: SM2" in text and "Signature Algorithm: SM2-with-SM3" in text, text

    # the key is held and is the CSR's; GetCsrDetail returns both
    detail = api("GetCsrDetail", csr_id=body["CsrId"])
    assert set(detail) == {"RequestId", "Csr", "PrivateKey"}, sorted(detail)
    assert detail["Csr"] == pem
    assert detail["PrivateKey"].startswith("-----BEGIN PRIVATE KEY-----")
    assert key_pubkey(tmp_path, detail["PrivateKey"]) == csr_pubkey(tmp_path, pem)

    item = api.item(body["CsrId"])
    check_item_types(item)
    assert item == {
        "CsrId": body["CsrId"], "Name": fields["name"], "CommonName": cn,
        "Sans": "alt1.example.com,*.example.org,192.0.2.10", "Algorithm": alg, "KeySize": size,
        "CorpName": "Example Corp", "Department": "Web Ops", "CountryCode": "US", "Province": "California",
        "Locality": "San Francisco", "KeySha2": spki_sha256(csr_pubkey(tmp_path, pem)), "HasPrivateKey": True,
    }
    # another account does not see it
    other.error("GetCsrDetail", 404, "NotFound.Csr", csr_id=body["CsrId"])


# CommonName is capped at X.509's ub-common-name (64); a longer DNS name goes in Sans.
def test_create_csr_defaults_and_bounds(api, tmp_path):
    cn = "a" * 52 + ".example.com"  # 64 characters
    sans = ",".join(f"h{i}.example.com" for i in range(100))
    body = api("CreateCsr", **create_fields(common_name=cn, sans=sans, country_code="cn", province="p" * 128,
                                            locality="l" * 128, corp_name="c" * 255, department="d" * 255,
                                            name="n" * 50))
    csr = parsed(body["Csr"])
    assert attrs(csr.subject, NameOID.COMMON_NAME) == [cn]
    assert attrs(csr.subject, NameOID.COUNTRY_NAME) == ["CN"]
    assert len(csr_sans(csr)) == 101
    item = api.item(body["CsrId"])
    assert (item["Name"], item["CountryCode"], len(item["Sans"].split(","))) == ("n" * 50, "CN", 100)

    # without the optional fields: the name is the common name, no O/OU, no SAN but the CN
    cn = f"plain-{uuid.uuid4().hex[:8]}.example.com"
    body = api("CreateCsr", **create_fields(common_name=cn))
    csr = parsed(body["Csr"])
    assert attrs(csr.subject, NameOID.ORGANIZATION_NAME) == []
    assert attrs(csr.subject, NameOID.ORGANIZATIONAL_UNIT_NAME) == []
    assert csr_sans(csr) == [cn]
    item = api.item(body["CsrId"])
    assert (item["Name"], item["Sans"], item["CorpName"], item["Department"]) == (cn, "", "", "")


CREATE_REFUSALS = [
    ("no-algorithm", dict(algorithm=None), "MissingParameter.Algorithm"),
    ("no-keysize", dict(key_size=None), "MissingParameter.KeySize"),
    ("no-cn", dict(common_name=None), "MissingParameter.CommonName"),
    ("no-country", dict(country_code=None), "MissingParameter.CountryCode"),
    ("no-province", dict(province=None), "MissingParameter.Province"),
    ("no-locality", dict(locality=None), "MissingParameter.Locality"),
    ("algorithm", dict(algorithm="DSA"), "InvalidParameter.Algorithm"),
    ("algorithm-case", dict(algorithm="ecc"), "InvalidParameter.Algorithm"),
    ("rsa-1024", dict(algorithm="RSA", key_size=1024), "InvalidParameter.KeySize"),
    ("rsa-256", dict(algorithm="RSA", key_size=256), "InvalidParameter.KeySize"),
    ("ecc-384", dict(algorithm="ECC", key_size=384), "InvalidParameter.KeySize"),
    ("sm2-2048", dict(algorithm="SM2", key_size=2048), "InvalidParameter.KeySize"),
    ("cn-65", dict(common_name="a" * 53 + ".example.com"), "InvalidParameter.CommonName"),
    ("cn-not-domain", dict(common_name="not a domain"), "InvalidParameter.CommonName"),
    ("sans-101", dict(sans=",".join(f"h{i}.example.com" for i in range(101))), "InvalidParameter.Sans"),
    ("sans-bad", dict(sans="ok.example.com,bad_name!"), "InvalidParameter.Sans"),
    ("country-unassigned", dict(country_code="XX"), "InvalidParameter.CountryCode"),
    ("country-alpha3", dict(country_code="CHN"), "InvalidParameter.CountryCode"),
    ("province-129", dict(province="p" * 129), "InvalidParameter.Province"),
    ("locality-129", dict(locality="l" * 129), "InvalidParameter.Locality"),
    ("locality-blank", dict(locality="   "), "InvalidParameter.Locality"),
    ("corp-256", dict(corp_name="c" * 256), "InvalidParameter.CorpName"),
    ("department-256", dict(department="d" * 256), "InvalidParameter.Department"),
    ("name-51", dict(name="n" * 51), "InvalidParameter.Name"),
    ("name-chars", dict(name="bad name!"), "InvalidParameter.Name"),
]


@pytest.mark.parametrize("over,code", [(o, c) for _, o, c in CREATE_REFUSALS], ids=[i for i, _, _ in CREATE_REFUSALS])
def test_create_csr_refusals(api, over, code):
    before = api.total()
    api.error("CreateCsr", 400, code, **create_fields(**over))
    assert api.total() == before, "a refused CreateCsr stored something"


# --------------------------------------------------------------------------
# UploadCsr
# --------------------------------------------------------------------------

UPLOADS = [(alg, fmt) for alg in ("RSA_2048", "ECC_256", "ECC_384", "SM2_256") for fmt in (None, "pkcs8", "traditional")]


@pytest.mark.parametrize("alg,fmt", UPLOADS, ids=[f"{a}-{f or 'nokey'}" for a, f in UPLOADS])
def test_upload_csr(api, keys, tmp_path, alg, fmt):
    cn = f"up-{uuid.uuid4().hex[:8]}.example.com"
    csr, key = keys.pair(alg, cn, san=f"DNS:{cn},DNS:www.{cn},IP:198.51.100.4",
                         subj_extra="/C=DE/ST=Berlin/L=Berlin/O=Upload GmbH/OU=QA")
    fields = dict(csr=csr)
    if fmt:
        fields["key"] = keys.converted(alg, key, fmt)
        label = {"pkcs8": "PRIVATE KEY", "traditional": "RSA PRIVATE KEY" if alg.startswith("RSA") else
                 "SM2 PRIVATE KEY" if alg.startswith("SM2") else "EC PRIVATE KEY"}[fmt]
        assert fields["key"].startswith(f"-----BEGIN {label}-----"), fields["key"][:40]
    body = api("UploadCsr", **fields)
    assert set(body) == {"RequestId", "CsrId"} and type(body["CsrId"]) is int, body

    item = api.item(body["CsrId"])
    check_item_types(item)
    family, bits = alg.split("_")
    assert item == {
        "CsrId": body["CsrId"], "Name": cn, "CommonName": cn, "Sans": f"www.{cn},198.51.100.4",
        "Algorithm": family, "KeySize": int(bits), "CorpName": "Upload GmbH", "Department": "QA",
        "CountryCode": "DE", "Province": "Berlin", "Locality": "Berlin",
        "KeySha2": spki_sha256(csr_pubkey(tmp_path, csr)), "HasPrivateKey": fmt is not None,
    }
    detail = api("GetCsrDetail", csr_id=body["CsrId"])
    assert csr_pubkey(tmp_path, detail["Csr"]) == csr_pubkey(tmp_path, csr)
    assert base64.b64decode("".join(detail["Csr"].strip().splitlines()[1:-1])) == \
        base64.b64decode("".join(csr.strip().splitlines()[1:-1])), "the stored CSR is not the uploaded one"
    if fmt:
        assert key_pubkey(tmp_path, detail["PrivateKey"]) == csr_pubkey(tmp_path, csr)
    else:
        assert "PrivateKey" not in detail, sorted(detail)


def test_upload_csr_name(api, keys):
    csr, _ = keys.pair("ECC_256", f"named-{uuid.uuid4().hex[:6]}.example.com")
    body = api("UploadCsr", csr=csr, name="My_Upload-1")
    assert api.item(body["CsrId"])["Name"] == "My_Upload-1"
    # UploadCsr's documented set has no '.', unlike CreateCsr's
    api.error("UploadCsr", 400, "InvalidParameter.Name", csr=csr, name="my.upload")
    api.error("UploadCsr", 400, "InvalidParameter.Name", csr=csr, name="x" * 51)


def test_upload_csr_san_only(api, keys, tmp_path):
    k = keys.key("ECC_256")
    out = tmp_path / "nocn.csr"
    openssl("req", "-new", "-key", str(k), "-subj", "/O=No CN", "-addext", "subjectAltName=DNS:only-san.example.com",
            "-out", str(out))
    body = api("UploadCsr", csr=out.read_text())
    item = api.item(body["CsrId"])
    assert (item["CommonName"], item["Sans"], item["Name"]) == ("", "only-san.example.com", "only-san.example.com")
    # neither a CN nor a SAN: nothing to issue for
    bare = tmp_path / "bare.csr"
    openssl("req", "-new", "-key", str(k), "-subj", "/O=Nothing", "-out", str(bare))
    api.error("UploadCsr", 400, "InvalidParameter.Csr", csr=bare.read_text())


def test_upload_csr_refusals(api, keys, tmp_path):
    cn = f"refuse-{uuid.uuid4().hex[:6]}.example.com"
    csr, key = keys.pair("ECC_256", cn)
    _, other_key = keys.pair("ECC_256", cn)
    _, rsa_key = keys.pair("RSA_2048", cn)
    _, sm2_key = keys.pair("SM2_256", cn)
    before = api.total()

    for wrong in (other_key, rsa_key, sm2_key, keys.converted("ECC_256", other_key, "traditional")):
        api.error("UploadCsr", 400, "NotMatch.CsrAndPrivateKey", csr=csr, key=wrong)
    api.error("UploadCsr", 400, "MissingParameter.Csr", key=key)
    api.error("UploadCsr", 400, "InvalidParameter.Csr", csr="garbage")
    api.error("UploadCsr", 400, "InvalidParameter.Csr",
              csr="-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgQ1NS\n-----END CERTIFICATE REQUEST-----\n")
    api.error("UploadCsr", 400, "InvalidParameter.Csr", csr=key)  # a key where the CSR belongs
    api.error("UploadCsr", 400, "InvalidParameter.Csr", csr=tamper(csr))
    api.error("UploadCsr", 400, "InvalidParameter.Csr", csr=tamper(csr), key=key)
    weak, _ = keys.pair("RSA_1024", cn)
    api.error("UploadCsr", 400, "InvalidParameter.Csr", csr=weak)
    sha1 = keys.csr(keys.key("RSA_2048"), cn, digest="sha1")
    api.error("UploadCsr", 400, "InvalidParameter.Csr", csr=sha1)
    k1 = tmp_path / "k1.key"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:secp256k1", "-out", str(k1))
    api.error("UploadCsr", 400, "InvalidParameter.Csr", csr=keys.csr(k1, cn))

    # keys that cannot be read
    api.error("UploadCsr", 400, "InvalidParameter.Key", csr=csr, key="garbage")
    api.error("UploadCsr", 400, "InvalidParameter.Key", csr=csr, key=csr)
    src = write(tmp_path, key)
    enc8 = openssl("pkcs8", "-topk8", "-in", str(src), "-passout", "pass:secret1")
    assert "ENCRYPTED PRIVATE KEY" in enc8
    e = api.error("UploadCsr", 400, "InvalidParameter.Key", csr=csr, key=enc8)
    assert "ncrypted" in e.message, e.message
    legacy = openssl("ec", "-in", str(src), "-aes256", "-passout", "pass:secret1")
    assert "Proc-Type: 4,ENCRYPTED" in legacy
    e = api.error("UploadCsr", 400, "InvalidParameter.Key", csr=csr, key=legacy)
    assert "ncrypted" in e.message, e.message

    assert api.total() == before, "a refused UploadCsr stored something"


# --------------------------------------------------------------------------
# ListCsr
# --------------------------------------------------------------------------

def test_list_csr_filters_and_paging(server, keys):
    api = fresh_api(server)
    made = []  # oldest first
    for i, alg in enumerate(["RSA_2048", "ECC_256", "SM2_256", "ECC_256", "RSA_2048", "ECC_256", "SM2_256"]):
        cn = f"list{i}.Example.com"
        csr, _ = keys.pair(alg, cn, san=f"DNS:{cn},DNS:alias{i}.example.net")
        made.append(api("UploadCsr", csr=csr, name=f"list_{i}")["CsrId"])
    newest_first = list(reversed(made))

    body = api("ListCsr")
    assert (body["TotalCount"], body["CurrentPage"], body["ShowSize"]) == (7, 1, 50), body
    assert [i["CsrId"] for i in body["CsrList"]] == newest_first
    for i in body["CsrList"]:
        check_item_types(i)

    for alg, n in (("RSA", 2), ("ECC", 3), ("SM2", 2)):
        b = api("ListCsr", algorithm=alg)
        assert b["TotalCount"] == n and {i["Algorithm"] for i in b["CsrList"]} == {alg}, b
    # the keyword matches name, common name and SANs, case-insensitively; LIKE wildcards are literal
    assert [i["CsrId"] for i in api("ListCsr", key_word="LIST3.example")["CsrList"]] == [made[3]]
    assert [i["CsrId"] for i in api("ListCsr", key_word="alias5")["CsrList"]] == [made[5]]
    assert [i["CsrId"] for i in api("ListCsr", key_word="list_6")["CsrList"]] == [made[6]]
    assert api.total(key_word="%") == 0 and api.total(key_word="_") == 7  # '_' is in every name
    assert api.total(key_word="example.net", algorithm="ECC") == 3

    pages = []
    for page in range(1, 5):
        b = api("ListCsr", current_page=page, show_size=2)
        assert (b["TotalCount"], b["CurrentPage"], b["ShowSize"]) == (7, page, 2), b
        pages.append([i["CsrId"] for i in b["CsrList"]])
    assert pages == [newest_first[0:2], newest_first[2:4], newest_first[4:6], newest_first[6:]]
    past = api("ListCsr", current_page=9, show_size=2)
    assert (past["CsrList"], past["TotalCount"]) == ([], 7)

    api.error("ListCsr", 400, "InvalidParameter.ShowSize", show_size=0)
    api.error("ListCsr", 400, "InvalidParameter.ShowSize", show_size=1001)
    api.error("ListCsr", 400, "InvalidParameter.CurrentPage", current_page=0)
    api.error("ListCsr", 400, "InvalidParameter.Algorithm", algorithm="DSA")


# --------------------------------------------------------------------------
# GetCsrDetail / UpdateCsr / DeleteCsr, isolation
# --------------------------------------------------------------------------

def test_update_csr(api, keys, tmp_path):
    cn = f"upd-{uuid.uuid4().hex[:6]}.example.com"
    csr, key = keys.pair("SM2_256", cn)
    _, other_key = keys.pair("SM2_256", cn)
    csr_id = api("UploadCsr", csr=csr)["CsrId"]
    assert api.item(csr_id)["HasPrivateKey"] is False

    api.error("UpdateCsr", 400, "NotMatch.CsrAndPrivateKey", csr_id=csr_id, key=other_key)
    api.error("UpdateCsr", 400, "InvalidParameter.Key", csr_id=csr_id, key="garbage")
    enc = openssl("pkcs8", "-topk8", "-in", str(write(tmp_path, key)), "-passout", "pass:pw123456")
    api.error("UpdateCsr", 400, "InvalidParameter.Key", csr_id=csr_id, key=enc)
    api.error("UpdateCsr", 400, "MissingParameter.Key", csr_id=csr_id)
    api.error("UpdateCsr", 400, "MissingParameter.CsrId", key=key)
    api.error("UpdateCsr", 400, "InvalidParameter.CsrId", csr_id="abc", key=key)
    api.error("UpdateCsr", 404, "NotFound.Csr", csr_id=csr_id + 100000, key=key)
    assert api.item(csr_id)["HasPrivateKey"] is False
    assert "PrivateKey" not in api("GetCsrDetail", csr_id=csr_id)

    body = api("UpdateCsr", csr_id=csr_id, key=keys.converted("SM2_256", key, "traditional"))
    assert set(body) == {"RequestId"}, body
    assert api.item(csr_id)["HasPrivateKey"] is True
    held = api("GetCsrDetail", csr_id=csr_id)["PrivateKey"]
    assert key_pubkey(tmp_path, held) == key_pubkey(tmp_path, key) == csr_pubkey(tmp_path, csr)
    # once a key is held, a wrong one still does not replace it
    api.error("UpdateCsr", 400, "NotMatch.CsrAndPrivateKey", csr_id=csr_id, key=other_key)
    assert key_pubkey(tmp_path, api("GetCsrDetail", csr_id=csr_id)["PrivateKey"]) == key_pubkey(tmp_path, key)


def test_get_and_delete_csr(api, keys):
    csr, _ = keys.pair("ECC_256", f"del-{uuid.uuid4().hex[:6]}.example.com")
    csr_id = api("UploadCsr", csr=csr)["CsrId"]
    keep_id = api("UploadCsr", csr=csr)["CsrId"]
    api.error("GetCsrDetail", 400, "MissingParameter.CsrId")
    api.error("GetCsrDetail", 400, "InvalidParameter.CsrId", csr_id=-1)
    api.error("DeleteCsr", 400, "MissingParameter.CsrId")
    api.error("DeleteCsr", 404, "NotFound.Csr", csr_id=csr_id + 100000)
    before = api.total()
    body = api("DeleteCsr", csr_id=csr_id)
    assert set(body) == {"RequestId"}, body
    assert api.total() == before - 1
    api.error("GetCsrDetail", 404, "NotFound.Csr", csr_id=csr_id)
    api.error("DeleteCsr", 404, "NotFound.Csr", csr_id=csr_id)
    api.error("UpdateCsr", 404, "NotFound.Csr", csr_id=csr_id, key="whatever")
    assert api("GetCsrDetail", csr_id=keep_id)["Csr"]


def test_isolation_between_accounts(api, other, keys, tmp_path):
    cn = f"iso-{uuid.uuid4().hex[:6]}.example.com"
    csr, key = keys.pair("ECC_256", cn)
    mine = api("UploadCsr", csr=csr, key=key)["CsrId"]
    theirs = other("UploadCsr", csr=csr)["CsrId"]
    assert theirs != mine

    other.error("GetCsrDetail", 404, "NotFound.Csr", csr_id=mine)
    other.error("UpdateCsr", 404, "NotFound.Csr", csr_id=mine, key=key)
    other.error("DeleteCsr", 404, "NotFound.Csr", csr_id=mine)
    assert mine not in [i["CsrId"] for i in other("ListCsr", show_size=1000)["CsrList"]]
    assert other.total(key_word=cn) == 1
    api.error("GetCsrDetail", 404, "NotFound.Csr", csr_id=theirs)
    api.error("DeleteCsr", 404, "NotFound.Csr", csr_id=theirs)

    # untouched by the other account's attempts
    detail = api("GetCsrDetail", csr_id=mine)
    assert key_pubkey(tmp_path, detail["PrivateKey"]) == csr_pubkey(tmp_path, csr)
    assert "PrivateKey" not in other("GetCsrDetail", csr_id=theirs)


def test_private_keys_sealed_at_rest(api, server, tmp_path):
    body = api("CreateCsr", **create_fields(algorithm="RSA", key_size=2048))
    key_pem = api("GetCsrDetail", csr_id=body["CsrId"])["PrivateKey"]
    key_der = base64.b64decode("".join(key_pem.strip().splitlines()[1:-1]))
    private = serialization.load_der_private_key(key_der, None)
    d = private.private_numbers().d.to_bytes(256, "big").lstrip(b"\0")
    requires_sqlite_file()
    files = [p for p in server.data_dir.iterdir() if p.name.startswith("opencas.db")]
    assert files, list(server.data_dir.iterdir())
    for p in files:
        blob = p.read_bytes()
        assert key_der not in blob and d[:32] not in blob, f"private key material in clear in {p.name}"
    db = sqlite3.connect(f"file:{server.data_dir / 'opencas.db'}?mode=ro", uri=True)
    try:
        sealed, has = db.execute("SELECT key_sealed, has_private_key FROM csrs WHERE id = ?",
                                 (body["CsrId"],)).fetchone()
    finally:
        db.close()
    assert has == 1 and sealed and key_der not in sealed


# --------------------------------------------------------------------------
# a CSR made here issues certificates
# --------------------------------------------------------------------------

FAMILY_CA = {"RSA": "RSA_2048", "ECC": "ECC_256", "SM2": "SM2_256"}


def ca_pair(server, creds, family: str) -> str:
    """A root and sub CA of the family; returns the sub's identifier."""
    from alibabacloud_cas20200630 import models
    c = cas20200630(server, creds)
    subj = dict(organization="CSR Test Org", organization_unit="PKI", locality="Hangzhou", state="Zhejiang",
                country_code="CN")
    root = c.create_root_cacertificate(models.CreateRootCACertificateRequest(
        common_name=f"CSR Root {family} {uuid.uuid4().hex[:6]}", algorithm=FAMILY_CA[family], years=10, **subj))
    sub = c.create_sub_cacertificate(models.CreateSubCACertificateRequest(
        parent_identifier=root.body.identifier, common_name=f"CSR Sub {family} {uuid.uuid4().hex[:6]}",
        algorithm=FAMILY_CA[family], years=5, **subj))
    return sub.body.identifier


@pytest.mark.parametrize("alg,size", [("RSA", 3072), ("ECC", 256), ("SM2", 256)], ids=["RSA_3072", "ECC_256", "SM2_256"])
def test_created_csr_issues_certificates(server, creds, api, tmp_path, alg, size):
    from alibabacloud_cas20200630 import models
    sub = ca_pair(server, creds, alg)
    cn = f"issue-{alg.lower()}-{uuid.uuid4().hex[:6]}.example.com"
    made = api("CreateCsr", **create_fields(algorithm=alg, key_size=size, common_name=cn, sans=f"www.{cn}"))
    csr_key = csr_pubkey(tmp_path, made["Csr"])
    key_pem = api("GetCsrDetail", csr_id=made["CsrId"])["PrivateKey"]
    c = cas20200630(server, creds)
    for action, req in (("create_server_certificate_with_csr", models.CreateServerCertificateWithCsrRequest),
                        ("create_client_certificate_with_csr", models.CreateClientCertificateWithCsrRequest)):
        resp = getattr(c, action)(req(parent_identifier=sub, csr=made["Csr"], days=30, immediately=1))
        cert_pem = resp.body.x_509certificate
        assert cert_pem and cert_pem.startswith("-----BEGIN CERTIFICATE-----"), resp.body.to_map()
        assert cert_pubkey(tmp_path, cert_pem) == csr_key, f"{action}: certificate key is not the CSR's"
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
        assert attrs(cert.subject, NameOID.COMMON_NAME) == [cn], cert.subject.rfc4514_string()
        if action.startswith("create_server"):
            names = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
            assert {str(n.value) for n in names} >= {cn, f"www.{cn}"}, names
        # and the key GetCsrDetail hands out is the certificate's
        assert key_pubkey(tmp_path, key_pem) == cert_pubkey(tmp_path, cert_pem)


# --------------------------------------------------------------------------
# the bytes on the wire: JSON types and error envelopes
# --------------------------------------------------------------------------

def test_wire_shapes(server, creds, keys):
    def call(action, **q):
        return v3_request(server, creds, action, V_2020_04, {k: str(v) for k, v in q.items()})

    made = assert_ok(call("CreateCsr", Algorithm="ECC", KeySize=256, CommonName="wire.example.com", CountryCode="CN",
                          Province="Zhejiang", Locality="Hangzhou"))
    assert set(made) == {"RequestId", "CsrId", "Csr"} and type(made["CsrId"]) is int, made
    listed = assert_ok(call("ListCsr", KeyWord="wire.example.com"))
    assert [type(listed[k]) for k in ("TotalCount", "CurrentPage", "ShowSize")] == [int, int, int], listed
    assert listed["TotalCount"] >= 1
    for item in listed["CsrList"]:
        check_item_types(item)
    detail = assert_ok(call("GetCsrDetail", CsrId=made["CsrId"]))
    assert set(detail) == {"RequestId", "Csr", "PrivateKey"}, sorted(detail)
    csr, _ = keys.pair("ECC_256", "wire2.example.com")
    up = assert_ok(call("UploadCsr", Csr=csr))
    assert set(up) == {"RequestId", "CsrId"} and type(up["CsrId"]) is int, up
    assert set(assert_ok(call("GetCsrDetail", CsrId=up["CsrId"]))) == {"RequestId", "Csr"}

    _, wrong = keys.pair("ECC_256", "wire3.example.com")
    assert_error(call("UpdateCsr", CsrId=up["CsrId"], Key=wrong), 400, "NotMatch.CsrAndPrivateKey")
    assert_error(call("GetCsrDetail", CsrId=up["CsrId"] + 100000), 404, "NotFound.Csr")
    assert_error(call("GetCsrDetail"), 400, "MissingParameter.CsrId")
    assert_error(call("CreateCsr", Algorithm="ECC", KeySize="big", CommonName="x.example.com", CountryCode="CN",
                      Province="P", Locality="L"), 400, "InvalidParameter.KeySize")
    assert set(assert_ok(call("UpdateCsr", CsrId=made["CsrId"],
                              Key=detail["PrivateKey"]))) == {"RequestId"}
    assert set(assert_ok(call("DeleteCsr", CsrId=up["CsrId"]))) == {"RequestId"}
