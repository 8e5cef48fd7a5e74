"""The audit log's two remaining cases: a state-changing call refused by the rate limit gets a
`throttled` record (its caller is known, unlike a refused authentication's), and a call cut off
by the request timeout after its `call` record gets a `result` record with the 408 the caller
heard. Reads are not recorded, throttled or not."""
from __future__ import annotations

import json
import sqlite3
import threading
import time

from opencas_testlib import V_2020_04, assert_error, assert_ok, requires_sqlite_file, v1_request, v3_request


def audit_list(server, *args: str) -> list[dict]:
    out = server.cli("audit", "list", *args).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def records_of(server, request_id: str) -> list[dict]:
    return [r for r in audit_list(server) if r["request_id"] == request_id]


def call_while_write_locked(srv, action: str, params: dict):
    """Calls `action` while another connection holds SQLite's write lock for 4 s, well past a
    1 s request timeout (the server's own wait for the lock is 10 s); answers the response."""
    db = sqlite3.connect(str(srv.data_dir / "opencas.db"), isolation_level=None, timeout=30)
    db.execute("BEGIN IMMEDIATE")
    answer: dict = {}
    t = threading.Thread(target=lambda: answer.update(resp=v3_request(srv, srv.creds, action, V_2020_04, params)))
    t.start()
    try:
        time.sleep(4)
    finally:
        db.execute("ROLLBACK")
        db.close()
    t.join(60)
    return answer["resp"]


# Below 1 QPS a bucket never holds a whole token: every call of these actions is refused.
THROTTLED = {"rate_limit": {"enabled": True, "default_qps": 1000,
                            "actions": {"DeleteUserCertificate": 0.5, "ListCert": 0.5}}}


def test_a_throttled_write_is_recorded_with_its_caller(server_factory):
    srv = server_factory(THROTTLED, name="throttled")
    refused = assert_error(v3_request(srv, srv.creds, "DeleteUserCertificate", V_2020_04, {"CertId": "4242"}),
                           429, "Throttling.User")
    records = records_of(srv, refused["RequestId"])
    assert len(records) == 1, records
    rec = records[0]
    assert rec["kind"] == "throttled"
    assert rec["action"] == "DeleteUserCertificate" and rec["version"] == V_2020_04
    assert rec["status"] == 429 and rec["code"] == "Throttling.User"
    assert rec["access_key_id"] == srv.creds["AccessKeyId"]
    assert rec["account_id"] == int(srv.creds["AccountId"])
    assert rec["params"].get("CertId") == "4242"
    assert rec["source"].startswith("127.0.0.1:")
    # the same through v1 signing, and the filter by action finds both
    again = assert_error(v1_request(srv, srv.creds, "DeleteUserCertificate", V_2020_04, {"CertId": "4243"}),
                         429, "Throttling.User")
    by_action = audit_list(srv, "--action", "DeleteUserCertificate")
    assert {r["request_id"] for r in by_action if r["kind"] == "throttled"} >= {refused["RequestId"],
                                                                               again["RequestId"]}
    assert not any(r["kind"] in ("call", "result") for r in by_action), by_action
    # a throttled read is refused the same way but, like every read, not recorded
    read = assert_error(v3_request(srv, srv.creds, "ListCert", V_2020_04), 429, "Throttling.User")
    assert records_of(srv, read["RequestId"]) == []
    assert json.loads(srv.cli("audit", "verify").stdout)["status"] == "intact"


def test_a_throttled_write_that_cannot_be_recorded_is_answered_503(server_factory):
    requires_sqlite_file()
    srv = server_factory(THROTTLED, name="throttled503")
    db = sqlite3.connect(str(srv.data_dir / "opencas.db"), isolation_level=None)
    db.execute("CREATE TRIGGER audit_refuse BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'x'); END;")
    try:
        assert_error(v3_request(srv, srv.creds, "DeleteUserCertificate", V_2020_04, {"CertId": "1"}),
                     503, "ServiceUnavailable")
    finally:
        db.execute("DROP TRIGGER audit_refuse")
        db.close()
    assert_error(v3_request(srv, srv.creds, "DeleteUserCertificate", V_2020_04, {"CertId": "1"}),
                 429, "Throttling.User")


def test_a_call_cut_off_by_the_request_timeout_gets_a_result_record(server_factory):
    """Another connection holds SQLite's write lock for longer than the request timeout, so the
    call cannot be stored in time: the server answers 408, and once the lock is gone the log
    holds the call and a 408 result for it (before, the queued call record went in alone)."""
    requires_sqlite_file()
    srv = server_factory({"rate_limit": {"enabled": False}, "limits": {"request_timeout_secs": 1}}, name="timeout")
    # the server works: one ordinary refused write, recorded as call + result
    missing = assert_error(v3_request(srv, srv.creds, "DeleteUserCertificate", V_2020_04, {"CertId": "777"}),
                           404, "NotFound.Certificate")
    assert [r["kind"] for r in records_of(srv, missing["RequestId"])] == ["call", "result"]

    cut = assert_error(call_while_write_locked(srv, "DeleteUserCertificate", {"CertId": "778"}),
                       408, "RequestTimeout")
    records = records_of(srv, cut["RequestId"])
    assert [r["kind"] for r in records] == ["call", "result"], records
    assert records[1]["status"] == 408 and records[1]["code"] == "RequestTimeout"
    assert records[1]["params"].get("CertId") == "778"
    # the server goes on normally
    assert_ok(v3_request(srv, srv.creds, "ListCert", V_2020_04))
    assert json.loads(srv.cli("audit", "verify").stdout)["status"] == "intact"


def test_a_key_use_cut_off_by_the_request_timeout_is_recorded_once_with_408(server_factory):
    """A key use has one record, written before its answer. With SQLite's write lock held past
    the request timeout that record cannot be stored in time: the caller hears 408, and the log
    then holds one `use` record saying 408 — not also the outcome the caller never heard."""
    requires_sqlite_file()
    srv = server_factory({"rate_limit": {"enabled": False}, "limits": {"request_timeout_secs": 1}}, name="usecut")
    params = {"CertIdentifier": "0" * 32, "SigningAlgorithm": "SHA256withECDSA", "MessageType": "RAW",
              "Message": "x"}
    quick = assert_error(v3_request(srv, srv.creds, "Sign", V_2020_04, params), 404, "NotFound.Certificate")
    assert [(r["kind"], r["status"]) for r in records_of(srv, quick["RequestId"])] == [("use", 404)]
    cut = assert_error(call_while_write_locked(srv, "Sign", params), 408, "RequestTimeout")
    records = records_of(srv, cut["RequestId"])
    assert [(r["kind"], r["status"], r["code"]) for r in records] == [("use", 408, "RequestTimeout")], records
    assert json.loads(srv.cli("audit", "verify").stdout)["status"] == "intact"


def test_an_issuance_cut_off_by_the_request_timeout_is_recorded_once_and_not_written(server_factory):
    """An issuance hands its records to its certificate's transaction. Cut off by the timeout
    while that transaction waits for SQLite's write lock, it is not written once the lock is
    free (nobody waits for it), and the log holds the call and the 408 the caller heard."""
    from test_issuance import IApi
    requires_sqlite_file()
    srv = server_factory({"rate_limit": {"enabled": False}, "limits": {"request_timeout_secs": 1}}, name="issuecut")
    api = IApi(srv)
    sub = api.sub(api.root("ECC_256")["Identifier"], "ECC_256")["Identifier"]
    before = api.total()
    cut = assert_error(call_while_write_locked(srv, "CreateWHClientCertificate",
                                               {"ParentIdentifier": sub, "CommonName": "cut-off", "Days": "30"}),
                       408, "RequestTimeout")
    records = records_of(srv, cut["RequestId"])
    assert [(r["kind"], r["status"], r["code"]) for r in records] == \
        [("call", None, None), ("result", 408, "RequestTimeout")], records
    assert api.total() == before, "the cut-off issuance was not written"
    assert api.counts(sub)[0] == 0
    assert json.loads(srv.cli("audit", "verify").stdout)["status"] == "intact"
