"""GET /download/<Identifier>?format=pem|der|pkcs8|pfx|jks&password=… and the
`opencas cert download` CLI.

Authentication like any API call (signature v3 over the real path, v1, bearer); the
artefacts opened by the tools that consume them (`openssl pkcs12`/`pkcs8`/`x509`,
`keytool`, `cryptography`) with the key matching the certificate and the chain complete;
certificates issued from a CSR and CA certificates (no key held); SM2; every refusal with
status and code; throttling as `DownloadCertificate`; per-account isolation; the CLI's
artefacts and errors."""
from __future__ import annotations

import re
import shutil
import subprocess
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from opencas_testlib import (
    V_2020_04,
    assert_error,
    assert_ok,
    cli_download,
    download_bearer,
    download_path,
    download_v1,
    download_v3,
    raw,
    v3_request,
)
from test_ca_hierarchy import der, load_pems, one_cert, openssl_ok, run
from test_issuance import IApi, pubkey_pem, write

PW = "Dl-Pass,.+_#42"
KEYTOOL = shutil.which("keytool")

# --------------------------------------------------------------------------
# fixtures: hierarchies and certificates of the module's account
# --------------------------------------------------------------------------


@dataclass
class Issued:
    name: str
    identifier: str
    leaf: x509.Certificate
    chain: list[x509.Certificate]   # [sub, root]
    sub_id: str
    root_id: str
    has_key: bool
    sm2: bool = False

    @property
    def ders(self) -> list[bytes]:
        return [der(self.leaf)] + [der(c) for c in self.chain]


class Module:
    def __init__(self, server, tmp: Path):
        self.server, self.tmp = server, tmp
        self.api = IApi(server)
        self.creds = server.creds
        self.certs: dict[str, Issued] = {}
        self.hier: dict[str, tuple[str, str, x509.Certificate, x509.Certificate]] = {}
        for fam, alg in (("ECC", "ECC_256"), ("RSA", "RSA_2048"), ("SM2", "SM2_256")):
            r = self.api.root(alg, years=10, common_name=f"Download Root {fam}")
            s = self.api.sub(r["Identifier"], alg, years=5, common_name=f"Download Sub {fam}")
            self.hier[fam] = (r["Identifier"], s["Identifier"], one_cert(r["Certificate"]), one_cert(s["Certificate"]))
        self._issue("ecc", "ECC", "CreateServerCertificate", algorithm="ECC_256", common_name="ecc.download.example.com",
                    domain="www.ecc.download.example.com")
        self._issue("rsa", "RSA", "CreateServerCertificate", algorithm="RSA_2048", common_name="rsa.download.example.com")
        self._issue("sm2", "SM2", "CreateServerCertificate", algorithm="SM2_256", common_name="sm2.download.example.com")
        self._issue("client", "ECC", "CreateClientCertificate", algorithm="ECC_256", common_name="Download Client",
                    san_type=1, san_value="client@download.example.com")
        k = tmp / "csr.key"
        openssl_ok(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(k)])
        csr = tmp / "csr.csr"
        openssl_ok(["req", "-new", "-key", str(k), "-subj", "/CN=csr.download.example.com", "-out", str(csr)])
        self.csr_key = k
        self._issue("csr", "ECC", "CreateServerCertificateWithCsr", csr=csr.read_text(), has_key=False)

    def _issue(self, name, fam, action, has_key=True, **fields):
        rid, sid, root, sub = self.hier[fam]
        body = self.api(action, parent_identifier=sid, days=30, immediately=1, **fields)
        cert = one_cert(body["X509Certificate"])
        self.certs[name] = Issued(name, body["Identifier"], cert, [sub, root], sid, rid, has_key, fam == "SM2")

    def ca(self, fam: str, which: str) -> Issued:
        rid, sid, root, sub = self.hier[fam]
        if which == "sub":
            return Issued(f"{fam}-sub", sid, sub, [root], sid, rid, False, fam == "SM2")
        return Issued(f"{fam}-root", rid, root, [], rid, rid, False, fam == "SM2")


@pytest.fixture(scope="module")
def m(server, tmp_path_factory):
    return Module(server, tmp_path_factory.mktemp("download"))


def get(m: Module, ident: str, fmt: str | None = None, password: str | None = None, creds=None, **kw):
    q = {}
    if fmt is not None:
        q["format"] = fmt
    if password is not None:
        q["password"] = password
    return download_v3(m.server, creds or m.creds, ident, q, **kw)


FILE_EXT = {"pem": (".pem", ".crt"), "der": (".cer", ".der", ".crt"), "pkcs8": (".key", ".pem"),
            "pfx": (".pfx", ".p12"), "jks": (".jks",)}


def ok_file(r, fmt: str, content_type: str | None = None) -> bytes:
    """A 200 file response: the body, with its Content-Type and Content-Disposition checked."""
    assert r.status_code == 200, f"download {fmt}: HTTP {r.status_code} {r.headers.get('content-type')} {r.text[:400]!r}"
    if content_type:
        got = (r.headers.get("content-type") or "").split(";")[0].strip()
        assert got == content_type, f"{fmt}: Content-Type {got!r}, want {content_type!r}"
    cd = r.headers.get("content-disposition") or ""
    mt = re.search(r'filename="?([^";]+)"?', cd)
    assert cd.startswith("attachment") and mt and mt.group(1).strip(), f"{fmt}: Content-Disposition {cd!r}"
    assert mt.group(1).lower().endswith(FILE_EXT[fmt]), f"{fmt}: file name {mt.group(1)!r}"
    assert r.content, f"{fmt}: empty body"
    return r.content


def pem_blocks(text: str) -> list[str]:
    return re.findall(r"-----BEGIN ([A-Z0-9 ]+)-----", text)


def key_pub(path: Path, password: str | None = None) -> str:
    argv = ["pkey", "-in", str(path), "-pubout"]
    if password is not None:
        argv += ["-passin", f"pass:{password}"]
    return pubkey_pem(argv)


def cert_pub(tmp: Path, cert: x509.Certificate) -> str:
    p = write(tmp, f"c-{uuid.uuid4().hex[:6]}.pem", cert.public_bytes(serialization.Encoding.PEM).decode())
    return pubkey_pem(["x509", "-in", str(p), "-noout", "-pubkey"])


# --------------------------------------------------------------------------
# 1. authentication
# --------------------------------------------------------------------------

def test_authentication_schemes_agree(m):
    c = m.certs["ecc"]
    want = der(c.leaf)
    results = {
        "v3": get(m, c.identifier, "der"),
        "v1": download_v1(m.server, m.creds, c.identifier, {"format": "der"}),
        "bearer": download_bearer(m.server, m.creds["ApiKey"], c.identifier, {"format": "der"}),
        "x-acs-bearer-token": download_bearer(m.server, m.creds["ApiKey"], c.identifier, {"format": "der"},
                                              style="header"),
    }
    for how, r in results.items():
        assert ok_file(r, "der", "application/pkix-cert") == want, f"{how}: not the certificate's DER"
    # the password travels (and is signed) in the query with every scheme
    for r in (download_v1(m.server, m.creds, c.identifier, {"format": "pfx", "password": PW}),
              download_bearer(m.server, m.creds["ApiKey"], c.identifier, {"format": "pfx", "password": PW}),
              get(m, c.identifier, "pfx", PW)):
        key, cert, extra = pkcs12.load_key_and_certificates(ok_file(r, "pfx"), PW.encode())
        assert der(cert) == want and key is not None


def test_unauthenticated_and_bad_credentials(m):
    c = m.certs["ecc"]
    for target in (download_path(c.identifier), download_path(c.identifier) + "?format=der",
                   download_path(c.identifier) + f"?format=pkcs8&password={PW}"):
        r = raw(m.server, "GET", target)
        body = assert_error(r, 400, "IncompleteSignature")
        assert "BEGIN" not in r.text and body["Message"], body
    # a wrong secret, and v3 signed over "/" instead of the real path
    assert_error(get(m, c.identifier, "der", secret="not-the-secret"), 400, "SignatureDoesNotMatch")
    assert_error(get(m, c.identifier, "der", sign_path="/"), 400, "SignatureDoesNotMatch")
    assert_error(get(m, c.identifier, "der", sign_path=download_path(m.certs["rsa"].identifier)),
                 400, "SignatureDoesNotMatch")
    assert_error(download_v1(m.server, m.creds, c.identifier, {"format": "der"}, secret="wrong"),
                 400, "SignatureDoesNotMatch")
    assert_error(download_bearer(m.server, "not-a-key-" + uuid.uuid4().hex, c.identifier, {"format": "der"}),
                 401, "InvalidBearerToken.NotFound")
    fake = dict(m.creds, AccessKeyId="LTAI" + uuid.uuid4().hex[:20])
    assert_error(get(m, c.identifier, "der", creds=fake), 404, "InvalidAccessKeyId.NotFound")
    # a query parameter changed after signing (v1): the password is covered by the signature
    from opencas_testlib import encode_pairs, v1_params
    p = v1_params(m.creds["AccessKeyId"], m.creds["AccessKeySecret"], None, None, {"format": "pfx", "password": PW})
    p["password"] = PW + "x"
    assert_error(raw(m.server, "GET", download_path(c.identifier) + "?" + encode_pairs(p.items())),
                 400, "SignatureDoesNotMatch")
    # v1's string to sign names the path as %2F: a signature over the real path does not verify
    import base64
    import hashlib
    import hmac
    from opencas_testlib import pct, v1_string_to_sign
    p = v1_params(m.creds["AccessKeyId"], m.creds["AccessKeySecret"], None, None, {"format": "der"})
    sts = v1_string_to_sign("GET", p)
    assert sts.startswith("GET&%2F&"), sts
    sts = "GET&" + pct(download_path(c.identifier)) + sts[len("GET&%2F"):]
    p["Signature"] = base64.b64encode(hmac.new((m.creds["AccessKeySecret"] + "&").encode(), sts.encode(),
                                               hashlib.sha1).digest()).decode()
    assert_error(raw(m.server, "GET", download_path(c.identifier) + "?" + encode_pairs(p.items())),
                 400, "SignatureDoesNotMatch")


# --------------------------------------------------------------------------
# 2. formats, for certificates with a generated key
# --------------------------------------------------------------------------

def test_pem_bundle(m, tmp_path):
    for name in ("ecc", "rsa", "sm2", "client"):
        c = m.certs[name]
        for r in (get(m, c.identifier), get(m, c.identifier, "pem")):  # pem is the default
            text = ok_file(r, "pem").decode()
            assert [der(x) for x in load_pems(text)] == c.ders, f"{name}: PEM bundle is not leaf + sub + root"
            assert "PRIVATE KEY" not in text, f"{name}: a key without a password"
        text = ok_file(get(m, c.identifier, "pem", PW), "pem").decode()
        assert [der(x) for x in load_pems(text)] == c.ders, f"{name}: PEM bundle with key is not leaf + sub + root"
        assert pem_blocks(text) == ["CERTIFICATE"] * 3 + ["ENCRYPTED PRIVATE KEY"], pem_blocks(text)
        p = write(tmp_path, f"{name}.pem", text)
        assert key_pub(p, PW) == cert_pub(tmp_path, c.leaf), f"{name}: the PEM's key does not match the leaf"
        bad = run(["openssl", "pkey", "-in", str(p), "-passin", "pass:wrong-password", "-noout"])
        assert bad.returncode != 0, f"{name}: the PEM's key opened with a wrong password"


def test_der_equals_first_pem_cert(m):
    for name in ("ecc", "rsa", "sm2", "csr"):
        c = m.certs[name]
        body = ok_file(get(m, c.identifier, "der"), "der", "application/pkix-cert")
        first = load_pems(ok_file(get(m, c.identifier, "pem"), "pem").decode())[0]
        assert body == der(first) == der(c.leaf), f"{name}: DER != the PEM's first certificate"
        assert x509.load_der_x509_certificate(body).serial_number == c.leaf.serial_number


@pytest.mark.parametrize("name", ["ecc", "rsa", "sm2"])
def test_pkcs8(m, tmp_path, name):
    c = m.certs[name]
    text = ok_file(get(m, c.identifier, "pkcs8", PW), "pkcs8").decode()
    assert pem_blocks(text) == ["ENCRYPTED PRIVATE KEY"], pem_blocks(text)
    f = write(tmp_path, "f.key", text)
    clear = tmp_path / "clear.key"
    openssl_ok(["pkcs8", "-in", str(f), "-passin", f"pass:{PW}", "-out", str(clear)])
    assert key_pub(clear) == cert_pub(tmp_path, c.leaf), f"{name}: pkcs8 key does not match the certificate"
    bad = run(["openssl", "pkcs8", "-in", str(f), "-passin", "pass:wrong-password"])
    assert bad.returncode != 0, "the pkcs8 file opened with a wrong password"
    # two downloads are encrypted afresh (salt/IV), and hold the same key
    again = ok_file(get(m, c.identifier, "pkcs8", PW), "pkcs8").decode()
    assert again != text
    assert key_pub(write(tmp_path, "again.key", again), PW) == key_pub(clear)


@pytest.mark.parametrize("name", ["ecc", "rsa"])
def test_pfx(m, tmp_path, name):
    c = m.certs[name]
    data = ok_file(get(m, c.identifier, "pfx", PW), "pfx", "application/x-pkcs12")
    f = tmp_path / "f.pfx"
    f.write_bytes(data)
    out = openssl_ok(["pkcs12", "-in", str(f), "-passin", f"pass:{PW}", "-nodes", "-info"])
    assert out.count("-----BEGIN CERTIFICATE-----") == 3, f"{name}: PFX does not hold 3 certificates:\n{out}"
    assert len(re.findall(r"-----BEGIN (?:RSA |EC )?PRIVATE KEY-----", out)) == 1, f"{name}: PFX key:\n{out}"
    # the key matches the leaf, the certificates are leaf + sub + root
    pem_out = write(tmp_path, "all.pem", out[out.index("-----BEGIN"):])
    assert key_pub(pem_out) == cert_pub(tmp_path, c.leaf), f"{name}: PFX key does not match the leaf"
    certs = load_pems(pem_out.read_text())
    assert sorted(der(x) for x in certs) == sorted(c.ders), f"{name}: PFX certificates are not leaf + sub + root"
    key, cert, extra = pkcs12.load_key_and_certificates(data, PW.encode())
    assert der(cert) == der(c.leaf), "the PFX's end-entity certificate is not the leaf"
    assert sorted(der(x) for x in extra) == sorted(c.ders[1:]), "the PFX's other certificates are not sub + root"
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    assert key.public_key().public_bytes(serialization.Encoding.DER, spki) == \
        c.leaf.public_key().public_bytes(serialization.Encoding.DER, spki)
    # a wrong password does not open it
    bad = run(["openssl", "pkcs12", "-in", str(f), "-passin", "pass:wrong-password", "-nodes", "-info"])
    assert bad.returncode != 0, "the PFX opened with a wrong password"
    with pytest.raises(ValueError):
        pkcs12.load_key_and_certificates(data, b"wrong-password")


def keytool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([KEYTOOL, *args], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def check_jks(path: Path, password: str, leaf: x509.Certificate, chain_len: int, tmp: Path):
    r = keytool("-list", "-v", "-keystore", str(path), "-storepass", password, "-storetype", "JKS")
    out = r.stdout + r.stderr
    assert r.returncode == 0, f"keytool -list failed:\n{out}"
    assert "Keystore type: JKS" in out or "Keystore type: jks" in out.lower(), out
    assert out.count("Entry type: PrivateKeyEntry") == 1, f"no single PrivateKeyEntry:\n{out}"
    assert f"Certificate chain length: {chain_len}" in out, f"chain length != {chain_len}:\n{out}"
    fp = ":".join(f"{b:02X}" for b in leaf.fingerprint(hashes.SHA256()))
    assert fp in out, f"the leaf's SHA-256 fingerprint {fp} is not in the keystore:\n{out}"
    # the key in the store is the leaf's: export through PKCS#12 and compare
    p12 = tmp / "from-jks.p12"
    r = keytool("-importkeystore", "-srckeystore", str(path), "-srcstoretype", "JKS", "-srcstorepass", password,
                "-destkeystore", str(p12), "-deststoretype", "PKCS12", "-deststorepass", password, "-noprompt")
    assert r.returncode == 0, f"keytool -importkeystore failed:\n{r.stdout}{r.stderr}"
    key, cert, extra = pkcs12.load_key_and_certificates(p12.read_bytes(), password.encode())
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    assert der(cert) == der(leaf)
    assert key.public_key().public_bytes(serialization.Encoding.DER, spki) == \
        leaf.public_key().public_bytes(serialization.Encoding.DER, spki)


@pytest.mark.skipif(KEYTOOL is None, reason="keytool is not installed")
@pytest.mark.parametrize("name", ["ecc", "rsa"])
def test_jks(m, tmp_path, name):
    c = m.certs[name]
    data = ok_file(get(m, c.identifier, "jks", PW), "jks", "application/x-java-keystore")
    assert data[:4] == bytes.fromhex("feedfeed"), f"not a JKS file (magic {data[:4].hex()})"
    f = tmp_path / "f.jks"
    f.write_bytes(data)
    check_jks(f, PW, c.leaf, 3, tmp_path)
    if name == "ecc":
        r = keytool("-list", "-keystore", str(f), "-storepass", "wrong-password", "-storetype", "JKS")
        assert r.returncode != 0, "the JKS opened with a wrong password"


def test_sm2_keystores(m, tmp_path):
    c = m.certs["sm2"]
    r = get(m, c.identifier, "pfx", PW)
    if r.status_code == 200:
        f = tmp_path / "sm2.pfx"
        f.write_bytes(ok_file(r, "pfx", "application/x-pkcs12"))
        out = openssl_ok(["pkcs12", "-in", str(f), "-passin", f"pass:{PW}", "-nodes", "-info"])
        assert out.count("-----BEGIN CERTIFICATE-----") == 3 and "PRIVATE KEY-----" in out, out
        pem_out = write(tmp_path, "sm2-all.pem", out[out.index("-----BEGIN"):])
        assert key_pub(pem_out) == cert_pub(tmp_path, c.leaf), "SM2 PFX key does not match the leaf"
    else:
        body = assert_error(r, 400, ("InvalidParameter.format", "InvalidParameter.Format"))
        assert "SM2" in body["Message"], f"unclear refusal of an SM2 PFX: {body}"
    body = assert_error(get(m, c.identifier, "jks", PW), 400, "InvalidParameter.format")
    assert body["Message"], body


# --------------------------------------------------------------------------
# 3. no key held: CSR-issued certificates and CAs
# --------------------------------------------------------------------------

def test_csr_issued_certificate(m, tmp_path):
    c = m.certs["csr"]
    text = ok_file(get(m, c.identifier, "pem", PW), "pem").decode()
    assert pem_blocks(text) == ["CERTIFICATE"] * 3, f"CSR-issued: {pem_blocks(text)}"
    assert [der(x) for x in load_pems(text)] == c.ders
    assert_error(get(m, c.identifier, "pkcs8", PW), 404, "NotFound.PrivateKey")
    data = ok_file(get(m, c.identifier, "pfx", PW), "pfx", "application/x-pkcs12")
    key, cert, extra = pkcs12.load_key_and_certificates(data, PW.encode())
    assert key is None, "a PFX of a CSR-issued certificate holds a key"
    got = ([der(cert)] if cert is not None else []) + [der(x) for x in extra]
    assert sorted(got) == sorted(c.ders), "PFX of a CSR-issued certificate is not leaf + sub + root"
    f = tmp_path / "csr.pfx"
    f.write_bytes(data)
    out = openssl_ok(["pkcs12", "-in", str(f), "-passin", f"pass:{PW}", "-nodes", "-info"])
    assert out.count("-----BEGIN CERTIFICATE-----") == 3 and "PRIVATE KEY-----" not in out, out
    # the key the user holds matches what the server certified
    assert key_pub(m.csr_key) == cert_pub(tmp_path, c.leaf)
    # a JKS without a key: the certificates as trusted entries
    if KEYTOOL:
        f = tmp_path / "csr.jks"
        f.write_bytes(ok_file(get(m, c.identifier, "jks", PW), "jks", "application/x-java-keystore"))
        r = keytool("-list", "-v", "-keystore", str(f), "-storepass", PW, "-storetype", "JKS")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "PrivateKeyEntry" not in r.stdout and r.stdout.count("Entry type: trustedCertEntry") == 3, r.stdout


@pytest.mark.parametrize("fam", ["ECC", "SM2"])
def test_ca_certificates(m, tmp_path, fam):
    sub, root = m.ca(fam, "sub"), m.ca(fam, "root")
    text = ok_file(get(m, sub.identifier), "pem").decode()
    assert [der(x) for x in load_pems(text)] == sub.ders, "sub CA PEM is not sub + root"
    text = ok_file(get(m, sub.identifier, "pem", PW), "pem").decode()
    assert "PRIVATE KEY" not in text, "a CA key left the server"
    assert ok_file(get(m, sub.identifier, "der"), "der", "application/pkix-cert") == der(sub.leaf)
    assert ok_file(get(m, root.identifier, "der"), "der", "application/pkix-cert") == der(root.leaf)
    assert load_pems(ok_file(get(m, root.identifier), "pem").decode())[0] == root.leaf
    for ca in (sub, root):
        assert_error(get(m, ca.identifier, "pkcs8", PW), 404, "NotFound.PrivateKey")
    if fam == "ECC":
        data = ok_file(get(m, sub.identifier, "pfx", PW), "pfx", "application/x-pkcs12")
        key, cert, extra = pkcs12.load_key_and_certificates(data, PW.encode())
        assert key is None, "a CA key left the server in a PFX"
        got = ([der(cert)] if cert is not None else []) + [der(x) for x in extra]
        assert sorted(got) == sorted(sub.ders), "the sub CA's PFX is not sub + root"


def test_root_download_holds_the_root_once(m, tmp_path):
    root = m.ca("ECC", "root")
    certs = load_pems(ok_file(get(m, root.identifier), "pem").decode())
    assert [der(x) for x in certs] == [der(root.leaf)], f"a root's PEM holds {len(certs)} certificates"
    key, cert, extra = pkcs12.load_key_and_certificates(ok_file(get(m, root.identifier, "pfx", PW), "pfx"),
                                                        PW.encode())
    got = ([der(cert)] if cert is not None else []) + [der(x) for x in extra]
    assert got == [der(root.leaf)], f"a root's PFX holds {len(got)} certificates"
    if KEYTOOL:
        f = tmp_path / "root.jks"
        f.write_bytes(ok_file(get(m, root.identifier, "jks", PW), "jks"))
        out = keytool("-list", "-keystore", str(f), "-storepass", PW, "-storetype", "JKS").stdout
        assert "Your keystore contains 1 entry" in out, out


def test_external_ca_download(m, tmp_path):
    """An external CA (CreateExternalCACertificate): its certificate downloads, its key is not here."""
    rid, _, root, _ = m.hier["ECC"]
    k = tmp_path / "ext.key"
    openssl_ok(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(k)])
    csr = tmp_path / "ext.csr"
    openssl_ok(["req", "-new", "-key", str(k), "-subj", "/O=Ext Org/CN=Downloadable external CA", "-out", str(csr)])
    body = m.api("CreateExternalCACertificate", instance_id=rid, csr=csr.read_text())
    ext = one_cert(body["Certificate"])
    ident = body["Identifier"]
    text = ok_file(get(m, ident, "pem", PW), "pem").decode()
    assert [der(x) for x in load_pems(text)] == [der(ext), der(root)], "external CA PEM is not ext + root"
    assert "PRIVATE KEY" not in text
    assert ok_file(get(m, ident, "der"), "der", "application/pkix-cert") == der(ext)
    assert_error(get(m, ident, "pkcs8", PW), 404, "NotFound.PrivateKey")
    key, cert, extra = pkcs12.load_key_and_certificates(ok_file(get(m, ident, "pfx", PW), "pfx"), PW.encode())
    assert key is None
    assert sorted(([der(cert)] if cert is not None else []) + [der(x) for x in extra]) == sorted([der(ext), der(root)])


# --------------------------------------------------------------------------
# 4. refusals, isolation, throttling
# --------------------------------------------------------------------------

def test_refusals(m):
    c = m.certs["ecc"]
    for fmt in ("zip", "p7b", "pem2", "crt", "PKCS#12"):
        assert_error(get(m, c.identifier, fmt, PW), 400, "InvalidParameter.format")
    for pw in ("has space", " lead", "trail ", "x" * 65):
        for fmt in ("pfx", "pkcs8", "pem", "jks"):
            assert_error(get(m, c.identifier, fmt, pw), 400, "InvalidParameter.password")
    for fmt in ("pkcs8", "pfx", "jks"):
        assert_error(get(m, c.identifier, fmt), 400, "MissingParameter.password")
    for ghost in (uuid.uuid4().hex, "not-an-identifier", c.identifier.upper() + "00"):
        for fmt in ("pem", "der", "pfx"):
            assert_error(get(m, ghost, fmt, PW), 404, "NotFound.Certificate")
    # the boundaries: 64 printable characters, and a single one
    for pw in ("Aa0!" * 16, "x"):
        assert len(pw) in (64, 1)
        data = ok_file(get(m, c.identifier, "pfx", pw), "pfx")
        key, cert, _ = pkcs12.load_key_and_certificates(data, pw.encode())
        assert der(cert) == der(c.leaf) and key is not None


def test_account_isolation(m, server):
    other = server.create_account("download-isolation")
    targets = [m.certs["ecc"].identifier, m.certs["csr"].identifier, m.ca("ECC", "sub").identifier,
               m.ca("ECC", "root").identifier]
    for ident in targets:
        for fmt, pw in (("pem", None), ("der", None), ("pfx", PW), ("pkcs8", PW), ("jks", PW)):
            r = download_v3(server, other, ident, {"format": fmt, **({"password": pw} if pw else {})})
            assert_error(r, 404, "NotFound.Certificate")
            assert b"BEGIN" not in r.content
        assert_error(download_bearer(server, other["ApiKey"], ident, {"format": "der"}), 404, "NotFound.Certificate")
    # their own certificate downloads for them, and not for the first account
    oapi = IApi(server, other)
    r = oapi.root("ECC_256", common_name="Other download root")
    s = oapi.sub(r["Identifier"], "ECC_256")
    theirs = oapi("CreateServerCertificate", parent_identifier=s["Identifier"], algorithm="ECC_256",
                  common_name="theirs.example.com", days=30, immediately=1)
    data = ok_file(download_v3(server, other, theirs["Identifier"], {"format": "der"}), "der")
    assert data == der(one_cert(theirs["X509Certificate"]))
    assert_error(get(m, theirs["Identifier"], "der"), 404, "NotFound.Certificate")


def test_throttled_as_download_certificate(server_factory):
    srv = server_factory({"rate_limit": {"enabled": True, "default_qps": 1000,
                                         "actions": {"DownloadCertificate": 1}}}, name="dl-throttle")
    api = IApi(srv)
    r = api.root("ECC_256", common_name="Throttle root")
    s = api.sub(r["Identifier"], "ECC_256")
    ident = api("CreateServerCertificate", parent_identifier=s["Identifier"], algorithm="ECC_256",
                common_name="throttle.example.com", days=30)["Identifier"]
    results, lock = [], threading.Lock()

    def one():
        resp = download_v3(srv, srv.creds, ident, {"format": "der"})
        with lock:
            results.append(resp)

    threads = [threading.Thread(target=one) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    codes = sorted(x.status_code for x in results)
    assert 200 in codes and 429 in codes, f"20 concurrent downloads at 1 QPS: {codes}"
    assert_error(next(x for x in results if x.status_code == 429), 429, "Throttling.User")
    # other actions keep their own (high) limit
    assert_ok(v3_request(srv, srv.creds, "ListCert", V_2020_04))


# --------------------------------------------------------------------------
# 5. the CLI
# --------------------------------------------------------------------------

def cli_ok(m: Module, ident: str, fmt: str | None, out: Path | str, password: str | None = None,
           account=None) -> subprocess.CompletedProcess:
    r = cli_download(m.server, account or m.creds["AccountId"], ident, fmt, str(out), password)
    assert r.returncode == 0, f"cert download {fmt}: exit {r.returncode}\n{r.stderr.decode(errors='replace')}"
    return r


def cli_fails(m: Module, ident: str, fmt: str | None, out: Path, password: str | None = None, account=None,
              mention: tuple[str, ...] = ()) -> str:
    r = cli_download(m.server, account or m.creds["AccountId"], ident, fmt, str(out), password)
    msg = (r.stderr + r.stdout).decode(errors="replace")
    assert r.returncode != 0, f"cert download {fmt} {ident} succeeded: {msg}"
    assert msg.strip(), "a failed cert download printed no message"
    assert any(w.lower() in msg.lower() for w in mention) if mention else True, \
        f"message does not mention {mention}: {msg!r}"
    assert not out.exists(), f"a failed download left {out}"
    return msg


def test_cli_artefacts(m, tmp_path):
    c = m.certs["ecc"]
    # DER: the same bytes as over HTTP, to a file and to stdout
    cli_ok(m, c.identifier, "der", tmp_path / "f.cer")
    assert (tmp_path / "f.cer").read_bytes() == ok_file(get(m, c.identifier, "der"), "der") == der(c.leaf)
    r = cli_ok(m, c.identifier, "der", "-")
    assert r.stdout == der(c.leaf), "--out - did not write the DER to stdout"
    # PEM: the same text as over HTTP (without a key), the default format
    cli_ok(m, c.identifier, None, tmp_path / "default.pem")
    cli_ok(m, c.identifier, "pem", tmp_path / "f.pem")
    http_pem = ok_file(get(m, c.identifier, "pem"), "pem")
    assert (tmp_path / "f.pem").read_bytes() == (tmp_path / "default.pem").read_bytes() == http_pem
    r = cli_ok(m, c.identifier, "pem", "-")
    assert r.stdout == http_pem
    # PEM with password: the certificates and an encrypted key that opens
    cli_ok(m, c.identifier, "pem", tmp_path / "k.pem", PW)
    text = (tmp_path / "k.pem").read_text()
    assert pem_blocks(text) == ["CERTIFICATE"] * 3 + ["ENCRYPTED PRIVATE KEY"], pem_blocks(text)
    assert key_pub(tmp_path / "k.pem", PW) == cert_pub(tmp_path, c.leaf)
    # pkcs8
    cli_ok(m, c.identifier, "pkcs8", tmp_path / "f.key", PW)
    openssl_ok(["pkcs8", "-in", str(tmp_path / "f.key"), "-passin", f"pass:{PW}", "-out", str(tmp_path / "c.key")])
    assert key_pub(tmp_path / "c.key") == cert_pub(tmp_path, c.leaf)
    # pfx
    cli_ok(m, c.identifier, "pfx", tmp_path / "f.pfx", PW)
    out = openssl_ok(["pkcs12", "-in", str(tmp_path / "f.pfx"), "-passin", f"pass:{PW}", "-nodes", "-info"])
    assert out.count("-----BEGIN CERTIFICATE-----") == 3 and "PRIVATE KEY-----" in out, out
    key, cert, extra = pkcs12.load_key_and_certificates((tmp_path / "f.pfx").read_bytes(), PW.encode())
    assert der(cert) == der(c.leaf) and sorted(der(x) for x in extra) == sorted(c.ders[1:]) and key is not None
    assert run(["openssl", "pkcs12", "-in", str(tmp_path / "f.pfx"), "-passin", "pass:wrong", "-nodes"]).returncode != 0
    # jks
    if KEYTOOL:
        cli_ok(m, m.certs["rsa"].identifier, "jks", tmp_path / "f.jks", PW)
        check_jks(tmp_path / "f.jks", PW, m.certs["rsa"].leaf, 3, tmp_path)
    # a CA's certificate
    sub = m.ca("ECC", "sub")
    cli_ok(m, sub.identifier, "der", tmp_path / "sub.cer")
    assert (tmp_path / "sub.cer").read_bytes() == der(sub.leaf)


def test_cli_errors(m, server, tmp_path):
    c = m.certs["ecc"]
    n = iter(range(100))
    out = lambda: tmp_path / f"out-{next(n)}"  # noqa: E731
    cli_fails(m, c.identifier, "zip", out(), PW, mention=("format",))
    for fmt in ("pfx", "pkcs8", "jks"):
        cli_fails(m, c.identifier, fmt, out(), mention=("password",))
    cli_fails(m, c.identifier, "pfx", out(), "has space", mention=("password",))
    cli_fails(m, c.identifier, "pfx", out(), "x" * 65, mention=("password",))
    ghost = uuid.uuid4().hex
    cli_fails(m, ghost, "pem", out(), mention=(ghost, "NotFound", "not found"))
    cli_fails(m, m.certs["csr"].identifier, "pkcs8", out(), PW, mention=("key", "NotFound"))
    cli_fails(m, m.certs["sm2"].identifier, "jks", out(), PW, mention=("SM2", "format", "jks"))
    # another account sees nothing of this one
    other = server.create_account("download-cli-isolation")
    for ident in (c.identifier, m.ca("ECC", "sub").identifier):
        cli_fails(m, ident, "der", out(), account=other["AccountId"], mention=(ident, "NotFound", "not found"))
    # an account that does not exist
    cli_fails(m, c.identifier, "der", out(), account="987654321", mention=(c.identifier, "NotFound", "not found",
                                                                          "account"))
    # the server is still serving after all that
    assert ok_file(get(m, c.identifier, "der"), "der") == der(c.leaf)
