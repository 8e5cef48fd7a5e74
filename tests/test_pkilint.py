"""Every certificate profile opencas issues passes pkilint: the RFC 5280 linter on root CAs
(RSA, ECC, SM2), sub CAs, server certificates (RSA/ECC, generated key and CSR), client
certificates with each SanType, a custom certificate with the full ApiPassthrough
extensions, and a DV certificate of the built-in issuer (driven through a DNS order) with its
intermediate and root; plus the CA/B Forum server-auth linter on the DV leaf (as a DV
subscriber certificate) and the DV intermediate (as a TLS issuing CA of the same operator).

Any ERROR or FATAL finding fails. WARNING and NOTICE findings fail too unless they are in
ACCEPTED below with the reason they are accepted, so that a new finding is never silent."""
from __future__ import annotations

import contextlib
import io
import json
import uuid
from pathlib import Path

import pytest

from dv_fixtures import DnsResponder
from test_ca_hierarchy import Api
from test_custom_cert import passthrough
from test_issuance import SAN_OK, IApi, Keys
from test_orders import FREE, Dv, account_id, csr_pem, grant
from test_orders_issuance import config as dv_config, wait_state

pkilint_bin = pytest.importorskip("pkilint.bin", reason="pkilint is installed by tests/requirements.txt")
from pkilint.bin import lint_cabf_serverauth_cert, lint_pkix_cert, lint_pkix_signer_signee_cert_chain  # noqa: E402

# (certificate label prefix, linter, finding code) -> why it is accepted
ACCEPTED: dict[tuple[str, str, str], str] = {
    ("sub-SM2_256", "pkix-chain", "pkix.unsupported_algorithm"):
        "pkilint has no SM2-with-SM3 verifier; test_ca_hierarchy verifies SM2 chains with openssl",
    ("dv-leaf", "cabf", "cabf.serverauth.dv.common_name_attribute_present"):
        "NOT RECOMMENDED, not forbidden: the CAS API reports a certificate's CommonName, and the CN "
        "repeats the first SAN exactly as BR 7.1.4.3 requires",
    ("dv-leaf", "cabf", "cabf.serverauth.subscriber.subject_key_identifier_extension_present"):
        "NOT RECOMMENDED by the BR, but RFC 5280 4.2.1.2 says SHOULD and every opencas profile carries it",
}

# RFC 5280 knows no wildcards: the PKIX linter reports "*.example.com" as bad domain name syntax.
# Wildcard certificates are part of the CAS product (RFC 6125 6.4.3; the CA/B Forum linter accepts
# them), so this one ERROR is accepted, and only for a value that is a wildcard over a name the
# linter would otherwise accept (the same value without "*." must not be reported).
WILDCARD_CODE = "pkix.invalid_domain_name_syntax"


def findings(main, args: list[str]) -> list[dict]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(["lint", "-f", "JSON", "-s", "NOTICE", *args])
    found = []
    for r in json.loads(out.getvalue())["results"]:
        for f in r["finding_descriptions"]:
            found.append({"path": r["node_path"], **f})
    return found


def is_wildcard_finding(f: dict) -> bool:
    msg = f.get("message") or ""
    return f["code"] == WILDCARD_CODE and msg.startswith('Invalid domain name syntax: "*.')


def unaccepted(label: str, linter: str, found: list[dict]) -> list[str]:
    bad = []
    for f in found:
        if linter == "pkix" and is_wildcard_finding(f):
            continue
        accepted = any(label.startswith(p) and linter == li and f["code"] == code for (p, li, code) in ACCEPTED)
        if f["severity"] in ("FATAL", "ERROR") or not accepted:
            bad.append(f"{label} [{linter}] {f['severity']} {f['code']} at {f['path']}"
                       + (f": {f['message']}" if f.get("message") else ""))
    return bad


def write(tmp: Path, name: str, pem: str) -> Path:
    p = tmp / f"{name}.pem"
    p.write_text(pem if pem.startswith("-----BEGIN CERTIFICATE-----") else pem)
    return p


def first_pem(chain: str) -> str:
    end = "-----END CERTIFICATE-----"
    return chain[: chain.index(end) + len(end)] + "\n"


def cert_by_id(api: Api, identifier: str) -> str:
    return api("DescribeCACertificate", identifier=identifier)["Certificate"]["X509Certificate"]


@pytest.fixture(scope="module")
def issued(server_factory_module, tmp_path_factory):
    """label -> (certificate path, issuer certificate path or None for a root)."""
    srv, dns = server_factory_module
    tmp = tmp_path_factory.mktemp("pkilint")
    keys = Keys(tmp_path_factory.mktemp("pkilint-keys"))
    api = IApi(srv)
    out: dict[str, tuple[Path, Path | None]] = {}
    subs = {}
    for alg in ("RSA_2048", "ECC_256", "SM2_256"):
        root = Api.root(api, alg)
        root_pem = write(tmp, f"root-{alg}", cert_by_id(api, root["Identifier"]))
        sub = Api.sub(api, root["Identifier"], alg, extended_key_usages=["serverAuth", "clientAuth"])
        sub_pem = write(tmp, f"sub-{alg}", cert_by_id(api, sub["Identifier"]))
        out[f"root-{alg}"] = (root_pem, None)
        out[f"sub-{alg}"] = (sub_pem, root_pem)
        subs[alg] = (sub["Identifier"], sub_pem)

    def leaf(label, alg, action, **fields):
        sub_id, sub_pem = subs[alg]
        body = api(action, parent_identifier=sub_id, days=30, immediately=1, **fields)
        out[label] = (write(tmp, label, body["X509Certificate"]), sub_pem)

    u = uuid.uuid4().hex[:8]
    leaf("server-RSA_2048", "RSA_2048", "CreateServerCertificate", algorithm="RSA_2048",
         common_name=f"rsa-{u}.example.com", domain=f"www.rsa-{u}.example.com,192.0.2.7")
    leaf("server-ECC_256", "ECC_256", "CreateServerCertificate", algorithm="ECC_256",
         common_name=f"ecc-{u}.example.com", domain=f"*.ecc-{u}.example.com")
    leaf("server-csr-RSA_2048", "RSA_2048", "CreateServerCertificateWithCsr",
         csr=keys.csr("RSA_2048", f"csr-{u}.example.com", san=f"DNS:csr-{u}.example.com"))
    for t, values in SAN_OK.items():
        # pkilint's URI check knows web schemes only
        values = [v for v in values if t != 6 or v.startswith("http")] or ["https://example.org/c"]
        leaf(f"client-santype{t}", "ECC_256", "CreateClientCertificate", common_name=f"client {t} {u}",
             san_type=t, san_value=",".join(values))
    leaf("client-csr-RSA_2048", "RSA_2048", "CreateClientCertificateWithCsr",
         csr=keys.csr("RSA_2048", f"client-{u}"))
    ap = {"Subject": {"CommonName": f"custom-{u}.example.com", "Organization": "Custom Org"},
          "Extensions": {"KeyUsage": {"DigitalSignature": True, "KeyAgreement": True},
                         "ExtendedKeyUsages": ["clientAuth", "serverAuth"],
                         "SubjectAlternativeNames": [{"Type": "dNSName", "Value": f"custom-{u}.example.com"},
                                                     {"Type": "rfc822Name", "Value": f"c-{u}@example.com"},
                                                     {"Type": "iPAddress", "Value": "192.0.2.17"}],
                         "Criticals": ["extendedKeyUsage"]}}
    body = api("CreateCustomCertificate", parent_identifier=subs["ECC_256"][0], validity="90d", immediately=1,
               csr=keys.csr("ECC_256", f"custom-{u}.example.com"), api_passthrough=passthrough(ap))
    out["custom-ECC_256"] = (write(tmp, "custom-ECC_256", body["Certificate"]), subs["ECC_256"][1])

    # DV: an order validated through the loopback DNS responder, signed by the built-in issuer
    dv = Dv(srv)
    grant(srv, account_id(srv.creds), FREE, 1)
    # a public suffix: the CA/B Forum linter refuses internal names such as *.test
    domain = f"dv-{u}.example.com"
    order = dv("CreateCertificateWithCsrRequest", csr=csr_pem(domain), product_code=FREE, validate_type="DNS",
               username="A", email="a@example.com", phone="1")["OrderId"]
    st = dv.state(order)
    dns.set_txt(st["RecordDomain"], st["RecordValue"])
    done = wait_state(dv, order, {"certificate", "verify_fail"})
    assert done["Type"] == "certificate", done
    chain = done["Certificate"]
    leaf_pem = first_pem(chain)
    inter_pem = first_pem(chain[len(leaf_pem):].lstrip())
    root = srv.cli("issuer", "root").stdout
    out["dv-root"] = (write(tmp, "dv-root", root), None)
    out["dv-intermediate"] = (write(tmp, "dv-intermediate", inter_pem), out["dv-root"][0])
    out["dv-leaf"] = (write(tmp, "dv-leaf", leaf_pem), out["dv-intermediate"][0])
    return out


@pytest.fixture(scope="module")
def server_factory_module(request):
    from opencas_testlib import cleanup_server, start_server
    with DnsResponder() as dns:
        # CRL and AIA URLs on a public name: the CA/B Forum linter refuses 127.0.0.1
        srv = start_server({**dv_config(dns), "public_url": "http://pki.opencas.example.com"}, name="pkilint")
        try:
            yield srv, dns
        finally:
            cleanup_server(srv, keep=getattr(request.node, "rep_failed", False))


LABELS = ["root-RSA_2048", "root-ECC_256", "root-SM2_256", "sub-RSA_2048", "sub-ECC_256", "sub-SM2_256",
          "server-RSA_2048", "server-ECC_256", "server-csr-RSA_2048",
          *[f"client-santype{t}" for t in SAN_OK], "client-csr-RSA_2048", "custom-ECC_256",
          "dv-root", "dv-intermediate", "dv-leaf"]


@pytest.mark.parametrize("label", LABELS)
def test_pkix(issued, label):
    cert, issuer = issued[label]
    bad = unaccepted(label, "pkix", findings(lint_pkix_cert.main, [str(cert)]))
    if issuer is not None:
        bad += unaccepted(label, "pkix-chain",
                          findings(lint_pkix_signer_signee_cert_chain.main, [str(issuer), str(cert)]))
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("label,cabf_type", [("dv-leaf", "DV-FINAL-CERTIFICATE"),
                                             ("dv-intermediate", "INTERNAL-UNCONSTRAINED-TLS-CA")])
def test_cabf_serverauth(issued, label, cabf_type):
    cert, _ = issued[label]
    found = findings(lint_cabf_serverauth_cert.main, ["-t", cabf_type, str(cert)])
    bad = unaccepted(label, "cabf", found)
    assert not bad, "\n".join(bad)


def test_wildcards_are_the_only_pkix_domain_exception(issued):
    """The wildcard exception holds only for wildcards: the server certificate with one reports
    it, and the same check over the certificate's plain names reports nothing."""
    found = findings(lint_pkix_cert.main, [str(issued["server-ECC_256"][0])])
    assert any(is_wildcard_finding(f) for f in found), found
    assert not [f for f in found if f["code"] == WILDCARD_CODE and not is_wildcard_finding(f)], found


def test_the_allow_list_is_not_stale(issued):
    """Every accepted finding still occurs somewhere, so the list cannot hide a fixed one."""
    seen = set()
    for label in LABELS:
        cert, issuer = issued[label]
        for f in findings(lint_pkix_cert.main, [str(cert)]):
            seen.add((label, "pkix", f["code"]))
        if issuer is not None:
            for f in findings(lint_pkix_signer_signee_cert_chain.main, [str(issuer), str(cert)]):
                seen.add((label, "pkix-chain", f["code"]))
    for label, t in (("dv-leaf", "DV-FINAL-CERTIFICATE"), ("dv-intermediate", "INTERNAL-UNCONSTRAINED-TLS-CA")):
        for f in findings(lint_cabf_serverauth_cert.main, ["-t", t, str(issued[label][0])]):
            seen.add((label, "cabf", f["code"]))
    stale = [k for k in ACCEPTED if not any(s[0].startswith(k[0]) and s[1:] == k[1:] for s in seen)]
    assert not stale, f"accepted findings that no longer occur: {stale}"
