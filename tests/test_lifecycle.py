"""Process lifecycle: graceful shutdown, restart on the same data dir, config file."""
from __future__ import annotations

import shutil
import time

from actions import BY_NAME, call_tea, check_empty_list
from opencas_testlib import DEFAULT_TEST_CONFIG, V_2020_04, OpencasServer, assert_ok, bearer_request, \
    free_port, new_workdir, to_toml, v3_request

LIST_CERT = BY_NAME["ListCert"]


def test_sigterm_then_restart_keeps_credentials():
    work = new_workdir()
    srv = OpencasServer(work, name="first").start()
    try:
        creds = srv.creds
        extra = srv.create_account("survives-restart")
        cred_bytes = srv.credentials_path.read_bytes()
        cred_mtime = srv.credentials_path.stat().st_mtime_ns
        key_bytes = (srv.data_dir / "master.key").read_bytes()
        assert_ok(v3_request(srv, creds, "ListCert", V_2020_04))

        t0 = time.monotonic()
        rc = srv.terminate(timeout=5)
        elapsed = time.monotonic() - t0
        assert rc == 0, f"SIGTERM: exit code {rc} after {elapsed:.1f}s (None = still running after 5s)"

        time.sleep(1.1)  # a rewrite would show in the mtime
        srv2 = OpencasServer(work, data_dir=srv.data_dir, name="second").start()
        try:
            assert srv2.credentials_path.read_bytes() == cred_bytes, "credentials.json changed on restart"
            assert srv2.credentials_path.stat().st_mtime_ns == cred_mtime, "credentials.json rewritten on restart"
            assert (srv2.data_dir / "master.key").read_bytes() == key_bytes, "master.key changed on restart"
            status, _, body = call_tea(LIST_CERT, srv2, creds)
            assert status == 200
            check_empty_list(LIST_CERT, body)
            assert_ok(bearer_request(srv2, creds["ApiKey"], "ListCert", V_2020_04))
            assert_ok(v3_request(srv2, extra, "ListCert", V_2020_04))
            ids = {str(a["AccountId"]) for a in srv2.list_accounts()}
            assert {creds["AccountId"], extra["AccountId"]} <= ids
            rc2 = srv2.terminate(timeout=5)
            assert rc2 == 0, f"second SIGTERM: exit code {rc2}"
        finally:
            srv2.stop()
    finally:
        srv.stop()
    shutil.rmtree(work, ignore_errors=True)


def test_sigterm_with_idle_keepalive_connection():
    """An idle keep-alive client connection must not hold up shutdown."""
    import requests
    work = new_workdir()
    srv = OpencasServer(work).start()
    try:
        s = requests.Session()
        s.trust_env = False
        assert s.get(srv.base_url + "/healthz", timeout=5).status_code == 200  # connection stays open
        t0 = time.monotonic()
        rc = srv.terminate(timeout=5)
        assert rc == 0, f"exit code {rc} after {time.monotonic() - t0:.1f}s with an idle connection open"
        s.close()
    finally:
        srv.stop()
    shutil.rmtree(work, ignore_errors=True)


def test_existing_empty_data_dir_is_initialised():
    work = new_workdir()
    data = work / "empty-data"
    data.mkdir()
    srv = OpencasServer(work, data_dir=data).start()
    try:
        c = srv.creds
        assert set(c) >= {"AccountId", "AccessKeyId", "AccessKeySecret", "ApiKey"}
        assert_ok(v3_request(srv, c, "ListCert", V_2020_04))
    finally:
        srv.stop()
    shutil.rmtree(work, ignore_errors=True)


def test_listen_and_data_dir_from_config_file():
    work = new_workdir()
    port = free_port()
    cfg = dict(DEFAULT_TEST_CONFIG, listen=f"127.0.0.1:{port}", data_dir=str(work / "cfg-data"))
    (work / "only.toml").write_text(to_toml(cfg))
    srv = OpencasServer(work, data_dir=work / "cfg-data", name="cfgonly")
    srv.port = port
    from opencas_testlib import opencas_bin
    srv.start(argv=[opencas_bin(), "serve", "--config", str(work / "only.toml")])
    try:
        c = srv.creds
        assert_ok(v3_request(srv, c, "ListCert", V_2020_04))
    finally:
        srv.stop()
    shutil.rmtree(work, ignore_errors=True)
