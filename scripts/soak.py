#!/usr/bin/env python3
"""Bounded soak: mixed reads, issuance, revocation and CRL fetches from N concurrent
keep-alive connections (one thread and one connection each) against a fresh `opencas serve`
on loopback, for a fixed time; samples the server's RSS every few seconds. Prints requests
per second per kind, errors by code (anything but Throttling* counts) and RSS start / peak /
end. Exit status 1 when an error other than throttling was seen.

    OPENCAS_BIN=target/release/opencas .venv/bin/python scripts/soak.py --seconds 300 --connections 200
"""
from __future__ import annotations

import argparse
import collections
import random
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from opencas_testlib import (  # noqa: E402
    V_2020_06,
    OpencasServer,
    new_workdir,
    raw,
    v1_request,
)

SUBJECT = dict(Organization="OpenCAS", OrganizationUnit="Soak", Locality="Hangzhou", State="Zhejiang",
               CountryCode="CN")
MIX = [("read", 55), ("list", 10), ("issue", 20), ("revoke", 10), ("crl", 5)]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--connections", type=int, default=200)
    ap.add_argument("--sample-every", type=float, default=5)
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
    seed = [call("CreateClientCertificate", ParentIdentifier=subs[i % 2], CommonName=f"seed-{i}", Days=30,
                 Immediately=1).json()["Identifier"] for i in range(50)]

    lock = threading.Lock()
    counts: collections.Counter = collections.Counter()
    errors: collections.Counter = collections.Counter()
    throttled: collections.Counter = collections.Counter()
    latencies: dict[str, list[float]] = collections.defaultdict(list)
    revocable: list[str] = []
    stop = threading.Event()

    def worker(n: int):
        rnd = random.Random(n)
        kinds, weights = zip(*MIX)
        while not stop.is_set():
            kind = rnd.choices(kinds, weights)[0]
            t0 = time.perf_counter()
            try:
                if kind == "read":
                    r = call("DescribeClientCertificate", Identifier=rnd.choice(seed))
                elif kind == "list":
                    r = call("ListClientCertificate", CurrentPage=rnd.randint(1, 5), ShowSize=20)
                elif kind == "issue":
                    r = call("CreateClientCertificate", ParentIdentifier=rnd.choice(subs), Days=30, Immediately=1,
                             CommonName=f"soak-{uuid.uuid4().hex[:10]}")
                elif kind == "revoke":
                    with lock:
                        target = revocable.pop() if revocable else None
                    if target is None:
                        continue
                    r = call("CreateRevokeClientCertificate", Identifier=target)
                else:
                    r = raw(srv, "GET", f"/crl/{rnd.choice(subs)}.crl")
            except Exception as e:  # noqa: BLE001
                with lock:
                    errors[f"{kind}: {type(e).__name__}"] += 1
                continue
            dt = time.perf_counter() - t0
            code = "OK"
            if r.status_code != 200:
                try:
                    code = r.json().get("Code", f"HTTP {r.status_code}")
                except ValueError:
                    code = f"HTTP {r.status_code} (no envelope)"
            with lock:
                if code == "OK":
                    counts[kind] += 1
                    latencies[kind].append(dt)
                    if kind == "issue":
                        revocable.append(r.json()["Identifier"])
                elif code.startswith("Throttling"):
                    throttled[kind] += 1
                else:
                    errors[f"{kind}: {code}"] += 1

    rss = [(0.0, rss_kib(srv.proc.pid))]
    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(args.connections)]
    started = time.monotonic()
    for t in threads:
        t.start()
    while (elapsed := time.monotonic() - started) < args.seconds:
        time.sleep(min(args.sample_every, max(0.0, args.seconds - elapsed)))
        rss.append((time.monotonic() - started, rss_kib(srv.proc.pid)))
        print(f"  t={rss[-1][0]:6.1f}s rss={rss[-1][1] / 1024:7.1f} MiB ok={sum(counts.values())} "
              f"errors={sum(errors.values())}", flush=True)
    stop.set()
    for t in threads:
        t.join(60)
    wall = time.monotonic() - started
    rss.append((wall, rss_kib(srv.proc.pid)))
    idle = []
    idle_started = time.monotonic()
    while time.monotonic() - idle_started < args.idle_after:
        time.sleep(min(args.sample_every, args.idle_after))
        idle.append(rss_kib(srv.proc.pid))
    alive = srv.proc.poll() is None
    srv.stop()

    def pct(v, p):
        v = sorted(v)
        return v[min(len(v) - 1, int(p * len(v)))] * 1000 if v else 0.0

    print(f"\nsoak: {args.connections} connections, {wall:.0f} s, rate limit {'on' if args.rate_limit else 'off'}")
    print(f"{'kind':8} {'ok':>8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'throttled':>9}")
    for kind, _ in MIX:
        print(f"{kind:8} {counts[kind]:8d} {counts[kind] / wall:8.1f} {pct(latencies[kind], .5):8.1f} "
              f"{pct(latencies[kind], .99):8.1f} {throttled[kind]:9d}")
    total = sum(counts.values())
    print(f"{'all':8} {total:8d} {total / wall:8.1f}")
    print("errors other than throttling:", dict(errors) or "none")
    values = [k for _, k in rss]
    print(f"RSS MiB: start {values[0] / 1024:.1f}, peak {max(values) / 1024:.1f}, end {values[-1] / 1024:.1f} "
          f"({len(values)} samples); server alive at the end: {alive}")
    if idle:
        print(f"RSS MiB after {args.idle_after:.0f} s idle: {idle[-1] / 1024:.1f}")
    sys.exit(0 if not errors and alive else 1)


if __name__ == "__main__":
    main()
