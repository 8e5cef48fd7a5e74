"""Crypto operations with keys the service holds (API 2020-04-07 Encrypt / Decrypt / Sign /
Verify) through the official SDK, checked both ways against independent implementations:
`openssl pkeyutl` / `openssl dgst` / `openssl cms` and `cryptography` for RSA and ECDSA, and
`gmssl` (pure Python) for SM2PKE and SM3withSM2. Certificates come from 2020-06-30 issuance
(root → sub → server/client certificate with a generated key, or from a CSR: no key)."""
from __future__ import annotations

import base64
import hashlib
import json
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from gmssl import sm2 as gm_sm2
from gmssl import sm3 as gm_sm3

from csr_testlib import CsrApi
from opencas_testlib import acs_client, common_request
from test_ca_hierarchy import openssl_ok, run
from test_issuance import IApi, Keys, decrypt_key

ALGS = ("RSA_2048", "ECC_256", "SM2_256")
DISTID = "1234567812345678"
SIGNING = {"RSA_2048": ("SHA256withRSA", "SHA256withRSA/PSS"), "ECC_256": ("SHA256withECDSA",),
           "SM2_256": ("SM3withSM2",)}
# OAEP: k - 2*hLen - 2 bytes for a 2048-bit key
OAEP_MAX = {"RSAES_OAEP_SHA_1": 256 - 2 * 20 - 2, "RSAES_OAEP_SHA_256": 256 - 2 * 32 - 2}
OAEP_MD = {"RSAES_OAEP_SHA_1": "sha1", "RSAES_OAEP_SHA_256": "sha256"}
OAEP_HASH = {"RSAES_OAEP_SHA_1": hashes.SHA1, "RSAES_OAEP_SHA_256": hashes.SHA256}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


@dataclass
class Leaf:
    alg: str
    identifier: str
    custom: str
    cert_pem: Path
    key_pem: Path
    pub_pem: Path
    root_pem: Path

    def pub_key(self):
        return serialization.load_pem_public_key(self.pub_pem.read_bytes())

    def priv_key(self):
        return serialization.load_pem_private_key(self.key_pem.read_bytes(), None)

    def sm2_hex(self) -> tuple[str, str]:
        """(private d, public x‖y) as gmssl wants them: hex, no 04 prefix."""
        text = openssl_ok(["pkey", "-in", str(self.key_pem), "-text", "-noout"])
        blocks = re.findall(r"(priv|pub):\n((?:\s+[0-9a-f:]+\n)+)", text)
        val = {k: re.sub(r"[\s:]", "", v) for k, v in blocks}
        d = val["priv"][-64:].rjust(64, "0")
        pub = val["pub"]
        assert pub.startswith("04") and len(pub) == 130, pub
        return d, pub[2:]


@dataclass
class World:
    api: IApi
    ops: IApi
    tmp: Path
    leaves: dict[str, Leaf]
    csr_leaf: str
    revoked: str
    subs: dict[str, str]


@pytest.fixture(scope="module")
def world(server, tmp_path_factory) -> World:
    tmp = tmp_path_factory.mktemp("cryptoops")
    api, ops = IApi(server), IApi(server, version="2020-04-07")
    leaves, subs = {}, {}
    for alg in ALGS:
        root = api.root(alg, years=10, common_name=f"Ops Root {alg} {uuid.uuid4().hex[:6]}")
        sub = api.sub(root["Identifier"], alg, years=5, common_name=f"Ops Sub {alg} {uuid.uuid4().hex[:6]}")
        subs[alg] = sub["Identifier"]
        custom = f"ops-{alg.lower()}-{uuid.uuid4().hex[:8]}"
        body = api("CreateClientCertificate", parent_identifier=sub["Identifier"], algorithm=alg, days=30,
                   common_name=f"ops-{alg}", custom_identifier=custom, immediately=1)
        ident = body["Identifier"]
        d = tmp / alg
        d.mkdir()
        (d / "root.pem").write_text(root["Certificate"])
        (d / "cert.pem").write_text(body["X509Certificate"])
        key = decrypt_key(api, ident, d)
        openssl_ok(["pkey", "-in", str(key), "-pubout", "-out", str(d / "pub.pem")])
        leaves[alg] = Leaf(alg, ident, custom, d / "cert.pem", key, d / "pub.pem", d / "root.pem")
    (tmp / "keys").mkdir()
    csr = Keys(tmp / "keys").csr("ECC_256", "ops-from-csr.example.com")
    parent = subs["ECC_256"]
    from_csr = api("CreateServerCertificateWithCsr", parent_identifier=parent, csr=csr, days=30, immediately=1)
    revoked = api("CreateClientCertificate", parent_identifier=parent, algorithm="ECC_256", days=30,
                  common_name="ops-revoked", immediately=1)["Identifier"]
    api("CreateRevokeClientCertificate", identifier=revoked)
    return World(api, ops, tmp, leaves, from_csr["Identifier"], revoked, subs)


def encrypt(w: World, leaf: Leaf, alg: str, data: bytes, **kw) -> bytes:
    body = w.ops("Encrypt", cert_identifier=leaf.identifier, algorithm=alg, plaintext=b64(data),
                 message_type="Base64", **kw)
    assert body["CertIdentifier"] == leaf.identifier, body
    return unb64(body["CiphertextBlob"])


def decrypt(w: World, leaf: Leaf, alg: str, blob: bytes, **kw) -> bytes:
    body = w.ops("Decrypt", cert_identifier=leaf.identifier, algorithm=alg, ciphertext_blob=b64(blob), **kw)
    assert body["CertIdentifier"] == leaf.identifier, body
    return unb64(body["Plaintext"])


def sign(w: World, ident: str, scheme: str, message: bytes, message_type: str = "BASE64", **kw) -> bytes:
    msg = message.decode() if message_type == "RAW" else b64(message)
    body = w.ops("Sign", cert_identifier=ident, signing_algorithm=scheme, message=msg, message_type=message_type,
                 **kw)
    return unb64(body["Signature"])


def verify(w: World, ident: str, scheme: str, message: bytes, sig: bytes, message_type: str = "RAW") -> bool:
    body = w.ops("Verify", cert_identifier=ident, signing_algorithm=scheme, message=b64(message),
                 message_type=message_type, signature_value=b64(sig))
    assert isinstance(body["SignatureValid"], bool), body
    return body["SignatureValid"]


def write(w: World, data: bytes) -> Path:
    p = w.tmp / uuid.uuid4().hex
    p.write_bytes(data)
    return p


def openssl_dgst_args(scheme: str) -> list[str]:
    if scheme == "SM3withSM2":
        return ["-sm3", "-sigopt", f"distid:{DISTID}"]
    if scheme == "SHA256withRSA/PSS":
        return ["-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:-1"]
    return ["-sha256"]


def openssl_verifies(w: World, leaf: Leaf, scheme: str, msg: bytes, sig: bytes) -> bool:
    r = run(["openssl", "dgst", *openssl_dgst_args(scheme), "-verify", str(leaf.pub_pem), "-signature",
             str(write(w, sig)), str(write(w, msg))])
    return r.returncode == 0 and b"Verified OK" in r.stdout


def openssl_sign(w: World, leaf: Leaf, scheme: str, msg: bytes) -> bytes:
    out = w.tmp / uuid.uuid4().hex
    openssl_ok(["dgst", *openssl_dgst_args(scheme), "-sign", str(leaf.key_pem), "-out", str(out),
                str(write(w, msg))])
    return out.read_bytes()


def sm3(data: bytes) -> bytes:
    return bytes.fromhex(gm_sm3.sm3_hash(list(data)))


def sm2_e(leaf: Leaf, msg: bytes) -> bytes:
    """SM3(Z‖M), Z by hand from GM/T 0003.2 with the default distinguishing ID."""
    _, pub = leaf.sm2_hex()
    t = gm_sm2.default_ecc_table
    z = sm3(bytes.fromhex("0080" + DISTID.encode().hex() + t["a"] + t["b"] + t["g"] + pub))
    return sm3(z + msg)


def gmssl(leaf: Leaf, **kw) -> gm_sm2.CryptSM2:
    d, pub = leaf.sm2_hex()
    return gm_sm2.CryptSM2(private_key=d, public_key=pub, **kw)


# --------------------------------------------------------------------------
# Encrypt / Decrypt
# --------------------------------------------------------------------------

@pytest.mark.parametrize("alg", list(OAEP_MAX))
def test_oaep_interop_both_ways(world, alg):
    leaf = world.leaves["RSA_2048"]
    n = OAEP_MAX[alg]
    msg = bytes(range(256))[:n]
    md = OAEP_MD[alg]
    pad = padding.OAEP(mgf=padding.MGF1(OAEP_HASH[alg]()), algorithm=OAEP_HASH[alg](), label=None)
    # service → openssl and cryptography, at the exact length limit
    blob = encrypt(world, leaf, alg, msg)
    assert len(blob) == 256
    assert leaf.priv_key().decrypt(blob, pad) == msg
    out = run(["openssl", "pkeyutl", "-decrypt", "-inkey", str(leaf.key_pem), "-pkeyopt", "rsa_padding_mode:oaep",
               "-pkeyopt", f"rsa_oaep_md:{md}", "-pkeyopt", f"rsa_mgf1_md:{md}", "-in", str(write(world, blob))])
    assert out.returncode == 0 and out.stdout == msg, out.stderr
    # openssl and cryptography → service
    enc = run(["openssl", "pkeyutl", "-encrypt", "-pubin", "-inkey", str(leaf.pub_pem), "-pkeyopt",
               "rsa_padding_mode:oaep", "-pkeyopt", f"rsa_oaep_md:{md}", "-pkeyopt", f"rsa_mgf1_md:{md}",
               "-in", str(write(world, msg))])
    assert enc.returncode == 0, enc.stderr
    assert decrypt(world, leaf, alg, enc.stdout) == msg
    assert decrypt(world, leaf, alg, leaf.pub_key().encrypt(msg, pad)) == msg
    # one byte over the limit
    e = world.ops.error("Encrypt", 400, "InvalidParameter.Plaintext", cert_identifier=leaf.identifier,
                        algorithm=alg, plaintext=b64(msg + b"x"), message_type="Base64")
    assert str(n) in e.message
    # the other OAEP hash does not decrypt it
    other = next(a for a in OAEP_MAX if a != alg)
    world.ops.error("Decrypt", 400, "InvalidParameter.CiphertextBlob", cert_identifier=leaf.identifier,
                    algorithm=other, ciphertext_blob=b64(blob))


def test_sm2pke_interop_with_gmssl(world):
    leaf = world.leaves["SM2_256"]
    msg = "国密 SM2 public-key encryption ✓".encode()
    blob = encrypt(world, leaf, "SM2PKE", msg)
    # GM/T 0003.4: C1 = 04‖x‖y, C3 (32 bytes), C2 as long as the message
    assert blob[0] == 0x04 and len(blob) == 65 + 32 + len(msg)
    g = gmssl(leaf, mode=1)  # mode 1 = C1C3C2; gmssl's C1 has no 04 prefix
    assert g.decrypt(blob[1:]) == msg
    # gmssl does not check C3; check it against its definition SM3(x2‖M‖y2) through gmssl's own KDF
    assert gmssl(leaf, mode=0).decrypt(blob[1:65] + blob[97:] + blob[65:97]) == msg
    theirs = g.encrypt(msg)
    assert decrypt(world, leaf, "SM2PKE", theirs) == msg
    assert decrypt(world, leaf, "SM2PKE", b"\x04" + theirs) == msg
    # a tampered C3 is refused (the service checks the hash gmssl skips)
    bad = bytearray(b"\x04" + theirs)
    bad[70] ^= 1
    world.ops.error("Decrypt", 400, "InvalidParameter.CiphertextBlob", cert_identifier=leaf.identifier,
                    algorithm="SM2PKE", ciphertext_blob=b64(bytes(bad)))


def test_encrypt_message_types(world):
    leaf = world.leaves["RSA_2048"]
    text = "plain text, ünïcode"
    body = world.ops("Encrypt", cert_identifier=leaf.identifier, algorithm="RSAES_OAEP_SHA_256", plaintext=text,
                     message_type="RAW")
    blob = body["CiphertextBlob"]
    pad = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    assert leaf.priv_key().decrypt(unb64(blob), pad) == text.encode()
    # RAW is Encrypt's default
    body = world.ops("Encrypt", cert_identifier=leaf.identifier, algorithm="RSAES_OAEP_SHA_256", plaintext=text)
    assert leaf.priv_key().decrypt(unb64(body["CiphertextBlob"]), pad) == text.encode()
    # Decrypt: RAW answers text, Base64 (the default) answers Base64
    raw = world.ops("Decrypt", cert_identifier=leaf.identifier, algorithm="RSAES_OAEP_SHA_256",
                    ciphertext_blob=blob, message_type="RAW")
    assert raw["Plaintext"] == text
    dflt = world.ops("Decrypt", cert_identifier=leaf.identifier, algorithm="RSAES_OAEP_SHA_256",
                     ciphertext_blob=blob)
    assert unb64(dflt["Plaintext"]) == text.encode()
    # non-UTF-8 plaintext cannot be answered as RAW
    binary = leaf.pub_key().encrypt(b"\xff\xfe\x00binary", pad)
    world.ops.error("Decrypt", 400, "InvalidParameter.MessageType", cert_identifier=leaf.identifier,
                    algorithm="RSAES_OAEP_SHA_256", ciphertext_blob=b64(binary), message_type="RAW")
    assert decrypt(world, leaf, "RSAES_OAEP_SHA_256", binary) == b"\xff\xfe\x00binary"
    # invalid Base64 and an unknown MessageType
    world.ops.error("Encrypt", 400, "InvalidParameter.Plaintext", cert_identifier=leaf.identifier,
                    algorithm="RSAES_OAEP_SHA_256", plaintext="not*base64!", message_type="Base64")
    world.ops.error("Decrypt", 400, "InvalidParameter.CiphertextBlob", cert_identifier=leaf.identifier,
                    algorithm="RSAES_OAEP_SHA_256", ciphertext_blob="%%%")
    world.ops.error("Encrypt", 400, "InvalidParameter.MessageType", cert_identifier=leaf.identifier,
                    algorithm="RSAES_OAEP_SHA_256", plaintext="x", message_type="HEX")


def test_encrypt_algorithm_must_fit_key(world):
    rsa_leaf, ecc, sm2 = (world.leaves[a] for a in ALGS)
    for leaf, alg in ((rsa_leaf, "SM2PKE"), (ecc, "SM2PKE"), (ecc, "RSAES_OAEP_SHA_1"), (sm2, "RSAES_OAEP_SHA_256")):
        world.ops.error("Encrypt", 400, "InvalidParameter.Algorithm", cert_identifier=leaf.identifier, algorithm=alg,
                        plaintext="abc")
        world.ops.error("Decrypt", 400, "InvalidParameter.Algorithm", cert_identifier=leaf.identifier, algorithm=alg,
                        ciphertext_blob=b64(b"x" * 256))
    world.ops.error("Encrypt", 400, "InvalidParameter.Algorithm", cert_identifier=rsa_leaf.identifier,
                    algorithm="RSAES_PKCS1_V1_5", plaintext="abc")
    world.ops.error("Encrypt", 400, "MissingParameter.Algorithm", cert_identifier=rsa_leaf.identifier,
                    plaintext="abc")


# --------------------------------------------------------------------------
# Sign / Verify
# --------------------------------------------------------------------------

def crypto_verifies(leaf: Leaf, scheme: str, msg: bytes, sig: bytes) -> bool:
    key = leaf.pub_key()
    try:
        if scheme == "SHA256withECDSA":
            key.verify(sig, msg, ec.ECDSA(hashes.SHA256()))
        elif scheme == "SHA256withRSA":
            key.verify(sig, msg, padding.PKCS1v15(), hashes.SHA256())
        else:
            key.verify(sig, msg, padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.AUTO), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


SCHEMES = [(alg, s) for alg, ss in SIGNING.items() for s in ss]


@pytest.mark.parametrize("alg,scheme", SCHEMES)
def test_signatures_interop_both_ways(world, alg, scheme):
    leaf = world.leaves[alg]
    msg = f"message to sign {uuid.uuid4()} ✓".encode()
    for mt in ("RAW", "BASE64"):
        sig = sign(world, leaf.identifier, scheme, msg, mt)
        assert openssl_verifies(world, leaf, scheme, msg, sig), (scheme, mt)
        assert not openssl_verifies(world, leaf, scheme, msg + b"!", sig)
        if alg != "SM2_256":
            assert crypto_verifies(leaf, scheme, msg, sig)
        assert verify(world, leaf.identifier, scheme, msg, sig)
        assert not verify(world, leaf.identifier, scheme, msg + b"!", sig)
    # openssl's and cryptography's signatures, verified by the service
    theirs = openssl_sign(world, leaf, scheme, msg)
    assert verify(world, leaf.identifier, scheme, msg, theirs)
    assert not verify(world, leaf.identifier, scheme, b"other", theirs)
    if alg == "RSA_2048":
        pad = padding.PKCS1v15() if scheme == "SHA256withRSA" else padding.PSS(padding.MGF1(hashes.SHA256()), 32)
        assert verify(world, leaf.identifier, scheme, msg, leaf.priv_key().sign(msg, pad, hashes.SHA256()))
    elif alg == "ECC_256":
        assert verify(world, leaf.identifier, scheme, msg, leaf.priv_key().sign(msg, ec.ECDSA(hashes.SHA256())))


@pytest.mark.parametrize("alg,scheme", SCHEMES)
def test_digest_inputs(world, alg, scheme):
    leaf = world.leaves[alg]
    msg = f"digest input {uuid.uuid4()}".encode()
    digest = sm2_e(leaf, msg) if alg == "SM2_256" else hashlib.sha256(msg).digest()
    sig = sign(world, leaf.identifier, scheme, digest, "DIGEST")
    assert openssl_verifies(world, leaf, scheme, msg, sig)
    assert verify(world, leaf.identifier, scheme, digest, sig, "DIGEST")
    assert verify(world, leaf.identifier, scheme, msg, sig, "RAW")
    assert not verify(world, leaf.identifier, scheme, hashlib.sha256(b"x").digest(), sig, "DIGEST")
    for mt in ("DIGEST",):
        world.ops.error("Sign", 400, "InvalidParameter.Message", cert_identifier=leaf.identifier,
                        signing_algorithm=scheme, message=b64(digest[:20]), message_type=mt)


def test_sm2_signatures_with_gmssl(world):
    leaf = world.leaves["SM2_256"]
    msg = b"SM3withSM2 through gmssl"
    g = gmssl(leaf, asn1=True)
    theirs = bytes.fromhex(g.sign_with_sm3(msg))
    assert verify(world, leaf.identifier, "SM3withSM2", msg, theirs)
    assert verify(world, leaf.identifier, "SM3withSM2", sm2_e(leaf, msg), theirs, "DIGEST")
    ours = sign(world, leaf.identifier, "SM3withSM2", msg)
    assert g.verify_with_sm3(ours.hex(), msg)
    assert not g.verify_with_sm3(ours.hex(), msg + b"?")


def test_pkcs7_detached_signature(world):
    leaf = world.leaves["RSA_2048"]
    msg = f"CMS content {uuid.uuid4()}\n".encode()
    for mt, given in (("RAW", msg), ("DIGEST", hashlib.sha256(msg).digest())):
        p7 = sign(world, leaf.identifier, "SHA256withRSA/P7", given, mt)
        argv = ["cms", "-verify", "-binary", "-inform", "DER", "-in", str(write(world, p7)), "-content",
                str(write(world, msg)), "-CAfile", str(leaf.root_pem), "-purpose", "any", "-out", "/dev/null"]
        openssl_ok(argv)
        argv[argv.index("-content") + 1] = str(write(world, msg + b"tampered"))
        assert run(["openssl", *argv]).returncode != 0
    for alg in ("ECC_256", "SM2_256"):
        world.ops.error("Sign", 400, "InvalidParameter.SigningAlgorithm",
                        cert_identifier=world.leaves[alg].identifier, signing_algorithm="SHA256withRSA/P7",
                        message="x", message_type="RAW")
    world.ops.error("Verify", 400, "InvalidParameter.SigningAlgorithm", cert_identifier=leaf.identifier,
                    signing_algorithm="SHA256withRSA/P7", message=b64(msg), message_type="RAW",
                    signature_value=b64(b"x"))


def test_signing_refusals(world):
    rsa_leaf, ecc, sm2 = (world.leaves[a] for a in ALGS)
    for leaf, scheme in ((rsa_leaf, "SHA256withECDSA"), (rsa_leaf, "SM3withSM2"), (ecc, "SHA256withRSA"),
                         (ecc, "SM3withSM2"), (sm2, "SHA256withECDSA"), (sm2, "SHA256withRSA/PSS")):
        world.ops.error("Sign", 400, "InvalidParameter.SigningAlgorithm", cert_identifier=leaf.identifier,
                        signing_algorithm=scheme, message="m", message_type="RAW")
        world.ops.error("Verify", 400, "InvalidParameter.SigningAlgorithm", cert_identifier=leaf.identifier,
                        signing_algorithm=scheme, message=b64(b"m"), message_type="RAW", signature_value=b64(b"s"))
    base = dict(cert_identifier=ecc.identifier, signing_algorithm="SHA256withECDSA")
    world.ops.error("Sign", 400, "InvalidParameter.SigningAlgorithm", **base | {"signing_algorithm": "MD5withRSA"},
                    message="m")
    world.ops.error("Sign", 400, "InvalidParameter.MessageType", **base, message="m", message_type="BLIND")
    world.ops.error("Sign", 400, "InvalidParameter.Message", **base, message="***", message_type="BASE64")
    world.ops.error("Sign", 400, "InvalidParameter.Message", **base, message="a" * 4097, message_type="RAW")
    world.ops.error("Sign", 400, "MissingParameter.Message", **base, message_type="RAW")
    # Verify's Message is Base64 even when MessageType is RAW
    world.ops.error("Verify", 400, "InvalidParameter.Message", **base, message="not base64!", message_type="RAW",
                    signature_value=b64(b"s"))
    world.ops.error("Verify", 400, "InvalidParameter.SignatureValue", **base, message=b64(b"m"),
                    message_type="RAW", signature_value="***")
    assert not verify(world, ecc.identifier, "SHA256withECDSA", b"m", b"\x30\x03garbage")


# --------------------------------------------------------------------------
# which key: identifiers, status, ownership
# --------------------------------------------------------------------------

def no_key(w: World, action: str, **fields):
    """NotFound.PrivateKey 404; its message rightly says "private key", which IApi.error's
    leak check refuses, so check for key material only."""
    from alibabacloud_tea_openapi.exceptions import AlibabaCloudException
    try:
        body = w.ops(action, **fields)
    except AlibabaCloudException as e:
        assert (e.status_code, e.code) == (404, "NotFound.PrivateKey"), (e.status_code, e.code, e.message)
        assert "-----BEGIN" not in str(e.message) + json.dumps(e.data or {}, default=str), e
        return
    pytest.fail(f"{action}: expected HTTP 404 NotFound.PrivateKey, got {body}")


def test_key_lookup_refusals(world, server):
    ecc = world.leaves["ECC_256"]
    sign_args = dict(signing_algorithm="SHA256withECDSA", message="m", message_type="RAW")
    world.ops.error("Sign", 400, "MissingParameter.CertIdentifier", **sign_args)
    world.ops.error("Encrypt", 400, "MissingParameter.CertIdentifier", algorithm="SM2PKE", plaintext="x")
    ghost = uuid.uuid4().hex
    world.ops.error("Sign", 404, "NotFound.Certificate", cert_identifier=ghost, **sign_args)
    world.ops.error("Sign", 404, "NotFound.Certificate", custom_identifier="no-such-custom", **sign_args)
    # CustomIdentifier finds the key
    for alg, leaf in world.leaves.items():
        scheme = SIGNING[alg][0]
        sig = unb64(world.ops("Sign", custom_identifier=leaf.custom, signing_algorithm=scheme, message="hi",
                              message_type="RAW")["Signature"])
        assert openssl_verifies(world, leaf, scheme, b"hi", sig)
    # a warehouse that does not hold the certificate
    world.ops.error("Sign", 404, "NotFound.Certificate", cert_identifier=ecc.identifier, warehouse_id=987654,
                    **sign_args)
    # a certificate from a CSR: no private key, but public-key operations work
    no_key(world, "Sign", cert_identifier=world.csr_leaf, **sign_args)
    no_key(world, "Decrypt", cert_identifier=world.csr_leaf, algorithm="SM2PKE", ciphertext_blob=b64(b"x" * 120))
    assert not verify(world, world.csr_leaf, "SHA256withECDSA", b"m", b"\x30\x00")
    # a revoked certificate
    world.ops.error("Sign", 400, "InvalidStatus.Certificate", cert_identifier=world.revoked, **sign_args)
    world.ops.error("Verify", 400, "InvalidStatus.Certificate", cert_identifier=world.revoked,
                    signing_algorithm="SHA256withECDSA", message=b64(b"m"), signature_value=b64(b"s"))
    # someone else's certificate
    other = server.create_account(f"ops-{uuid.uuid4().hex[:8]}")
    stranger = IApi(server, other, version="2020-04-07")
    stranger.error("Sign", 404, "NotFound.Certificate", cert_identifier=ecc.identifier, **sign_args)
    stranger.error("Sign", 404, "NotFound.Certificate", custom_identifier=ecc.custom, **sign_args)
    stranger.error("Encrypt", 404, "NotFound.Certificate", cert_identifier=world.leaves["RSA_2048"].identifier,
                   algorithm="RSAES_OAEP_SHA_1", plaintext="x")


def test_expired_certificate_is_refused(world):
    # BeforeTime/AfterTime (unix seconds) make a certificate valid for a few seconds only
    now = int(time.time())
    body = world.api("CreateClientCertificate", parent_identifier=world.subs["ECC_256"], algorithm="ECC_256",
                     common_name="ops-short-lived", before_time=now - 1, after_time=now + 3, immediately=1)
    ident = body["Identifier"]
    args = dict(cert_identifier=ident, signing_algorithm="SHA256withECDSA", message="m", message_type="RAW")
    assert world.ops("Sign", **args)["Signature"]
    time.sleep(max(0.0, now + 4.5 - time.time()))
    world.ops.error("Sign", 400, "InvalidStatus.Certificate", **args)
    world.ops.error("Verify", 400, "InvalidStatus.Certificate", cert_identifier=ident,
                    signing_algorithm="SHA256withECDSA", message=b64(b"m"), signature_value=b64(b"s"))
    world.ops.error("Encrypt", 400, "InvalidStatus.Certificate", cert_identifier=ident, algorithm="SM2PKE",
                    plaintext="x")


def test_sign_with_signature_v1(world, server):
    leaf = world.leaves["ECC_256"]
    client = acs_client(server)
    req = common_request("Sign", "2020-04-07", {"CertIdentifier": leaf.identifier,
                                                "SigningAlgorithm": "SHA256withECDSA", "Message": "v1 message",
                                                "MessageType": "RAW"}, method="POST")
    body = json.loads(client.do_action_with_exception(req))
    assert openssl_verifies(world, leaf, "SHA256withECDSA", b"v1 message", unb64(body["Signature"]))


def test_cached_key_follows_revocation_and_deletion(world):
    """The service caches parsed keys; revocation and deletion still take effect at once."""
    ident = world.api("CreateClientCertificate", parent_identifier=world.subs["RSA_2048"], algorithm="RSA_2048",
                      common_name="ops-cache", days=30, immediately=1)["Identifier"]
    args = dict(cert_identifier=ident, signing_algorithm="SHA256withRSA", message="m", message_type="RAW")
    assert world.ops("Sign", **args)["Signature"]
    assert world.ops("Sign", **args)["Signature"]
    world.api("CreateRevokeClientCertificate", identifier=ident)
    world.ops.error("Sign", 400, "InvalidStatus.Certificate", **args)
    # a certificate is deleted only once revoked
    world.api("DeleteClientCertificate", identifier=ident)
    world.ops.error("Sign", 404, "NotFound.Certificate", **args)
    world.ops.error("Decrypt", 404, "NotFound.Certificate", cert_identifier=ident, algorithm="RSAES_OAEP_SHA_256",
                    ciphertext_blob=b64(b"x" * 256))


def test_key_of_a_csr_made_here(world, server):
    """A certificate issued from a CSR whose key the service holds (CreateCsr, or UploadCsr
    completed by UpdateCsr) signs and decrypts with that key, for as long as the CSR exists."""
    csrs = CsrApi(server, server.creds)  # IApi refuses key material in responses; GetCsrDetail returns it
    made = csrs("CreateCsr", algorithm="ECC", key_size=256, common_name="ops-csr-key.example.com",
                     country_code="CN", province="Zhejiang", locality="Hangzhou")
    detail = csrs("GetCsrDetail", csr_id=made["CsrId"])
    cert = world.api("CreateServerCertificateWithCsr", parent_identifier=world.subs["ECC_256"],
                     csr=detail["Csr"], days=30, immediately=1)
    ident = cert["Identifier"]
    pub = serialization.load_pem_private_key(detail["PrivateKey"].encode(), None).public_key()
    msg = b"signed with the CSR's key"
    sig = sign(world, ident, "SHA256withECDSA", msg)
    pub.verify(sig, msg, ec.ECDSA(hashes.SHA256()))
    assert verify(world, ident, "SHA256withECDSA", msg, sig)
    # DeleteCsr takes the key away at once (it is not cached under the certificate)
    csrs("DeleteCsr", csr_id=made["CsrId"])
    no_key(world, "Sign", cert_identifier=ident, signing_algorithm="SHA256withECDSA", message="m",
           message_type="RAW")

    # a CSR uploaded without its key gains one through UpdateCsr
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_pem = rsa_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
    key_file = write(world, key_pem.encode())
    csr_file = world.tmp / f"{uuid.uuid4().hex}.csr"
    openssl_ok(["req", "-new", "-key", str(key_file), "-subj", "/CN=ops-upload-csr.example.com", "-out", str(csr_file)])
    csr_pem = csr_file.read_text()
    uploaded = csrs("UploadCsr", csr=csr_pem)
    root_sub = world.subs["RSA_2048"]
    ident = world.api("CreateClientCertificateWithCsr", parent_identifier=root_sub, csr=csr_pem, days=30,
                      immediately=1)["Identifier"]
    no_key(world, "Decrypt", cert_identifier=ident, algorithm="RSAES_OAEP_SHA_256", ciphertext_blob=b64(b"x" * 256))
    csrs("UpdateCsr", csr_id=uploaded["CsrId"], key=key_pem)
    blob = rsa_key.public_key().encrypt(b"for the CSR key", padding.OAEP(padding.MGF1(hashes.SHA256()),
                                                                          hashes.SHA256(), None))
    assert decrypt(world, Leaf("RSA_2048", ident, "", Path(), Path(), Path(), Path()), "RSAES_OAEP_SHA_256",
                   blob) == b"for the CSR key"
    csrs("DeleteCsr", csr_id=uploaded["CsrId"])
    # another account's CSR with the same key does not lend it: keys are looked up per account
    other = server.create_account(f"ops-{uuid.uuid4().hex[:8]}")
    CsrApi(server, other)("UploadCsr", csr=csr_pem, key=key_pem)
    no_key(world, "Sign", cert_identifier=ident, signing_algorithm="SHA256withRSA", message="m", message_type="RAW")
