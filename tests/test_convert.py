"""`opencas cert convert`: certificate files that are not stored here converted between PEM,
DER, PFX, JKS and encrypted PKCS#8, as the console's "Convert Certificate Format" does.
Inputs are made by `openssl` (RSA, ECDSA, SM2, with a chain) and `keytool`; outputs are
opened by `openssl pkcs12`/`pkcs8`/`x509`, `keytool` and `cryptography`, and converted back."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from opencas_testlib import REPO_ROOT, opencas_bin

PW = "Conv-Pass.42"
IN_PW = "In-Pass.17"
KEYTOOL = shutil.which("keytool")


def sh(*argv, cwd: Path, ok: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(argv, capture_output=True, cwd=cwd, timeout=120, stdin=subprocess.DEVNULL)
    if ok:
        assert r.returncode == 0, f"{argv}: {r.stderr.decode(errors='replace')}"
    return r


def convert(tmp: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENCAS_CERT_PASSWORD", "OPENCAS_IN_PASSWORD")}
    r = subprocess.run([opencas_bin(), "cert", "convert", *args], capture_output=True, cwd=tmp, timeout=60,
                       stdin=subprocess.DEVNULL, env=env)
    if ok:
        assert r.returncode == 0, r.stderr.decode(errors="replace")
    return r


KEYGEN = {
    "rsa": ["-newkey", "rsa:2048"],
    "ec": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
    "sm2": ["-newkey", "sm2"],
}


def make_chain(tmp: Path, kind: str) -> tuple[Path, Path, Path]:
    """(leaf.pem, leaf.key PKCS#8, ca.pem): a CA and a leaf it signed, made by openssl."""
    sigopt = ["-sigopt", "distid:1234567812345678"] if kind == "sm2" else []
    sh("openssl", "req", "-x509", *KEYGEN[kind], "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "30",
       "-subj", f"/CN=Convert CA {kind}", "-addext", "basicConstraints=critical,CA:TRUE", *sigopt, cwd=tmp)
    sh("openssl", "req", *KEYGEN[kind], "-nodes", "-keyout", "leaf.key", "-out", "leaf.csr",
       "-subj", f"/CN=convert-{kind}.example.com", cwd=tmp)
    sh("openssl", "x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
       "-out", "leaf.pem", "-days", "20", *sigopt, cwd=tmp)
    return tmp / "leaf.pem", tmp / "leaf.key", tmp / "ca.pem"


def load_certs(pem: bytes) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem)


@pytest.mark.parametrize("kind", ["rsa", "ec", "sm2"])
def test_pem_to_pfx_and_back(tmp_path, kind):
    leaf, key, ca = make_chain(tmp_path, kind)
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(leaf.read_bytes() + ca.read_bytes())
    convert(tmp_path, "--in", str(bundle), "--key", str(key), "--format", "pfx", "--password", PW, "--out", "o.pfx")
    # openssl opens it and finds the key and both certificates
    out = sh("openssl", "pkcs12", "-in", "o.pfx", "-passin", f"pass:{PW}", "-nodes", cwd=tmp_path).stdout
    assert out.count(b"BEGIN CERTIFICATE") == 2 and b"PRIVATE KEY" in out
    if kind != "sm2":  # cryptography reads no SM2
        k, c, extra = pkcs12.load_key_and_certificates((tmp_path / "o.pfx").read_bytes(), PW.encode())
        assert c == x509.load_pem_x509_certificate(leaf.read_bytes())
        assert [e.subject for e in extra] == [x509.load_pem_x509_certificate(ca.read_bytes()).subject]
        orig = serialization.load_pem_private_key(key.read_bytes(), None)
        assert k.private_numbers() == orig.private_numbers()
    # and back: the PFX converts to PEM (certificates + encrypted key) and to DER
    convert(tmp_path, "--in", "o.pfx", "--in-password", PW, "--format", "pem", "--password", PW, "--out", "back.pem")
    text = (tmp_path / "back.pem").read_bytes()
    assert load_certs(text) == load_certs(bundle.read_bytes())
    assert b"BEGIN ENCRYPTED PRIVATE KEY" in text and b"BEGIN PRIVATE KEY" not in text
    convert(tmp_path, "--in", "o.pfx", "--in-password", PW, "--format", "der", "--out", "o.cer")
    assert x509.load_der_x509_certificate((tmp_path / "o.cer").read_bytes()) == load_certs(text)[0]


def test_key_in_the_same_file_to_pkcs8_and_der_in(tmp_path):
    leaf, key, _ = make_chain(tmp_path, "ec")
    both = tmp_path / "both.pem"
    both.write_bytes(leaf.read_bytes() + key.read_bytes())
    convert(tmp_path, "--in", str(both), "--format", "pkcs8", "--password", PW, "--out", "k.p8")
    plain = sh("openssl", "pkcs8", "-in", "k.p8", "-passin", f"pass:{PW}", cwd=tmp_path).stdout
    assert serialization.load_pem_private_key(plain, None).private_numbers() == \
        serialization.load_pem_private_key(key.read_bytes(), None).private_numbers()
    # a DER certificate comes in too; without a key PKCS#8 has nothing to write
    sh("openssl", "x509", "-in", str(leaf), "-outform", "DER", "-out", "leaf.der", cwd=tmp_path)
    convert(tmp_path, "--in", "leaf.der", "--format", "pem", "--out", "leaf2.pem")
    assert (tmp_path / "leaf2.pem").read_bytes().strip() == leaf.read_bytes().strip()
    r = convert(tmp_path, "--in", "leaf.der", "--format", "pkcs8", "--password", PW, "--out", "x", ok=False)
    assert r.returncode != 0 and b"no private key" in r.stderr.lower()
    # an encrypted input key opens with --in-password
    sh("openssl", "pkcs8", "-topk8", "-in", str(key), "-out", "enc.key", "-passout", f"pass:{IN_PW}", cwd=tmp_path)
    r = convert(tmp_path, "--in", str(leaf), "--key", "enc.key", "--format", "pfx", "--password", PW,
                "--out", "e.pfx", ok=False)
    assert r.returncode != 0 and b"encrypted" in r.stderr
    convert(tmp_path, "--in", str(leaf), "--key", "enc.key", "--in-password", IN_PW, "--format", "pfx",
            "--password", PW, "--out", "e.pfx")
    sh("openssl", "pkcs12", "-in", "e.pfx", "-passin", f"pass:{PW}", "-noout", cwd=tmp_path)


@pytest.mark.skipif(KEYTOOL is None, reason="keytool (a JDK) is not installed")
def test_jks_both_ways_with_keytool(tmp_path):
    leaf, key, ca = make_chain(tmp_path, "rsa")
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(leaf.read_bytes() + ca.read_bytes())
    convert(tmp_path, "--in", str(bundle), "--key", str(key), "--format", "jks", "--password", PW, "--out", "o.jks")
    listed = sh(KEYTOOL, "-list", "-v", "-keystore", "o.jks", "-storepass", PW, "-storetype", "JKS",
                cwd=tmp_path).stdout.decode()
    assert "Entry type: PrivateKeyEntry" in listed and "Certificate chain length: 2" in listed
    # a JKS keytool made (from a PFX) converts to PEM with the same certificates and key
    sh("openssl", "pkcs12", "-export", "-in", str(bundle), "-inkey", str(key), "-out", "src.p12",
       "-passout", f"pass:{IN_PW}", "-name", "srv", cwd=tmp_path)
    sh(KEYTOOL, "-importkeystore", "-srckeystore", "src.p12", "-srcstoretype", "PKCS12", "-srcstorepass", IN_PW,
       "-destkeystore", "k.jks", "-deststoretype", "JKS", "-deststorepass", IN_PW, "-destkeypass", IN_PW,
       "-noprompt", cwd=tmp_path)
    convert(tmp_path, "--in", "k.jks", "--in-password", IN_PW, "--format", "pem", "--password", PW,
            "--out", "from-jks.pem")
    text = (tmp_path / "from-jks.pem").read_bytes()
    assert load_certs(text) == load_certs(bundle.read_bytes())
    got = serialization.load_pem_private_key(text, PW.encode())
    assert got.private_numbers() == serialization.load_pem_private_key(key.read_bytes(), None).private_numbers()
    r = convert(tmp_path, "--in", "k.jks", "--in-password", "wrong", "--format", "pem", "--out", "x", ok=False)
    assert r.returncode != 0 and b"password" in r.stderr


def test_refusals(tmp_path):
    leaf, key, ca = make_chain(tmp_path, "ec")
    (tmp_path / "other").mkdir()
    _, other_key, _ = make_chain(tmp_path / "other", "ec")
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"\x00\x01 not a certificate")
    cases = [
        (["--in", str(garbage), "--format", "pem"], b"password"),  # binary, not DER: read as PFX, which needs one
        (["--in", str(garbage), "--in-password", "x", "--format", "pem"], b"key store"),
        (["--in", str(leaf), "--key", str(other_key), "--format", "pfx", "--password", PW], b"does not belong"),
        (["--in", str(leaf), "--key", str(key), "--format", "pfx"], b"password"),
        (["--in", str(leaf), "--format", "p7b"], b"--format"),
        (["--in", str(ca), "--key", str(leaf), "--format", "pem"], b"no private key"),
    ]
    for args, message in cases:
        r = convert(tmp_path, *args, "--out", "out.x", ok=False)
        assert r.returncode != 0, args
        assert message in r.stderr.lower() or message in r.stderr, (args, r.stderr)
        assert not (tmp_path / "out.x").exists()


def test_a_pfx_asking_for_too_much_key_derivation_is_refused_at_once(tmp_path):
    """The fuzz seed's MAC asks for 2^31-1 PKCS#12 KDF iterations (hours of CPU): refused before
    deriving, with the reason (the subprocess timeout would catch a derivation)."""
    pfx = REPO_ROOT / "fuzz" / "corpus" / "pkcs12_jks_import" / "seed-ec-maciter-max.p12"
    r = convert(tmp_path, "--in", str(pfx), "--in-password", "changeit", "--format", "pem", "--out", "out.x",
                ok=False)
    assert r.returncode != 0
    assert b"key derivation" in r.stderr and b"10,000,000" in r.stderr, r.stderr
    assert not (tmp_path / "out.x").exists()
    # the same file with its usual count converts (the patch changed nothing else)
    good = REPO_ROOT / "fuzz" / "corpus" / "pkcs12_jks_import" / "seed-ec.p12"
    convert(tmp_path, "--in", str(good), "--in-password", "changeit", "--format", "pem", "--out", "ok.pem")
    assert b"BEGIN CERTIFICATE" in (tmp_path / "ok.pem").read_bytes()
