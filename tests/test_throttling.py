"""Per-account throttling ([rate_limit], default 10 QPS)."""
from __future__ import annotations

import threading
from collections import Counter

import pytest

from actions import BY_NAME, call_tea
from opencas_testlib import V_2020_04, OpencasServer, assert_error, assert_ok, bearer_request, cleanup_server, \
    new_workdir, poll, v3_request

BURST = 40


def burst(server, creds, n=BURST, action="ListCert"):
    """Fire n concurrent SDK calls; returns [(status, code)]."""
    from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
    a = BY_NAME[action]
    results = [None] * n
    gate = threading.Barrier(n)

    def one(i):
        from actions import tea_client, tea_request
        client = tea_client(a, server, creds)
        req = tea_request(a)
        gate.wait()
        try:
            resp = getattr(client, a.sdk_method)(req)
            results[i] = (resp.status_code, None)
        except AlibabaCloudException as e:
            results[i] = (e.status_code, e.code)
        except Exception as e:  # noqa: BLE001 - record anything else as a failure
            results[i] = (None, repr(e))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


@pytest.fixture(scope="module")
def default_server(request):
    """A server with no config file at all: throttling on at the default 10 QPS."""
    srv = OpencasServer(new_workdir(), config=None, name="defaults").start()
    yield srv
    cleanup_server(srv, request.session.testsfailed > 0)


def test_burst_is_throttled_per_account(default_server):
    srv = default_server
    a = srv.creds
    b = srv.create_account("not-throttled")
    assert poll(lambda: v3_request(srv, b, "ListCert", V_2020_04).status_code == 200, 2.5)
    import time
    time.sleep(1.5)  # let both buckets refill

    results = burst(srv, a)
    counts = Counter(results)
    ok = counts[(200, None)]
    throttled = counts[(429, "Throttling.User")]
    assert ok + throttled == BURST, f"unexpected outcomes: {counts}"
    assert ok >= 1, f"nothing succeeded: {counts}"
    assert throttled >= 1, f"a burst of {BURST} at 10 QPS was not throttled: {counts}"

    # right after A's burst, B is not throttled
    for _ in range(5):
        status, _, body = call_tea(BY_NAME["ListCert"], srv, b)
        assert status == 200


def test_throttled_error_shape(default_server):
    srv = default_server
    a = srv.creds
    seen = None
    for _ in range(60):
        r = v3_request(srv, a, "ListCert", V_2020_04)
        if r.status_code != 200:
            seen = r
            break
    assert seen is not None, "60 back-to-back calls were never throttled at 10 QPS"
    assert_error(seen, 429, "Throttling.User")


def test_throttling_recovers(default_server):
    import time
    srv = default_server
    time.sleep(1.5)
    assert_ok(v3_request(srv, srv.creds, "ListCert", V_2020_04))


def test_per_action_override(server_factory):
    srv = server_factory({"rate_limit": {"enabled": True, "default_qps": 10,
                                         "actions": {"ListCsr": 1000}}}, name="override")
    c = srv.creds
    csr = Counter(burst(srv, c, action="ListCsr"))
    assert csr == Counter({(200, None): BURST}), f"ListCsr at 1000 QPS was throttled: {csr}"
    cert = Counter(burst(srv, c, action="ListCert"))
    assert cert[(429, "Throttling.User")] >= 1, f"ListCert at 10 QPS was not throttled: {cert}"


def test_disabled_rate_limit_never_throttles(server_factory):
    srv = server_factory({"rate_limit": {"enabled": False, "default_qps": 1}}, name="nolimit")
    counts = Counter(burst(srv, srv.creds))
    assert counts == Counter({(200, None): BURST}), counts
    assert_ok(bearer_request(srv, srv.creds["ApiKey"], "ListCert", V_2020_04))
