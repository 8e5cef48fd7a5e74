"""/healthz and /metrics."""
from __future__ import annotations

import re

from opencas_testlib import V_2020_04, assert_error, assert_ok, bearer_request, raw, v3_request

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text: str):
    """[(name, {label: value}, float)] of a Prometheus text exposition."""
    out = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = SAMPLE.match(line.strip())
        assert m, f"unparsable metrics line: {line!r}"
        out.append((m.group(1), dict(LABEL.findall(m.group(2) or "")), float(m.group(3))))
    return out


def metrics(server):
    r = raw(server, "GET", "/metrics")
    assert r.status_code == 200, r.text[:300]
    return r.text, parse_metrics(r.text)


def total_for(samples, action: str) -> float:
    return sum(v for n, l, v in samples if n == "opencas_requests_total" and l.get("action") == action)


def test_healthz(server):
    r = raw(server, "GET", "/healthz")
    assert r.status_code == 200


def test_metrics_counts_requests(server, creds):
    _, before = metrics(server)
    for _ in range(3):
        assert_ok(v3_request(server, creds, "ListCert", V_2020_04))
    for _ in range(2):
        assert_error(bearer_request(server, creds["ApiKey"], "ListCert", V_2020_04, {"ShowSize": "0"}),
                     400, "InvalidParameter.ShowSize")
    assert_ok(bearer_request(server, creds["ApiKey"], "ListCsr", V_2020_04))
    text, after = metrics(server)

    assert "# TYPE opencas_requests_total counter" in text, text[:2000]
    req = [(l, v) for n, l, v in after if n == "opencas_requests_total"]
    assert req, "no opencas_requests_total samples"
    for labels, _ in req:
        assert "action" in labels and "code" in labels, labels
    assert total_for(after, "ListCert") - total_for(before, "ListCert") == 5
    assert total_for(after, "ListCsr") - total_for(before, "ListCsr") >= 1
    codes = {l["code"] for l, v in req if l["action"] == "ListCert"}
    assert len(codes) >= 2, f"success and error should be counted under different codes: {codes}"
    assert codes & {"InvalidParameter.ShowSize", "400"}, codes


def test_metrics_duration_histogram(server, creds):
    assert_ok(v3_request(server, creds, "ListCert", V_2020_04))
    text, samples = metrics(server)
    assert "# TYPE opencas_request_duration_seconds histogram" in text, text[:2000]
    names = {n for n, _, _ in samples}
    for suffix in ("_bucket", "_sum", "_count"):
        assert "opencas_request_duration_seconds" + suffix in names, names
    inf = [v for n, l, v in samples if n == "opencas_request_duration_seconds_bucket" and l.get("le") == "+Inf"]
    count = [v for n, l, v in samples if n == "opencas_request_duration_seconds_count"]
    assert inf and sum(inf) == sum(count) and sum(count) >= 1


def test_metrics_content_type(server):
    r = raw(server, "GET", "/metrics")
    assert r.headers.get("content-type", "").startswith("text/plain"), r.headers
