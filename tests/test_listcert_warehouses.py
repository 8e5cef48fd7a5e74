"""ListCert (2020-04-07 and 2020-06-30) with every filter and both page styles, pages that
stay put while certificates are issued; certificate warehouses (create, list both ways,
quota, delete refusals, DescribeWarehouseCert); GetAssetCount / GetRiskCount /
ListAssetCount against what was issued (an expiring and an expired certificate included);
ShareCertificate; isolation between accounts. All through the official SDKs, except
NextToken on the 2020-04-07 ListCert, whose SDK model has no such field (sent v3-signed).

Certificates enter the store here by issuance (root -> sub -> server/client certificates).
No API of this branch puts a certificate into a warehouse, so the warehouse tests set
`warehouse_id` of an issued certificate directly in the server's SQLite file."""
from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
import time
import uuid

import pytest

from opencas_testlib import V_2020_04, assert_error, assert_ok, cas20200407, cas20200630, v3_request
from test_issuance import IApi as Api
from opencas_testlib import requires_sqlite_file

TAG = uuid.uuid4().hex[:6]


class Sdk:
    """One SDK client of one account; calls return the decoded body."""

    def __init__(self, server, creds, version: str):
        if version == V_2020_04:
            from alibabacloud_cas20200407 import models
            self.client = cas20200407(server, creds)
        else:
            from alibabacloud_cas20200630 import models
            self.client = cas20200630(server, creds)
        self.models = models

    def __call__(self, action: str, **fields) -> dict:
        method = getattr(self.client, "".join("_" + c.lower() if c.isupper() else c for c in action).lstrip("_"))
        request_model = getattr(self.models, f"{action}Request", None)
        resp = method(request_model(**fields)) if request_model is not None else method()
        assert resp.status_code == 200, (action, resp.status_code)
        body = resp.body.to_map()
        assert body.get("RequestId"), body
        return body

    def error(self, action: str, want_status: int, want_code: str, /, **fields):
        from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
        try:
            body = self(action, **fields)
        except AlibabaCloudException as e:
            assert (e.status_code, e.code) == (want_status, want_code), f"{action} {fields}: got {e.status_code} {e.code}: {e.message}"
            return e
        pytest.fail(f"{action} {fields}: expected {want_status} {want_code}, got {body}")


def db(server) -> sqlite3.Connection:
    requires_sqlite_file()
    return sqlite3.connect(server.data_dir / "opencas.db", timeout=30)


def put_in_warehouse(server, identifier: str, warehouse_id: int | None):
    with db(server) as c:
        n = c.execute("UPDATE certificates SET warehouse_id = ? WHERE identifier = ?", (warehouse_id, identifier)).rowcount
    assert n == 1


def wh_id(instance_id: str) -> int:
    return int(instance_id.removeprefix("cas-wh-"))


@pytest.fixture(scope="module")
def world(server):
    """Issued certificates of the initial account: names, identifiers, numeric ids."""
    pca = Api(server)
    root = pca.root(common_name=f"List Root {TAG}")
    sub = pca.sub(root["Identifier"], common_name=f"List Sub {TAG}")
    parent = sub["Identifier"]
    now = int(time.time())
    out = {"sub": parent, "root": root["Identifier"]}

    def server_cert(key, cn, **kw):
        body = pca("CreateServerCertificate", parent_identifier=parent, common_name=cn, algorithm="ECC_256",
                   immediately=1, **kw)
        out[key] = body["Identifier"]

    server_cert("alpha", f"alpha-{TAG}.list.example", domain=f"alpha-{TAG}.list.example,www.shop-{TAG}.example",
                days=365)
    server_cert("beta", f"beta-{TAG}.list.example", days=365)
    body = pca("CreateClientCertificate", parent_identifier=parent, common_name=f"carol-{TAG}",
               alias_name=f"Carol Laptop {TAG}", san_type=1, san_value="carol@example.com", days=365, immediately=1)
    out["client"] = body["Identifier"]
    server_cert("soon", f"soon-{TAG}.list.example", days=1)
    server_cert("revoked", f"gone-{TAG}.list.example", days=365)
    pca("CreateRevokeClientCertificate", identifier=out["revoked"])
    # expires two seconds after issuance
    server_cert("expired", f"old-{TAG}.list.example", before_time=now, after_time=now + 2)
    time.sleep(max(0.0, now + 3 - time.time()))
    listed = Sdk(server, server.creds, "2020-06-30")("ListCert", show_size=100)["List"]
    out["ids"] = {c["Identifier"]: c["Id"] for c in listed}
    out["order"] = [c["Identifier"] for c in listed]
    assert len(out["order"]) == 6
    return out


def list04(server, creds=None, **fields) -> dict:
    return Sdk(server, creds or server.creds, V_2020_04)("ListCert", **fields)


def idents(body: dict, key: str = "CertList") -> list[str]:
    return [c["Identifier"] for c in body[key]]


# --------------------------------------------------------------------------
# ListCert filters
# --------------------------------------------------------------------------

def test_listcert_item_shape_and_order(server, world):
    body = list04(server)
    assert body["TotalCount"] == 6 and body["CurrentPage"] == 1 and body["ShowSize"] == 50
    assert idents(body) == world["order"]
    # newest first: the expired certificate was issued last
    assert body["CertList"][0]["Identifier"] == world["expired"]
    alpha = next(c for c in body["CertList"] if c["Identifier"] == world["alpha"])
    assert alpha["CommonName"] == f"alpha-{TAG}.list.example"
    assert f"www.shop-{TAG}.example" in alpha["Sans"].split(",")
    assert (alpha["Status"], alpha["SourceType"], alpha["CertType"]) == ("ISSUE", "aliyun", "CERT")
    assert alpha["Algorithm"] == "ECC" and alpha["ExistPrivateKey"] is True
    assert alpha["AfterDate"] - alpha["BeforeDate"] == 365 * 86400 * 1000
    assert alpha["Issuer"] == f"List Sub {TAG}" and len(alpha["SerialNo"]) >= 16
    assert "WhId" not in alpha or alpha["WhId"] is None


def test_keyword_over_name_cn_and_sans(server, world):
    assert set(idents(list04(server, key_word=f"LIST.EXAMPLE"))) >= {world["alpha"], world["beta"]}
    assert idents(list04(server, key_word=f"alpha-{TAG}")) == [world["alpha"]]
    assert idents(list04(server, key_word=f"shop-{TAG}.EX")) == [world["alpha"]]  # a SAN only
    assert idents(list04(server, key_word=f"laptop {TAG}")) == [world["client"]]  # the name only
    assert idents(list04(server, key_word=f"carol-{TAG}")) == [world["client"]]  # the CN
    assert list04(server, key_word=f"nothing-{TAG}")["TotalCount"] == 0
    # FTS syntax and LIKE wildcards are plain text
    assert list04(server, key_word=f"alpha-{TAG} OR beta")["TotalCount"] == 0
    assert list04(server, key_word="%")["TotalCount"] == 0
    assert list04(server, key_word='"')["TotalCount"] == 0
    # a NUL (FTS5 cannot parse it) is a character like any other: no name holds one
    for k in (f"alpha-{TAG}\x00", f"al\x00pha-{TAG}", "\x00"):
        assert list04(server, key_word=k)["TotalCount"] == 0
    # two characters: below a trigram, the same semantics by a scan ("carol", "Carol", "old-")
    assert set(idents(list04(server, key_word="oL"))) == {world["client"], world["expired"]}


def test_status_source_certtype_identifiers_warehouse(server, world):
    assert idents(list04(server, status="REVOKE")) == [world["revoked"]]
    assert world["revoked"] not in idents(list04(server, status="ISSUE"))
    assert list04(server, status="ISSUE")["TotalCount"] == 5
    assert list04(server, source_type="aliyun")["TotalCount"] == 6
    assert list04(server, source_type="upload")["TotalCount"] == 0
    assert list04(server, cert_type="CERT")["TotalCount"] == 6
    assert list04(server, cert_type="CA")["TotalCount"] == 0
    pick = [world["beta"], world["client"], "f" * 32]
    assert set(idents(list04(server, identifiers=",".join(pick)))) == {world["beta"], world["client"]}
    assert list04(server, warehouse_id=987654321)["TotalCount"] == 0
    assert idents(list04(server, status="ISSUE", key_word=f"gone-{TAG}")) == []


def test_listcert_refusals(server, world):
    sdk = Sdk(server, server.creds, V_2020_04)
    sdk.error("ListCert", 400, "InvalidParameter.Status", status="issued")
    sdk.error("ListCert", 400, "InvalidParameter.SourceType", source_type="UPLOAD")
    sdk.error("ListCert", 400, "InvalidParameter.CertType", cert_type="SERVER")
    sdk.error("ListCert", 400, "InvalidParameter.ShowSize", show_size=0)
    sdk.error("ListCert", 400, "InvalidParameter.CurrentPage", current_page=0)
    sdk.error("ListCert", 400, "InvalidParameter.WarehouseId", warehouse_id=-3)
    sdk.error("ListCert", 400, "InvalidParameter.KeyWord", key_word="x" * 257)
    assert_error(v3_request(server, server.creds, "ListCert", V_2020_04, {"NextToken": "abc"}), 400,
                 "InvalidParameter.NextToken")
    pca = Sdk(server, server.creds, "2020-06-30")
    pca.error("ListCert", 400, "InvalidParameter.Type", type="CA")
    pca.error("ListCert", 400, "InvalidParameter.BeforeDate", before_date="2026/01/01")
    pca.error("ListCert", 400, "InvalidParameter.AfterDate", after_date="tomorrow")
    pca.error("ListCert", 400, "InvalidParameter.InstanceUuid", instance_uuid=f"cas-pca-{world['root']}",
              parent_identifier=world["sub"])
    pca.error("ListCert", 400, "InvalidParameter.MaxResults", max_results=1001)


def test_pca_listcert_type_dates_parent(server, world):
    pca = Sdk(server, server.creds, "2020-06-30")
    body = pca("ListCert")
    assert body["TotalCount"] == 6 and body["PageCount"] == 1 and body["ShowSize"] == 20
    by_id = {c["Identifier"]: c for c in body["List"]}
    client = by_id[world["client"]]
    assert (client["CertificateType"], client["AliasName"], client["KeyExportable"]) == \
        ("CLIENT", f"Carol Laptop {TAG}", True)
    assert client["AfterTime"] - client["BeforeTime"] == 365 * 86400 * 1000
    assert client["BeforeDate"].endswith("Z") and client["SerialNumber"]
    assert [c["Identifier"] for c in pca("ListCert", type="CLIENT")["List"]] == [world["client"]]
    assert pca("ListCert", type="SERVER")["TotalCount"] == 5
    assert pca("ListCert", type="END_ENTITY")["TotalCount"] == 0
    assert pca("ListCert", parent_identifier=world["sub"])["TotalCount"] == 6
    assert pca("ListCert", parent_identifier=world["root"])["TotalCount"] == 0
    assert pca("ListCert", instance_uuid=f"cas-pca-{world['sub']}")["TotalCount"] == 6
    assert [c["Identifier"] for c in pca("ListCert", status="REVOKE")["List"]] == [world["revoked"]]
    today = dt.datetime.now(dt.timezone.utc).date()
    day = dt.timedelta(days=1)
    # BeforeDate: validity began by then; AfterDate: still valid on or after that day
    assert pca("ListCert", before_date=str(today))["TotalCount"] == 6
    assert pca("ListCert", before_date=str(today - day))["TotalCount"] == 0
    in_a_week = {c["Identifier"] for c in pca("ListCert", after_date=str(today + 7 * day))["List"]}
    assert in_a_week == {world["alpha"], world["beta"], world["client"], world["revoked"]}
    assert world["soon"] in {c["Identifier"] for c in pca("ListCert", after_date=str(today + day))["List"]}
    assert world["soon"] not in {c["Identifier"] for c in pca("ListCert", after_date=str(today + 2 * day))["List"]}
    both = pca("ListCert", after_date=str(today + 7 * day), before_date=str(today), type="CLIENT")
    assert [c["Identifier"] for c in both["List"]] == [world["client"]]


# --------------------------------------------------------------------------
# pagination
# --------------------------------------------------------------------------

def test_numbered_pages_cover_everything_once(server, world):
    seen = []
    for page in range(1, 5):
        body = list04(server, current_page=page, show_size=2)
        assert (body["CurrentPage"], body["ShowSize"], body["TotalCount"]) == (page, 2, 6)
        seen += idents(body)
    assert seen == world["order"]
    assert list04(server, current_page=99, show_size=2)["CertList"] == []


def token_walk_04(server, creds, max_results: int, on_page=None, **query) -> list[str]:
    seen, token = [], None
    while True:
        q = {"MaxResults": str(max_results), **query}
        if token:
            q["NextToken"] = token
        body = assert_ok(v3_request(server, creds, "ListCert", V_2020_04, q))
        assert body["MaxResults"] == max_results and len(body["CertList"]) <= max_results
        assert "CurrentPage" not in body
        seen += idents(body)
        if on_page:
            on_page()
        token = body.get("NextToken")
        if not token:
            return seen


def test_token_pages_stay_put_while_certificates_are_issued(server, world):
    pca = Api(server)
    before = idents(list04(server, key_word="list.example", show_size=100))
    stop = threading.Event()
    issued: list[str] = []
    errors: list[BaseException] = []

    def issue():
        try:
            while not stop.is_set():
                body = pca("CreateServerCertificate", parent_identifier=world["sub"], algorithm="ECC_256",
                           common_name=f"late-{uuid.uuid4().hex[:8]}-{TAG}.list.example", days=30, immediately=1)
                issued.append(body["Identifier"])
                time.sleep(0.05)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    worker = threading.Thread(target=issue)
    worker.start()
    try:
        # wait for the writer to be going, then walk while it keeps issuing
        deadline = time.time() + 30
        while not issued and time.time() < deadline and not errors:
            time.sleep(0.05)
        first = len(issued)
        walked = token_walk_04(server, server.creds, 2, on_page=lambda: time.sleep(0.2), KeyWord="list.example")
        pca_walk, token = [], None
        pca_sdk = Sdk(server, server.creds, "2020-06-30")
        while True:
            body = pca_sdk("ListCert", max_results=3, **({"next_token": token} if token else {}))
            pca_walk += [c["Identifier"] for c in body["List"]]
            time.sleep(0.1)
            token = body.get("NextToken")
            if not token:
                break
    finally:
        stop.set()
        worker.join()
    assert not errors, errors
    assert len(issued) > first, "no certificate was issued during the walk"
    final = idents(list04(server, key_word="list.example", show_size=1000))
    assert len(final) == len(before) + len(issued)
    # each walk is exactly the list as it stood at its first page: the newest certificate
    # then and everything older, in order, nothing repeated or lost
    assert walked == final[final.index(walked[0]):]
    assert set(before) <= set(walked)
    final_pca = [c["Identifier"] for c in Sdk(server, server.creds, "2020-06-30")("ListCert", show_size=1000)["List"]]
    assert pca_walk == final_pca[final_pca.index(pca_walk[0]):]
    # clean the extra certificates away from the counts of later tests
    for ident in issued:
        pca("CreateRevokeClientCertificate", identifier=ident)
        pca("DeleteClientCertificate", identifier=ident)
    assert list04(server, key_word="list.example")["TotalCount"] == len(before)


# --------------------------------------------------------------------------
# warehouses
# --------------------------------------------------------------------------

def test_warehouse_crud_lists_and_refusals(server, world):
    wh = Sdk(server, server.creds, V_2020_04)
    quota0 = wh("GetCertWarehouseQuota")
    assert quota0 == {**quota0, "AppTotalQuota": 20, "TotalQuota": 20, "AppUseCount": 0, "UseCount": 0}
    a = wh("CreateWarehouse", name=f"Edge Certs {TAG}", type="ssl")["WarehouseInstanceId"]
    b = wh("CreateWarehouse", name=f"uploads-{TAG}", type="uploadedAuthorityCertificate")["WarehouseInstanceId"]
    c = wh("CreateWarehouse", name=f"signing-{TAG}", biz="contract", type="personal")["WarehouseInstanceId"]
    d = wh("CreateWarehouse")["WarehouseInstanceId"]  # every field optional
    assert len({a, b, c, d}) == 4 and all(x.startswith("cas-wh-") for x in (a, b, c, d))
    q = wh("GetCertWarehouseQuota")
    assert (q["AppUseCount"], q["UseCount"]) == (3, 1)

    wh.error("CreateWarehouse", 400, "InvalidParameter.Type", name="x", type="SSL")
    wh.error("CreateWarehouse", 400, "AlreadyExists.WarehouseName", name=f"Edge Certs {TAG}")
    wh.error("DeleteWarehouse", 404, "NotFound.Warehouse", warehouse_instance_id="cas-wh-999999999")
    wh.error("DeleteWarehouse", 404, "NotFound.Warehouse", warehouse_instance_id="not-an-id")
    wh.error("DeleteWarehouse", 400, "MissingParameter.WarehouseInstanceId")
    wh.error("DescribeWarehouseCert", 400, "MissingParameter.CertIdentifier")
    wh.error("DescribeWarehouseCert", 404, "NotFound.Certificate", cert_identifier="0" * 32)

    listed = wh("ListCertWarehouse")
    assert (listed["TotalCount"], listed["CurrentPage"], listed["ShowSize"]) == (4, 1, 50)
    assert [x["InstanceId"] for x in listed["CertWarehouseList"]] == [d, c, b, a]
    item_a = listed["CertWarehouseList"][3]
    assert item_a == {**item_a, "WhId": wh_id(a), "Name": f"Edge Certs {TAG}", "Type": "ssl", "IsExpired": False}
    # the SDK's older type names: uploadCA is uploadedAuthorityCertificate
    assert listed["CertWarehouseList"][2]["Type"] == "uploadCA"
    assert [x["InstanceId"] for x in wh("ListCertWarehouse", type="uploadCA")["CertWarehouseList"]] == [b]
    assert [x["InstanceId"] for x in wh("ListCertWarehouse", type="uploadedAuthorityCertificate")
            ["CertWarehouseList"]] == [b]
    assert [x["InstanceId"] for x in wh("ListCertWarehouse", name="EDGE")["CertWarehouseList"]] == [a]
    assert [x["InstanceId"] for x in wh("ListCertWarehouse", instance_id=c)["CertWarehouseList"]] == [c]
    assert wh("ListCertWarehouse", instance_id="bogus")["TotalCount"] == 0
    page2 = wh("ListCertWarehouse", current_page=2, show_size=3)
    assert [x["InstanceId"] for x in page2["CertWarehouseList"]] == [a]

    # ListWarehouse: token pages, JSON list filters
    seen, token = [], None
    while True:
        body = wh("ListWarehouse", max_results=3, **({"next_token": token} if token else {}))
        assert body["TotalCount"] == 4 and body["MaxResults"] == 3
        seen += [(x["WarehouseInstanceId"], x["WarehouseName"], x["WarehouseType"]) for x in body["Data"]]
        token = body.get("NextToken")
        if not token:
            break
    assert [s[0] for s in seen] == [d, c, b, a]
    assert seen[3] == (a, f"Edge Certs {TAG}", "ssl")
    typed = wh("ListWarehouse", warehouse_types=["ssl", "personal"])
    assert [x["WarehouseInstanceId"] for x in typed["Data"]] == [c, a] and typed["MaxResults"] == 20
    chosen = wh("ListWarehouse", warehouse_instance_ids=[b, "cas-wh-0", d])
    assert [x["WarehouseInstanceId"] for x in chosen["Data"]] == [d, b]
    wh.error("ListWarehouse", 400, "InvalidParameter.NextToken", next_token="-1")

    # a certificate in warehouse a: ListCert by WarehouseId, DescribeWarehouseCert, delete refused
    put_in_warehouse(server, world["beta"], wh_id(a))
    inside = list04(server, warehouse_id=wh_id(a))
    assert idents(inside) == [world["beta"]]
    assert (inside["CertList"][0]["WhId"], inside["CertList"][0]["WhInstanceId"]) == (wh_id(a), a)
    desc = wh("DescribeWarehouseCert", cert_identifier=world["beta"])
    assert desc["WarehouseInstanceId"] == a and desc["CertIdentifier"] == world["beta"]
    assert desc["CommonName"] == f"beta-{TAG}.list.example" and desc["CertStatus"] == "ISSUE"
    assert desc["IssuerIdentifier"] == world["sub"] and desc["PrivateCaInstanceId"] == f"cas-pca-{world['sub']}"
    assert desc["Content"].count("BEGIN CERTIFICATE") >= 2 and len(desc["Fingerprint"]) == 64
    wh.error("DeleteWarehouse", 400, "OperationDenied.WarehouseNotEmpty", warehouse_instance_id=a)
    put_in_warehouse(server, world["beta"], None)
    for x in (a, b, c, d):
        wh("DeleteWarehouse", warehouse_instance_id=x)
    assert wh("ListCertWarehouse")["TotalCount"] == 0
    wh.error("DeleteWarehouse", 404, "NotFound.Warehouse", warehouse_instance_id=a)
    assert "WarehouseInstanceId" not in wh("DescribeWarehouseCert", cert_identifier=world["beta"])


def test_warehouse_quota_is_enforced(server_factory):
    srv = server_factory({"rate_limit": {"enabled": False}, "warehouses": {"quota": 2, "contract_quota": 1}},
                         name="quota")
    wh = Sdk(srv, srv.creds, V_2020_04)
    first = wh("CreateWarehouse", name="one")["WarehouseInstanceId"]
    wh("CreateWarehouse", name="two", type="pcaCertificate")
    wh.error("CreateWarehouse", 400, "QuotaExceeded.Warehouse", name="three")
    # the contract pool is separate
    wh("CreateWarehouse", name="sign", biz="contract")
    wh.error("CreateWarehouse", 400, "QuotaExceeded.Warehouse", name="sign2", biz="contract")
    q = wh("GetCertWarehouseQuota")
    assert (q["AppTotalQuota"], q["AppUseCount"], q["TotalQuota"], q["UseCount"]) == (2, 2, 1, 1)
    # concurrent creations cannot overrun the quota
    wh("DeleteWarehouse", warehouse_instance_id=first)
    results: list[str] = []

    def attempt(i):
        from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
        try:
            Sdk(srv, srv.creds, V_2020_04)("CreateWarehouse", name=f"race-{i}")
            results.append("ok")
        except AlibabaCloudException as e:
            results.append(e.code)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(6)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(results) == ["QuotaExceeded.Warehouse"] * 5 + ["ok"]
    assert wh("GetCertWarehouseQuota")["AppUseCount"] == 2


# --------------------------------------------------------------------------
# counts
# --------------------------------------------------------------------------

def test_asset_and_risk_counts(server, world):
    sdk = Sdk(server, server.creds, V_2020_04)
    assets = sdk("GetAssetCount")
    # six issued (one revoked): all "bought" here, none uploaded or free; six distinct CNs
    assert (assets["BuyCertificateCount"], assets["UploadCertificateCount"], assets["FreeCertificateCount"]) == (6, 0, 0)
    assert assets["DomainAssetCount"] == 6
    assert all(assets[k] == 0 for k in ("AliyunAssetCount", "AwsAssetCount", "HuaweiAssetCount", "TencentAssetCount"))
    # expired + expiring (2 of 6) lower the health score
    assert assets["Point"] == 66 and abs(assets["PointTime"] - time.time()) < 120
    risk = sdk("GetRiskCount")
    assert (risk["BuyCertificateExpireCount"], risk["BuyCertificateWillExpiredCount"]) == (1, 1)
    # valid = not revoked, not expired: alpha, beta, client, soon
    assert risk["BuyCertificateNotDeploymentCount"] == 4
    assert risk["UploadCertificateExpireCount"] == risk["UploadCertificateWillExpiredCount"] == 0
    assert risk["FreeCertificateExpireCount"] == 0 and risk["DomainAssetNotMonitorCount"] == 6

    now = int(time.time())
    days = sdk("ListAssetCount")
    assert days["TotalCount"] == 7 and len(days["AssetCountList"]) == 7
    today = days["AssetCountList"][0]
    assert today["CountDate"] == now // 86400 * 86400
    assert (today["CertificateCount"], today["DomainAssetCount"]) == (6, 6)
    assert today["Points"] == 66  # 4 of 6 valid now
    # before anything was issued
    assert days["AssetCountList"][1]["CertificateCount"] == 0
    ranged = sdk("ListAssetCount", start_date=now - 30 * 86400, end_date=now, show_size=10, current_page=4)
    assert ranged["TotalCount"] == 31 and len(ranged["AssetCountList"]) == 1
    assert ranged["AssetCountList"][0]["CountDate"] == (now // 86400 - 30) * 86400
    sdk.error("ListAssetCount", 400, "InvalidParameter.StartDate", start_date=now, end_date=now - 86400)
    sdk.error("ListAssetCount", 400, "InvalidParameter.StartDate", start_date=now - 400 * 86400, end_date=now)


# --------------------------------------------------------------------------
# sharing and isolation
# --------------------------------------------------------------------------

def test_share_and_isolation(server, world):
    other = server.create_account(f"wh-other-{TAG}")
    mine = Sdk(server, server.creds, V_2020_04)
    theirs = Sdk(server, other, V_2020_04)
    # nothing of the first account shows in the second
    assert list04(server, other)["TotalCount"] == 0
    assert list04(server, other, key_word="list.example")["TotalCount"] == 0
    assert theirs("GetAssetCount")["BuyCertificateCount"] == 0
    assert theirs("GetRiskCount")["BuyCertificateExpireCount"] == 0
    theirs.error("DescribeWarehouseCert", 404, "NotFound.Certificate", cert_identifier=world["alpha"])
    a = mine("CreateWarehouse", name=f"private-{TAG}")["WarehouseInstanceId"]
    theirs.error("DeleteWarehouse", 404, "NotFound.Warehouse", warehouse_instance_id=a)
    assert theirs("ListCertWarehouse")["TotalCount"] == 0
    assert theirs("ListWarehouse", warehouse_instance_ids=[a])["TotalCount"] == 0
    theirs.error("ShareCertificate", 404, "NotFound.Certificate", certificate_id=world["ids"][world["alpha"]],
                 target_user_id=int(server.creds["AccountId"]))
    mine("DeleteWarehouse", warehouse_instance_id=a)

    alpha_id = world["ids"][world["alpha"]]
    target = int(other["AccountId"])
    mine.error("ShareCertificate", 400, "InvalidParameter.TargetUserId", certificate_id=alpha_id,
               target_user_id=int(server.creds["AccountId"]))
    mine.error("ShareCertificate", 400, "InvalidParameter.TargetUserId", certificate_id=alpha_id,
               target_user_id=424242)
    mine.error("ShareCertificate", 404, "NotFound.Certificate", certificate_id=999999999, target_user_id=target)
    mine.error("ShareCertificate", 400, "MissingParameter.TargetUserId", certificate_id=alpha_id)
    mine("ShareCertificate", certificate_id=alpha_id, target_user_id=target)
    mine("ShareCertificate", certificate_id=alpha_id, target_user_id=target)  # again: no second copy
    got = list04(server, other)
    assert got["TotalCount"] == 1
    copy = got["CertList"][0]
    assert copy["CommonName"] == f"alpha-{TAG}.list.example" and copy["Identifier"] != world["alpha"]
    assert copy["ExistPrivateKey"] is True
    assert idents(list04(server, other, key_word=f"shop-{TAG}")) == [copy["Identifier"]]
    assert theirs("GetAssetCount")["BuyCertificateCount"] == 1
    # the original stays where it was
    assert world["alpha"] in idents(list04(server, key_word=f"alpha-{TAG}"))
    assert mine("GetAssetCount")["BuyCertificateCount"] == 6
