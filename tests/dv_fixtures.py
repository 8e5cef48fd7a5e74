"""Loopback stand-ins for the Internet a DV order is validated against.

`DnsResponder` is an authoritative DNS server on 127.0.0.1 (UDP and TCP, built on dnslib)
whose TXT and A records a test sets and clears while the server runs; `FileServer` is an
HTTP server that serves the files a test puts at given paths per Host. Point opencas at
them with the config `validation_config(...)` returns:

    with DnsResponder() as dns, FileServer() as web:
        srv = server_factory(validation_config(dns, web, ["a.example.test"]))
        dns.set_txt("_dnsauth.a.example.test", "token")
        web.put("a.example.test", "/.well-known/pki-validation/fileauth.txt", "token")
"""

import http.server
import socketserver
import threading

from dnslib import QTYPE, RCODE, RR, A, TXT
from dnslib.server import BaseResolver, DNSServer


def _norm(name):
    return str(name).rstrip(".").lower()


class _Records(BaseResolver):
    def __init__(self):
        self.lock = threading.Lock()
        self.txt = {}
        self.a = {}
        self.queries = []

    def resolve(self, request, handler):
        reply = request.reply()
        qname = request.q.qname
        name = _norm(qname)
        qtype = QTYPE[request.q.qtype]
        with self.lock:
            self.queries.append((name, qtype))
            txt = list(self.txt.get(name, []))
            addr = self.a.get(name)
        if qtype == "TXT":
            for value in txt:
                # A TXT string holds at most 255 bytes; longer values are split as the RFC says.
                chunks = [value[i : i + 255] for i in range(0, len(value), 255)] or [""]
                reply.add_answer(RR(qname, QTYPE.TXT, rdata=TXT(chunks), ttl=0))
        elif qtype == "A" and addr:
            reply.add_answer(RR(qname, QTYPE.A, rdata=A(addr), ttl=0))
        if not txt and not addr:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


class DnsResponder:
    """An authoritative loopback DNS server; `address` is "127.0.0.1:PORT" (UDP and TCP)."""

    def __init__(self):
        self.records = _Records()
        # Bind UDP first on an ephemeral port, then TCP on the same port number. That TCP port
        # may be taken (another test's connection uses it as its local port): try another.
        for attempt in range(20):
            self.udp = DNSServer(self.records, address="127.0.0.1", port=0)
            self.port = self.udp.server.server_address[1]
            try:
                self.tcp = DNSServer(self.records, address="127.0.0.1", port=self.port, tcp=True)
                break
            except OSError:
                self.udp.server.server_close()
                if attempt == 19:
                    raise

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def set_txt(self, name, *values):
        with self.records.lock:
            self.records.txt[_norm(name)] = list(values)

    def clear_txt(self, name):
        with self.records.lock:
            self.records.txt.pop(_norm(name), None)

    def set_a(self, name, ip):
        with self.records.lock:
            self.records.a[_norm(name)] = ip

    def queried(self, name, qtype="TXT"):
        with self.records.lock:
            return sum(1 for q in self.records.queries if q == (_norm(name), qtype))

    def __enter__(self):
        self.udp.start_thread()
        self.tcp.start_thread()
        return self

    def __exit__(self, *exc):
        self.udp.stop()
        self.tcp.stop()
        self.udp.server.server_close()
        self.tcp.server.server_close()


class _ThreadingHTTPServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class FileServer:
    """Serves `put` files by (Host, path); everything else is 404. Records each request."""

    def __init__(self):
        self.lock = threading.Lock()
        self.files = {}
        self.requests = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                host = self.headers.get("Host", "").split(":")[0].lower()
                with owner.lock:
                    owner.requests.append((host, self.path))
                    entry = owner.files.get((host, self.path))
                if entry is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status, body, headers = entry
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = _ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def put(self, domain, path, content, status=200, headers=None):
        body = content.encode() if isinstance(content, str) else content
        with self.lock:
            self.files[(domain.lower(), path)] = (status, body, dict(headers or {}))

    def remove(self, domain, path):
        with self.lock:
            self.files.pop((domain.lower(), path), None)

    def fetched(self, domain, path):
        with self.lock:
            return sum(1 for r in self.requests if r == (domain.lower(), path))

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def validation_config(dns, web=None, domains=(), timeout_seconds=2):
    """A server config (DEFAULT_TEST_CONFIG plus `[validation]`) pointing opencas at `dns`
    for TXT lookups and, for each of `domains`, at `web` for HTTP file checks."""
    from opencas_testlib import DEFAULT_TEST_CONFIG

    validation = {
        "resolver": dns.address,
        "dns_timeout_seconds": timeout_seconds,
        "http_timeout_seconds": timeout_seconds,
    }
    if web is not None and domains:
        validation["host_overrides"] = {d: web.address for d in domains}
    return {**DEFAULT_TEST_CONFIG, "validation": validation}
