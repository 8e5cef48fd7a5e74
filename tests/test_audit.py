"""The audit log: every state-changing call (a `call` record before it runs, a `result` record
before the answer), every key use (one `use` record, with its outcome, before the answer) and
every refused authentication is recorded, with secrets masked, in a hash
chain; `opencas audit list` filters it, `opencas audit verify` detects edited, deleted and
reordered rows; and a call whose record cannot be written fails with ServiceUnavailable and
leaves no effect."""
from __future__ import annotations

import json
import shutil
import sqlite3
import uuid

import pytest

from opencas_testlib import (assert_error, cas20200407, download_v3, utc_timestamp, v1_request, v3_request,
                             requires_sqlite_file, self_signed_ec as self_signed)
from test_issuance import PASSWORD, IApi, quick

V06 = "2020-06-30"
V04 = "2020-04-07"


def audit_list(server, *args: str) -> list[dict]:
    out = server.cli("audit", "list", *args).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]



class Upload:
    """UploadUserCertificate through the 2020-04-07 SDK."""

    def __init__(self, server):
        from alibabacloud_cas20200407 import models
        self.client, self.models = cas20200407(server, server.creds), models

    def __call__(self, **fields) -> dict:
        resp = self.client.upload_user_certificate(self.models.UploadUserCertificateRequest(**fields))
        assert resp.status_code == 200
        return resp.body.to_map()


@pytest.fixture(scope="module")
def story(server):
    """Drives writes, reads and refused authentications; returns what the log must show."""
    api = IApi(server)
    creds = server.creds
    t0 = utc_timestamp(-1)
    writes: dict[str, str] = {}  # RequestId -> action
    uses: dict[str, tuple[str, int, str]] = {}  # RequestId -> (action, status, code)
    reads: list[str] = []

    root = api.root("ECC_256")
    writes[root["RequestId"]] = "CreateRootCACertificate"
    sub = api.sub(root["Identifier"], "ECC_256")
    writes[sub["RequestId"]] = "CreateSubCACertificate"
    leaf = quick(api, sub["Identifier"])
    writes[leaf["RequestId"]] = "CreateServerCertificate"
    key = api("DescribeCertificatePrivateKey", identifier=leaf["Identifier"], encrypted_code=PASSWORD)
    uses[key["RequestId"]] = ("DescribeCertificatePrivateKey", 200, "OK")
    sign = {"CertIdentifier": leaf["Identifier"], "MessageType": "RAW", "Message": "audited"}
    signed = v3_request(server, creds, "Sign", V04, dict(sign, SigningAlgorithm="SHA256withECDSA"))
    assert signed.status_code == 200, signed.text
    uses[signed.json()["RequestId"]] = ("Sign", 200, "OK")
    wrong = assert_error(v3_request(server, creds, "Sign", V04, dict(sign, SigningAlgorithm="SHA256withRSA")),
                         400, "InvalidParameter.SigningAlgorithm")
    uses[wrong["RequestId"]] = ("Sign", 400, "InvalidParameter.SigningAlgorithm")
    refused = api.error("CreateServerCertificate", 400, "InvalidParameter.Algorithm",
                        parent_identifier=sub["Identifier"], algorithm="RSA_512", common_name="x.example.com",
                        days=30)
    writes[refused.request_id] = "CreateServerCertificate"
    for action, fields in (("DescribeClientCertificate", {"identifier": leaf["Identifier"]}),
                           ("ListClientCertificate", {}),
                           ("DescribeCACertificate", {"identifier": sub["Identifier"]})):
        reads.append(api(action, **fields)["RequestId"])

    cert_pem, key_pem = self_signed()
    up = Upload(server)(name=f"audit-{uuid.uuid4().hex[:8]}", cert=cert_pem, key=key_pem)
    writes[up["RequestId"]] = "UploadUserCertificate"

    # refused authentications, each with its code
    bad_sig = assert_error(v1_request(server, creds, "ListClientCertificate", V06, secret="wrong-secret"),
                           400, "SignatureDoesNotMatch")
    unknown = assert_error(v1_request(server, dict(creds, AccessKeyId="LTAIunknownKeyXYZ"), "ListClientCertificate",
                                      V06), 404, "InvalidAccessKeyId.NotFound")
    stale = assert_error(v1_request(server, creds, "ListClientCertificate", V06, timestamp=utc_timestamp(-3600)),
                         400, "InvalidTimeStamp.Expired")
    nonce = uuid.uuid4().hex
    first = v1_request(server, creds, "DescribeCACertificateCount", V06, nonce=nonce)
    assert first.status_code == 200, first.text
    reads.append(first.json()["RequestId"])
    replay = assert_error(v1_request(server, creds, "DescribeCACertificateCount", V06, nonce=nonce),
                          400, "SignatureNonceUsed")
    v3_bad = assert_error(v3_request(server, creds, "CreateRootCACertificate", V06, {"CommonName": "x"},
                                     secret="nope"), 400, "SignatureDoesNotMatch")
    auth = {bad_sig["RequestId"]: ("SignatureDoesNotMatch", creds["AccessKeyId"]),
            unknown["RequestId"]: ("InvalidAccessKeyId.NotFound", "LTAIunknownKeyXYZ"),
            stale["RequestId"]: ("InvalidTimeStamp.Expired", creds["AccessKeyId"]),
            replay["RequestId"]: ("SignatureNonceUsed", creds["AccessKeyId"]),
            v3_bad["RequestId"]: ("SignatureDoesNotMatch", creds["AccessKeyId"])}
    return dict(writes=writes, uses=uses, reads=reads, auth=auth, t0=t0, t1=utc_timestamp(1), root=root, sub=sub, leaf=leaf,
                refused=refused.request_id, cert_pem=cert_pem, key_pem=key_pem, account=int(creds["AccountId"]),
                upload=up)


def test_state_changing_calls_are_recorded_and_reads_are_not(server, story):
    records = audit_list(server)
    by_request: dict[str, list[dict]] = {}
    for r in records:
        by_request.setdefault(r["request_id"], []).append(r)
    for rid in story["reads"]:
        assert rid not in by_request, f"a read was recorded: {by_request[rid]}"
    calls = {r["request_id"]: r["action"] for r in records if r["kind"] == "call"}
    assert calls == story["writes"], "exactly the state-changing calls have call records"
    for rid, action in story["writes"].items():
        kinds = [r["kind"] for r in by_request[rid]]
        assert kinds == ["call", "result"], (action, kinds)
        call, result = by_request[rid]
        assert call["seq"] < result["seq"]
        assert call["account_id"] == story["account"] == result["account_id"]
        assert call["status"] is None and call["code"] is None
        assert call["source"].startswith("127.0.0.1:"), call["source"]
        assert call["version"] in (V06, V04)
    # outcomes and resources
    res = {rid: next(r for r in by_request[rid] if r["kind"] == "result") for rid in story["writes"]}
    refused = res[story["refused"]]
    assert (refused["status"], refused["code"]) == (400, "InvalidParameter.Algorithm")
    leaf = res[story["leaf"]["RequestId"]]
    assert (leaf["status"], leaf["code"]) == (200, "OK")
    assert leaf["resources"]["request"]["ParentIdentifier"] == story["sub"]["Identifier"]
    assert leaf["resources"]["response"]["Identifier"] == story["leaf"]["Identifier"]
    assert res[story["upload"]["RequestId"]]["resources"]["response"]["CertId"] == story["upload"]["CertId"]
    root_call = next(r for r in by_request[story["root"]["RequestId"]] if r["kind"] == "call")
    assert root_call["params"]["Algorithm"] == "ECC_256" and root_call["params"]["CommonName"].startswith("Root ")


def test_a_key_use_is_recorded_once_with_its_outcome(server, story):
    """Sign and DescribeCertificatePrivateKey store nothing: one `use` record each, written
    before the answer, whether the call succeeded or was refused."""
    records = audit_list(server)
    uses = {rid: [r for r in records if r["request_id"] == rid] for rid in story["uses"]}
    for rid, (action, status, code) in story["uses"].items():
        assert [r["kind"] for r in uses[rid]] == ["use"], (action, uses[rid])
        (record,) = uses[rid]
        assert (record["action"], record["status"], record["code"]) == (action, status, code)
        assert record["account_id"] == story["account"] and record["version"] in (V06, V04)
        assert record["source"].startswith("127.0.0.1:"), record["source"]
        assert story["leaf"]["Identifier"] in json.dumps(record["resources"]), record
    signs = [r for rid in story["uses"] for r in uses[rid] if r["action"] == "Sign"]
    assert signs and all(r["params"]["Message"] == "***" for r in signs), signs
    assert {r["params"]["SigningAlgorithm"] for r in signs} == {"SHA256withECDSA", "SHA256withRSA"}


def test_secrets_are_masked(server, story):
    requires_sqlite_file()
    text = server.cli("audit", "list").stdout
    records = [json.loads(line) for line in text.splitlines()]
    key_call = next(r for r in records if r["action"] == "DescribeCertificatePrivateKey" and r["kind"] == "use")
    assert key_call["params"]["EncryptedCode"] == "***"
    up = next(r for r in records if r["action"] == "UploadUserCertificate" and r["kind"] == "call")
    assert up["params"]["Key"] == "***" and up["params"]["Cert"] == "***"
    assert up["params"]["Name"].startswith("audit-")
    creds = server.creds
    for secret in (PASSWORD, creds["AccessKeySecret"], "BEGIN PRIVATE KEY", "BEGIN CERTIFICATE",
                   story["key_pem"].splitlines()[1], story["cert_pem"].splitlines()[1]):
        assert secret not in text, f"{secret!r} reached the audit log"
    v1 = [r for r in records if r["kind"] == "auth" and "Signature" in r["params"]]
    assert v1 and all(r["params"]["Signature"] == "***" for r in v1)
    # the raw table holds no secret either
    db = sqlite3.connect(f"file:{server.data_dir / 'opencas.db'}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT params, resources FROM audit_log").fetchall()
    finally:
        db.close()
    blob = json.dumps(rows)
    assert PASSWORD not in blob and "PRIVATE KEY" not in blob


def test_refused_authentications_are_recorded(server, story):
    auth = {r["request_id"]: r for r in audit_list(server) if r["kind"] == "auth"}
    assert set(story["auth"]) <= set(auth)
    for rid, (code, key_id) in story["auth"].items():
        r = auth[rid]
        assert r["code"] == code and r["access_key_id"] == key_id, r
        assert r["account_id"] is None
        assert r["source"].startswith("127.0.0.1:")
        assert r["status"] in (400, 404)


def test_filters(server, story):
    everything = audit_list(server)
    assert len(everything) >= 2 * len(story["writes"]) + len(story["uses"]) + len(story["auth"])
    by_action = audit_list(server, "--action", "CreateServerCertificate")
    assert by_action and all(r["action"] == "CreateServerCertificate" for r in by_action)
    assert len(by_action) == sum(1 for r in everything if r["action"] == "CreateServerCertificate")
    by_account = audit_list(server, "--account", str(story["account"]))
    assert by_account and all(r["account_id"] == story["account"] for r in by_account)
    assert not any(r["kind"] == "auth" for r in by_account)
    assert audit_list(server, "--account", "999999") == []
    window = audit_list(server, "--since", story["t0"], "--until", story["t1"])
    assert [r["seq"] for r in window] == [r["seq"] for r in everything
                                        if story["t0"] <= r["time"][:19] + "Z" < story["t1"]]
    assert audit_list(server, "--since", utc_timestamp(3600)) == []
    limited = audit_list(server, "--limit", "3")
    assert [r["seq"] for r in limited] == [r["seq"] for r in everything[:3]]
    bad = server.cli("audit", "list", "--since", "yesterday", check=False)
    assert bad.returncode != 0 and "RFC 3339" in bad.stderr


def test_a_key_download_is_recorded_with_its_password_masked(server, story):
    """GET /download/<Identifier> can hand out the private key: recorded like a write."""
    identifier = story["leaf"]["Identifier"]
    password = "Dl-Secret-Pw-77"
    r = download_v3(server, server.creds, identifier, {"format": "pfx", "password": password})
    assert r.status_code == 200, r.text[:300]
    rid = r.headers["x-acs-request-id"]
    bad = download_v3(server, server.creds, identifier, {"format": "pem"}, secret="wrong")
    assert bad.status_code == 400
    records = audit_list(server, "--action", "DownloadCertificate")
    mine = [x for x in records if x["request_id"] == rid]
    assert [x["kind"] for x in mine] == ["call", "result"], mine
    assert mine[0]["params"]["password"] == "***" and mine[0]["params"]["format"] == "pfx"
    assert mine[0]["resources"]["request"]["Identifier"] == identifier
    assert (mine[1]["status"], mine[1]["code"]) == (200, "OK")
    refused = [x for x in records if x["request_id"] == bad.headers["x-acs-request-id"]]
    assert [(x["kind"], x["code"]) for x in refused] == [("auth", "SignatureDoesNotMatch")]
    assert password not in server.cli("audit", "list").stdout


def test_verify_passes_on_the_live_log(server, story):
    out = json.loads(server.cli("audit", "verify").stdout)
    assert out["status"] == "intact" and out["records"] == len(audit_list(server))
    assert out["head"] == audit_list(server)[-1]["hash"]


# --------------------------------------------------------------------------
# tampering
# --------------------------------------------------------------------------

def _raw(db_path) -> sqlite3.Connection:
    return sqlite3.connect(str(db_path), isolation_level=None)


def _verify(server, data_dir):
    return server.cli("audit", "verify", "--data-dir", str(data_dir), check=False)


def test_tampering_is_detected(server_factory, tmp_path):
    requires_sqlite_file()
    srv = server_factory(name="tamper")
    api = IApi(srv)
    root = api.root("ECC_256")
    sub = api.sub(root["Identifier"], "ECC_256")
    for _ in range(3):
        quick(api, sub["Identifier"])
    srv.stop()
    total = len(audit_list(srv))
    assert total >= 10
    copies = {}
    for name in ("edit", "delete", "reorder", "append-only"):
        d = tmp_path / name
        shutil.copytree(srv.data_dir, d)
        copies[name] = d
        assert _verify(srv, d).returncode == 0

    # the table refuses changes from anyone who keeps its triggers
    with _raw(copies["append-only"] / "opencas.db") as db:
        for sql in ("UPDATE audit_log SET code = 'x' WHERE seq = 2", "DELETE FROM audit_log WHERE seq = 2"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                db.execute(sql)

    def tamper(name: str, sql: str):
        db = _raw(copies[name] / "opencas.db")
        db.execute("DROP TRIGGER audit_log_no_update")
        db.execute("DROP TRIGGER audit_log_no_delete")
        db.executescript(sql)
        db.close()

    tamper("edit", "UPDATE audit_log SET params = replace(params, 'ECC_256', 'RSA_2048') WHERE seq = 3")
    r = _verify(srv, copies["edit"])
    assert r.returncode != 0 and "record 3:" in r.stderr and "edited" in r.stderr, r.stderr

    tamper("delete", "DELETE FROM audit_log WHERE seq = 5")
    r = _verify(srv, copies["delete"])
    assert r.returncode != 0 and "record 6:" in r.stderr, r.stderr

    tamper("reorder", "UPDATE audit_log SET seq = -1 WHERE seq = 4; UPDATE audit_log SET seq = 4 WHERE seq = 7;"
                      "UPDATE audit_log SET seq = 7 WHERE seq = -1;")
    r = _verify(srv, copies["reorder"])
    assert r.returncode != 0 and "record 4:" in r.stderr, r.stderr


# --------------------------------------------------------------------------
# fail closed
# --------------------------------------------------------------------------

def test_an_unauditable_call_fails_and_leaves_no_effect(server_factory):
    requires_sqlite_file()
    srv = server_factory(name="failclosed")
    api = IApi(srv)
    root = api.root("ECC_256")
    before = api.count()
    db = _raw(srv.data_dir / "opencas.db")
    db.execute("CREATE TRIGGER audit_refuse BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'x'); END;")
    try:
        e = api.error("CreateSubCACertificate", 503, "ServiceUnavailable", **{
            "parent_identifier": root["Identifier"], "algorithm": "ECC_256", "years": 5,
            "common_name": "never", "organization": "O", "organization_unit": "OU", "locality": "L",
            "state": "S", "country_code": "CN"})
        assert e.request_id
        # reads are not recorded, so they still answer: and they show no new CA
        assert api.count() == before
        # a refused signature cannot be recorded either: it is answered 503 too
        assert_error(v1_request(srv, srv.creds, "ListClientCertificate", V06, secret="wrong"),
                     503, "ServiceUnavailable")
    finally:
        db.execute("DROP TRIGGER audit_refuse")
        db.close()
    assert api.count() == before
    assert not any(r["request_id"] == e.request_id for r in audit_list(srv))
    api.sub(root["Identifier"], "ECC_256")
    assert api.count() == before + 1
    assert json.loads(srv.cli("audit", "verify").stdout)["status"] == "intact"


def test_a_result_that_cannot_be_recorded_is_not_reported_as_success(server_factory):
    """The call record goes in; the result record is refused: the caller hears 503, and the
    log keeps the call without a result."""
    requires_sqlite_file()
    srv = server_factory(name="failresult")
    api = IApi(srv)
    root = api.root("ECC_256")
    db = _raw(srv.data_dir / "opencas.db")
    db.execute("CREATE TRIGGER audit_refuse_result BEFORE INSERT ON audit_log WHEN NEW.kind = 'result' "
               "BEGIN SELECT RAISE(ABORT, 'x'); END;")
    try:
        e = api.error("CreateSubCACertificate", 503, "ServiceUnavailable", **{
            "parent_identifier": root["Identifier"], "algorithm": "ECC_256", "years": 5,
            "common_name": "cut-off", "organization": "O", "organization_unit": "OU", "locality": "L",
            "state": "S", "country_code": "CN"})
    finally:
        db.execute("DROP TRIGGER audit_refuse_result")
        db.close()
    mine = [r for r in audit_list(srv) if r["request_id"] == e.request_id]
    assert [r["kind"] for r in mine] == ["call"], mine
    assert json.loads(srv.cli("audit", "verify").stdout)["status"] == "intact"

