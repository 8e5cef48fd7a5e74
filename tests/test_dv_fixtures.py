"""The loopback DNS and HTTP stand-ins answer like the real thing, and opencas refuses a
`[validation]` section it cannot use instead of failing at the first order."""

import socket

import pytest
import requests
from dnslib import DNSRecord, QTYPE, RCODE

from dv_fixtures import DnsResponder, FileServer, validation_config
from opencas_testlib import start_server


def _ask(dns, name, qtype, tcp=False):
    packet = DNSRecord.question(name, qtype).send("127.0.0.1", dns.port, tcp=tcp, timeout=2)
    return DNSRecord.parse(packet)


def test_dns_responder_serves_and_clears_txt_over_udp_and_tcp():
    with DnsResponder() as dns:
        long_value = "v" * 300
        dns.set_txt("_dnsauth.A.example.test", "token-1", long_value)
        for tcp in (False, True):
            reply = _ask(dns, "_dnsauth.a.example.test", "TXT", tcp=tcp)
            values = sorted(b"".join(rr.rdata.data).decode() for rr in reply.rr)
            assert values == sorted(["token-1", long_value])
        dns.clear_txt("_dnsauth.a.example.test")
        reply = _ask(dns, "_dnsauth.a.example.test", "TXT")
        assert reply.header.rcode == RCODE.NXDOMAIN and not reply.rr
        assert dns.queried("_dnsauth.a.example.test") == 3
        dns.set_a("site.example.test", "127.0.0.1")
        reply = _ask(dns, "site.example.test", "A")
        assert [str(rr.rdata) for rr in reply.rr if rr.rtype == QTYPE.A] == ["127.0.0.1"]


def test_file_server_answers_per_host_and_path():
    with FileServer() as web:
        web.put("a.example.test", "/.well-known/pki-validation/fileauth.txt", "token-2")
        url = f"http://{web.address}/.well-known/pki-validation/fileauth.txt"
        assert requests.get(url, headers={"Host": "a.example.test"}, timeout=5).text == "token-2"
        assert requests.get(url, headers={"Host": "b.example.test"}, timeout=5).status_code == 404
        assert web.fetched("a.example.test", "/.well-known/pki-validation/fileauth.txt") == 1


def test_server_starts_with_loopback_validation_and_refuses_a_bad_resolver():
    with DnsResponder() as dns, FileServer() as web:
        srv = start_server(validation_config(dns, web, ["a.example.test"]))
        try:
            assert srv.proc.poll() is None
        finally:
            srv.stop()
    with pytest.raises(RuntimeError, match="resolver"):
        start_server({**validation_config(dns), "validation": {"resolver": "not-an-address"}})
