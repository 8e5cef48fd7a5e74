"""Helpers of test_csr_management: openssl keys and CSRs, and the 2020-04-07 SDK wrapped so
every call checks its status, RequestId and the SDK's own model round trip."""
from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import uuid
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtensionOID

from opencas_testlib import cas20200407, poll

SM2_DISTID = "1234567812345678"

GENPKEY = {
    "RSA_1024": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"],
    "RSA_2048": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    "ECC_256": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    "ECC_384": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
    "SM2_256": ["-algorithm", "SM2"],
}

LIST_ITEM_TYPES = {
    "CsrId": int, "Name": str, "CommonName": str, "Sans": str, "Algorithm": str, "KeySize": int,
    "CorpName": str, "Department": str, "CountryCode": str, "Province": str, "Locality": str,
    "KeySha2": str, "HasPrivateKey": bool,
}


# --------------------------------------------------------------------------
# openssl helpers
# --------------------------------------------------------------------------

def run(argv: list[str], *, input: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(argv, input=input, capture_output=True, timeout=60)


def openssl(*args: str) -> str:
    r = run(["openssl", *args])
    assert r.returncode == 0, f"openssl {' '.join(args)}: {r.stderr.decode(errors='replace')}"
    return r.stdout.decode()


def write(tmp: Path, text: str, suffix: str = ".pem") -> Path:
    p = tmp / f"{uuid.uuid4().hex}{suffix}"
    p.write_text(text)
    return p


def req_verify(tmp: Path, csr_pem: str, distid: str | None = None) -> bool:
    """`openssl req -verify` exits 0 on a bad signature too: the verdict is in its output."""
    argv = ["openssl", "req", "-in", str(write(tmp, csr_pem)), "-verify", "-noout"]
    if distid is not None:
        argv += ["-vfyopt", f"distid:{distid}"]
    r = run(argv)
    out = (r.stdout + r.stderr).decode(errors="replace")
    return "verify OK" in out and "verify failure" not in out


def csr_pubkey(tmp: Path, csr_pem: str) -> str:
    return openssl("req", "-in", str(write(tmp, csr_pem)), "-pubkey", "-noout")


def key_pubkey(tmp: Path, key_pem: str) -> str:
    return openssl("pkey", "-in", str(write(tmp, key_pem)), "-pubout")


def cert_pubkey(tmp: Path, cert_pem: str) -> str:
    return openssl("x509", "-in", str(write(tmp, cert_pem)), "-pubkey", "-noout")


def spki_sha256(pubkey_pem: str) -> str:
    b64 = "".join(l for l in pubkey_pem.strip().splitlines() if not l.startswith("-----"))
    return hashlib.sha256(base64.b64decode(b64)).hexdigest()


def tamper(csr_pem: str) -> str:
    b64 = "".join(l for l in csr_pem.strip().splitlines() if not l.startswith("-----"))
    d = bytearray(base64.b64decode(b64))
    d[-1] ^= 0x01  # the last byte of the signature
    body = base64.b64encode(bytes(d)).decode()
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE REQUEST-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE REQUEST-----\n"


class Keys:
    """openssl keys and CSRs made outside the service."""

    def __init__(self, tmp: Path):
        self.tmp = tmp

    def key(self, alg: str) -> Path:
        p = self.tmp / f"{alg}-{uuid.uuid4().hex}.key"
        openssl("genpkey", *GENPKEY[alg], "-out", str(p))
        return p

    def csr(self, key: Path, cn: str, san: str | None = None, subj_extra: str = "", digest: str | None = None) -> str:
        out = self.tmp / f"{uuid.uuid4().hex}.csr"
        argv = ["req", "-new", "-key", str(key), "-subj", f"{subj_extra}/CN={cn}", "-out", str(out), "-utf8"]
        if san:
            argv += ["-addext", f"subjectAltName={san}"]
        if key.name.startswith("SM2"):
            argv += ["-sm3"]
        elif digest:
            argv += [f"-{digest}"]
        openssl(*argv)
        return out.read_text()

    def pair(self, alg: str, cn: str, san: str | None = None, subj_extra: str = "") -> tuple[str, str]:
        k = self.key(alg)
        return self.csr(k, cn, san, subj_extra), k.read_text()

    def converted(self, alg: str, key_pem: str, fmt: str) -> str:
        """The key as PKCS#8 (`pkcs8`), or traditional: PKCS#1 for RSA, SEC1 for EC and SM2."""
        src = write(self.tmp, key_pem)
        if fmt == "pkcs8":
            return openssl("pkey", "-in", str(src))
        if alg.startswith("RSA"):
            return openssl("rsa", "-in", str(src), "-traditional")
        return openssl("ec", "-in", str(src))


# --------------------------------------------------------------------------
# the SDK, wrapped
# --------------------------------------------------------------------------

class CsrApi:
    """The 2020-04-07 SDK client of one account; calls return the decoded body."""

    def __init__(self, server, creds):
        from alibabacloud_cas20200407 import models
        self.server = server
        self.creds = creds
        self.client = cas20200407(server, creds)
        self.models = models

    def __call__(self, action: str, **fields) -> dict:
        method = getattr(self.client, "".join("_" + c.lower() if c.isupper() else c for c in action).lstrip("_"))
        resp = method(getattr(self.models, f"{action}Request")(**fields))
        assert resp.status_code == 200, (action, resp.status_code)
        body = resp.body.to_map()
        assert isinstance(body.get("RequestId"), str) and body["RequestId"], body
        # the SDK's own model accepted the body: round trip through from_map as well
        again = type(resp.body)().from_map(body).to_map()
        assert again == body, (again, body)
        return body

    def error(self, action: str, want_status: int, want_code: str, /, **fields):
        from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
        try:
            body = self(action, **fields)
        except AlibabaCloudException as e:
            assert (e.status_code, e.code) == (want_status, want_code), \
                f"{action}: expected HTTP {want_status} {want_code}, got HTTP {e.status_code} {e.code}: {e.message}"
            assert e.request_id and e.request_id != "None", e
            assert "PRIVATE KEY" not in str(e.message), e.message
            return e
        pytest.fail(f"{action}: expected HTTP {want_status} {want_code}, got success: {json.dumps(body)[:400]}")

    def total(self, **filters) -> int:
        return self("ListCsr", **filters)["TotalCount"]

    def item(self, csr_id: int) -> dict:
        body = self("ListCsr", show_size=1000)
        found = [i for i in body["CsrList"] if i["CsrId"] == csr_id]
        assert len(found) == 1, (csr_id, body)
        return found[0]


def check_item_types(item: dict):
    assert set(item) == set(LIST_ITEM_TYPES), sorted(item)
    for k, t in LIST_ITEM_TYPES.items():
        assert type(item[k]) is t, f"{k}: {item[k]!r} is not {t.__name__}"


def fresh_api(server) -> CsrApi:
    """A new account of the same server, once its credentials work."""
    from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
    c = server.create_account(f"csr-{uuid.uuid4().hex[:8]}")
    api = CsrApi(server, {"AccessKeyId": c["AccessKeyId"], "AccessKeySecret": c["AccessKeySecret"]})

    def works():
        try:
            return api("ListCsr")["TotalCount"] == 0
        except AlibabaCloudException:
            return False
    assert poll(works, 5), "new account not usable"
    return api


def create_fields(**over) -> dict:
    f = dict(algorithm="ECC", key_size=256, common_name=f"www-{uuid.uuid4().hex[:8]}.example.com",
             country_code="CN", province="Zhejiang", locality="Hangzhou")
    f.update(over)
    return {k: v for k, v in f.items() if v is not None}


def parsed(csr_pem: str) -> x509.CertificateSigningRequest:
    return x509.load_pem_x509_csr(csr_pem.encode())


def csr_sans(csr: x509.CertificateSigningRequest) -> list[str]:
    try:
        ext = csr.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    except x509.ExtensionNotFound:
        return []
    return [str(v.value) for v in ext]


def attrs(name: x509.Name, oid) -> list[str]:
    return [a.value for a in name.get_attributes_for_oid(oid)]
