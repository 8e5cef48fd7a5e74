"""Secrets at rest and in logs. After server-side keys exist (CA keys, issued certificates
with server keys, CreateCsr, an uploaded key) the server is stopped and every file of its
data dir is scanned for key material: PEM headers, each key's PKCS#8 DER and its secret
numbers (EC scalar; RSA d, p, q, dP, dQ, qInv). The CA keys cannot leave through the API,
so the test opens the sealed blobs itself with the master key (HKDF-SHA256 + AES-256-GCM,
the record as associated data): that proves they are sealed, and yields the keys to look
for. Access-key secrets must be sealed too. The server runs at log level trace; its output
must hold no secret: access-key secret, API key, signature values, private keys, the
EncryptedCode password, crypto-op plaintext, the master key."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import sqlite3
import stat
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.x509.oid import NameOID

from opencas_testlib import (
    V_2020_06,
    OpencasServer,
    assert_ok,
    bearer_request,
    new_workdir,
    raw,
    v1_params,
    v3_prepare,
)
from cert_upload_lib import Api04
from test_issuance import IApi

PASSWORD = "Pw,.+-_#42secretZ"
PLAINTEXT = b"crypto-op plaintext 7f3c9a1e-never-log-me"
SIGN_MESSAGE = b"message to sign 2b8d41c0-never-log-me"
CONFIG = {"rate_limit": {"enabled": False}}


# --------------------------------------------------------------------------
# key material: a minimal DER reader, enough for PKCS#8 of RSA, EC and SM2
# --------------------------------------------------------------------------

def tlv(data: bytes, i: int = 0) -> tuple[int, bytes, int]:
    """(tag, value, next offset) of the DER element at i."""
    tag = data[i]
    n = data[i + 1]
    i += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(data[i:i + k], "big")
        i += k
    return tag, data[i:i + n], i + n


def children(value: bytes) -> list[tuple[int, bytes]]:
    out, i = [], 0
    while i < len(value):
        tag, v, i = tlv(value, i)
        out.append((tag, v))
    return out


def secret_numbers(pkcs8_der: bytes) -> list[bytes]:
    """The secret integers of a PKCS#8 key as big-endian bytes without leading zeros."""
    tag, seq, _ = tlv(pkcs8_der)
    assert tag == 0x30
    parts = children(seq)
    inner = parts[2][1]  # privateKey OCTET STRING
    tag, inner_seq, _ = tlv(inner)
    fields = children(inner_seq)
    if len(fields) >= 9:  # RSAPrivateKey: version n e d p q dP dQ qInv
        return [v.lstrip(b"\0") for (_, v) in fields[3:9]]
    # ECPrivateKey: version, privateKey OCTET STRING, ...
    assert fields[1][0] == 0x04, fields
    return [fields[1][1]]


def key_der_from_pem(pem: str | bytes, password: bytes | None = None) -> bytes:
    key = serialization.load_pem_private_key(pem.encode() if isinstance(pem, str) else pem, password)
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def unseal(master: bytes, purpose: str, record: str, blob: bytes) -> bytes:
    data_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"opencas-seal-v1",
                    info=purpose.encode()).derive(master)
    assert blob[0] == 1, "sealed blob version"
    return AESGCM(data_key).decrypt(blob[1:13], blob[13:], record.encode())


def needles_of_key(der: bytes) -> dict[str, bytes]:
    """Byte strings that would betray the key if found in a file."""
    out = {"PKCS#8 DER": der, "PKCS#8 base64": base64.b64encode(der)[:64]}
    for i, n in enumerate(secret_numbers(der)):
        assert len(n) >= 16, "a secret number too short to search for"
        out[f"secret number {i}"] = n
        out[f"secret number {i} hex"] = n.hex().encode()
    return out


# --------------------------------------------------------------------------
# the server, run at trace level, and what the test gives it
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def srv():
    old = {k: os.environ.get(k) for k in ("OPENCAS_LOG", "RUST_LOG")}
    os.environ["OPENCAS_LOG"] = "trace"
    os.environ["RUST_LOG"] = "trace"
    try:
        s = OpencasServer(new_workdir("opencas-secrets-"), config=CONFIG, name="secrets").start()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    yield s
    s.stop()


def upload_bundle() -> tuple[str, str, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "secrets-upload.example.com")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("secrets-upload.example.com")]), False)
            .sign(key, hashes.SHA256()))
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), pem, der


def test_no_secret_at_rest_or_in_logs(srv):
    creds = srv.creds
    api = IApi(srv)
    api04 = Api04(srv, creds)  # no check for keys in responses: GetCsrDetail returns one by design
    keys: dict[str, bytes] = {}  # what -> PKCS#8 DER, as the API handed it out
    cas: list[str] = []
    leaves: dict[str, str] = {}
    for alg in ("ECC_256", "RSA_2048", "SM2_256"):
        root = api.root(alg, years=10, common_name=f"Secrets Root {alg} {uuid.uuid4().hex[:6]}")
        sub = api.sub(root["Identifier"], alg, years=5, common_name=f"Secrets Sub {alg} {uuid.uuid4().hex[:6]}")
        cas += [root["Identifier"], sub["Identifier"]]
        for action in ("CreateServerCertificate", "CreateClientCertificate"):
            fields = dict(parent_identifier=sub["Identifier"], days=30, immediately=1,
                          common_name=f"secrets-{uuid.uuid4().hex[:8]}.example.com")
            if action == "CreateServerCertificate":
                fields["algorithm"] = alg
            ident = api(action, **fields)["Identifier"]
            leaves[f"{alg} {action}"] = ident
            if alg != "SM2_256":  # cryptography cannot open SM2 keys; they are found through the seal below
                enc = api("DescribeCertificatePrivateKey", identifier=ident, encrypted_code=PASSWORD)["EncryptedData"]
                keys[f"{alg} {action} key"] = key_der_from_pem(enc, PASSWORD.encode())
    for alg, size in (("ECC", 256), ("RSA", 2048)):
        csr = api04("CreateCsr", algorithm=alg, key_size=size, common_name=f"csr-{uuid.uuid4().hex[:8]}.example.com",
                    country_code="CN", province="Zhejiang", locality="Hangzhou")
        keys[f"CreateCsr {alg} key"] = key_der_from_pem(api04("GetCsrDetail", csr_id=csr["CsrId"])["PrivateKey"])
    up_cert, up_key_pem, up_der = upload_bundle()
    api04("UploadUserCertificate", name=f"secrets-{uuid.uuid4().hex[:8]}", cert=up_cert, key=up_key_pem)
    keys["uploaded key"] = up_der

    # crypto operations with a held key: plaintext and message must not be logged
    rsa_leaf = leaves["RSA_2048 CreateClientCertificate"]
    blob = api04("Encrypt", cert_identifier=rsa_leaf, algorithm="RSAES_OAEP_SHA_256",
                 plaintext=base64.b64encode(PLAINTEXT).decode(), message_type="RAW")["CiphertextBlob"]
    back = api04("Decrypt", cert_identifier=rsa_leaf, algorithm="RSAES_OAEP_SHA_256", ciphertext_blob=blob,
                 message_type="RAW")["Plaintext"]
    assert base64.b64decode(back) == PLAINTEXT
    api04("Sign", cert_identifier=rsa_leaf, signing_algorithm="SHA256withRSA",
          message=base64.b64encode(SIGN_MESSAGE).decode(), message_type="RAW")

    # signed requests whose signature values the test knows
    signatures = []
    p = v1_params(creds["AccessKeyId"], creds["AccessKeySecret"], "DescribeCACertificateCount", V_2020_06)
    signatures.append(p["Signature"])
    from opencas_testlib import encode_pairs
    assert_ok(raw(srv, "GET", "/?" + encode_pairs(p.items())))
    target, headers, body = v3_prepare(srv, creds, "DescribeCACertificateCount", V_2020_06)
    signatures.append(headers["Authorization"].rsplit("Signature=", 1)[1])
    assert_ok(raw(srv, "POST", target, headers=headers, body=body or None))
    # a wrong signature is refused (and must not be echoed into the log either)
    bad = v1_params(creds["AccessKeyId"], "not-the-secret", "DescribeCACertificateCount", V_2020_06)
    signatures.append(bad["Signature"])
    assert raw(srv, "GET", "/?" + encode_pairs(bad.items())).status_code == 400
    assert_ok(bearer_request(srv, creds["ApiKey"], "DescribeCACertificateCount", V_2020_06))

    assert srv.terminate() == 0
    data = srv.data_dir
    master = bytes.fromhex((data / "master.key").read_text().strip())
    assert stat.S_IMODE((data / "master.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((data / "credentials.json").stat().st_mode) & 0o077 == 0, "credentials.json is readable by others"

    # open every sealed blob with the master key: this is how the CA keys are found
    db = sqlite3.connect(f"file:{data / 'opencas.db'}?mode=ro", uri=True)
    try:
        sealed = [(f"ca:{a}:{i}", b, f"CA {i}") for a, i, b in
                  db.execute("SELECT account_id, identifier, key_sealed FROM cas WHERE key_sealed IS NOT NULL")]
        sealed += [(f"cert:{a}:{i}", b, f"certificate {i}") for a, i, b in
                   db.execute("SELECT account_id, identifier, key_sealed FROM certificates "
                              "WHERE key_sealed IS NOT NULL")]
        sealed += [(f"csr:{a}:{i}", b, f"CSR {i}") for a, i, b in
                   db.execute("SELECT account_id, id, key_sealed FROM csrs WHERE key_sealed IS NOT NULL")]
        secrets_rows = db.execute("SELECT access_key_id, secret_sealed FROM access_keys").fetchall()
        columns = {r[1] for r in db.execute("PRAGMA table_info(access_keys)")}
        api_key_hash = db.execute("SELECT api_key_hash FROM accounts WHERE api_key_hash IS NOT NULL").fetchall()
    finally:
        db.close()
    opened = {what: unseal(master, "private-key", record, bytes(blob)) for record, blob, what in sealed}
    ca_keys = [der for what, der in opened.items() if what.startswith("CA ")]
    assert len(ca_keys) >= len(cas), "every CA has a sealed key"
    for what, der in keys.items():
        assert der in opened.values(), f"{what}: the key the API returned is not the one sealed in the store"
    all_keys = dict(keys)
    all_keys.update(opened)
    assert {"access_key_id", "secret_sealed"} <= columns and not columns & {"secret", "access_key_secret"}, columns
    ours = [bytes(b) for k, b in secrets_rows if k == creds["AccessKeyId"]]
    assert len(ours) == 1
    assert unseal(master, "access-key-secret", f"access_key:{creds['AccessKeyId']}", ours[0]) \
        == creds["AccessKeySecret"].encode()
    assert (hashlib.sha256(creds["ApiKey"].encode()).hexdigest(),) in api_key_hash, "the API key is stored hashed"

    # scan every file of the data dir (database, WAL, SHM, anything else)
    files = [p for p in data.rglob("*") if p.is_file()]
    assert any(p.name == "opencas.db" for p in files), files
    for path in files:
        content = path.read_bytes()
        assert b"PRIVATE KEY" not in content, f"a PEM private key header in {path.name}"
        for what, der in all_keys.items():
            for kind, needle in needles_of_key(der).items():
                assert needle not in content, f"{what}: {kind} in clear in {path.name}"
        if path.name != "credentials.json":  # the operator's copy of the initial credentials, mode 0600
            for what in ("AccessKeySecret", "ApiKey"):
                assert creds[what].encode() not in content, f"{what} in clear in {path.name}"

    # the logs, at trace level
    log = srv.stderr_path.read_bytes() + srv.stdout_path.read_bytes()
    # the filter is `trace`; what the binary emits at its most verbose is DEBUG (every SQL
    # statement from sqlx) and, from a few places, TRACE
    assert log.count(b" DEBUG ") > 50, "the server did not log verbosely: the scan would prove nothing"
    forbidden = {
        "AccessKeySecret": creds["AccessKeySecret"].encode(),
        "ApiKey": creds["ApiKey"].encode(),
        "master key": master.hex().encode(),
        "EncryptedCode password": PASSWORD.encode(),
        "crypto plaintext": PLAINTEXT,
        "crypto plaintext base64": base64.b64encode(PLAINTEXT),
        "signed message": SIGN_MESSAGE,
        "signed message base64": base64.b64encode(SIGN_MESSAGE),
        "PEM private key header": b"PRIVATE KEY-----",
    }
    for i, sig in enumerate(signatures):
        forbidden[f"signature value {i}"] = sig.encode()
        forbidden[f"signature value {i} (URL-encoded)"] = encode_pairs([("s", sig)])[2:].encode()
    for what, needle in forbidden.items():
        assert needle not in log, f"{what} appears in the server's log"
    for what, der in all_keys.items():
        for kind, needle in needles_of_key(der).items():
            assert needle not in log, f"{what}: {kind} appears in the server's log"
