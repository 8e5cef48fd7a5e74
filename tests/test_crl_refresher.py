"""The background CRL refresher and the persisted CRL (`[crl] refresh_interval_seconds`,
`OPENCAS_CRL_REFRESH_INTERVAL_SECONDS`), and the OCSP answer cache (`[ocsp] cache_entries`):
CRLs re-signed without any revocation, the same CRL served after a restart and the refresher
resuming, cached OCSP answers invalidated by a revocation, nonces always signed fresh."""
from __future__ import annotations

import datetime as dt
import time
import uuid

from cryptography import x509
from cryptography.x509 import ocsp

from opencas_testlib import DEFAULT_TEST_CONFIG, free_port
from test_issuance import IApi
from test_revocation import (
    CRL_DAY,
    build_hier,
    crl_number,
    fetch_crl,
    leaf,
    load_ocsp,
    ocsp_get,
    ocsp_post,
    ocsp_request,
    revoke,
    revoked_serials,
    verify_sig,
)
from opencas_testlib import requires_sqlite_file

REFRESH = 2  # seconds


def refresher_config(**extra) -> dict:
    return {**DEFAULT_TEST_CONFIG, "crl": {"refresh_interval_seconds": REFRESH}, **extra}


def wait_for_newer_crl(srv, ca_id: str, after: x509.CertificateRevocationList, deadline_s: float = 60):
    """Polls the served CRL until one with a later thisUpdate appears (no revocation in between)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        crl, data = fetch_crl(srv, ca_id)
        if crl.last_update_utc > after.last_update_utc:
            return crl, data
        time.sleep(0.5)
    raise AssertionError(f"the CRL of {ca_id} was not re-signed within {deadline_s}s "
                         f"(thisUpdate still {after.last_update_utc})")


def assert_valid_crl(crl: x509.CertificateRevocationList, h, revoked: set[int]):
    now = dt.datetime.now(dt.timezone.utc)
    assert crl.is_signature_valid(h.sub.public_key())
    assert crl.issuer == h.sub.subject
    assert crl.last_update_utc <= now + dt.timedelta(seconds=2) < crl.next_update_utc, (crl.last_update_utc, now)
    assert crl.next_update_utc - crl.last_update_utc == dt.timedelta(days=CRL_DAY)
    assert revoked_serials(crl) == revoked, (revoked_serials(crl), revoked)


def test_refresher_resigns_and_resumes_after_restart(server_factory, tmp_path, monkeypatch):
    srv = server_factory(refresher_config(), name="crlrefresh")
    api = IApi(srv)
    h = build_hier(api, tmp_path, "REFRESH", "ECC_256")
    a, b = leaf(api, h), leaf(api, h)
    revoke(api, a.identifier)
    crl0, _ = fetch_crl(srv, h.sub_id)
    assert_valid_crl(crl0, h, {a.serial})

    # without any revocation, the refresher re-signs: later thisUpdate, higher number, same entries
    crl1, _ = wait_for_newer_crl(srv, h.sub_id, crl0)
    assert crl_number(crl1) > crl_number(crl0)
    assert_valid_crl(crl1, h, {a.serial})
    crl2, _ = wait_for_newer_crl(srv, h.sub_id, crl1)
    assert crl_number(crl2) > crl_number(crl1)
    assert_valid_crl(crl2, h, {a.serial})
    # the root's CRL is kept fresh too, though nobody fetched it
    root_crl0, _ = fetch_crl(srv, h.root_id)
    assert root_crl0.is_signature_valid(h.root.public_key())
    assert wait_for_newer_crl(srv, h.root_id, root_crl0)[0].is_signature_valid(h.root.public_key())

    last, _ = fetch_crl(srv, h.sub_id)
    rc = srv.terminate(timeout=10)
    assert rc == 0, f"SIGTERM: exit code {rc}"
    # restart on the same data dir, the interval now from the environment
    monkeypatch.setenv("OPENCAS_CRL_REFRESH_INTERVAL_SECONDS", str(REFRESH))
    srv.config = DEFAULT_TEST_CONFIG
    srv.port = free_port()
    srv.start()
    api = IApi(srv)
    crl3, _ = fetch_crl(srv, h.sub_id)
    assert crl_number(crl3) >= crl_number(last), (crl_number(last), crl_number(crl3))
    assert_valid_crl(crl3, h, {a.serial})
    crl4, _ = wait_for_newer_crl(srv, h.sub_id, crl3)
    assert crl_number(crl4) > crl_number(crl3)
    assert_valid_crl(crl4, h, {a.serial})
    # a revocation is on the next fetch, whatever the refresher's schedule
    revoke(api, b.identifier)
    crl5, _ = fetch_crl(srv, h.sub_id)
    assert crl_number(crl5) > crl_number(crl4)
    assert_valid_crl(crl5, h, {a.serial, b.serial})


def test_restart_serves_the_persisted_crl(server_factory, tmp_path):
    # default schedule (half of CrlDay): nothing is due across the restart
    srv = server_factory(name="crlpersist")
    api = IApi(srv)
    h = build_hier(api, tmp_path, "PERSISTED", "RSA_2048")
    a = leaf(api, h)
    revoke(api, a.identifier)
    crl0, data0 = fetch_crl(srv, h.sub_id)
    addr0 = api("GetCaInstanceCrlAddress", ca_identifier=h.sub_id)
    assert srv.terminate(timeout=10) == 0
    srv.port = free_port()
    srv.start()
    api = IApi(srv)
    crl1, data1 = fetch_crl(srv, h.sub_id)
    assert data1 == data0, (crl_number(crl0), crl_number(crl1))
    addr1 = api("GetCaInstanceCrlAddress", ca_identifier=h.sub_id)
    assert addr1["NextUpdateTime"] == addr0["NextUpdateTime"] and addr1["HashCode"] == addr0["HashCode"], (addr0, addr1)
    assert int(addr1["NextUpdateTime"]) == int(crl1.next_update_utc.timestamp()) * 1000


def test_ocsp_answers_cached_until_revocation(server_factory, tmp_path):
    srv = server_factory(name="ocspcache")
    api = IApi(srv)
    h = build_hier(api, tmp_path, "OCSPCACHE", "ECC_256")
    lf = leaf(api, h)
    req = ocsp_request(h.sub, lf.cert)
    first = ocsp_post(srv, req)
    r1 = load_ocsp(first)
    assert r1.certificate_status == ocsp.OCSPCertStatus.GOOD
    verify_sig(h.sub, r1.signature, r1.tbs_response_bytes, r1.signature_hash_algorithm)
    # ECDSA signatures are randomized: identical bytes mean the pre-signed answer was reused,
    # over POST and GET alike
    assert ocsp_post(srv, req).content == first.content
    assert ocsp_get(srv, req).content == first.content
    # a nonce is always signed fresh and echoed
    for nonce in (uuid.uuid4().bytes, uuid.uuid4().bytes):
        resp = load_ocsp(ocsp_post(srv, ocsp_request(h.sub, lf.cert, nonce)))
        assert resp.certificate_status == ocsp.OCSPCertStatus.GOOD
        assert resp.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce
        verify_sig(h.sub, resp.signature, resp.tbs_response_bytes, resp.signature_hash_algorithm)
    # a revocation replaces the cached answer at once
    revoke(api, lf.identifier)
    after = ocsp_post(srv, req)
    r2 = load_ocsp(after)
    assert r2.certificate_status == ocsp.OCSPCertStatus.REVOKED, r2.certificate_status
    verify_sig(h.sub, r2.signature, r2.tbs_response_bytes, r2.signature_hash_algorithm)
    assert ocsp_post(srv, req).content == after.content
    # a revocation of another certificate of the CA leaves this answer valid (re-checked, reused)
    other = leaf(api, h)
    other_req = ocsp_request(h.sub, other.cert)
    assert load_ocsp(ocsp_post(srv, other_req)).certificate_status == ocsp.OCSPCertStatus.GOOD
    third = leaf(api, h)
    revoke(api, third.identifier)
    assert ocsp_post(srv, req).content == after.content
    assert load_ocsp(ocsp_post(srv, other_req)).certificate_status == ocsp.OCSPCertStatus.GOOD


def test_ocsp_sub_ca_revocation_reaches_cached_answers(server_factory, tmp_path):
    srv = server_factory(name="ocspsubca")
    api = IApi(srv)
    h = build_hier(api, tmp_path, "OCSPSUB", "ECC_256")
    req = ocsp_request(h.root, h.sub)
    assert load_ocsp(ocsp_post(srv, req)).certificate_status == ocsp.OCSPCertStatus.GOOD
    api("UpdateCACertificateStatus", identifier=h.sub_id, status="REVOKE")
    end = time.monotonic() + 30
    while True:
        status = load_ocsp(ocsp_post(srv, req)).certificate_status
        if status == ocsp.OCSPCertStatus.REVOKED:
            break
        assert time.monotonic() < end, f"cached OCSP answer for the revoked sub CA still {status}"
        time.sleep(0.1)


def test_ocsp_cache_off(server_factory, tmp_path):
    srv = server_factory({**DEFAULT_TEST_CONFIG, "ocsp": {"cache_entries": 0}}, name="ocspnocache")
    api = IApi(srv)
    h = build_hier(api, tmp_path, "NOCACHE", "ECC_256")
    lf = leaf(api, h)
    req = ocsp_request(h.sub, lf.cert)
    a, b = ocsp_post(srv, req), ocsp_post(srv, req)
    for r in (a, b):
        resp = load_ocsp(r)
        assert resp.certificate_status == ocsp.OCSPCertStatus.GOOD
        verify_sig(h.sub, resp.signature, resp.tbs_response_bytes, resp.signature_hash_algorithm)
    assert a.content != b.content, "signed once although the cache is off"


def test_bad_refresh_interval_is_refused(tmp_path):
    from opencas_testlib import OpencasServer

    srv = OpencasServer(tmp_path / "bad", config={**DEFAULT_TEST_CONFIG, "crl": {"refresh_interval_seconds": 0}},
                        name="badrefresh")
    try:
        srv.start(timeout=10)
    except RuntimeError as e:
        assert "refresh_interval_seconds" in str(e), str(e)
    else:
        srv.stop()
        raise AssertionError("a zero refresh interval was accepted")


def test_crl_after_changes_incremental_and_out_of_band(server_factory, tmp_path):
    """Revocations one after another extend the last CRL; a revoked row the service did not
    write (an old revocation time, far outside the re-read window) is still listed."""
    import sqlite3

    requires_sqlite_file()
    srv = server_factory(name="crlincr")
    api = IApi(srv)
    h = build_hier(api, tmp_path, "INCR", "ECC_256")
    leaves = [leaf(api, h) for _ in range(4)]
    listed: set[int] = set()
    crl, _ = fetch_crl(srv, h.sub_id)
    assert_valid_crl(crl, h, listed)
    for lf in leaves[:3]:
        revoke(api, lf.identifier)
        listed.add(lf.serial)
        crl, _ = fetch_crl(srv, h.sub_id)
        assert_valid_crl(crl, h, listed)
    # out of band: a revocation dated a day back, written straight into the database
    db = sqlite3.connect(srv.data_dir / "opencas.db", timeout=30)
    try:
        old_ms = int(time.time() * 1000) - 86_400_000
        with db:
            n = db.execute("UPDATE certificates SET status = 'REVOKE', revoked_at = ? WHERE identifier = ?",
                           (old_ms, leaves[3].identifier)).rowcount
            assert n == 1
            db.execute("UPDATE cas SET revocation_seq = revocation_seq + 1 WHERE identifier = ?", (h.sub_id,))
    finally:
        db.close()
    listed.add(leaves[3].serial)
    crl, _ = fetch_crl(srv, h.sub_id)
    assert_valid_crl(crl, h, listed)
    entry = crl.get_revoked_certificate_by_serial_number(leaves[3].serial)
    assert abs(entry.revocation_date_utc.timestamp() * 1000 - old_ms) < 1000
    # the API's revocations extended the CRL; only the out-of-band row made it read everything
    assert srv.log().count("re-read in full") == 1, srv.log()


def test_ocsp_concurrent_first_requests_for_a_new_ca(server_factory, tmp_path):
    """Many requests naming a CA the responder has not indexed yet: every one is answered
    (none unauthorized while one of them rebuilds the issuer index)."""
    from concurrent.futures import ThreadPoolExecutor

    srv = server_factory(name="ocspindex")
    api = IApi(srv)
    build_hier(api, tmp_path, "WARM", "ECC_256")  # the index now exists
    for round_ in range(3):
        h = build_hier(api, tmp_path, f"NEW{round_}", "ECC_256")
        lf = leaf(api, h)
        req = ocsp_request(h.sub, lf.cert)
        with ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(lambda _: load_ocsp(ocsp_post(srv, req)).response_status, range(32)))
        assert set(statuses) == {ocsp.OCSPResponseStatus.SUCCESSFUL}, statuses
