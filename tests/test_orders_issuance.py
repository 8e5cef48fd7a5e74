"""DV orders end to end: the loopback DNS responder and HTTP file server (dv_fixtures) stand
in for the user's domain; the worker checks the published challenge and the built-in public
issuer signs. Issued chains verify with `openssl verify` against the root `opencas issuer
root` prints; a wrong value retries until the deadline and ends in verify_fail with a
reason; a restart mid-validation resumes the job."""
from __future__ import annotations

import sqlite3
import subprocess
import time

import requests

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from dv_fixtures import DnsResponder, FileServer, validation_config
from opencas_testlib import V_2020_04, assert_ok, poll, v3_request
from test_orders import FREE, MULTI, Dv, account_id, csr_pem, grant
from opencas_testlib import requires_sqlite_file

FILE_PATH = "/.well-known/pki-validation/fileauth.txt"


def config(dns, web=None, domains=(), deadline=600, retry=1):
    c = validation_config(dns, web, domains, timeout_seconds=1)
    c["orders"] = {"validation_deadline_seconds": deadline, "retry_initial_seconds": retry,
                   "retry_max_seconds": retry, "poll_interval_ms": 100}
    return c


def wait_state(dv: Dv, order_id: int, kinds: set[str], timeout: float = 60) -> dict:
    last = {}

    def done():
        nonlocal last
        last = dv.state(order_id)
        return last["Type"] in kinds

    assert poll(done, timeout, 0.2), f"order {order_id} stayed {last}"
    return last


def verify_chain(tmp_path, srv, pem_chain: str, name: str) -> x509.Certificate:
    root = srv.cli("issuer", "root").stdout
    assert root.startswith("-----BEGIN CERTIFICATE-----"), root
    certs = x509.load_pem_x509_certificates(pem_chain.encode())
    assert len(certs) >= 2, "the leaf comes with its intermediate"
    (tmp_path / f"{name}-root.pem").write_text(root)
    (tmp_path / f"{name}-leaf.pem").write_bytes(certs[0].public_bytes(serialization.Encoding.PEM))
    (tmp_path / f"{name}-chain.pem").write_bytes(
        b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs[1:]))
    r = subprocess.run(["openssl", "verify", "-purpose", "sslserver", "-CAfile", str(tmp_path / f"{name}-root.pem"),
                        "-untrusted", str(tmp_path / f"{name}-chain.pem"), str(tmp_path / f"{name}-leaf.pem")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return certs[0]


def check_dv_profile(leaf: x509.Certificate, domains: list[str]):
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == domains[0]
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == domains
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku
    ku = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and not ku.key_cert_sign
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    leaf.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_KEY_IDENTIFIER)
    leaf.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_KEY_IDENTIFIER)
    aia = leaf.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert {d.access_method._name for d in aia} >= {"OCSP", "caIssuers"}
    leaf.extensions.get_extension_for_class(x509.CRLDistributionPoints)
    days = (leaf.not_valid_after_utc - leaf.not_valid_before_utc).days
    assert 1 <= days <= 397, days
    assert leaf.serial_number.bit_length() >= 64


def test_dns_and_file_orders_are_issued_by_the_builtin_issuer(server_factory, tmp_path):
    with DnsResponder() as dns, FileServer() as web:
        srv = server_factory(config(dns, web, ["file.example.test"]))
        dv = Dv(srv)
        grant(srv, account_id(srv.creds), FREE, 5)
        grant(srv, account_id(srv.creds), MULTI, 5)
        # DNS: two names, the service makes the key
        dns_order = dv.order("a.example.test,www.a.example.test", MULTI)
        st = dv.state(dns_order)
        assert st["Type"] == "domain_verify"
        # the record of the first name not yet proven is shown; once it passes, the next one
        assert st["RecordDomain"] == "_dnsauth.a.example.test"
        dns.set_txt(st["RecordDomain"], st["RecordValue"])
        second = {}

        def moved_on():
            nonlocal second
            second = dv.state(dns_order)
            return second.get("RecordDomain") != st["RecordDomain"]

        assert poll(moved_on, 60, 0.2), second
        assert second["Type"] == "domain_verify" and second["RecordDomain"] == "_dnsauth.www.a.example.test", second
        dns.set_txt(second["RecordDomain"], second["RecordValue"])
        done = wait_state(dv, dns_order, {"certificate", "verify_fail"})
        assert done["Type"] == "certificate", done
        leaf = verify_chain(tmp_path, srv, done["Certificate"], "dns")
        check_dv_profile(leaf, ["a.example.test", "www.a.example.test"])
        key = serialization.load_pem_private_key(done["PrivateKey"].encode(), None)
        assert isinstance(key, rsa.RSAPrivateKey) and key.key_size >= 2048
        assert key.public_key().public_numbers() == leaf.public_key().public_numbers()
        assert dv.package(MULTI) == (5, 1, 1)
        # the certificate joined the account's store, as an aliyun-sourced one
        from alibabacloud_cas20200407 import models
        detail = dv.client.get_user_certificate_detail(
            models.GetUserCertificateDetailRequest(cert_id=int(done["CertId"]))).body.to_map()
        assert detail["Common"] == "a.example.test" and detail["Sans"] == "a.example.test,www.a.example.test", detail
        listed = dv.listing(order_type="CERT", keyword="a.example.test")["CertificateOrderList"]
        assert [c for c in listed if c.get("CertificateId") == int(done["CertId"])], listed
        # its CRL distribution point is served by this opencas
        dp = leaf.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        url = dp[0].full_name[0].value
        assert url.startswith(srv.base_url), url
        crl = x509.load_der_x509_crl(requests.get(url, timeout=10).content)
        assert crl.issuer == leaf.issuer
        # and its OCSP responder answers "good" for it
        aia = leaf.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        ocsp_url = [d.access_location.value for d in aia if d.access_method._name == "OCSP"][0]
        r = subprocess.run(["openssl", "ocsp", "-issuer", str(tmp_path / "dns-chain.pem"),
                            "-cert", str(tmp_path / "dns-leaf.pem"), "-url", ocsp_url,
                            "-CAfile", str(tmp_path / "dns-root.pem"), "-no_nonce"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and "dns-leaf.pem: good" in r.stdout, r.stdout + r.stderr

        # FILE, with the user's own CSR: no private key comes back
        csr = csr_pem("file.example.test")
        file_order = dv("CreateCertificateWithCsrRequest", csr=csr, product_code=FREE, validate_type="FILE",
                        username="A", email="a@example.com", phone="1")["OrderId"]
        st = dv.state(file_order)
        assert st["Uri"] == f"http://file.example.test{FILE_PATH}"
        web.put("file.example.test", FILE_PATH, st["Content"])
        done = wait_state(dv, file_order, {"certificate", "verify_fail"})
        assert done["Type"] == "certificate", done
        assert "PrivateKey" not in done
        leaf = verify_chain(tmp_path, srv, done["Certificate"], "file")
        check_dv_profile(leaf, ["file.example.test"])
        assert web.fetched("file.example.test", FILE_PATH) >= 1
        assert dv.package(FREE) == (5, 1, 1)

        # issued orders are listed as such, and a certificate cannot be deleted as a request
        issued = dv.listing(status="ISSUED")["CertificateOrderList"]
        assert {o["OrderId"] for o in issued} >= {dns_order, file_order}, issued
        dv.error("DeleteCertificateRequest", 403, "OrderStateError", order_id=dns_order)
        dv.error("CancelCertificateForPackageRequest", 403, "OrderStateError", order_id=dns_order)
        # not within 30 days of its end yet
        dv.error("RenewCertificateOrderForPackageRequest", 403, "OrderStateError", order_id=dns_order)
        # 20 days before its end it renews: a new order for the same names, counted anew
        requires_sqlite_file()
        db = sqlite3.connect(srv.data_dir / "opencas.db", timeout=10)
        with db:
            db.execute("UPDATE orders SET cert_not_after = ? WHERE id = ?",
                       (int(time.time() * 1000) + 20 * 86_400_000, dns_order))
        db.close()
        renewed = dv("RenewCertificateOrderForPackageRequest", order_id=dns_order)["OrderId"]
        assert renewed != dns_order
        st = dv.state(renewed)
        assert st["Type"] == "domain_verify" and st["RecordDomain"] == "_dnsauth.a.example.test", st
        assert dv.package(MULTI) == (5, 2, 1)


def test_wrong_value_retries_then_fails_with_a_reason_and_delete_gives_the_unit_back(server_factory):
    with DnsResponder() as dns:
        srv = server_factory(config(dns, deadline=6, retry=1))
        dv = Dv(srv)
        grant(srv, account_id(srv.creds), FREE, 1)
        oid = dv.order("wrong.example.test")
        st = dv.state(oid)
        dns.set_txt(st["RecordDomain"], "not-the-token")
        failed = wait_state(dv, oid, {"verify_fail", "certificate"}, timeout=60)
        assert failed["Type"] == "verify_fail", failed
        # the SDK's model has no field for the reason; the raw answer carries it
        raw = assert_ok(v3_request(srv, srv.creds, "DescribeCertificateState", V_2020_04, {"OrderId": str(oid)}))
        assert raw["Type"] == "verify_fail" and "wrong.example.test" in raw["FailReason"], raw
        assert "not-the-token" in raw["FailReason"] or "deadline" in raw["FailReason"], raw
        assert dns.queried(st["RecordDomain"]) >= 2, "the check was retried"
        assert dv.package(FREE) == (1, 1, 0)
        dv.error("CreateCertificateRequest", 404, "NotRemainCount", product_code=FREE, domain="x.example.test",
                 validate_type="DNS", username="A", email="a@example.com", phone="1")
        # deleting the failed request gives its unit back (seed 002)
        dv("DeleteCertificateRequest", order_id=oid)
        assert dv.package(FREE) == (1, 0, 0)
        dv.error("DescribeCertificateState", 404, "NotFoundOrder", order_id=oid)
        dv.order("again.example.test")


def test_restart_mid_validation_resumes(server_factory):
    with DnsResponder() as dns:
        cfg = config(dns, retry=1)
        srv = server_factory(cfg)
        dv = Dv(srv)
        grant(srv, account_id(srv.creds), FREE, 2)
        oid = dv.order("restart.example.test")
        st = dv.state(oid)
        # the worker has tried (and found nothing) before the restart
        assert poll(lambda: dns.queried(st["RecordDomain"]) >= 1, 30)
        srv.terminate()
        dns.set_txt(st["RecordDomain"], st["RecordValue"])
        srv.start()
        dv = Dv(srv)
        done = wait_state(dv, oid, {"certificate", "verify_fail"})
        assert done["Type"] == "certificate", done
        assert dv.package(FREE) == (2, 1, 1)


def test_revoke_certificate_of_an_instance_reaches_crl_and_ocsp(server_factory, tmp_path):
    with DnsResponder() as dns:
        srv = server_factory(config(dns))
        dv = Dv(srv)
        grant(srv, account_id(srv.creds), FREE, 3)
        oid = dv.order("revoke.example.test")
        pending = dv.order("pending.example.test")
        st = dv.state(oid)
        dns.set_txt(st["RecordDomain"], st["RecordValue"])
        done = wait_state(dv, oid, {"certificate", "verify_fail"})
        assert done["Type"] == "certificate", done
        leaf = verify_chain(tmp_path, srv, done["Certificate"], "rv")
        rows = dv.listing(keyword="example.test")["CertificateOrderList"]
        instance = {o["OrderId"]: o["InstanceId"] for o in rows}

        # refusals first: nothing issued yet, a wrong certificate, an upload, unknown, another account
        dv.error("RevokeCertificate", 403, "OrderStateError", instance_id=instance[pending])
        dv.error("RevokeCertificate", 400, "InvalidParameter.CertificateId", instance_id=instance[oid],
                 certificate_id=int(done["CertId"]) + 1000)
        dv.error("RevokeCertificate", 400, "InvalidParameter.InstanceId", instance_id="cas-upload-" + "a" * 32)
        dv.error("RevokeCertificate", 404, "NotFound.Instance", instance_id="cas-ivauto-000000000000")
        dv.error("RevokeCertificate", 400, "MissingParameter.InstanceId")
        other = srv.create_account("other-revoker")
        Dv(srv, other).error("RevokeCertificate", 404, "NotFound.Instance", instance_id=instance[oid])

        dv("RevokeCertificate", instance_id=instance[oid], certificate_id=int(done["CertId"]))
        dv("RevokeCertificate", instance_id=instance[oid])  # idempotent
        # on the built-in issuer's CRL (as openssl checks it) and revoked over OCSP
        dp = leaf.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        crl_der = requests.get(dp[0].full_name[0].value, timeout=10).content
        crl = x509.load_der_x509_crl(crl_der)
        assert crl.get_revoked_certificate_by_serial_number(leaf.serial_number) is not None
        (tmp_path / "rv.crl").write_bytes(crl_der)
        r = subprocess.run(["openssl", "verify", "-crl_check", "-CAfile", str(tmp_path / "rv-root.pem"),
                            "-untrusted", str(tmp_path / "rv-chain.pem"), "-CRLfile", str(tmp_path / "rv.crl"),
                            str(tmp_path / "rv-leaf.pem")], capture_output=True, text=True)
        assert r.returncode != 0 and "revoked" in (r.stdout + r.stderr), r.stdout + r.stderr
        aia = leaf.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        ocsp_url = [d.access_location.value for d in aia if d.access_method._name == "OCSP"][0]
        r = subprocess.run(["openssl", "ocsp", "-issuer", str(tmp_path / "rv-chain.pem"),
                            "-cert", str(tmp_path / "rv-leaf.pem"), "-url", ocsp_url,
                            "-CAfile", str(tmp_path / "rv-root.pem")], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0 and "rv-leaf.pem: revoked" in r.stdout, r.stdout + r.stderr
        # and the store shows it revoked
        from alibabacloud_cas20200407 import models
        detail = dv.client.get_user_certificate_detail(
            models.GetUserCertificateDetailRequest(cert_id=int(done["CertId"]))).body.to_map()
        assert detail["Expired"] is False
        listed = dv.client.list_cert(models.ListCertRequest(key_word="revoke.example.test")).body.to_map()
        assert [c["Status"] for c in listed["CertList"]] == ["REVOKE"], listed
