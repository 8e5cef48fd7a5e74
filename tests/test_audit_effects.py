"""An issuance's audit records are written with its certificate, in one transaction: a `call`
and a `result` record exist exactly when the certificate does. A refused issuance, an idempotent
replay and an issuance whose records cannot be written are recorded as before (call, then
result), and the last one leaves no certificate."""
from __future__ import annotations

import json
from datetime import datetime
import sqlite3
import uuid

import pytest

from opencas_testlib import requires_sqlite_file
from test_audit import audit_list
from test_issuance import IApi, Keys, base_fields

V06 = "2020-06-30"


@pytest.fixture(scope="module")
def hierarchy(server):
    api = IApi(server)
    root = api.root("ECC_256")
    return api, api.sub(root["Identifier"], "ECC_256")["Identifier"]


def records_of(server, request_id: str) -> list[dict]:
    return [r for r in audit_list(server) if r["request_id"] == request_id]


def at(record: dict) -> datetime:
    """A record's time; its text drops trailing zeros of the fraction, so it does not sort."""
    return datetime.fromisoformat(record["time"])


def assert_recorded_with_effect(server, body: dict, action: str, serial: str | None):
    records = records_of(server, body["RequestId"])
    assert [r["kind"] for r in records] == ["call", "result"], records
    call, result = records
    assert result["seq"] == call["seq"] + 1, "appended together, in the certificate's transaction"
    assert call["action"] == result["action"] == action
    assert (call["status"], call["code"]) == (None, None)
    assert (result["status"], result["code"]) == (200, "OK")
    assert at(call) <= at(result)
    assert result["params"] == call["params"] and "Csr" not in call["resources"]
    created = result["resources"]["response"]
    assert created["Identifier"] == body["Identifier"]
    assert created.get("SerialNumber") == serial, created
    assert result["resources"]["request"]["ParentIdentifier"] == call["resources"]["request"]["ParentIdentifier"]


def test_each_issuance_action_writes_its_records_with_its_certificate(server, hierarchy, tmp_path):
    api, sub = hierarchy
    keys = Keys(tmp_path)
    for action in ("CreateServerCertificate", "CreateServerCertificateWithCsr", "CreateClientCertificate",
                   "CreateClientCertificateWithCsr"):
        body = api(action, **base_fields(action, sub, keys))
        assert_recorded_with_effect(server, body, action, body["SerialNumber"])
        assert api.cert(body["Identifier"])["SerialNumber"] == body["SerialNumber"]

    custom = api("CreateCustomCertificate", parent_identifier=sub, csr=keys.csr("ECC_256", "custom.example.com"),
                 validity="30d", immediately=1)
    assert_recorded_with_effect(server, custom, "CreateCustomCertificate", custom["SerialNumber"])

    wh = IApi(server, version="2020-04-07")("CreateWHClientCertificate", parent_identifier=sub,
                                            common_name=f"wh-{uuid.uuid4().hex[:8]}", days=30)
    # its answer has no SerialNumber, and its record names only what the answer does
    assert_recorded_with_effect(server, wh, "CreateWHClientCertificate", None)
    assert json.loads(server.cli("audit", "verify").stdout)["status"] == "intact"


def test_a_refusal_and_a_replay_are_recorded_as_calls_without_an_effect(server, hierarchy):
    api, sub = hierarchy
    refused = api.error("CreateClientCertificate", 400, "InvalidParameter.SanValue", parent_identifier=sub,
                        common_name="x", san_type=1, san_value="not-an-email", days=30)
    records = records_of(server, refused.request_id)
    assert [(r["kind"], r["status"], r["code"]) for r in records] == \
        [("call", None, None), ("result", 400, "InvalidParameter.SanValue")], records

    before = api.total()
    token = uuid.uuid4().hex
    fields = base_fields("CreateClientCertificate", sub, client_token=token)
    first = api("CreateClientCertificate", **fields)
    again = api("CreateClientCertificate", **fields)
    assert again["Identifier"] == first["Identifier"] and api.total() == before + 1
    assert_recorded_with_effect(server, first, "CreateClientCertificate", first["SerialNumber"])
    replay = records_of(server, again["RequestId"])
    assert [r["kind"] for r in replay] == ["call", "result"], replay
    assert replay[1]["resources"]["response"]["Identifier"] == first["Identifier"]


def test_an_issuance_whose_records_cannot_be_written_leaves_no_certificate(server_factory):
    """Before, the certificate was committed between its two records, and a refused `result`
    record left it behind the caller's 503. Now the records go in with it or it does not."""
    requires_sqlite_file()
    srv = server_factory(name="effectrefused")
    api = IApi(srv)
    sub = api.sub(api.root("ECC_256")["Identifier"], "ECC_256")["Identifier"]
    before = api.total()
    issued_before = api.counts(sub)[0]
    db = sqlite3.connect(str(srv.data_dir / "opencas.db"), isolation_level=None)
    db.execute("CREATE TRIGGER refuse_results BEFORE INSERT ON audit_log WHEN NEW.kind = 'result' "
               "BEGIN SELECT RAISE(ABORT, 'refused'); END;")
    try:
        e = api.error("CreateServerCertificate", 503, "ServiceUnavailable",
                      **base_fields("CreateServerCertificate", sub))
    finally:
        db.execute("DROP TRIGGER refuse_results")
        db.close()
    assert api.total() == before, "no certificate without its records"
    assert api.counts(sub)[0] == issued_before, "no quota taken"
    # the wire layer recorded the call afterwards; its result could not be written
    assert [r["kind"] for r in records_of(srv, e.request_id)] == ["call"]
    assert json.loads(srv.cli("audit", "verify").stdout)["status"] == "intact"
    body = api("CreateServerCertificate", **base_fields("CreateServerCertificate", sub))
    assert_recorded_with_effect(srv, body, "CreateServerCertificate", body["SerialNumber"])
