"""Several `opencas serve` replicas over one PostgreSQL (issue 10): three processes on their own
loopback ports share one database and one data directory (the master key), and SDK calls are
spread across them. ClientToken / CustomIdentifier repeats and signature nonces hold across
replicas; a replica killed with SIGKILL mid-load loses nothing it acknowledged, the others
carry on, and a CRL refresh claim it left behind is taken over when its lease runs out.

PostgreSQL comes from OPENCAS_TEST_DATABASE_URL / OPENCAS_TEST_POSTGRES_URL (a server URL whose
user may create databases) or, failing both, a throwaway cluster started with
scripts/pg-cluster."""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from cert_upload_lib import Api04, Pki
from opencas_testlib import (
    DEFAULT_TEST_CONFIG,
    REPO_ROOT,
    V_2020_06,
    assert_error,
    assert_ok,
    cleanup_server,
    create_test_database,
    drop_test_database,
    new_nonce,
    new_workdir,
    OpencasServer,
    poll,
    psql,
    v1_request,
)
from test_issuance import IApi, base_fields, issue
from test_revocation import build_hier, crl_number, fetch_crl, leaf, revoke, revoked_serials, status_of

REFRESH = 2  # seconds between CRL refreshes, so a takeover shows within the test


@pytest.fixture(scope="module")
def pg_server():
    url = os.environ.get("OPENCAS_TEST_DATABASE_URL") or os.environ.get("OPENCAS_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    if not (shutil.which("initdb") or glob.glob("/usr/lib/postgresql/*/bin/initdb")):
        pytest.skip("no PostgreSQL here (apt-get install postgresql, or set OPENCAS_TEST_POSTGRES_URL)")
    d = tempfile.mkdtemp(prefix="opencas-pg-")
    script = str(REPO_ROOT / "scripts" / "pg-cluster")
    url = subprocess.run([script, "start", d], check=True, capture_output=True, text=True,
                         timeout=120).stdout.strip()
    try:
        yield url
    finally:
        subprocess.run([script, "stop", d], capture_output=True, timeout=120)
        shutil.rmtree(d, ignore_errors=True)


class Cluster:
    def __init__(self, servers: list[OpencasServer], database_url: str, tmp):
        self.servers = servers
        self.database_url = database_url
        self.tmp = tmp

    @property
    def creds(self) -> dict:
        return self.servers[0].creds

    def sql(self, query: str) -> str:
        return psql(self.database_url, query).strip()


@pytest.fixture(scope="module")
def cluster(pg_server, tmp_path_factory):
    work = new_workdir("opencas-replicas-")
    data = work / "data"
    database = create_test_database(pg_server, "opencas_replicas")
    config = {**DEFAULT_TEST_CONFIG, "crl": {"refresh_interval_seconds": REFRESH}}
    servers = []
    try:
        # the first one creates the master key, the initial account and the built-in issuer
        for name in ("a", "b", "c"):
            srv = OpencasServer(work, config=config, data_dir=data, name=f"replica-{name}")
            srv.database_url = database
            servers.append(srv.start())
        yield Cluster(servers, database, tmp_path_factory.mktemp("replicas"))
    finally:
        for srv in servers:
            cleanup_server(srv)
        drop_test_database(pg_server, database)


def test_replicas_share_one_database(cluster):
    assert not (cluster.servers[0].data_dir / "opencas.db").exists(), "a replica fell back to SQLite"
    # one account, made once, seen by every replica
    assert cluster.sql("SELECT COUNT(*) FROM accounts WHERE id <> 0") == "1"
    for srv in cluster.servers:
        assert IApi(srv, cluster.creds)("ListClientCertificate")["TotalCount"] >= 0


def test_client_token_and_custom_identifier_hold_across_replicas(cluster):
    apis = [IApi(s, cluster.creds) for s in cluster.servers]
    h = build_hier(apis[0], cluster.tmp, "IDEM", "ECC_256")
    n0 = apis[1].total()

    token = "repl-" + uuid.uuid4().hex
    f = base_fields("CreateClientCertificate", h.sub_id, client_token=token, immediately=1)
    ids = {issue(api, "CreateClientCertificate", **f)["Identifier"] for api in apis}
    assert len(ids) == 1, f"one ClientToken on three replicas made {len(ids)} certificates"

    custom = "repl-" + uuid.uuid4().hex[:16]
    f = base_fields("CreateServerCertificate", h.sub_id, custom_identifier=custom, immediately=1)
    ids = {issue(api, "CreateServerCertificate", **f)["Identifier"] for api in apis}
    assert len(ids) == 1, f"one CustomIdentifier on three replicas made {len(ids)} certificates"

    # the same token sent to every replica at once: one certificate
    token = "repl-conc-" + uuid.uuid4().hex
    f = base_fields("CreateClientCertificate", h.sub_id, client_token=token)
    with ThreadPoolExecutor(6) as ex:
        ids = set(ex.map(lambda i: apis[i % 3]("CreateClientCertificate", **f)["Identifier"], range(6)))
    assert len(ids) == 1, f"six concurrent repeats across replicas made {len(ids)} certificates"
    assert apis[2].total() == n0 + 3

    # uploads too (2020-04-07 UploadUserCertificate with ClientToken)
    bundle = Pki(cluster.tmp).chain("P256", f"up-{uuid.uuid4().hex[:8]}.example.com")
    token = uuid.uuid4().hex
    got = {Api04(s, cluster.creds)("UploadUserCertificate", name=f"repl-{token[:8]}", cert=bundle.cert_field,
                                   key=bundle.key_as("pkcs8"), client_token=token)["CertId"]
           for s in cluster.servers}
    assert len(got) == 1, got


def test_a_nonce_is_refused_on_every_other_replica(cluster):
    a, b, c = cluster.servers
    nonce = new_nonce()
    assert_ok(v1_request(a, cluster.creds, "ListClientCertificate", V_2020_06, nonce=nonce))
    for srv in (b, c, a):
        assert_error(v1_request(srv, cluster.creds, "ListClientCertificate", V_2020_06, nonce=nonce),
                     400, "SignatureNonceUsed")
    # and the claim is in the shared table, under the access key
    ak = cluster.creds["AccessKeyId"].replace("'", "''")
    assert cluster.sql(f"SELECT COUNT(*) FROM request_nonces WHERE credential = '{ak}' AND nonce = '{nonce}'") == "1"
    # a fresh nonce still works everywhere
    for srv in cluster.servers:
        assert_ok(v1_request(srv, cluster.creds, "ListClientCertificate", V_2020_06, nonce=new_nonce()))


def test_kill_one_replica_mid_load(cluster):
    a, b, c = cluster.servers
    creds = cluster.creds
    h = build_hier(IApi(b, creds), cluster.tmp, "LOAD", "ECC_256")
    pki = Pki(cluster.tmp)
    bundles = [pki.chain("P256", f"load-{i}.example.com") for i in range(4)]

    lock = threading.Lock()
    issued: list[tuple[str, int]] = []  # acknowledged (identifier, serial)
    revoked: list[tuple[str, int]] = []
    revoking: set[tuple[str, int]] = set()
    unsure: set[str] = set()  # revocations sent to the killed replica: done or not, unacknowledged
    uploads: list[int] = []
    survivor_errors: list[str] = []
    killed = threading.Event()
    done = threading.Event()

    def alive() -> list[OpencasServer]:
        return [a, b] if killed.is_set() else [a, b, c]

    def worker(w: int):
        i = w
        while not done.is_set():
            i += 4
            srv = alive()[i % len(alive())]
            try:
                if i % 5 == 0:
                    bu = bundles[i % len(bundles)]
                    cid = Api04(srv, creds).upload(name=f"load-{uuid.uuid4().hex[:10]}", cert=bu.cert_field,
                                                   key=bu.key_as("pkcs8"))
                    with lock:
                        uploads.append(cid)
                elif i % 3 == 0 and issued:
                    with lock:
                        free = [t for t in issued if t not in revoking]
                        target = free[i % len(free)] if free else None
                        if target:
                            revoking.add(target)
                    if target:
                        try:
                            revoke(IApi(srv, creds), target[0])
                        except Exception:
                            unsure.add(target[0])
                            raise
                        with lock:
                            revoked.append(target)
                else:
                    lf = leaf(IApi(srv, creds), h, action="CreateClientCertificate")
                    with lock:
                        issued.append((lf.identifier, lf.serial))
            except Exception as e:  # noqa: BLE001 - a request to the killed replica fails, by design
                if srv is not c:
                    with lock:
                        survivor_errors.append(f"{srv.name}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=worker, args=(w,), daemon=True) for w in range(4)]
    for t in threads:
        t.start()
    assert poll(lambda: len(issued) >= 12, 180, 0.1), f"load did not start: {len(issued)} issued"
    c.kill()  # SIGKILL: no drain, no shutdown
    killed.set()
    at_kill = len(issued)
    assert poll(lambda: len(issued) >= at_kill + 15, 240, 0.1), \
        f"the survivors stopped: {len(issued) - at_kill} issued after the kill; errors {survivor_errors[:3]}"
    done.set()
    for t in threads:
        t.join(120)
    assert not survivor_errors, survivor_errors[:5]
    assert revoked and uploads, (len(revoked), len(uploads))

    # everything acknowledged is there, whichever replica answered it and whichever reads it now
    api_a, api_b = IApi(a, creds), IApi(b, creds)
    revoked_ids = {r[0] for r in revoked}
    for n, (identifier, serial) in enumerate(issued):
        body = (api_a if n % 2 else api_b).cert(identifier)
        assert int(body["SerialNumber"], 16) == serial, body
        if identifier not in unsure:
            assert body["Status"] == ("REVOKE" if identifier in revoked_ids else "ISSUE"), (identifier, body["Status"])
    for identifier, _ in revoked:
        assert status_of(api_a, identifier)["Status"] == "revoked"
    crl, _ = fetch_crl(b, h.sub_id)
    assert {s for _, s in revoked} <= revoked_serials(crl)
    api04 = Api04(a, creds)
    for cid in uploads:
        assert api04.detail(cid)["Id"] == cid
    # serials stayed unique under concurrent issuance on several replicas
    assert len({s for _, s in issued}) == len(issued)

    # the survivors carry on
    for srv in (a, b):
        leaf(IApi(srv, creds), h)


def test_a_dead_replicas_crl_claim_is_taken_over(cluster):
    a, b = cluster.servers[:2]
    if cluster.servers[2].proc.poll() is None:
        cluster.servers[2].kill()
    h = build_hier(IApi(a, cluster.creds), cluster.tmp, "TAKEOVER", "ECC_256")
    first, _ = fetch_crl(a, h.sub_id)
    ident = h.sub_id
    # What a replica's claim leaves (Tx::claim_crl_refresh): refresh_at moved ahead by a lease.
    # Its owner died before signing; nobody else may sign until the lease runs out, then a
    # survivor must.
    lease_end = int(time.time()) + 3
    cluster.sql(f"UPDATE crls SET refresh_at = {lease_end} WHERE issuer_identifier = '{ident}'")

    def resigned():
        row = cluster.sql(f"SELECT crl_number, refresh_at FROM crls WHERE issuer_identifier = '{ident}'")
        number, refresh_at = (int(x) for x in row.split("|"))
        return (number, refresh_at) if number > crl_number(first) and refresh_at > lease_end else None

    got = poll(resigned, 90, 0.5)
    assert got, f"the CRL of {ident} was not re-signed after the dead replica's lease ran out"
    crl, _ = fetch_crl(b, ident)
    assert crl_number(crl) >= got[0] > crl_number(first)


def test_replicas_started_together_on_an_empty_database(pg_server):
    """Three replicas started at the same instant on a fresh data directory and an empty
    database: one master key, one initial account, one built-in issuer, and all three serve."""
    work = new_workdir("opencas-replicas-together-")
    data = work / "data"
    database = create_test_database(pg_server, "opencas_together")
    servers = []
    try:
        for name in ("a", "b", "c"):
            srv = OpencasServer(work, config=DEFAULT_TEST_CONFIG, data_dir=data, name=f"together-{name}")
            srv.database_url = database
            servers.append(srv)
        with ThreadPoolExecutor(len(servers)) as pool:
            list(pool.map(lambda s: s.start(timeout=60), servers))
        # the initial account, beside the built-in issuer's own (id 0)
        assert psql(database, "SELECT count(*) FROM accounts WHERE id <> 0").strip() == "1"
        assert psql(database, "SELECT count(*) FROM cas").strip() == "2"  # the built-in root and DV issuer
        creds = servers[0].creds
        for srv in servers:
            assert_ok(v1_request(srv, creds, "ListClientCertificate", V_2020_06))
    finally:
        for srv in servers:
            cleanup_server(srv)
        drop_test_database(pg_server, database)
