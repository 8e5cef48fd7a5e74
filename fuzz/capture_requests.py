"""Regenerates the wire seed corpora (params_decode, signature_header) from real requests
of the official SDKs, captured by a local HTTP server that answers every call with `{}`.

Run with the test venv: .venv/bin/python fuzz/capture_requests.py
"""
import http.server
import threading
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "corpus"
captured = []


class Capture(http.server.BaseHTTPRequestHandler):
    def _handle(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        query = self.path.split("?", 1)[1] if "?" in self.path else ""
        captured.append((self.headers.get("Authorization") or self.headers.get("x-acs-date") or "",
                         self.headers.get("Content-Type") or "", query.encode(), body))
        out = b'{"RequestId":"x"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = _handle

    def log_message(self, *a):
        pass


def main():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Capture)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    endpoint = f"127.0.0.1:{srv.server_address[1]}"
    from alibabacloud_tea_openapi import models as om
    from alibabacloud_cas20200407.client import Client as C0407
    from alibabacloud_cas20200407 import models as m0407
    from alibabacloud_cas20200630.client import Client as C0630
    from alibabacloud_cas20200630 import models as m0630
    from alibabacloud_cas20180713.client import Client as C0713
    from alibabacloud_cas20180713 import models as m0713

    cfg = om.Config(access_key_id="LTAIfuzzseedkey", access_key_secret="secret", endpoint=endpoint, protocol="http")
    bearer = om.Config(bearer_token="oc_fuzz_token", type="bearer", endpoint=endpoint, protocol="http")
    calls = [
        lambda c: c.list_user_certificate_order(m0407.ListUserCertificateOrderRequest(
            current_page=2, show_size=50, status="ISSUED", order_type="CERT", keyword="例子")),
        lambda c: c.create_csr(m0407.CreateCsrRequest(
            algorithm="RSA", key_size=2048, common_name="www.example.com", corp_name="Ex & Co",
            country_code="CN", province="Zhe Jiang", locality="Hang Zhou", department="IT",
            sans="a.example.com,b.example.com", tags=[m0407.CreateCsrRequestTags(key="env", value="prod")])),
        lambda c: c.upload_user_certificate(m0407.UploadUserCertificateRequest(
            name="cert+1", cert="-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
            key="-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n")),
        lambda c: c.list_cert(m0407.ListCertRequest(current_page=1, show_size=10, warehouse_id=3,
                                                    source_type="upload", key_word="x y")),
        lambda c: c.delete_user_certificate(m0407.DeleteUserCertificateRequest(cert_id=12345)),
    ]
    for cfgx in (cfg, bearer):
        for call in calls:
            try:
                call(C0407(cfgx))
            except Exception:
                pass
    c630 = C0630(cfg)
    for call in [
        lambda: c630.create_root_ca_certificate(m0630.CreateRootCACertificateRequest(
            algorithm="ECC_256", common_name="Root", country_code="CN", locality="HZ", organization="Org",
            organization_unit="OU", state="ZJ", years=10)),
        lambda: c630.create_client_certificate(m0630.CreateClientCertificateRequest(
            parent_identifier="0123456789abcdef0123456789abcdef", san_type=1, san_value="a@example.com",
            algorithm="RSA_2048", days=30, enable_crl=1, common_name="client")),
        lambda: c630.create_custom_certificate(m0630.CreateCustomCertificateRequest(
            parent_identifier="0123456789abcdef0123456789abcdef", csr="-----BEGIN CERTIFICATE REQUEST-----",
            validity="1y", api_passthrough=m0630.CreateCustomCertificateRequestApiPassthrough(
                subject=m0630.CreateCustomCertificateRequestApiPassthroughSubject(common_name="cn"),
                extensions=m0630.CreateCustomCertificateRequestApiPassthroughExtensions(
                    key_usage=m0630.CreateCustomCertificateRequestApiPassthroughExtensionsKeyUsage(
                        digital_signature=True),
                    extended_key_usage=["serverAuth", "1.2.3.4"],
                    subject_alternative_names=[
                        m0630.CreateCustomCertificateRequestApiPassthroughExtensionsSubjectAlternativeNames(
                            type="DNS", value="x.example")])),
            tags=[m0630.CreateCustomCertificateRequestTags(key="k", value="v")])),
        lambda: c630.list_cert(m0630.ListCertRequest(current_page=1, show_size=20)),
        lambda: c630.update_ca_certificate_status(m0630.UpdateCACertificateStatusRequest(
            identifier="0123456789abcdef0123456789abcdef", status="REVOKE")),
    ]:
        try:
            call()
        except Exception:
            pass
    c713 = C0713(cfg)
    for call in [
        lambda: c713.describe_user_certificate_list(m0713.DescribeUserCertificateListRequest(
            current_page=1, show_size=10)),
        lambda: c713.describe_user_certificate_detail(m0713.DescribeUserCertificateDetailRequest(cert_id=7)),
    ]:
        try:
            call()
        except Exception:
            pass
    try:
        from aliyunsdkcore.client import AcsClient
        from aliyunsdkcore.request import CommonRequest
        acs = AcsClient("LTAIfuzzseedkey", "secret", "cn-hangzhou", port=srv.server_address[1], auto_retry=False)
        for method, params in [("GET", {"CurrentPage": "1", "ShowSize": "10"}),
                               ("POST", {"Tags.1.Key": "a", "Tags.1.Value": "b", "Tags.2.Key": "c"})]:
            req = CommonRequest(domain=endpoint, version="2020-04-07", action_name="ListCert")
            req.set_protocol_type("http")
            req.set_method(method)
            for k, v in params.items():
                req.add_query_param(k, v) if method == "GET" else req.add_body_params(k, v)
            try:
                acs.do_action_with_exception(req)
            except Exception:
                pass
    except ImportError:
        pass
    srv.shutdown()

    for d in ("params_decode", "signature_header"):
        (CORPUS / d).mkdir(parents=True, exist_ok=True)
    for i, (auth, ctype, query, body) in enumerate(captured):
        kind = b"J" if "json" in ctype else b"F" if "form" in ctype else b"N"
        request = kind + query + b"\0" + body
        (CORPUS / "params_decode" / f"seed-sdk-{i:02}").write_bytes(request)
        (CORPUS / "signature_header" / f"seed-sdk-{i:02}").write_bytes(auth.encode() + b"\n" + request)
    print(f"captured {len(captured)} requests")


if __name__ == "__main__":
    main()
