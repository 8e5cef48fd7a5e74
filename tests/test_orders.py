"""DV certificate orders against packages (API 2020-04-07, and the 2018-07-13 DV actions)
through the official SDKs: packages granted with the CLI, the counting rules of seed 002
(TotalCount / UsedCount / IssuedCount), every refusal with its code and HTTP status, the
challenges each order publishes, withdraw / re-apply / cancel / delete, the order lists and
isolation between accounts. End-to-end issuance through loopback DNS/HTTP is in
test_orders_issuance.py."""
from __future__ import annotations

import json
import re
import socket
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from opencas_testlib import V_2018, acs_client, cas20180713, cas20200407, common_request

FREE = "symantec-free-1-free"
MULTI = "geotrust-dv-1-starter"
WILD = "geotrust-dv-w-starter"

METHODS = {
    "DescribePackageState": "describe_package_state",
    "GetCertificatePackageCount": "get_certificate_package_count",
    "CreateCertificateRequest": "create_certificate_request",
    "CreateCertificateWithCsrRequest": "create_certificate_with_csr_request",
    "CreateCertificateForPackageRequest": "create_certificate_for_package_request",
    "DescribeCertificateState": "describe_certificate_state",
    "DeleteCertificateRequest": "delete_certificate_request",
    "CancelCertificateForPackageRequest": "cancel_certificate_for_package_request",
    "CancelOrderRequest": "cancel_order_request",
    "CancelPendingCertificate": "cancel_pending_certificate",
    "ApplyCertificate": "apply_certificate",
    "RevokeCertificate": "revoke_certificate",
    "RenewCertificateOrderForPackageRequest": "renew_certificate_order_for_package_request",
    "ListUserCertificateOrder": "list_user_certificate_order",
}


class Dv:
    """The 2020-04-07 SDK client of one account; calls return the decoded body."""

    def __init__(self, server, creds=None):
        self.server = server
        self.creds = creds or server.creds
        self.client = cas20200407(server, self.creds)

    def __call__(self, action: str, **fields) -> dict:
        from alibabacloud_cas20200407 import models
        method = getattr(self.client, METHODS[action])
        resp = method(getattr(models, f"{action}Request")(**fields))
        assert resp.status_code == 200, (action, resp.status_code)
        body = resp.body.to_map()
        assert isinstance(body.get("RequestId"), str) and body["RequestId"], body
        return body

    def error(self, action: str, want_status: int, want_code: str, /, **fields):
        from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
        try:
            body = self(action, **fields)
        except AlibabaCloudException as e:
            assert (e.status_code, e.code) == (want_status, want_code), \
                f"{action} {fields}: expected HTTP {want_status} {want_code}, got HTTP {e.status_code} {e.code}: {e.message}"
            return e
        pytest.fail(f"{action} {fields}: expected HTTP {want_status} {want_code}, got success {body}")

    def package(self, code: str = FREE) -> tuple[int, int, int]:
        b = self("DescribePackageState", product_code=code)
        assert b["ProductCode"] == code
        return b["TotalCount"], b["UsedCount"], b["IssuedCount"]

    def order(self, domain: str, code: str = FREE, validate: str = "DNS") -> int:
        b = self("CreateCertificateRequest", product_code=code, domain=domain, validate_type=validate,
                 username="Alice", email="alice@example.com", phone="13800000000")
        assert isinstance(b["OrderId"], int) and b["OrderId"] > 0, b
        return b["OrderId"]

    def state(self, order_id: int) -> dict:
        return self("DescribeCertificateState", order_id=order_id)

    def listing(self, **kw) -> dict:
        return self("ListUserCertificateOrder", order_type=kw.pop("order_type", "CPACK"), **kw)


def grant(server, account, product: str, count: int) -> dict:
    return server.cli_json("package", "grant", "--account", str(account), "--product", product, "--count", str(count))


def account_id(creds) -> int:
    return int(creds["AccountId"])


def csr_pem(*names: str, cn: str | None = None) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    b = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn if cn is not None else names[0])]))
    if names:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    return b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def dv(server):
    return Dv(server)


@pytest.fixture(scope="module")
def other(server):
    """A second account with its own package."""
    creds = server.create_account("orders-other")
    grant(server, account_id(creds), FREE, 3)
    return Dv(server, creds)


def test_package_grant_cli_refuses_unknown_products_counts_and_accounts(server, creds):
    acct = account_id(creds)
    for bad in (["--product", "symantec-ov-1-pro", "--count", "1"],
                ["--product", FREE, "--count", "0"],
                ["--product", FREE, "--count", "-3"]):
        r = server.cli("package", "grant", "--account", str(acct), *bad, check=False)
        assert r.returncode != 0, r
    r = server.cli("package", "grant", "--account", "999999", "--product", FREE, "--count", "1", check=False)
    assert r.returncode != 0 and "999999" in r.stderr, r
    listed = server.cli_json("package", "list", "--account", str(acct))
    assert all(p["ProductCode"] != "symantec-ov-1-pro" for p in listed)


def test_no_package_then_counting_until_none_remain(server, creds, dv):
    assert dv.package(MULTI) == (0, 0, 0)
    dv.error("CreateCertificateRequest", 404, "NotFoundPackage", product_code=MULTI, domain="a.example.com",
             validate_type="DNS", username="A", email="a@example.com", phone="1")
    assert dv.package(MULTI) == (0, 0, 0)
    g = grant(server, account_id(creds), MULTI, 2)
    assert (g["ProductCode"], g["TotalCount"], g["UsedCount"]) == (MULTI, 2, 0)
    assert grant(server, account_id(creds), MULTI, 1)["TotalCount"] == 3
    ids = [dv.order(f"n{i}.example.com", MULTI) for i in range(3)]
    assert len(set(ids)) == 3
    # every request counts, issued or not (seed 002)
    assert dv.package(MULTI) == (3, 3, 0)
    dv.error("CreateCertificateRequest", 404, "NotRemainCount", product_code=MULTI, domain="n9.example.com",
             validate_type="DNS", username="A", email="a@example.com", phone="1")
    assert dv.package(MULTI) == (3, 3, 0)
    # cancelling a request not yet issued gives its unit back
    dv("CancelCertificateForPackageRequest", order_id=ids[0])
    assert dv.package(MULTI) == (3, 2, 0)
    dv.error("DescribeCertificateState", 404, "NotFoundOrder", order_id=ids[0])
    counts = json.loads(dv("GetCertificatePackageCount")["ProductCountList"])
    mine = [c for c in counts if c["ProductCode"] == MULTI]
    assert mine and (mine[0]["TotalCount"], mine[0]["UsedCount"]) == (3, 2), counts


def test_parameter_refusals(server, creds, dv):
    grant(server, account_id(creds), FREE, 50)
    grant(server, account_id(creds), WILD, 5)
    base = dict(username="A", email="a@example.com", phone="13800000000", validate_type="DNS")
    bad = [
        (400, "MissingParameter.Domain", dict(base, product_code=FREE)),
        (400, "MissingParameter.Email", dict(base, product_code=FREE, domain="x.example.com", email=None)),
        (400, "MissingParameter.ValidateType", dict(base, product_code=FREE, domain="x.example.com",
                                                     validate_type=None)),
        (400, "InvalidParameter.ValidateType", dict(base, product_code=FREE, domain="x.example.com",
                                                     validate_type="EMAIL")),
        (400, "InvalidParameter.ProductCode", dict(base, product_code="no-such-product", domain="x.example.com")),
        (400, "InvalidParameter.Email", dict(base, product_code=FREE, domain="x.example.com", email="not-mail")),
        (400, "InvalidParameter.Phone", dict(base, product_code=FREE, domain="x.example.com", phone="call me")),
        (400, "InvalidParameter.Domain", dict(base, product_code=FREE, domain="a.example.com,b.example.com")),
        (400, "InvalidParameter.Domain", dict(base, product_code=FREE, domain="*.example.com")),
        (400, "InvalidParameter.Domain", dict(base, product_code=FREE, domain="under_score.example.com")),
        (400, "InvalidParameter.Domain", dict(base, product_code=FREE, domain="localhost")),
        (400, "InvalidParameter.Domain", dict(base, product_code=FREE, domain="-bad-.example.com")),
        (400, "InvalidParameter.ValidateType", dict(base, product_code=WILD, domain="*.example.com",
                                                     validate_type="FILE")),
        (400, "InvalidParameter.Domain", dict(base, product_code=WILD, domain="*.example.com,www.example.com")),
    ]
    before = dv.package(FREE)
    for status, code, fields in bad:
        dv.error("CreateCertificateRequest", status, code, **{k: v for k, v in fields.items() if v is not None})
    assert dv.package(FREE) == before, "a refused request must not count"
    # a wildcard validated by DNS is fine on a wildcard product
    oid = dv.order("*.wild.example.com", WILD)
    st = dv.state(oid)
    assert (st["Type"], st["RecordDomain"], st["RecordType"]) == ("domain_verify", "_dnsauth.wild.example.com", "TXT")
    dv.error("DescribeCertificateState", 400, "MissingParameter.OrderId")
    dv.error("DescribeCertificateState", 404, "NotFoundOrder", order_id=987654321)


def test_challenges_dns_and_file(server, creds, dv):
    grant(server, account_id(creds), FREE, 50)
    d = dv.state(dv.order("Www.Dns-Case.example.com"))
    assert d["Type"] == "domain_verify" and d["ValidateType"] == "DNS", d
    assert d["RecordDomain"] == "_dnsauth.www.dns-case.example.com"
    assert d["RecordType"] == "TXT" and re.fullmatch(r"[a-z0-9]{64}", d["RecordValue"]), d
    assert "Certificate" not in d and "PrivateKey" not in d
    f = dv.state(dv.order("file.example.com", validate="FILE"))
    assert f["Type"] == "domain_verify" and f["ValidateType"] == "FILE", f
    assert f["Uri"] == "http://file.example.com/.well-known/pki-validation/fileauth.txt"
    assert f["Domain"] == "file.example.com" and re.fullmatch(r"[a-z0-9]{64}", f["Content"]), f
    # two orders never share a token
    assert dv.state(dv.order("file.example.com", validate="FILE"))["Content"] != f["Content"]


def test_csr_orders(server, creds, dv):
    grant(server, account_id(creds), MULTI, 10)
    base = dict(username="A", email="a@example.com", phone="1", validate_type="DNS", product_code=MULTI)
    oid = dv("CreateCertificateWithCsrRequest", csr=csr_pem("csr.example.com", "www.csr.example.com"), **base)["OrderId"]
    orders = dv.listing(keyword="csr.example.com")["CertificateOrderList"]
    assert [o for o in orders if o["OrderId"] == oid], orders
    assert dv.state(oid)["RecordDomain"] in ("_dnsauth.csr.example.com", "_dnsauth.www.csr.example.com")
    dv.error("CreateCertificateWithCsrRequest", 400, "MissingParameter.Csr", **base)
    dv.error("CreateCertificateWithCsrRequest", 400, "InvalidParameter.Csr", csr="-----BEGIN CERTIFICATE REQUEST-----\n"
             "AAAA\n-----END CERTIFICATE REQUEST-----\n", **base)
    # tampered: the signature no longer covers the content
    good = csr_pem("t.example.com")
    der = bytearray(x509.load_pem_x509_csr(good.encode()).public_bytes(serialization.Encoding.DER))
    i = bytes(der).find(b"t.example.com")
    der[i] = ord("u")
    import base64
    bad = "-----BEGIN CERTIFICATE REQUEST-----\n" + base64.encodebytes(bytes(der)).decode() + \
        "-----END CERTIFICATE REQUEST-----\n"
    dv.error("CreateCertificateWithCsrRequest", 400, "InvalidParameter.Csr", csr=bad, **base)
    # for a package: Domain given must match the CSR's names
    dv.error("CreateCertificateForPackageRequest", 400, "InvalidParameter.Csr", csr=csr_pem("m.example.com"),
             domain="other.example.com", product_code=MULTI, validate_type="DNS")
    oid = dv("CreateCertificateForPackageRequest", csr=csr_pem("m.example.com"), domain="m.example.com",
             product_code=MULTI)["OrderId"]
    assert dv.state(oid)["RecordDomain"] == "_dnsauth.m.example.com"
    # without a CSR the package form makes the key; then Domain is required
    dv.error("CreateCertificateForPackageRequest", 400, "MissingParameter.Domain", product_code=MULTI)
    oid = dv("CreateCertificateForPackageRequest", domain="gen.example.com", product_code=MULTI,
             validate_type="FILE")["OrderId"]
    assert dv.state(oid)["Uri"] == "http://gen.example.com/.well-known/pki-validation/fileauth.txt"


def test_withdraw_apply_cancel_delete_rules(server, creds, dv):
    grant(server, account_id(creds), FREE, 50)
    oid = dv.order("rules.example.com")
    # a request under review cannot be deleted (only a failed one)
    dv.error("DeleteCertificateRequest", 403, "OrderStateError", order_id=oid)
    # ApplyCertificate needs a pending (withdrawn) instance
    inst = [o for o in dv.listing(keyword="rules.example.com")["CertificateOrderList"] if o["OrderId"] == oid][0]
    instance_id = inst["InstanceId"]
    assert re.fullmatch(r"cas-ivauto-[a-z0-9]{12}", instance_id), inst
    assert inst["Status"] == "CHECKING"
    dv.error("ApplyCertificate", 403, "OrderStateError", instance_id=instance_id)
    first = dv.state(oid)["RecordValue"]
    used = dv.package(FREE)[1]
    dv("CancelOrderRequest", order_id=oid)
    assert dv.state(oid)["Type"] == "payed"
    assert dv.package(FREE)[1] == used, "a withdrawn order keeps its unit"
    dv.error("CancelOrderRequest", 403, "OrderStateError", order_id=oid)
    dv.error("CancelPendingCertificate", 403, "OrderStateError", instance_id=instance_id)
    dv("ApplyCertificate", instance_id=instance_id)
    again = dv.state(oid)
    assert again["Type"] == "domain_verify" and again["RecordValue"] != first
    dv("CancelPendingCertificate", instance_id=instance_id)
    assert dv.state(oid)["Type"] == "payed"
    dv.error("ApplyCertificate", 404, "NotFound.Instance", instance_id="cas-ivauto-nosuchinstance")
    dv.error("ApplyCertificate", 400, "MissingParameter.InstanceId")
    dv("CancelCertificateForPackageRequest", order_id=oid)
    assert dv.package(FREE)[1] == used - 1
    dv.error("CancelCertificateForPackageRequest", 404, "NotFoundOrder", order_id=oid)
    dv.error("DeleteCertificateRequest", 404, "NotFoundOrder", order_id=oid)
    # renewal is for issued certificates near their end
    other_oid = dv.order("renew.example.com")
    dv.error("RenewCertificateOrderForPackageRequest", 403, "OrderStateError", order_id=other_oid)
    dv.error("RenewCertificateOrderForPackageRequest", 404, "NotFoundOrder", order_id=123456789)


def test_lists_paginate_and_filter(server, creds, dv):
    grant(server, account_id(creds), FREE, 50)
    ids = [dv.order(f"page{i}.list.example.com") for i in range(5)]
    seen = []
    for page in (1, 2, 3):
        b = dv.listing(keyword="list.example.com", current_page=page, show_size=2)
        assert b["TotalCount"] == 5 and b["CurrentPage"] == page and b["ShowSize"] == 2, b
        seen += [o["OrderId"] for o in b["CertificateOrderList"]]
    assert sorted(seen) == sorted(ids)
    for o in dv.listing(keyword="list.example.com")["CertificateOrderList"]:
        assert o["ProductCode"] if "ProductCode" in o else True
        assert o["Status"] == "CHECKING" and o["Domain"].endswith("list.example.com"), o
    dv("CancelOrderRequest", order_id=ids[0])
    payed = dv.listing(keyword="list.example.com", status="PAYED")["CertificateOrderList"]
    assert [o["OrderId"] for o in payed] == [ids[0]]
    assert dv.listing(keyword="list.example.com", status="ISSUED")["CertificateOrderList"] == []


def test_tenant_isolation(server, creds, dv, other):
    grant(server, account_id(creds), FREE, 50)
    oid = dv.order("mine.example.com")
    inst = [o for o in dv.listing(keyword="mine.example.com")["CertificateOrderList"] if o["OrderId"] == oid][0]
    other.error("DescribeCertificateState", 404, "NotFoundOrder", order_id=oid)
    other.error("CancelCertificateForPackageRequest", 404, "NotFoundOrder", order_id=oid)
    other.error("CancelOrderRequest", 404, "NotFoundOrder", order_id=oid)
    other.error("DeleteCertificateRequest", 404, "NotFoundOrder", order_id=oid)
    other.error("CancelPendingCertificate", 404, "NotFound.Instance", instance_id=inst["InstanceId"])
    other.error("ApplyCertificate", 404, "NotFound.Instance", instance_id=inst["InstanceId"])
    assert all(o["OrderId"] != oid for o in other.listing()["CertificateOrderList"])
    assert dv.state(oid)["Type"] == "domain_verify"
    assert other.package(FREE) == (3, 0, 0)


def test_legacy_2018_dv_actions(server, creds, dv):
    """CreateDVOrderAudit submits a withdrawn instance; DescribeDVOrderResult shows its check;
    DescribeOrderInstanceList lists instances (both through the tea SDK and signature v1)."""
    from alibabacloud_cas20180713 import models as m18
    from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
    grant(server, account_id(creds), FREE, 50)
    oid = dv.order("legacy.example.com")
    inst = [o for o in dv.listing(keyword="legacy.example.com")["CertificateOrderList"] if o["OrderId"] == oid][0]
    iid = inst["InstanceId"]
    c18 = cas20180713(server, creds)
    r = c18.describe_dvorder_result(m18.DescribeDVOrderResultRequest(instance_id=iid)).body.to_map()
    assert r["OrderStatus"] == "checking" and r["CheckType"] == "DNS", r
    assert r["CheckName"] == "_dnsauth.legacy.example.com" and len(r["CheckValue"]) == 64, r
    # submitting again while under review is refused
    with pytest.raises(AlibabaCloudException) as e:
        c18.create_dvorder_audit(m18.CreateDVOrderAuditRequest(instance_id=iid, domain="legacy.example.com",
                                                               domain_verify_type="DNS"))
    assert (e.value.status_code, e.value.code) == (403, "OrderStateError")
    dv("CancelOrderRequest", order_id=oid)
    with pytest.raises(AlibabaCloudException) as e:
        c18.create_dvorder_audit(m18.CreateDVOrderAuditRequest(instance_id=iid, domain="other.example.com",
                                                               domain_verify_type="DNS"))
    assert (e.value.status_code, e.value.code) == (400, "InvalidParameter.Domain")
    c18.create_dvorder_audit(m18.CreateDVOrderAuditRequest(instance_id=iid, domain="legacy.example.com",
                                                           domain_verify_type="FILE"))
    r = c18.describe_dvorder_result(m18.DescribeDVOrderResultRequest(instance_id=iid)).body.to_map()
    assert r["CheckType"] == "FILE" and r["CheckName"] == \
        "legacy.example.com/.well-known/pki-validation/fileauth.txt", r
    with pytest.raises(AlibabaCloudException) as e:
        c18.describe_dvorder_result(m18.DescribeDVOrderResultRequest(instance_id="cas-ivauto-none"))
    assert (e.value.status_code, e.value.code) == (404, "NotFound.Instance")
    lst = c18.describe_order_instance_list(m18.DescribeOrderInstanceListRequest(start_index=1)).body.to_map()
    assert lst["TotalCount"] >= 1
    mine = [o for o in lst["OrderList"] if o["InstanceId"] == iid]
    assert mine and mine[0]["Id"] == oid and mine[0]["Status"] == "Verifying", lst
    # signature v1 (the classic core SDK) reaches the same action
    body = json.loads(acs_client(server, creds).do_action_with_exception(
        common_request("DescribeDVOrderResult", V_2018, {"InstanceId": iid})))
    assert body["OrderStatus"] == "checking"


def test_issuer_configuration(server_factory):
    """A product mapped to an ACME upstream that cannot be reached is accepted and retried
    until its deadline, then fails with the reason; an [orders.issuers] entry naming no
    [acme.<name>] stops the start."""
    from opencas_testlib import DEFAULT_TEST_CONFIG, V_2020_04, assert_ok, poll, v3_request
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    cfg = {**DEFAULT_TEST_CONFIG,
           "orders": {"issuers": {MULTI: "pebble"}, "validation_deadline_seconds": 3, "retry_initial_seconds": 1,
                      "retry_max_seconds": 1, "poll_interval_ms": 100},
           "acme": {"pebble": {"directory_url": f"https://127.0.0.1:{dead}/dir"}}}
    srv = server_factory(cfg)
    dv = Dv(srv)
    grant(srv, account_id(srv.creds), MULTI, 1)
    oid = dv.order("acme.example.com", MULTI)
    assert dv.state(oid)["Type"] == "process"
    assert poll(lambda: dv.state(oid)["Type"] == "verify_fail", 60, 0.2), dv.state(oid)
    raw = assert_ok(v3_request(srv, srv.creds, "DescribeCertificateState", V_2020_04, {"OrderId": str(oid)}))
    assert "pebble" in raw["FailReason"], raw
    assert dv.package(MULTI) == (1, 1, 0)
    with pytest.raises(RuntimeError, match="orders.issuers"):
        server_factory({**DEFAULT_TEST_CONFIG, "orders": {"issuers": {MULTI: "nowhere"}}})
