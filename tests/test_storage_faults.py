"""Storage faults: a full disk and a read-only data directory.

Full disk: the data dir sits on a small tmpfs; a filler file takes every free byte while the
server runs. Writes (issuance, CSR creation, upload, revocation) then fail with the error
envelope (503 ServiceUnavailable.Storage), never a panic or a bare 500; reads keep working;
nothing half-written is left (counters and lists unchanged, integrity check ok); once the
filler is gone the same server writes again.

Read-only: started on a read-only bind mount of its data dir, the server refuses to start
with a message naming the directory. A data dir that turns read-only under a running server
cannot be staged here: Linux refuses to remount read-only (EBUSY) while the server holds its
database open for writing, so that case is the full-disk one above (writes refused, reads
served) and the restart on the read-only mount.
"""
from __future__ import annotations

import os
import sqlite3
import subprocess
import uuid
from pathlib import Path

import pytest

from opencas_testlib import V_2020_04, V_2020_06, OpencasServer, assert_error, v1_request

CONFIG = {"rate_limit": {"enabled": False}}
SUBJECT = dict(Organization="OpenCAS", OrganizationUnit="QA", Locality="Hangzhou", State="Zhejiang",
               CountryCode="CN")


def mount(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["mount", *args], capture_output=True, text=True)


def umount(path: Path):
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


class Client:
    def __init__(self, srv):
        self.srv = srv
        self.creds = srv.creds

    def raw(self, version, action, **params):
        return v1_request(self.srv, self.creds, action, version, {k: str(v) for k, v in params.items()})

    def ok(self, version, action, **params) -> dict:
        r = self.raw(version, action, **params)
        assert r.status_code == 200, f"{action}: HTTP {r.status_code} {r.text[:400]}"
        return r.json()

    def hierarchy(self) -> str:
        root = self.ok(V_2020_06, "CreateRootCACertificate", CommonName=f"Fault Root {uuid.uuid4().hex[:6]}",
                       Algorithm="ECC_256", Years=10, **SUBJECT)["Identifier"]
        return self.ok(V_2020_06, "CreateSubCACertificate", ParentIdentifier=root, Algorithm="ECC_256", Years=5,
                       CommonName=f"Fault Sub {uuid.uuid4().hex[:6]}", EnableCrl="true", **SUBJECT)["Identifier"]

    def issue(self, sub):
        return self.raw(V_2020_06, "CreateServerCertificate", ParentIdentifier=sub, Algorithm="ECC_256",
                        CommonName=f"fault-{uuid.uuid4().hex[:10]}.example.com", Days=30, Immediately=1)

    def state(self, sub) -> tuple:
        """Everything a failed write could have half-changed."""
        ca = self.ok(V_2020_06, "DescribeCACertificate", Identifier=sub)["Certificate"]
        certs = self.ok(V_2020_06, "ListClientCertificate", ShowSize=1000)
        csrs = self.ok(V_2020_04, "ListCsr", ShowSize=100)
        revoked = self.ok(V_2020_06, "ListRevokeCertificate", ShowSize=100)
        return (ca["CertIssuedCount"], certs["TotalCount"], sorted(c["Identifier"] for c in certs["CertificateList"]),
                csrs["TotalCount"], revoked["TotalCount"])


@pytest.fixture
def tmpfs(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = mount("-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mnt))
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN): {r.stderr.strip()}")
    yield mnt
    umount(mnt)


def fill(path: Path):
    """Takes every free byte of the file system under `path`."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in (1 << 20, 65536, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)


def test_full_disk_refuses_writes_cleanly_and_recovers(tmpfs, tmp_path):
    srv = OpencasServer(tmp_path / "work", config=CONFIG, data_dir=tmpfs / "data", name="full").start()
    try:
        c = Client(srv)
        sub = c.hierarchy()
        acked = [c.issue(sub).json()["Identifier"] for _ in range(3)]
        victim = acked[0]
        before = c.state(sub)
        filler = tmpfs / "filler"
        fill(filler)

        # the WAL may still hold room for a few commits: write until the disk says no; what
        # was acknowledged meanwhile is stored, the first refusal must be clean
        refused = None
        for _ in range(200):
            r = c.issue(sub)
            if r.status_code == 200:
                acked.append(r.json()["Identifier"])
                continue
            refused = r
            break
        assert refused is not None, "200 issuances on a full disk all succeeded"
        body = assert_error(refused, 503, "ServiceUnavailable.Storage")
        assert "disk is full" in body["Message"], body
        during = c.state(sub)
        assert during[0] == during[1] == len(acked) and set(acked) == set(during[2]), (during, acked)

        # every other kind of write is refused the same way, and changes nothing
        from test_crash_safety import self_signed
        cert, key = self_signed()
        refusals = {
            "CreateCsr": c.raw(V_2020_04, "CreateCsr", Algorithm="ECC", KeySize=256, CommonName="full.example.com",
                               CountryCode="CN", Province="Zhejiang", Locality="Hangzhou"),
            "UploadUserCertificate": c.raw(V_2020_04, "UploadUserCertificate", Name=f"full-{uuid.uuid4().hex[:8]}",
                                           Cert=cert, Key=key),
            "CreateRevokeClientCertificate": c.raw(V_2020_06, "CreateRevokeClientCertificate", Identifier=victim),
        }
        for action, r in refusals.items():
            assert r.status_code == 503, f"{action}: HTTP {r.status_code} {r.text[:300]}"
            assert_error(r, 503, "ServiceUnavailable.Storage")
        assert c.state(sub) == during, "a refused write changed something"
        # reads are served meanwhile
        got = c.ok(V_2020_06, "DescribeClientCertificate", Identifier=victim)["Certificate"]
        assert got["Identifier"] == victim and got["Status"] != "REVOKED", got
        assert srv.proc.poll() is None, "the server died on a full disk"

        # space returns: the same process writes again
        filler.unlink()
        r = c.issue(sub)
        assert r.status_code == 200, r.text[:300]
        acked.append(r.json()["Identifier"])
        c.ok(V_2020_06, "CreateRevokeClientCertificate", Identifier=victim)
        after = c.state(sub)
        assert after[0] == after[1] == len(acked) and after[4] == before[4] + 1, (before, after)
        assert "panicked" not in srv.log()
    finally:
        assert srv.terminate() == 0
    db = sqlite3.connect(srv.data_dir / "opencas.db")
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        (n,) = db.execute("SELECT COUNT(*) FROM certificates WHERE issuer_identifier = ?", (sub,)).fetchone()
        (counter,) = db.execute("SELECT cert_issued_count FROM cas WHERE identifier = ?", (sub,)).fetchone()
        assert n == counter == len(acked)
    finally:
        db.close()


def test_read_only_data_dir(tmp_path):
    real, view = tmp_path / "real", tmp_path / "view"
    real.mkdir()
    view.mkdir()
    r = mount("--bind", str(real), str(view))
    if r.returncode != 0:
        pytest.skip(f"cannot bind-mount here (needs root and CAP_SYS_ADMIN): {r.stderr.strip()}")
    try:
        srv = OpencasServer(tmp_path / "work", config=CONFIG, data_dir=view / "data", name="ro").start()
        c = Client(srv)
        sub = c.hierarchy()
        ident = c.issue(sub).json()["Identifier"]
        # the kernel will not make the mount read-only under the running server's open files
        busy = mount("-o", "remount,ro,bind", str(view))
        if busy.returncode == 0:
            pytest.fail("remounted read-only under a running server: test the running case here")
        assert srv.terminate() == 0

        r = mount("-o", "remount,ro,bind", str(view))
        assert r.returncode == 0, r.stderr
        with pytest.raises(RuntimeError) as failed:
            srv.start(timeout=30)
        text = str(failed.value)
        assert "not writable" in text and str(view / "data") in text, text[-1500:]
        assert "panicked" not in text
        assert srv.proc.returncode not in (0, None)
        # nothing was lost: writable again, it serves what it had
        assert mount("-o", "remount,rw,bind", str(view)).returncode == 0
        srv.start()
        got = c.ok(V_2020_06, "DescribeClientCertificate", Identifier=ident)["Certificate"]
        assert got["Identifier"] == ident
        srv.stop()
    finally:
        umount(view)
