"""Shared fixtures: a real `opencas serve` process per test module."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

# Loopback only, never through a proxy (requests/tea honour *_PROXY).
for _var in ("NO_PROXY", "no_proxy"):
    _cur = os.environ.get(_var, "")
    if "127.0.0.1" not in _cur:
        os.environ[_var] = ",".join(x for x in (_cur, "127.0.0.1", "localhost") if x)

from opencas_testlib import (  # noqa: E402
    DEFAULT_TEST_CONFIG,
    LIVE_SERVERS,
    cleanup_server,
    drop_all_test_databases,
    start_server,
)


@pytest.fixture(scope="module")
def server(request):
    """A fresh server (throttling off, 64 KiB body limit) shared by one module."""
    srv = start_server()
    yield srv
    cleanup_server(srv, request.session.testsfailed > 0)


@pytest.fixture(scope="module")
def creds(server):
    """The initial account's credentials from DATA/credentials.json."""
    return server.creds


@pytest.fixture
def server_factory(request):
    """Start extra servers with a given config inside one test; all stopped afterwards."""
    started: list[OpencasServer] = []

    def make(config=DEFAULT_TEST_CONFIG, name="server"):
        srv = start_server(config, name)
        started.append(srv)
        return srv

    yield make
    for srv in started:
        cleanup_server(srv, request.session.testsfailed > 0)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for srv in list(LIVE_SERVERS):
            log = srv.log()
            if len(log) > 8000:
                log = "...\n" + log[-8000:]
            rep.sections.append((f"opencas stderr ({srv.stderr_path})", log or "<empty>"))


def pytest_sessionfinish(session, exitstatus):
    # never leave a server behind, whatever happened
    for srv in list(LIVE_SERVERS):
        srv.stop()
    drop_all_test_databases()
