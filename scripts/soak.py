#!/usr/bin/env python3
"""Bounded soak with a verdict: N concurrent keep-alive connections (one thread and one
connection each) against a fresh `opencas serve` on loopback, in two phases, sampling the
server's RSS every few seconds.

1. mixed (--seconds): reads, list pages, issuance, revocation of certificates issued in the
   run, CRL fetches and OCSP requests. The data grows (certificates, CRL entries).
2. steady (--steady-seconds): the same connections, reads, list pages, CRL and OCSP only, so
   the data the server holds does not change. Any RSS growth here is per request, not per
   datum: a leak, or a cache without a bound.

Exit status 1, with the reason printed, when any of these holds: an error response other than
Throttling*; a client-side failure (connection error, a request that took longer than the
client's --timeout); the server died; the steady phase's last-minute mean RSS exceeds its
first-minute mean (minutes counted after --settle seconds) by more than --rss-bound (20 %); the
mixed phase's last-minute mean exceeds its second minute's by more than --mixed-rss-bound (50 %).

    OPENCAS_BIN=target/release/opencas .venv/bin/python scripts/soak.py --seconds 300 --connections 200
"""
from __future__ import annotations

import argparse
import base64
import collections
import random
import sys
import threading
import time
import uuid
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from opencas_testlib import (  # noqa: E402
    V_2020_06,
    OpencasServer,
    new_workdir,
    pct,
    raw,
    v1_request,
)

SUBJECT = dict(Organization="OpenCAS", OrganizationUnit="Soak", Locality="Hangzhou", State="Zhejiang",
               CountryCode="CN")
MIXES = {
    "mixed": [("read", 50), ("list", 10), ("issue", 20), ("revoke", 10), ("crl", 5), ("ocsp", 5)],
    "steady": [("read", 70), ("list", 10), ("crl", 10), ("ocsp", 10)],
}
KINDS = ["read", "list", "issue", "revoke", "crl", "ocsp"]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def percentile(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))] * 1000 if v else 0.0


def minute_means(samples, start, end):
    """Mean RSS (MiB) of each whole minute of [start, end), by sample time."""
    out = []
    t = start
    while t + 60 <= end + 1e-6:
        window = [k for at, k in samples if t <= at < t + 60]
        if window:
            out.append(sum(window) / len(window) / 1024)
        t += 60
    return out


def ocsp_request_der(cert_pem: str, issuer_pem: str) -> bytes:
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    issuer = x509.load_pem_x509_certificate(issuer_pem.encode())
    return ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1()).build().public_bytes(Encoding.DER)


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.ok = collections.Counter()
        self.errors = collections.Counter()
        self.throttled = collections.Counter()
        self.latencies = collections.defaultdict(list)

    def record(self, phase, kind, dt, code):
        with self.lock:
            if code == "OK":
                self.ok[phase, kind] += 1
                self.latencies[phase, kind].append(dt)
            elif code.startswith("Throttling"):
                self.throttled[phase, kind] += 1
            else:
                self.errors[phase, f"{kind}: {code}"] += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=300, help="length of the mixed phase")
    ap.add_argument("--steady-seconds", type=float, default=180,
                    help="length of the steady phase (0: none, and no memory verdict)")
    ap.add_argument("--connections", type=int, default=200)
    ap.add_argument("--sample-every", type=float, default=5)
    ap.add_argument("--timeout", type=float, default=15, help="client read timeout per request, seconds")
    ap.add_argument("--rss-bound", type=float, default=0.20,
                    help="allowed growth of the steady phase's last-minute mean RSS over its first minute")
    ap.add_argument("--mixed-rss-bound", type=float, default=0.50,
                    help="allowed growth of the mixed phase's last-minute mean RSS over its second minute (the "
                         "first is warm-up); looser than --rss-bound because the data grows in that phase")
    ap.add_argument("--settle", type=float, default=30,
                    help="seconds at the start of the steady phase left out of the RSS verdict (memory the "
                         "mixed phase's writes held is handed back then)")
    ap.add_argument("--idle-after", type=float, default=30,
                    help="seconds to keep sampling RSS after the load stops (caches vs. growth)")
    ap.add_argument("--rate-limit", action="store_true", help="keep the default per-account rate limit on")
    args = ap.parse_args()

    config = {"ca": {"sub_ca_initial_quota": 400_000}}
    if not args.rate_limit:
        config["rate_limit"] = {"enabled": False}
    srv = OpencasServer(new_workdir("opencas-soak-"), config=config, name="soak").start()
    creds = srv.creds

    def call(action, **params):
        return v1_request(srv, creds, action, V_2020_06, {k: str(v) for k, v in params.items()})

    root = call("CreateRootCACertificate", CommonName=f"Soak Root {uuid.uuid4().hex[:6]}", Algorithm="ECC_256",
                Years=10, **SUBJECT).json()["Identifier"]
    subs = [call("CreateSubCACertificate", ParentIdentifier=root, CommonName=f"Soak Sub {i}", Algorithm="ECC_256",
                 Years=5, EnableCrl="true", **SUBJECT).json()["Identifier"] for i in range(2)]
    sub_pems = {s: call("DescribeCACertificate", Identifier=s).json()["Certificate"]["X509Certificate"] for s in subs}
    seed, ocsp_requests = [], []
    for i in range(50):
        body = call("CreateClientCertificate", ParentIdentifier=subs[i % 2], CommonName=f"seed-{i}", Days=30,
                    Immediately=1).json()
        seed.append(body["Identifier"])
        ocsp_requests.append(ocsp_request_der(body["X509Certificate"], sub_pems[subs[i % 2]]))

    stats = Stats()
    revocable: list[str] = []
    phase = ["mixed"]
    stop = threading.Event()

    def one(kind, rnd):
        """Sends one request of `kind`; None when there was nothing to do."""
        if kind == "read":
            return call("DescribeClientCertificate", Identifier=rnd.choice(seed))
        if kind == "list":
            return call("ListClientCertificate", CurrentPage=rnd.randint(1, 5), ShowSize=20)
        if kind == "issue":
            return call("CreateClientCertificate", ParentIdentifier=rnd.choice(subs), Days=30, Immediately=1,
                        CommonName=f"soak-{uuid.uuid4().hex[:10]}")
        if kind == "revoke":
            with stats.lock:
                target = revocable.pop() if revocable else None
            return None if target is None else call("CreateRevokeClientCertificate", Identifier=target)
        if kind == "crl":
            return raw(srv, "GET", f"/crl/{rnd.choice(subs)}.crl", timeout=args.timeout)
        der = rnd.choice(ocsp_requests)
        if rnd.random() < 0.5:
            return raw(srv, "POST", "/ocsp", headers={"Content-Type": "application/ocsp-request"}, body=der,
                       timeout=args.timeout)
        return raw(srv, "GET", "/ocsp/" + pct(base64.b64encode(der).decode()), timeout=args.timeout)

    def worker(n: int):
        rnd = random.Random(n)
        while not stop.is_set():
            current = phase[0]
            kinds, weights = zip(*MIXES[current])
            kind = rnd.choices(kinds, weights)[0]
            t0 = time.perf_counter()
            try:
                r = one(kind, rnd)
            except Exception as e:  # noqa: BLE001 - every client-side failure is a finding
                stats.record(current, kind, 0, f"client {type(e).__name__}")
                continue
            if r is None:
                continue
            dt = time.perf_counter() - t0
            code = "OK"
            if r.status_code != 200:
                try:
                    code = r.json().get("Code", f"HTTP {r.status_code}")
                except ValueError:
                    code = f"HTTP {r.status_code} (no envelope)"
            elif kind == "ocsp" and ocsp.load_der_ocsp_response(r.content).response_status != \
                    ocsp.OCSPResponseStatus.SUCCESSFUL:
                code = f"OCSP {ocsp.load_der_ocsp_response(r.content).response_status.name}"
            elif kind == "issue":
                with stats.lock:
                    revocable.append(r.json()["Identifier"])
            stats.record(current, kind, dt, code)

    pid = srv.proc.pid
    samples = [(0.0, rss_kib(pid))]
    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(args.connections)]
    started = time.monotonic()
    for t in threads:
        t.start()
    total_secs = args.seconds + args.steady_seconds
    while (elapsed := time.monotonic() - started) < total_secs:
        time.sleep(min(args.sample_every, max(0.0, total_secs - elapsed)))
        now = time.monotonic() - started
        if phase[0] == "mixed" and now >= args.seconds:
            phase[0] = "steady"
        samples.append((now, rss_kib(pid)))
        with stats.lock:
            ok, errs = sum(stats.ok.values()), sum(stats.errors.values())
        print(f"  t={now:6.1f}s {phase[0]:6} rss={samples[-1][1] / 1024:7.1f} MiB ok={ok} errors={errs}",
              flush=True)
    stop.set()
    for t in threads:
        t.join(args.timeout + 30)
    wall = time.monotonic() - started
    samples.append((wall, rss_kib(pid)))
    idle = []
    idle_started = time.monotonic()
    while time.monotonic() - idle_started < args.idle_after:
        time.sleep(min(args.sample_every, args.idle_after))
        idle.append(rss_kib(pid))
    alive = srv.proc.poll() is None
    db = sum(f.stat().st_size for f in Path(srv.workdir).rglob("*.db*") if f.is_file()) / 2**20
    srv.stop()

    failures = report(args, stats, samples, idle, wall, alive, db)
    if failures:
        print("\nVERDICT: FAIL\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("\nVERDICT: PASS")


def report(args, stats, samples, idle, wall, alive, db_mib):
    """Prints the figures; returns the reasons the run fails (empty when it passes)."""
    failures = []
    durations = {"mixed": min(args.seconds, wall), "steady": max(0.0, wall - args.seconds)}
    print(f"\nsoak: {args.connections} connections, mixed {args.seconds:.0f} s + steady {args.steady_seconds:.0f} s, "
          f"rate limit {'on' if args.rate_limit else 'off'}, client timeout {args.timeout:.0f} s")
    for ph, mix in MIXES.items():
        if durations[ph] <= 1:
            continue
        print(f"\n[{ph}] {durations[ph]:.0f} s")
        print(f"{'kind':8} {'ok':>8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'throttled':>9}")
        total = 0
        for kind, _ in mix:
            lat = stats.latencies[ph, kind]
            n = stats.ok[ph, kind]
            total += n
            print(f"{kind:8} {n:8d} {n / durations[ph]:8.1f} {percentile(lat, .5):8.1f} {percentile(lat, .99):8.1f} "
                  f"{max(lat, default=0) * 1000:8.1f} {stats.throttled[ph, kind]:9d}")
        print(f"{'all':8} {total:8d} {total / durations[ph]:8.1f}")
        errs = {k: v for (p, k), v in stats.errors.items() if p == ph}
        print("errors other than throttling:", errs or "none")
        for k, v in errs.items():
            failures.append(f"{ph}: {v} x {k}")
    values = [k / 1024 for _, k in samples]
    print(f"\nRSS MiB: start {values[0]:.1f}, peak {max(values):.1f}, end {values[-1]:.1f} ({len(values)} samples, "
          f"every {args.sample_every:.0f} s); database files {db_mib:.1f} MiB; server alive at the end: {alive}")
    mixed = minute_means(samples, 0, min(args.seconds, wall))
    print("mixed phase, mean RSS MiB per minute:", ", ".join(f"{m:.1f}" for m in mixed) or "-")
    steady = minute_means(samples, args.seconds + args.settle, wall)
    print(f"steady phase after {args.settle:.0f} s settling, mean RSS MiB per minute:",
          ", ".join(f"{m:.1f}" for m in steady) or "-")
    if idle:
        print(f"RSS MiB after {args.idle_after:.0f} s idle: {idle[-1] / 1024:.1f}")
    if not alive:
        failures.append("the server died")
    def judge_growth(phase: str, minutes: list[float], base: int, base_name: str, bound: float):
        growth = minutes[-1] / minutes[base] - 1
        print(f"{phase} phase: last minute {minutes[-1]:.1f} MiB vs {base_name} {minutes[base]:.1f} MiB: "
              f"{growth:+.1%} (bound {bound:+.0%})")
        if growth > bound:
            failures.append(f"{phase}-phase RSS grew {growth:+.1%} (> {bound:+.0%})")

    if len(mixed) >= 3:
        judge_growth("mixed", mixed, 1, "second", args.mixed_rss_bound)
    if len(steady) >= 2:
        judge_growth("steady", steady, 0, "first", args.rss_bound)
    elif args.steady_seconds > 0:
        failures.append("the steady phase was too short to judge memory (needs two whole minutes)")
    return failures


if __name__ == "__main__":
    main()
