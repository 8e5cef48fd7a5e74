"""Uploaded certificates (UploadUserCertificate 2020-04-07, CreateUserCertificate 2018-07-13) and
their reads (GetUserCertificateDetail, DescribeUserCertificateDetail, GetCertificateDetail,
ListCertificates, ListUserCertificateOrder CERT/UPLOAD), deletion, SM2 dual certificates, and
the private-CA actions around the store (UploadPCACert, DeletePCACert, UploadPcaCertToCas),
through the official SDKs. Certificates are made by `openssl`; every field read back is
checked against what `cryptography` reads from the same PEM."""
from __future__ import annotations

import hashlib
import json
import uuid

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from cert_upload_lib import (
    FAMILY,
    KEY_BITS,
    Api04,
    Bundle,
    Pki,
    attr,
    cert_pub_der,
    check_detail_against_pem,
    ders,
    expired_bundle,
    ms,
    pub_der,
    run,
    sans_of,
    serial_hex,
    sm2_dual,
)
from opencas_testlib import V_2018, V_2020_04, acs_client, assert_error, cas20180713, common_request, v1_request
from test_issuance import IApi

NF = "NotFound.Certificate"


@pytest.fixture(scope="module")
def api(server):
    return Api04(server)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(tmp_path_factory.mktemp("upload-pki"))


@pytest.fixture(scope="module")
def bundles(pki):
    """One chain per algorithm, made once."""
    made: dict[str, Bundle] = {}

    def get(alg: str) -> Bundle:
        if alg not in made:
            made[alg] = pki.chain(alg, f"www.{alg.lower()}-{uuid.uuid4().hex[:6]}.example.com",
                                  sans=[f"DNS:*.{alg.lower()}.example.com", f"DNS:{alg.lower()}.example.com",
                                        "DNS:api.example.net", "IP:192.0.2.7"])
        return made[alg]
    return get


# --------------------------------------------------------------------------
# uploads: every family, every key format, read back field by field
# --------------------------------------------------------------------------

FORMATS = [("RSA", "pkcs8"), ("RSA", "pkcs1"), ("P256", "pkcs8"), ("P256", "sec1"), ("P384", "sec1"),
           ("SM2", "pkcs8"), ("SM2", "sec1")]


@pytest.mark.parametrize("alg,fmt", FORMATS, ids=[f"{a}-{f}" for a, f in FORMATS])
def test_upload_and_read_back(api, bundles, alg, fmt):
    b = bundles(alg)
    name = f"{alg}-{fmt}-{uuid.uuid4().hex[:6]}"
    cert_id = api.upload(name, cert=b.cert_field, key=b.key_as(fmt), tags=[("env", "test")])
    d = api.detail(cert_id)
    assert d["Id"] == cert_id and d["Name"] == name
    check_detail_against_pem(d, b)
    assert d["Tags"] == [{"TagKey": "env", "TagValue": "test"}]
    assert "SignCert" not in d and "EncryptCert" not in d

    # GetCertificateDetail tells the same story in its own words
    g = api("GetCertificateDetail", certificate_id=cert_id)
    c = b.x509
    assert g["CertificateId"] == cert_id and g["CertificateName"] == name
    assert g["CertificateSource"] == "UPLOAD" and g["CertificateStatus"] == "issued"
    assert g["Algorithm"] == FAMILY[alg] and g["KeySize"] == KEY_BITS[alg]
    assert g["Serial"] == serial_hex(c)
    assert g["SubjectAlternativeNames"] == sans_of(c)
    assert g["CommonName"] == attr(c.subject, NameOID.COMMON_NAME)
    assert g["NotAfter"] == ms(c.not_valid_after_utc) and g["NotBefore"] == ms(c.not_valid_before_utc)
    assert g["ExistPrivateKey"] is True
    assert g["FingerPrint"] == d["Fingerprint"]
    assert [x["Subject"] for x in g["CertificateChainList"]] == [e["CommonName"] for e in d["CertChain"]]
    assert g["Tags"] == [{"TagKey": "env", "TagValue": "test"}]

    # listed in both store views
    assert cert_id in api.upload_ids()
    assert cert_id in [x["CertificateId"] for x in
                       api("ListUserCertificateOrder", order_type="CERT", show_size=1000)["CertificateOrderList"]]
    assert cert_id in api.store_ids(certificate_source="UPLOAD")
    assert cert_id not in api.store_ids(certificate_source="BUY")


def test_cert_filter_leaves_out_contents(api, bundles):
    b = bundles("P256")
    cert_id = api.upload(cert=b.cert_field, key=b.key_as("pkcs8"))
    d = api.detail(cert_id, cert_filter=True)
    for k in ("Cert", "Key", "SignCert", "SignPrivateKey", "EncryptCert", "EncryptPrivateKey"):
        assert k not in d, k
    assert d["Fingerprint"] and d["Common"]
    full = api.detail(cert_id, cert_filter=False)
    assert "Cert" in full and "Key" in full


def test_wildcard_single_cert_without_chain(api, pki):
    crt, key = pki.cert("RSA", "/CN=*.wild.example.com", sans=["DNS:*.wild.example.com", "DNS:wild.example.com"])
    cert_id = api.upload(cert=crt.read_text(), key=key.read_text())
    d = api.detail(cert_id)
    assert d["Common"] == "*.wild.example.com"
    assert d["Sans"] == "*.wild.example.com,wild.example.com"
    assert len(d["CertChain"]) == 1 and d["CertChain"][0]["IssuerCommonName"] == "*.wild.example.com"
    assert ders(d["Cert"]) == ders(crt.read_text())


def test_list_views_fields(api, bundles):
    b = bundles("P384")
    name = f"listed-{uuid.uuid4().hex[:6]}"
    cert_id = api.upload(name, cert=b.cert_field, key=b.key_as("pkcs8"))
    items = api("ListUserCertificateOrder", order_type="UPLOAD", keyword=name)["CertificateOrderList"]
    assert [i["CertificateId"] for i in items] == [cert_id]
    i = items[0]
    c = b.x509
    der = c.public_bytes(serialization.Encoding.DER)
    assert i["Name"] == name and i["Upload"] is True and i["Expired"] is False
    assert i["Fingerprint"] == hashlib.sha1(der).hexdigest().upper()
    assert i["Sha2"] == hashlib.sha256(der).hexdigest().upper()
    assert i["SerialNo"] == serial_hex(c) and i["InstanceId"].startswith("cas-upload-")
    lst = api("ListCertificates", keyword=name)
    assert lst["TotalCount"] == 1 and lst["ShowSize"] == 10
    row = lst["CertificateList"][0]
    assert row["CertificateId"] == cert_id and row["InstanceId"] == i["InstanceId"]
    # the resource id finds it too
    assert api.store_ids(instance_id=i["InstanceId"]) == [cert_id]
    assert api.store_ids(keyword=i["InstanceId"]) == [cert_id]
    api.error("ListCertificates", 400, "InvalidParameter.ShowSize", show_size=101)
    api.error("ListCertificates", 400, "InvalidParameter.CertificateSource", certificate_source="FREE")


# --------------------------------------------------------------------------
# refusals: each with its code and status, and none leaves anything behind
# --------------------------------------------------------------------------

GARBAGE = [
    "hello, world",
    "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    "-----BEGIN CERTIFICATE-----\n!!!notbase64!!!\n-----END CERTIFICATE-----\n",
    "-----BEGIN CERTIFICATE-----\nMIIB\n",
]


def test_refusals(api, bundles, pki):
    rsa, ec = bundles("RSA"), bundles("P256")
    before = api.upload_ids()
    up = lambda code, name=None, **f: api.error("UploadUserCertificate", 400, code,  # noqa: E731
                                                name=name or f"bad-{uuid.uuid4().hex[:6]}", **f)
    # a key of another certificate, of the same and of another family
    other = pki.key("P256")
    up("InvalidParameter.Key", cert=ec.cert_field, key=other.read_text())
    e = up("InvalidParameter.Key", cert=ec.cert_field, key=rsa.key_as("pkcs8"))
    assert "does not belong" in e.message
    # garbage PEM in either field
    for g in GARBAGE:
        up("InvalidParameter.Cert", cert=g, key=ec.key_as("pkcs8"))
        up("InvalidParameter.Key", cert=ec.cert_field, key=g.replace("CERTIFICATE", "PRIVATE KEY"))
    # a key pasted into the certificate field, a certificate into the key field
    up("InvalidParameter.Cert", cert=ec.leaf_pem + ec.key_as("pkcs8"), key=ec.key_as("pkcs8"))
    up("InvalidParameter.Key", cert=ec.cert_field, key=ec.leaf_pem)
    # a chain out of order, and a chain with a stranger in it
    up("InvalidParameter.Cert", cert=ec.leaf_pem + ec.chain_pems[1] + ec.chain_pems[0], key=ec.key_as("pkcs8"))
    up("InvalidParameter.Cert", cert=ec.leaf_pem + rsa.chain_pems[0], key=ec.key_as("pkcs8"))
    # encrypted keys: no upload action carries a password
    enc = run("openssl", "pkcs8", "-topk8", "-v2", "aes-256-cbc", "-passout", "pass:secret",
              "-in", str(ec.key_path)).decode()
    assert "ENCRYPTED PRIVATE KEY" in enc
    e = up("InvalidParameter.Key", cert=ec.cert_field, key=enc)
    assert "encrypted" in e.message and "password" in e.message
    legacy = run("openssl", "rsa", "-in", str(rsa.key_path), "-aes256", "-passout", "pass:secret",
                 "-traditional").decode()
    assert "Proc-Type: 4,ENCRYPTED" in legacy
    up("InvalidParameter.Key", cert=rsa.cert_field, key=legacy)
    # missing and over-long fields
    up("MissingParameter.Key", cert=ec.cert_field)
    up("MissingParameter.Cert", key=ec.key_as("pkcs8"))
    api.error("UploadUserCertificate", 400, "MissingParameter.Name", cert=ec.cert_field, key=ec.key_as("pkcs8"))
    up("InvalidParameter.Name", name="n" * 64, cert=ec.cert_field, key=ec.key_as("pkcs8"))
    assert 32 * 1024 < len(ec.cert_field * 15) < 48 * 1024
    e = up("InvalidParameter.Cert", cert=ec.cert_field * 15, key=ec.key_as("pkcs8"))
    assert "at most" in e.message
    # more certificates than any real chain
    up("InvalidParameter.Cert", cert=ec.leaf_pem * 11, key=ec.key_as("pkcs8"))
    up("InvalidParameter.Tags", cert=ec.cert_field, key=ec.key_as("pkcs8"), tags=[("aliyun:x", "1")])
    assert api.upload_ids() == before, "a refused upload left a certificate behind"
    # 63 characters, any characters, are fine
    name63 = ("證書-" + uuid.uuid4().hex) .ljust(63, "x")
    assert len(name63) == 63
    cert_id = api.upload(name63, cert=ec.cert_field, key=ec.key_as("pkcs8"))
    assert api.detail(cert_id, cert_filter=True)["Name"] == name63


def test_duplicate_names(api, bundles):
    b = bundles("P256")
    name = f"dup-{uuid.uuid4().hex[:6]}"
    first = api.upload(name, cert=b.cert_field, key=b.key_as("pkcs8"))
    e = api.error("UploadUserCertificate", 400, "InvalidParameter.Name", name=name, cert=b.cert_field,
                  key=b.key_as("pkcs8"))
    assert "already exists" in e.message
    # the same certificate under another name is another entry
    second = api.upload(cert=b.cert_field, key=b.key_as("pkcs8"))
    assert second != first
    # once deleted, the name is free again
    api("DeleteUserCertificate", cert_id=first)
    third = api.upload(name, cert=b.cert_field, key=b.key_as("pkcs8"))
    assert third not in (first, second)


def test_client_token_makes_upload_idempotent(api, bundles):
    b = bundles("P256")
    token = uuid.uuid4().hex
    a = api("UploadUserCertificate", name=f"tok-{token[:6]}", cert=b.cert_field, key=b.key_as("pkcs8"),
            client_token=token)
    again = api("UploadUserCertificate", name=f"tok-{token[:6]}", cert=b.cert_field, key=b.key_as("pkcs8"),
                client_token=token)
    assert (again["CertId"], again["ResourceId"]) == (a["CertId"], a["ResourceId"])


def test_ten_megabyte_bodies_are_refused_cleanly(server, creds, api, bundles):
    b = bundles("P256")
    big = "A" * (10 * 1024 * 1024)
    # in a form body (signature v1, POST): the body limit answers first
    r = v1_request(server, creds, "UploadUserCertificate", V_2020_04, method="POST",
                   body_params={"Name": "big", "Cert": big, "Key": b.key_as("pkcs8")})
    assert_error(r, 413, "RequestEntityTooLarge")
    # in the query string, as the SDKs send it: refused without a 5xx, server alive after
    try:
        r = requests.post(server.base_url + "/?Action=UploadUserCertificate&Version=2020-04-07&Name=big&Cert=" + big,
                          timeout=60)
        assert 400 <= r.status_code < 500, r.status_code
    except requests.ConnectionError:
        pass  # hyper may close the connection on an oversized request head: also not a 5xx
    assert api.upload(cert=b.cert_field, key=b.key_as("pkcs8")) > 0


# --------------------------------------------------------------------------
# expired certificates, deletion, isolation
# --------------------------------------------------------------------------

def test_expired_certificate_uploads_and_reads_as_expired(api, pki):
    cert, key = expired_bundle(pki)
    c = x509.load_pem_x509_certificate(cert.encode())
    name = f"expired-{uuid.uuid4().hex[:6]}"
    cert_id = api.upload(name, cert=cert, key=key)
    d = api.detail(cert_id)
    assert d["Expired"] is True and d["EndDate"] == "2020-12-31" and d["StartDate"] == "2020-01-01"
    assert d["NotAfter"] == ms(c.not_valid_after_utc)
    assert d["CertChain"][0]["RemainDay"] == 0
    assert api("GetCertificateDetail", certificate_id=cert_id)["CertificateStatus"] == "expired"
    # the order views list valid certificates by default, expired ones when asked
    assert cert_id not in api.upload_ids()
    assert cert_id in api.upload_ids(status="EXPIRED")
    assert cert_id not in api.upload_ids(status="ISSUED")
    assert cert_id in api.store_ids(certificate_status="expired")
    assert cert_id not in api.store_ids(certificate_status="issued")
    assert cert_id in api.store_ids()


def test_delete_then_read_is_not_found(api, bundles):
    b = bundles("P256")
    cert_id = api.upload(cert=b.cert_field, key=b.key_as("pkcs8"))
    token = uuid.uuid4().hex
    api("DeleteUserCertificate", cert_id=cert_id, client_token=token)
    # the same request again succeeds (it already did), a new one finds nothing
    api("DeleteUserCertificate", cert_id=cert_id, client_token=token)
    api.error("DeleteUserCertificate", 404, NF, cert_id=cert_id)
    api.error("GetUserCertificateDetail", 404, NF, cert_id=cert_id)
    api.error("GetCertificateDetail", 404, NF, certificate_id=cert_id)
    assert cert_id not in api.upload_ids() and cert_id not in api.store_ids()
    api.error("GetUserCertificateDetail", 404, NF, cert_id=987654321)
    api.error("GetUserCertificateDetail", 400, "MissingParameter.CertId")


def test_accounts_are_isolated(server, api, bundles):
    b = bundles("RSA")
    mine = api.upload(cert=b.cert_field, key=b.key_as("pkcs8"))
    acct = server.create_account(f"other-{uuid.uuid4().hex[:6]}")
    other = Api04(server, acct)
    other.error("GetUserCertificateDetail", 404, NF, cert_id=mine)
    other.error("GetCertificateDetail", 404, NF, certificate_id=mine)
    other.error("DeleteUserCertificate", 404, NF, cert_id=mine)
    assert other.upload_ids() == [] and other.store_ids() == []
    # names are per account: the other account may use the same one
    name = f"shared-{uuid.uuid4().hex[:6]}"
    api.upload(name, cert=b.cert_field, key=b.key_as("pkcs8"))
    theirs = other.upload(name, cert=b.cert_field, key=b.key_as("pkcs8"))
    api.error("GetUserCertificateDetail", 404, NF, cert_id=theirs)
    assert api.detail(mine, cert_filter=True)["Id"] == mine


# --------------------------------------------------------------------------
# SM2 dual certificates: a signing pair and an encryption pair
# --------------------------------------------------------------------------

def test_sm2_dual_certificate(api, pki, bundles):
    pair = sm2_dual(pki)
    cert_id = api.upload(**pair)
    d = api.detail(cert_id)
    assert "Cert" not in d and "Key" not in d
    assert ders(d["SignCert"]) == ders(pair["sign_cert"])
    assert ders(d["EncryptCert"]) == ders(pair["encrypt_cert"])
    assert pub_der(d["SignPrivateKey"]) == cert_pub_der(pair["sign_cert"])
    assert pub_der(d["EncryptPrivateKey"]) == cert_pub_der(pair["encrypt_cert"])
    assert d["Algorithm"] == "SM2"
    sign = x509.load_pem_x509_certificates(pair["sign_cert"].encode())[0]
    assert d["Fingerprint"] == hashlib.sha1(sign.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    assert d["Common"] == attr(sign.subject, NameOID.COMMON_NAME)
    filtered = api.detail(cert_id, cert_filter=True)
    assert not {"SignCert", "SignPrivateKey", "EncryptCert", "EncryptPrivateKey"} & filtered.keys()

    # Cert + Key win over the pair fields, as the API documents
    ec = bundles("P256")
    both = api.upload(cert=ec.cert_field, key=ec.key_as("pkcs8"), **pair)
    d = api.detail(both)
    assert "Cert" in d and "EncryptCert" not in d and d["Algorithm"] == "ECC"

    # refusals
    err = lambda code, **f: api.error("UploadUserCertificate", 400, code,  # noqa: E731
                                      name=f"sm2-bad-{uuid.uuid4().hex[:6]}", **f)
    err("MissingParameter.EncryptCert", **{**pair, "encrypt_cert": None})
    err("MissingParameter.SignPrivateKey", **{**pair, "sign_private_key": None})
    err("InvalidParameter.EncryptPrivateKey", **{**pair, "encrypt_private_key": pair["sign_private_key"]})
    err("InvalidParameter.SignPrivateKey", **{**pair, "sign_private_key": pki.key("SM2").read_text()})
    err("InvalidParameter.EncryptCert", **{**pair, "encrypt_cert": pair["sign_cert"],
                                          "encrypt_private_key": pair["sign_private_key"]})
    err("InvalidParameter.SignCert", **{**pair, "sign_cert": ec.cert_field, "sign_private_key": ec.key_as("pkcs8")})
    err("InvalidParameter.EncryptCert", **{**pair, "encrypt_cert": "garbage"})


# --------------------------------------------------------------------------
# 2018-07-13: CreateUserCertificate / DescribeUserCertificateDetail
# --------------------------------------------------------------------------

LEGACY_DETAIL_KEYS = {"Fingerprint", "RequestId", "Issuer", "Expired", "OrgName", "City", "EndDate", "Province",
                      "BuyInAliyun", "Common", "Name", "StartDate", "Sans", "Country", "Cert", "Id", "Key"}


def test_2018_create_and_describe(server, creds, api, bundles):
    from alibabacloud_cas20180713 import models as m18
    b = bundles("RSA")
    client = cas20180713(server, creds)
    name = f"legacy-{uuid.uuid4().hex[:6]}"
    resp = client.create_user_certificate(m18.CreateUserCertificateRequest(
        name=name, cert=b.cert_field, key=b.key_as("pkcs1")))
    cert_id = resp.body.cert_id
    assert isinstance(cert_id, int) and cert_id > 0
    d = client.describe_user_certificate_detail(m18.DescribeUserCertificateDetailRequest(cert_id=cert_id))
    body = d.body.to_map()
    # exactly the SDK model's keys, and each filled from the certificate
    assert set(body) == LEGACY_DETAIL_KEYS, set(body) ^ LEGACY_DETAIL_KEYS
    c = b.x509
    assert body["Id"] == cert_id and body["Name"] == name
    assert body["Fingerprint"] == hashlib.sha1(c.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    assert body["Common"] == attr(c.subject, NameOID.COMMON_NAME)
    assert body["Sans"].split(",") == sans_of(c)
    assert body["EndDate"] == c.not_valid_after_utc.date().isoformat()
    assert body["Expired"] is False and body["BuyInAliyun"] is False
    assert ders(body["Cert"]) == ders(b.cert_field)
    assert pub_der(body["Key"]) == cert_pub_der(b.leaf_pem)
    # the same certificate through the 2020-04-07 reads
    assert api.detail(cert_id, cert_filter=True)["Name"] == name

    # signature v1 (aliyun-python-sdk-core), and its refusals
    acs = acs_client(server, creds)
    req = common_request("CreateUserCertificate", V_2018, {"Name": f"v1-{uuid.uuid4().hex[:6]}",
                                                          "Cert": b.cert_field, "Key": b.key_as("pkcs8")},
                         method="POST")
    created = json.loads(acs.do_action_with_exception(req))
    assert isinstance(created["CertId"], int)
    from aliyunsdkcore.acs_exception.exceptions import ServerException
    for params, code in [({"Name": name, "Cert": b.cert_field, "Key": b.key_as("pkcs8")}, "InvalidParameter.Name"),
                         ({"Name": "x", "Cert": b.cert_field}, "MissingParameter.Key"),
                         ({"Name": "x", "Cert": "junk", "Key": b.key_as("pkcs8")}, "InvalidParameter.Cert")]:
        with pytest.raises(ServerException) as e:
            acs.do_action_with_exception(common_request("CreateUserCertificate", V_2018, params, method="POST"))
        assert (e.value.get_http_status(), e.value.get_error_code()) == (400, code)
    with pytest.raises(ServerException) as e:
        acs.do_action_with_exception(common_request("DescribeUserCertificateDetail", V_2018, {"CertId": 999999}))
    assert (e.value.get_http_status(), e.value.get_error_code()) == (404, NF)


# --------------------------------------------------------------------------
# private CA certificates and the store
# --------------------------------------------------------------------------

def test_pca_certificates_synced_into_the_store(server, api):
    api06 = IApi(server)
    root = api06.root("ECC_256", years=10)
    sub = api06.sub(root["Identifier"], "ECC_256", years=5)
    issued = api06("CreateServerCertificate", parent_identifier=sub["Identifier"], algorithm="ECC_256",
                   common_name=f"pca-{uuid.uuid4().hex[:6]}.example.com", days=30, immediately=1)
    ident = issued["Identifier"]
    # not in the store until synced
    certs = lambda: {x["CertificateId"]: x for x in  # noqa: E731
                     api("ListUserCertificateOrder", order_type="CERT", show_size=1000)["CertificateOrderList"]}
    before = set(certs())
    api06("UploadPcaCertToCas", ids=ident)
    after = certs()
    new = set(after) - before
    assert len(new) == 1
    cert_id = new.pop()
    assert after[cert_id]["Upload"] is False
    d = api.detail(cert_id)
    leaf = x509.load_pem_x509_certificate(issued["X509Certificate"].encode())
    assert ders(d["Cert"])[0] == leaf.public_bytes(serialization.Encoding.DER)
    assert d["Common"] == attr(leaf.subject, NameOID.COMMON_NAME) and d["BuyInAliyun"] is True
    assert pub_der(d["Key"]) == cert_pub_der(issued["X509Certificate"])
    assert cert_id not in api.upload_ids()
    g = api("GetCertificateDetail", certificate_id=cert_id)
    assert g["CertificateSource"] == "BUY" and g["InstanceId"] == f"cas-pca-{ident}"
    # syncing again changes nothing; unknown identifiers are refused, all or nothing
    api06("UploadPcaCertToCas", ids=ident)
    assert set(certs()) == set(after)
    api06.error("UploadPcaCertToCas", 404, NF, ids=f"{ident},{'0' * 32}")
    api06.error("UploadPcaCertToCas", 400, "MissingParameter.Ids", ids="")
    # leaving the store keeps the certificate with its CA
    api("DeleteUserCertificate", cert_id=cert_id)
    api.error("GetUserCertificateDetail", 404, NF, cert_id=cert_id)
    assert api06.cert(ident)["Identifier"] == ident
    # a PCA certificate is not deleted through DeletePCACert
    api.error("DeletePCACert", 400, "InvalidStatus.Certificate", identifier=ident)


def test_upload_pca_cert_and_delete(server, api, bundles):
    b = bundles("P256")
    wh_instance = api("CreateWarehouse", name=f"pca-{uuid.uuid4().hex[:6]}", type="ssl")["WarehouseInstanceId"]
    wh = int(wh_instance.removeprefix("cas-wh-"))
    api.error("UploadPCACert", 404, "NotFound.Warehouse", warehouse_id=wh + 1000, cert=b.leaf_pem)
    body = api("UploadPCACert", warehouse_id=wh, name=f"wh-{uuid.uuid4().hex[:6]}", cert=b.cert_field,
               private_key=b.key_as("sec1"))
    ident = body["Identifier"]
    assert len(ident) == 32 and all(ch in "0123456789abcdef" for ch in ident)
    listed = api("ListCert", identifiers=ident)["CertList"]
    assert [x["Identifier"] for x in listed] == [ident]
    assert listed[0]["WhId"] == wh and listed[0]["SourceType"] == "upload" and listed[0]["ExistPrivateKey"] is True
    assert listed[0]["SerialNo"] == serial_hex(b.x509)
    # a warehouse certificate is not an SSL store entry
    assert all(x["InstanceId"] != f"cas-upload-{ident}" for x in
               api("ListCertificates", show_size=100)["CertificateList"])
    # certificate only, no key
    bare = api("UploadPCACert", warehouse_id=wh, cert=b.leaf_pem)["Identifier"]
    assert api("ListCert", identifiers=bare)["CertList"][0]["ExistPrivateKey"] is False
    api.error("UploadPCACert", 400, "InvalidParameter.PrivateKey", warehouse_id=wh, cert=b.cert_field,
              private_key=bundles("RSA").key_as("pkcs8"))
    api.error("UploadPCACert", 400, "InvalidParameter.Cert", warehouse_id=wh, cert="junk")
    api.error("UploadPCACert", 400, "MissingParameter.WarehouseId", cert=b.cert_field)
    # a warehouse holding certificates cannot be deleted
    api.error("DeleteWarehouse", 400, "OperationDenied.WarehouseNotEmpty", warehouse_instance_id=wh_instance)
    api("DeletePCACert", identifier=ident)
    assert api("ListCert", identifiers=ident)["CertList"] == []
    api.error("DeletePCACert", 404, NF, identifier=ident)
    api("DeletePCACert", identifier=bare)
    api("DeleteWarehouse", warehouse_instance_id=wh_instance)


def test_uploaded_certificate_converts_through_download(server, api, bundles, tmp_path):
    """The console's format conversion for an uploaded certificate: PEM in, PFX / PKCS#8 / DER out."""
    from cryptography.hazmat.primitives.serialization import pkcs12
    from opencas_testlib import download_v3
    b = bundles("RSA")
    name = f"conv-{uuid.uuid4().hex[:6]}"
    api("UploadUserCertificate", name=name, cert=b.cert_field, key=b.key_as("pkcs1"))
    ident = api("ListCert", key_word=name)["CertList"][0]["Identifier"]
    pw = "Convert-pw.1"
    r = download_v3(server, server.creds, ident, {"format": "pfx", "password": pw})
    assert r.status_code == 200, r.text
    key, cert, extra = pkcs12.load_key_and_certificates(r.content, pw.encode())
    assert cert.public_bytes(serialization.Encoding.PEM).decode() == b.leaf_pem
    assert [c.public_bytes(serialization.Encoding.PEM).decode() for c in extra] == b.chain_pems
    assert key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) \
        == b.x509.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    p12 = tmp_path / "c.pfx"
    p12.write_bytes(r.content)
    out = run("openssl", "pkcs12", "-in", str(p12), "-passin", f"pass:{pw}", "-nodes", "-info").decode(errors="replace")
    assert "BEGIN PRIVATE KEY" in out and out.count("BEGIN CERTIFICATE") == 3, out
    r = download_v3(server, server.creds, ident, {"format": "der"})
    assert r.status_code == 200 and x509.load_der_x509_certificate(r.content) == b.x509
    r = download_v3(server, server.creds, ident, {"format": "pkcs8", "password": pw})
    assert r.status_code == 200, r.text
    assert serialization.load_pem_private_key(r.content, pw.encode()).public_key().public_numbers() \
        == b.x509.public_key().public_numbers()
