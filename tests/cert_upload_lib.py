"""Helpers of test_cert_upload.py: certificates and keys made by openssl (and cryptography for
dates openssl 3.0 cannot set), what `cryptography` reads from them, and the 2020-04-07 SDK by
action name."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from opencas_testlib import cas20200407
from test_issuance import sdk_method

# --------------------------------------------------------------------------
# openssl: keys and certificates made outside opencas
# --------------------------------------------------------------------------

def run(*args: str, input: bytes | None = None) -> bytes:
    r = subprocess.run(list(args), input=input, capture_output=True, timeout=60)
    assert r.returncode == 0, f"{args} exited {r.returncode}: {r.stderr.decode(errors='replace')}"
    return r.stdout


KEYGEN = {
    "RSA": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    "P256": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    "P384": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
    "SM2": ["-algorithm", "SM2"],
}
FAMILY = {"RSA": "RSA", "P256": "ECC", "P384": "ECC", "SM2": "SM2"}
KEY_BITS = {"RSA": 2048, "P256": 256, "P384": 384, "SM2": 256}


class Pki:
    """Makes keys, CAs and leaves with openssl in one directory."""

    def __init__(self, d: Path):
        self.d = d
        self.n = 0

    def path(self, suffix: str) -> Path:
        self.n += 1
        return self.d / f"f{self.n}{suffix}"

    def key(self, alg: str) -> Path:
        p = self.path(".key")
        run("openssl", "genpkey", *KEYGEN[alg], "-out", str(p))
        return p

    def _digest(self, alg: str) -> list[str]:
        return ["-sm3"] if alg == "SM2" else ["-sha256"]

    def cert(self, alg: str, subj: str, *, key: Path | None = None, issuer: tuple[Path, Path] | None = None,
             sans: list[str] | None = None, ca: bool = False, days: int = 365) -> tuple[Path, Path]:
        """(cert, key): self-signed, or signed by issuer=(cert, key)."""
        key = key or self.key(alg)
        ext = self.path(".ext")
        lines = []
        if ca:
            lines += ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign,cRLSign"]
        else:
            lines += ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature,keyEncipherment"]
        if sans:
            lines.append("subjectAltName=" + ",".join(sans))
        lines += ["subjectKeyIdentifier=hash"]
        ext.write_text("[v3]\n" + "\n".join(lines) + "\n")
        csr = self.path(".csr")
        run("openssl", "req", "-new", "-key", str(key), "-subj", subj, *self._digest(alg), "-out", str(csr))
        out = self.path(".crt")
        sign = ["-CA", str(issuer[0]), "-CAkey", str(issuer[1]), "-CAcreateserial",
                "-CAserial", str(self.path(".srl"))] if issuer else ["-signkey", str(key)]
        run("openssl", "x509", "-req", "-in", str(csr), *sign, "-days", str(days), *self._digest(alg),
            "-extfile", str(ext), "-extensions", "v3", "-out", str(out))
        return out, key

    def chain(self, alg: str, cn: str, sans: list[str] | None = None, **kw) -> "Bundle":
        """root -> intermediate -> leaf."""
        u = uuid.uuid4().hex[:6]
        root = self.cert(alg, f"/C=CN/O=Upload Test Root {u}/CN=Upload Root {alg} {u}", ca=True, days=3650)
        inter = self.cert(alg, f"/C=CN/O=Upload Test CA/CN=Upload Intermediate {alg} {u}", issuer=root, ca=True,
                          days=1825)
        leaf = self.cert(alg, f"/C=CN/ST=Zhejiang/L=Hangzhou/O=Example Org {u}/OU=Web/CN={cn}", issuer=inter,
                         sans=sans if sans is not None else [f"DNS:{cn}"], **kw)
        return Bundle(alg, leaf[0].read_text(), [inter[0].read_text(), root[0].read_text()], leaf[1], self)


@dataclass
class Bundle:
    alg: str
    leaf_pem: str
    chain_pems: list[str]
    key_path: Path
    pki: Pki

    @property
    def cert_field(self) -> str:
        return self.leaf_pem + "".join(self.chain_pems)

    def key_as(self, fmt: str) -> str:
        """The key as PKCS#8 ('pkcs8'), PKCS#1 ('pkcs1', RSA) or SEC1 ('sec1', EC/SM2) PEM."""
        k = str(self.key_path)
        if fmt == "pkcs8":
            return run("openssl", "pkey", "-in", k).decode()
        if fmt == "pkcs1":
            return run("openssl", "rsa", "-in", k, "-traditional").decode()
        if fmt == "sec1":
            return run("openssl", "ec", "-in", k).decode()
        raise ValueError(fmt)

    @property
    def x509(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.leaf_pem.encode())


def pub_der(key_pem: str) -> bytes:
    """The SubjectPublicKeyInfo of a private key (openssl: cryptography has no SM2)."""
    return run("openssl", "pkey", "-pubout", "-outform", "DER", input=key_pem.encode())


def cert_pub_der(cert_pem: str) -> bytes:
    pem = run("openssl", "x509", "-noout", "-pubkey", input=cert_pem.encode())
    return run("openssl", "pkey", "-pubin", "-outform", "DER", input=pem)


def ders(pem_text: str) -> list[bytes]:
    return [c.public_bytes(serialization.Encoding.DER) for c in x509.load_pem_x509_certificates(pem_text.encode())]


def attr(name: x509.Name, oid) -> str:
    v = name.get_attributes_for_oid(oid)
    return v[0].value if v else ""


def serial_hex(c: x509.Certificate) -> str:
    n = c.serial_number
    return n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big").hex()


def ms(t: dt.datetime) -> int:
    return int(t.timestamp()) * 1000


def sans_of(c: x509.Certificate) -> list[str]:
    try:
        ext = c.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    out = []
    for g in ext:
        out.append(str(g.value))
    return out


# --------------------------------------------------------------------------
# the SDKs
# --------------------------------------------------------------------------

class Api04:
    """The 2020-04-07 SDK by action name; errors come back as (status, code, message)."""

    def __init__(self, server, creds=None):
        from alibabacloud_cas20200407 import models
        self.client = cas20200407(server, creds)
        self.models = models

    def __call__(self, action: str, **fields) -> dict:
        method = getattr(self.client, sdk_method(self.client, action))
        if fields.get("tags") is not None:
            cls = getattr(self.models, f"{action}RequestTags")
            fields["tags"] = [cls(key=k, value=v) for k, v in fields["tags"]]
        resp = method(getattr(self.models, f"{action}Request")(**fields))
        assert resp.status_code == 200
        body = resp.body.to_map()
        assert isinstance(body.get("RequestId"), str) and body["RequestId"], body
        return body

    def error(self, action: str, status: int, code: str, /, **fields):
        from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
        try:
            body = self(action, **fields)
        except AlibabaCloudException as e:
            assert (e.status_code, e.code) == (status, code), \
                f"{action}: expected {status} {code}, got {e.status_code} {e.code}: {e.message}"
            assert "-----BEGIN" not in str(e.message)
            return e
        pytest.fail(f"{action}: expected {status} {code}, got success {json.dumps(body)[:300]}")

    def upload(self, name: str | None = None, **fields) -> int:
        body = self("UploadUserCertificate", name=name or f"up-{uuid.uuid4().hex[:10]}", **fields)
        assert isinstance(body["CertId"], int) and body["CertId"] > 0, body
        assert body["ResourceId"].startswith("cas-upload-"), body
        return body["CertId"]

    def detail(self, cert_id: int, **kw) -> dict:
        return self("GetUserCertificateDetail", cert_id=cert_id, **kw)

    def upload_ids(self, **kw) -> list[int]:
        body = self("ListUserCertificateOrder", order_type="UPLOAD", show_size=1000, **kw)
        return [c["CertificateId"] for c in body["CertificateOrderList"]]

    def store_ids(self, **kw) -> list[int]:
        body = self("ListCertificates", show_size=100, **kw)
        return [c["CertificateId"] for c in body["CertificateList"]]


def expired_bundle(pki: Pki) -> tuple[str, str]:
    """(cert PEM, key PEM): a self-signed P-256 certificate valid in 2020 only (cryptography
    takes absolute dates, openssl 3.0 x509 does not)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"expired-{uuid.uuid4().hex[:6]}.example.com")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc))
            .not_valid_after(dt.datetime(2020, 12, 31, 12, 0, tzinfo=dt.timezone.utc))
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


def check_detail_against_pem(d: dict, b: Bundle):
    """Every field of GetUserCertificateDetail against what cryptography reads from the PEM."""
    c = b.x509
    der = c.public_bytes(serialization.Encoding.DER)
    assert d["Fingerprint"] == hashlib.sha1(der).hexdigest().upper()
    assert d["Sha2"] == d["CertSha2"] == hashlib.sha256(der).hexdigest().upper()
    assert d["SerialNo"] == serial_hex(c)
    assert d["NotBefore"] == ms(c.not_valid_before_utc)
    assert d["NotAfter"] == ms(c.not_valid_after_utc)
    assert d["StartDate"] == c.not_valid_before_utc.date().isoformat()
    assert d["EndDate"] == c.not_valid_after_utc.date().isoformat()
    assert d["Expired"] is False
    assert d["Common"] == attr(c.subject, NameOID.COMMON_NAME)
    assert d["Sans"].split(",") == sans_of(c)
    assert d["Issuer"] == attr(c.issuer, NameOID.COMMON_NAME)
    assert d["OrgName"] == attr(c.subject, NameOID.ORGANIZATION_NAME)
    assert d["Country"] == attr(c.subject, NameOID.COUNTRY_NAME)
    assert d["Province"] == attr(c.subject, NameOID.STATE_OR_PROVINCE_NAME)
    assert d["City"] == attr(c.subject, NameOID.LOCALITY_NAME)
    assert d["Algorithm"] == FAMILY[b.alg]
    assert d["BuyInAliyun"] is False
    assert d["CertIdentifier"] == f"{d['Id']}-cn-hangzhou"
    # the chain comes back whole, leaf first, byte for byte
    assert ders(d["Cert"]) == ders(b.cert_field)
    chain = x509.load_pem_x509_certificates(b.cert_field.encode())
    assert [e["CommonName"] for e in d["CertChain"]] == [attr(x.subject, NameOID.COMMON_NAME) for x in chain]
    assert [e["IssuerCommonName"] for e in d["CertChain"]] == [attr(x.issuer, NameOID.COMMON_NAME) for x in chain]
    assert [e["NotAfter"] for e in d["CertChain"]] == [ms(x.not_valid_after_utc) for x in chain]
    assert [e["NotBefore"] for e in d["CertChain"]] == [ms(x.not_valid_before_utc) for x in chain]
    # the key comes back as PKCS#8 and is the certificate's key
    assert d["Key"].startswith("-----BEGIN PRIVATE KEY-----")
    assert pub_der(d["Key"]) == cert_pub_der(b.leaf_pem)


def sm2_dual(pki: Pki) -> dict:
    u = uuid.uuid4().hex[:6]
    root = pki.cert("SM2", f"/C=CN/O=SM2 Root {u}/CN=SM2 Dual Root {u}", ca=True, days=3650)
    sign = pki.cert("SM2", f"/C=CN/O=Example/CN=sm2-{u}.example.com (sign)", issuer=root,
                    sans=[f"DNS:sm2-{u}.example.com"])
    enc = pki.cert("SM2", f"/C=CN/O=Example/CN=sm2-{u}.example.com (enc)", issuer=root,
                   sans=[f"DNS:sm2-{u}.example.com"])
    return {"sign_cert": sign[0].read_text() + root[0].read_text(), "sign_private_key": sign[1].read_text(),
            "encrypt_cert": enc[0].read_text(), "encrypt_private_key": enc[1].read_text()}
