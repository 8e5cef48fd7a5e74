"""`opencas backup` (an online snapshot taken while the server keeps issuing) and `opencas restore`
(into a fresh data dir, with the master key kept apart): the certificates issued before the
backup come back byte for byte with working private keys and their revocation, those issued
after it are absent, new issuance reuses no serial, and the audit chain still verifies. Also the
refusals of restore: a non-empty data dir without --force, a wrong master key, a damaged file."""
from __future__ import annotations

import json
import stat
import threading

from cryptography import x509

from opencas_testlib import OpencasServer, new_workdir
from test_issuance import IApi, decrypt_key, quick
from test_revocation import fetch_crl, revoke, revoked_serials

NF = "NotFound.Certificate"


def serial(pem: str) -> int:
    return x509.load_pem_x509_certificate(pem.encode()).serial_number


def issue(api: IApi, parent: str) -> tuple[str, int]:
    """(Identifier, serial) of a new certificate with a server-generated key."""
    body = quick(api, parent)
    return body["Identifier"], int(body["SerialNumber"], 16)


class Issuer(threading.Thread):
    """Issues certificates in a loop until stopped, remembering every one it was answered."""

    def __init__(self, server, creds, parent: str):
        super().__init__(daemon=True)
        self.api = IApi(server, creds)
        self.parent = parent
        self.stop = threading.Event()
        self.issued: list[tuple[str, int]] = []  # (identifier, serial), in answer order
        self.error: BaseException | None = None

    def run(self):
        try:
            while not self.stop.is_set():
                self.issued.append(issue(self.api, self.parent))
        except BaseException as e:  # reported by the test
            self.error = e


def test_backup_and_restore(server_factory, tmp_path):
    srv = server_factory(name="origin")
    creds = srv.creds
    api = IApi(srv)
    root = api.root("ECC_256")
    sub = api.sub(root["Identifier"], "ECC_256", enable_crl=True, crl_day=7)
    before = dict(issue(api, sub["Identifier"]) for _ in range(5))
    revoked_id = next(iter(before))
    revoke(api, revoked_id)

    worker = Issuer(srv, creds, sub["Identifier"])
    worker.start()
    while len(worker.issued) < 3 and worker.error is None:
        worker.join(0.05)
    answered_before_backup = len(worker.issued)
    backup = tmp_path / "opencas.backup"
    out = json.loads(srv.cli("backup", "--out", str(backup)).stdout)
    answered_after_backup = len(worker.issued)
    while len(worker.issued) < answered_after_backup + 3 and worker.error is None:
        worker.join(0.05)
    worker.stop.set()
    worker.join(30)
    assert worker.error is None, worker.error
    assert out["bytes"] == backup.stat().st_size > 0
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600, "the backup is readable by its owner only"
    assert not backup.with_suffix(".partial").exists()
    # the server went on issuing while the snapshot was taken
    assert len(worker.issued) > answered_after_backup

    before.update(worker.issued[:answered_before_backup])
    after = dict(worker.issued[answered_after_backup:])
    after.update(issue(api, sub["Identifier"]) for _ in range(3))
    seen_serials = set(before.values()) | set(after.values()) | {s for _, s in worker.issued}
    pems = {identifier: api.cert(identifier)["X509Certificate"] for identifier in before}
    assert all(serial(pems[i]) == before[i] for i in before)
    # a second backup never overwrites the first
    again = srv.cli("backup", "--out", str(backup), check=False)
    assert again.returncode != 0 and "already exists" in again.stderr
    srv.stop()

    # restore refusals, none of which may touch anything
    fresh = new_workdir("opencas-restored-")
    restored = fresh / "data"
    refused = srv.cli("restore", "--data-dir", str(srv.data_dir), "--from", str(backup), check=False)
    assert refused.returncode != 0 and "not empty" in refused.stderr and "--force" in refused.stderr
    wrong_key = tmp_path / "wrong.key"
    wrong_key.write_text("ab" * 32)
    refused = srv.cli("restore", "--data-dir", str(restored), "--from", str(backup),
                      "--master-key", str(wrong_key), check=False)
    assert refused.returncode != 0 and "does not open" in refused.stderr, refused.stderr
    assert not (restored / "opencas.db").exists()
    no_key = srv.cli("restore", "--data-dir", str(restored), "--from", str(backup), check=False)
    assert no_key.returncode != 0 and "no master key" in no_key.stderr
    damaged = tmp_path / "damaged.backup"
    data = bytearray(backup.read_bytes())
    for i in range(8192, min(len(data), 8192 * 3)):
        data[i] ^= 0xFF
    damaged.write_bytes(bytes(data))
    refused = srv.cli("restore", "--data-dir", str(restored), "--from", str(damaged),
                      "--master-key", str(srv.data_dir / "master.key"), check=False)
    assert refused.returncode != 0, refused.stdout
    assert not (restored / "opencas.db").exists()

    done = json.loads(srv.cli("restore", "--data-dir", str(restored), "--from", str(backup),
                              "--master-key", str(srv.data_dir / "master.key")).stdout)
    assert done["snapshot"]["sealed_records_opened"] >= 2
    assert (restored / "master.key").read_text().strip() == (srv.data_dir / "master.key").read_text().strip()
    assert stat.S_IMODE((restored / "master.key").stat().st_mode) == 0o600

    verified = json.loads(srv.cli("audit", "verify", "--data-dir", str(restored)).stdout)
    assert verified["status"] == "intact" and verified["records"] > 0

    back = OpencasServer(fresh, data_dir=restored, name="restored").start()
    try:
        rapi = IApi(back, creds)
        for identifier, pem in pems.items():
            got = rapi.cert(identifier)
            assert got["X509Certificate"] == pem, identifier
        # server-generated keys still open: the sealed keys came back with the right master key
        for identifier in list(before)[:3]:
            decrypt_key(rapi, identifier, tmp_path)
        crl, _ = fetch_crl(back, sub["Identifier"])
        assert before[revoked_id] in revoked_serials(crl)
        assert rapi.cert(revoked_id)["Status"] == "REVOKE"
        for identifier in after:
            rapi.error("DescribeClientCertificate", 404, NF, identifier=identifier)
        new_serials = set()
        for _ in range(5):
            new_serials.add(issue(rapi, sub["Identifier"])[1])
        assert not new_serials & seen_serials, "a serial was reused after the restore"
        assert len(new_serials) == 5
    finally:
        back.stop()
    # the restored server appended to the restored chain
    verified = json.loads(srv.cli("audit", "verify", "--data-dir", str(restored)).stdout)
    assert verified["status"] == "intact"


def test_restore_with_force_replaces_the_database(server_factory, tmp_path):
    srv = server_factory(name="force")
    api = IApi(srv)
    root = api.root("ECC_256")
    backup = tmp_path / "one.backup"
    srv.cli("backup", "--out", str(backup))
    later = api.root("ECC_256")
    srv.stop()
    srv.cli("restore", "--data-dir", str(srv.data_dir), "--from", str(backup), "--force")
    assert not (srv.data_dir / "opencas.db-wal").exists()
    srv.start()
    api = IApi(srv)
    api.describe(root["Identifier"])
    api.error("DescribeCACertificate", 404, "NotFound.CACertificate", identifier=later["Identifier"])


def test_backup_of_a_missing_data_dir_fails(server_factory, tmp_path):
    srv = server_factory(name="missing")
    r = srv.cli("backup", "--data-dir", str(tmp_path / "nothing"), "--out", str(tmp_path / "b"), check=False)
    assert r.returncode != 0 and "no database" in r.stderr
