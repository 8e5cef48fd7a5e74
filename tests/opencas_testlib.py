"""Helpers for the opencas integration suite.

* an independent client-side implementation of the two signature schemes
  (v1 HMAC-SHA1 and v3 ACS3-HMAC-SHA256) following shared/spec/signatures.md,
  checked against the spec's vectors in test_signer_vectors.py, so that tests
  can craft requests the SDKs never send (stale timestamps, replayed nonces,
  bodies that do not match their hash, ...);
* a tiny raw-HTTP layer on top of `requests`;
* process management for the real `opencas` binary and its CLI;
* factories for the official SDK clients.
"""
from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import hmac
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Iterable, Mapping, Sequence
from urllib.parse import quote

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent

V_2020_04 = "2020-04-07"
V_2020_06 = "2020-06-30"
V_2018 = "2018-07-13"

# Error body keys every error response must carry (signatures.md section 6).
ERROR_KEYS = {"RequestId", "HostId", "Code", "Message", "Recommend"}

# Servers used by most tests: no throttling, a small body limit so the 413
# case is cheap to trigger.
DEFAULT_TEST_CONFIG = {
    "rate_limit": {"enabled": False},
    "limits": {"max_body_bytes": 65536},
}


# --------------------------------------------------------------------------
# encoding / signing
# --------------------------------------------------------------------------

def pct(s: str) -> str:
    """RFC 3986 percent-encoding over UTF-8; only A-Z a-z 0-9 - _ . ~ stay literal."""
    return quote(str(s), safe="~")


def encode_pairs(pairs: Iterable[tuple[str, str]]) -> str:
    """Query/form string with RFC 3986 encoding (a valid form encoding too)."""
    return "&".join(f"{pct(k)}={pct(v)}" for k, v in pairs)


def utc_timestamp(offset_seconds: float = 0) -> str:
    t = _dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(seconds=offset_seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def new_nonce() -> str:
    return uuid.uuid4().hex


def v1_string_to_sign(method: str, params: Mapping[str, str]) -> str:
    signed = {k: str(v) for k, v in params.items() if k != "Signature"}
    canon = "&".join(f"{pct(k)}={pct(signed[k])}" for k in sorted(signed))
    return f"{method.upper()}&{pct('/')}&{pct(canon)}"


def v1_signature(method: str, params: Mapping[str, str], secret: str) -> str:
    sts = v1_string_to_sign(method, params)
    digest = hmac.new((secret + "&").encode(), sts.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def v1_params(ak: str, secret: str, action: str | None, version: str | None,
              params: Mapping[str, str] | None = None, *, method: str = "GET",
              body_params: Mapping[str, str] | None = None,
              timestamp: str | None = None, nonce: str | None = None,
              fmt: str = "JSON") -> dict:
    """All URL parameters of a v1-signed request (including Signature).

    The signature covers `body_params` too (they are not returned)."""
    p: dict[str, str] = {}
    if action is not None:
        p["Action"] = action
    if version is not None:
        p["Version"] = version
    p.update({
        "Format": fmt,
        "AccessKeyId": ak,
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "SignatureNonce": nonce or new_nonce(),
        "Timestamp": timestamp or utc_timestamp(),
    })
    for k, v in (params or {}).items():
        p[k] = str(v)
    signed = dict(p)
    signed.update({k: str(v) for k, v in (body_params or {}).items()})
    p["Signature"] = v1_signature(method, signed, secret)
    return p


def v3_canonical_request(method: str, path: str, query: Sequence[tuple[str, str]],
                         headers: Mapping[str, str], signed_headers: Sequence[str],
                         content_sha256: str) -> str:
    canon_q = "&".join(f"{pct(k)}={pct(v)}" for k, v in sorted(query))
    low = {k.lower(): str(v).strip() for k, v in headers.items()}
    canon_h = "".join(f"{h}:{low.get(h, '')}\n" for h in signed_headers)
    return "\n".join([method.upper(), path, canon_q, canon_h, ";".join(signed_headers), content_sha256])


def v3_authorization(ak: str, secret: str, method: str, path: str,
                     query: Sequence[tuple[str, str]], headers: Mapping[str, str],
                     content_sha256: str, signed_headers: Sequence[str] | None = None) -> str:
    if signed_headers is None:
        signed_headers = sorted(k.lower() for k in headers if k.lower() != "authorization")
    else:
        signed_headers = sorted(h.lower() for h in signed_headers)
    canon = v3_canonical_request(method, path, query, headers, signed_headers, content_sha256)
    sts = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canon.encode()).hexdigest()
    sig = hmac.new(secret.encode(), sts.encode(), hashlib.sha256).hexdigest()
    return f"ACS3-HMAC-SHA256 Credential={ak},SignedHeaders={';'.join(signed_headers)},Signature={sig}"


# --------------------------------------------------------------------------
# raw HTTP
# --------------------------------------------------------------------------

_session_local = threading.local()


def _session() -> requests.Session:
    s = getattr(_session_local, "s", None)
    if s is None:
        s = requests.Session()
        s.trust_env = False  # never go through a proxy
        _session_local.s = s
    return s


def raw(server, method: str, target: str, *, headers: Mapping[str, str] | None = None,
        body: bytes | str | None = None, timeout: float = 15) -> requests.Response:
    """Send exactly `method target` with the given headers/body."""
    if isinstance(body, str):
        body = body.encode()
    return _session().request(method, server.base_url + target, headers=dict(headers or {}),
                              data=body, timeout=timeout, allow_redirects=False)


def v1_request(server, creds: Mapping[str, str], action: str | None, version: str | None,
               params: Mapping[str, str] | None = None, *, method: str = "GET",
               body_params: Mapping[str, str] | None = None, all_in_body: bool = False,
               secret: str | None = None, timestamp: str | None = None,
               nonce: str | None = None, fmt: str = "JSON",
               extra_headers: Mapping[str, str] | None = None) -> requests.Response:
    """A v1 (HMAC-SHA1) signed RPC request, built like aliyun-python-sdk-core
    (all params in the URL) or, with all_in_body, like pop-core POST."""
    p = v1_params(creds["AccessKeyId"], secret if secret is not None else creds["AccessKeySecret"],
                  action, version, params, method=method, body_params=body_params,
                  timestamp=timestamp, nonce=nonce, fmt=fmt)
    headers = dict(extra_headers or {})
    if all_in_body:
        body_all = dict(p)
        body_all.update({k: str(v) for k, v in (body_params or {}).items()})
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return raw(server, method, "/", headers=headers, body=encode_pairs(body_all.items()))
    body = None
    if body_params:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        body = encode_pairs((k, str(v)) for k, v in body_params.items())
    return raw(server, method, "/?" + encode_pairs(p.items()), headers=headers, body=body)


def v3_prepare(server, creds: Mapping[str, str], action: str | None, version: str | None,
               query: Mapping[str, str] | None = None, *, method: str = "POST",
               body: bytes = b"", content_type: str | None = None,
               secret: str | None = None, date: str | None = None, nonce: str | None = None,
               content_sha256: str | None = None,
               extra_headers: Mapping[str, str] | None = None) -> tuple[str, dict, bytes]:
    """Build (target, headers, body) of a v3 signed request like tea-openapi does."""
    q = [(k, str(v)) for k, v in (query or {}).items()]
    headers = {
        "host": server.host,
        "x-acs-date": date or utc_timestamp(),
        "x-acs-signature-nonce": nonce or new_nonce(),
        "accept": "application/json",
        "user-agent": "opencas-tests/1.0",
    }
    if action is not None:
        headers["x-acs-action"] = action
    if version is not None:
        headers["x-acs-version"] = version
    if content_type:
        headers["content-type"] = content_type
    headers.update(extra_headers or {})
    sha = content_sha256 or hashlib.sha256(body).hexdigest()
    headers["x-acs-content-sha256"] = sha
    headers["Authorization"] = v3_authorization(
        creds["AccessKeyId"], secret if secret is not None else creds["AccessKeySecret"],
        method, "/", q, headers, sha)
    target = "/" + ("?" + encode_pairs(q) if q else "")
    return target, headers, body


def v3_request(server, creds, action, version, query=None, *, method: str = "POST",
               body: bytes = b"", content_type: str | None = None, secret: str | None = None,
               date: str | None = None, nonce: str | None = None,
               content_sha256: str | None = None, send_body: bytes | None = None,
               extra_headers: Mapping[str, str] | None = None) -> requests.Response:
    """A v3 signed request; `send_body` (if given) replaces the signed body on the wire."""
    target, headers, body = v3_prepare(server, creds, action, version, query, method=method,
                                       body=body, content_type=content_type, secret=secret,
                                       date=date, nonce=nonce, content_sha256=content_sha256,
                                       extra_headers=extra_headers)
    return raw(server, method, target, headers=headers,
               body=send_body if send_body is not None else (body or None))


def bearer_request(server, token: str, action: str | None, version: str | None,
                   params: Mapping[str, str] | None = None, *, method: str = "POST",
                   style: str = "header", in_body: bool = False,
                   extra_headers: Mapping[str, str] | None = None) -> requests.Response:
    """A bearer-token RPC request on POST/GET /.

    style: "header" -> x-acs-bearer-token, "authorization" -> Authorization: Bearer.
    in_body: Action/Version/params go in a form body instead of the query."""
    headers = dict(extra_headers or {})
    if style == "header":
        headers["x-acs-bearer-token"] = token
    else:
        headers["Authorization"] = f"Bearer {token}"
    p: dict[str, str] = {}
    if action is not None:
        p["Action"] = action
    if version is not None:
        p["Version"] = version
    p.update({k: str(v) for k, v in (params or {}).items()})
    if in_body:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return raw(server, method, "/", headers=headers, body=encode_pairs(p.items()))
    target = "/" + ("?" + encode_pairs(p.items()) if p else "")
    return raw(server, method, target, headers=headers)


# --------------------------------------------------------------------------
# assertions on responses
# --------------------------------------------------------------------------

def json_body(resp: requests.Response) -> dict:
    try:
        body = resp.json()
    except ValueError:
        raise AssertionError(f"HTTP {resp.status_code}: body is not JSON: {resp.text[:500]!r}")
    assert isinstance(body, dict), f"body is not a JSON object: {body!r}"
    return body


def describe(resp: requests.Response) -> str:
    return f"HTTP {resp.status_code} {resp.headers.get('content-type')!r} {resp.text[:600]!r}"


def assert_error(resp: requests.Response, status: int, code: str | Iterable[str]) -> dict:
    """The response is a well-formed JSON error with this status and Code."""
    codes = {code} if isinstance(code, str) else set(code)
    assert resp.status_code == status and resp.status_code != 500, \
        f"expected HTTP {status} {sorted(codes)}, got {describe(resp)}"
    body = json_body(resp)
    assert body.get("Code") in codes, f"expected Code {sorted(codes)}, got {describe(resp)}"
    missing = ERROR_KEYS - set(body)
    assert not missing, f"error body lacks {sorted(missing)}: {body}"
    for k in ERROR_KEYS:
        assert isinstance(body[k], str), f"{k} is not a string: {body}"
    assert body["RequestId"], body
    assert resp.headers.get("x-acs-request-id") == body["RequestId"], \
        f"x-acs-request-id header {resp.headers.get('x-acs-request-id')!r} != RequestId {body['RequestId']!r}"
    return body


def assert_ok(resp: requests.Response) -> dict:
    assert resp.status_code == 200, f"expected HTTP 200, got {describe(resp)}"
    body = json_body(resp)
    assert isinstance(body.get("RequestId"), str) and body["RequestId"], body
    assert resp.headers.get("x-acs-request-id") == body["RequestId"], \
        f"x-acs-request-id header {resp.headers.get('x-acs-request-id')!r} != RequestId {body['RequestId']!r}"
    return body


def is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


# --------------------------------------------------------------------------
# the server process
# --------------------------------------------------------------------------

def opencas_bin() -> str:
    b = os.environ.get("OPENCAS_BIN") or str(REPO_ROOT / "target" / "release" / "opencas")
    p = Path(b)
    if not p.is_absolute():
        p = REPO_ROOT / p
    return str(p)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return json.dumps(str(v))


def toml_key(k: str) -> str:
    """Bare when TOML allows it, quoted otherwise (domain names as keys hold dots)."""
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k)


def to_toml(cfg: Mapping, prefix: str = "") -> str:
    """Minimal TOML writer for nested dicts of scalars."""
    lines, tables = [], []
    for k, v in cfg.items():
        if isinstance(v, Mapping):
            tables.append((toml_key(k), v))
        else:
            lines.append(f"{toml_key(k)} = {toml_value(v)}")
    out = "\n".join(lines) + ("\n" if lines else "")
    for k, v in tables:
        name = f"{prefix}.{k}" if prefix else k
        out += f"\n[{name}]\n" + to_toml(v, name)
    return out


# All live servers, so a failing test can show their logs.
LIVE_SERVERS: list["OpencasServer"] = []

# --------------------------------------------------------------------------
# PostgreSQL: with OPENCAS_TEST_DATABASE_URL (a server URL whose user may create
# databases) every server runs on a fresh database there instead of SQLite.
# --------------------------------------------------------------------------

TEST_DATABASE_ENV = "OPENCAS_TEST_DATABASE_URL"
# data dir -> database URL: a server restarted on the same data dir finds its database
_TEST_DATABASES: dict[str, str] = {}


def postgres_server_url() -> str | None:
    return os.environ.get(TEST_DATABASE_ENV) or None


def with_database(server_url: str, name: str) -> str:
    """`server_url` with its database path replaced by `name` (query kept)."""
    base, sep, query = server_url.partition("?")
    scheme, _, rest = base.partition("://")
    authority = rest.split("/", 1)[0]
    return f"{scheme}://{authority}/{name}" + (sep + query if sep else "")


def psql(url: str, sql: str) -> str:
    r = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
                       capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise RuntimeError(f"psql {sql!r}: {r.stderr}")
    return r.stdout


def create_test_database(server_url: str, prefix: str = "opencas_py") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    psql(server_url, f"CREATE DATABASE {name}")
    return with_database(server_url, name)


def drop_test_database(server_url: str, url: str):
    name = url.partition("?")[0].rsplit("/", 1)[1]
    try:
        psql(server_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    except Exception:
        pass  # a leftover database in a throwaway cluster is harmless


def drop_all_test_databases():
    server_url = postgres_server_url()
    for key, url in list(_TEST_DATABASES.items()):
        if server_url:
            drop_test_database(server_url, url)
        del _TEST_DATABASES[key]


def requires_sqlite_file():
    """For a test that reads or writes DATA/opencas.db itself: skipped on PostgreSQL."""
    if postgres_server_url():
        import pytest
        pytest.skip("reads the SQLite file directly; the suite runs on PostgreSQL")


class OpencasServer:
    """One `opencas serve` process on 127.0.0.1 with its own data dir."""

    def __init__(self, workdir: Path, config: Mapping | None = DEFAULT_TEST_CONFIG,
                 data_dir: Path | None = None, name: str = "server"):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = Path(data_dir) if data_dir else self.workdir / "data"
        self.config = config
        self.name = name
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.stderr_path = self.workdir / f"{name}.stderr.log"
        self.stdout_path = self.workdir / f"{name}.stdout.log"
        self.config_path: Path | None = None
        self.starts = 0
        self.database_url: str | None = None
        if postgres_server_url():
            key = str(self.data_dir.resolve())
            if key not in _TEST_DATABASES:
                _TEST_DATABASES[key] = create_test_database(postgres_server_url())
            self.database_url = _TEST_DATABASES[key]

    def env(self) -> dict:
        """The environment of this server's processes (and its CLI): the database URL."""
        env = dict(os.environ)
        if self.database_url:
            env["OPENCAS_DATABASE_URL"] = self.database_url
        return env

    # -- addresses
    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}"

    @property
    def credentials_path(self) -> Path:
        return self.data_dir / "credentials.json"

    @property
    def creds(self) -> dict:
        return json.loads(self.credentials_path.read_text())

    def argv(self) -> list[str]:
        a = [opencas_bin(), "serve", "--listen", self.host, "--data-dir", str(self.data_dir)]
        if self.config is not None:
            self.config_path = self.workdir / f"{self.name}.toml"
            self.config_path.write_text(to_toml(self.config))
            a += ["--config", str(self.config_path)]
        return a

    def start(self, argv: list[str] | None = None, timeout: float = 30) -> "OpencasServer":
        binary = opencas_bin()
        if not os.path.exists(binary):
            raise RuntimeError(f"opencas binary not found at {binary} (set OPENCAS_BIN or build it)")
        self.starts += 1
        mode = "w" if self.starts == 1 else "a"
        err = open(self.stderr_path, mode)
        out = open(self.stdout_path, mode)
        env = self.env()
        env.setdefault("RUST_BACKTRACE", "1")
        self.proc = subprocess.Popen(argv or self.argv(), stdout=out, stderr=err,
                                     stdin=subprocess.DEVNULL, cwd=str(self.workdir), env=env)
        err.close()
        out.close()
        if self not in LIVE_SERVERS:
            LIVE_SERVERS.append(self)
        self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float = 30):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"opencas exited with {self.proc.returncode} before becoming healthy\n"
                                   f"--- stderr ---\n{self.log()}")
            try:
                r = _session().get(self.base_url + "/healthz", timeout=2)
                if r.status_code == 200:
                    return
                last = f"HTTP {r.status_code}"
            except requests.RequestException as e:
                last = repr(e)
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"opencas not healthy after {timeout}s (last: {last})\n--- stderr ---\n{self.log()}")

    def log(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def terminate(self, timeout: float = 10) -> int | None:
        """SIGTERM and wait; returns the exit code (None if it had to be killed)."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self):
        self.terminate()
        if self in LIVE_SERVERS:
            LIVE_SERVERS.remove(self)

    # -- CLI against this data dir
    def cli(self, *args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
        argv = [opencas_bin(), *args]
        if "--data-dir" not in args:
            argv += ["--data-dir", str(self.data_dir)]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL, cwd=str(self.workdir), env=self.env())
        if check and r.returncode != 0:
            raise AssertionError(f"{argv} exited {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}")
        return r

    def cli_json(self, *args: str):
        r = self.cli(*args)
        try:
            return json.loads(r.stdout)
        except ValueError:
            raise AssertionError(f"`opencas {' '.join(args)}` did not print JSON: {r.stdout!r} (stderr {r.stderr!r})")

    def create_account(self, name: str) -> dict:
        return self.cli_json("account", "create", "--name", name)

    def list_accounts(self) -> list:
        return self.cli_json("account", "list")


def new_workdir(prefix: str = "opencas-test-") -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


def start_server(config=DEFAULT_TEST_CONFIG, name: str = "server") -> OpencasServer:
    """Start a server in a fresh temp dir (the caller stops it)."""
    return OpencasServer(new_workdir(), config=config, name=name).start()


def cleanup_server(srv: OpencasServer, keep: bool = False):
    """Stop it and delete its temp dir (kept when `keep` or OPENCAS_KEEP_TMP is set)."""
    srv.stop()
    if (srv.database_url and postgres_server_url() and not keep
            and not any(s.database_url == srv.database_url for s in LIVE_SERVERS)):
        drop_test_database(postgres_server_url(), srv.database_url)
        for k in [k for k, v in _TEST_DATABASES.items() if v == srv.database_url]:
            del _TEST_DATABASES[k]
    if not keep and not os.environ.get("OPENCAS_KEEP_TMP"):
        import shutil
        shutil.rmtree(srv.workdir, ignore_errors=True)


def poll(fn, timeout: float, interval: float = 0.1):
    """Call fn() until it returns a truthy value or timeout; returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


# --------------------------------------------------------------------------
# SDK clients
# --------------------------------------------------------------------------

def tea_config(server, creds: Mapping[str, str] | None = None, *, bearer: bool = False,
               secret: str | None = None, **kw):
    from alibabacloud_tea_openapi import models as open_api_models
    creds = creds or server.creds
    if bearer:
        return open_api_models.Config(bearer_token=creds["ApiKey"], type="bearer",
                                      endpoint=server.host, protocol="http", **kw)
    return open_api_models.Config(access_key_id=creds["AccessKeyId"],
                                  access_key_secret=secret if secret is not None else creds["AccessKeySecret"],
                                  endpoint=server.host, protocol="http", **kw)


def cas20200407(server, creds=None, **kw):
    from alibabacloud_cas20200407.client import Client
    return Client(tea_config(server, creds, **kw))


def cas20200630(server, creds=None, **kw):
    from alibabacloud_cas20200630.client import Client
    return Client(tea_config(server, creds, **kw))


def cas20180713(server, creds=None, **kw):
    from alibabacloud_cas20180713.client import Client
    return Client(tea_config(server, creds, **kw))


def acs_client(server, creds=None, secret: str | None = None):
    from aliyunsdkcore.client import AcsClient
    creds = creds or server.creds
    return AcsClient(creds["AccessKeyId"], secret if secret is not None else creds["AccessKeySecret"],
                     "cn-hangzhou", port=server.port, auto_retry=False)


def common_request(action: str, version: str, params: Mapping[str, str] | None = None, *,
                   method: str = "GET", body_params: Mapping[str, str] | None = None):
    from aliyunsdkcore.request import CommonRequest
    req = CommonRequest(domain="127.0.0.1", version=version, action_name=action)
    req.set_protocol_type("http")
    req.set_method(method)
    for k, v in (params or {}).items():
        req.add_query_param(k, str(v))
    for k, v in (body_params or {}).items():
        req.add_body_params(k, str(v))
    return req


# --------------------------------------------------------------------------
# GET /download/<Identifier>: authenticated like an API call
# --------------------------------------------------------------------------

def download_path(identifier: str) -> str:
    return "/download/" + pct(identifier)


def download_v3(server, creds: Mapping[str, str], identifier: str, query: Mapping[str, str] | None = None, *,
                secret: str | None = None, sign_path: str | None = None,
                extra_headers: Mapping[str, str] | None = None) -> requests.Response:
    """GET /download/<identifier>?query signed with ACS3-HMAC-SHA256 (the canonical URI is
    the real path unless `sign_path` says otherwise)."""
    path = download_path(identifier)
    q = [(k, str(v)) for k, v in (query or {}).items()]
    headers = {
        "host": server.host,
        "x-acs-date": utc_timestamp(),
        "x-acs-signature-nonce": new_nonce(),
        "accept": "*/*",
        "user-agent": "opencas-tests/1.0",
    }
    headers.update(extra_headers or {})
    sha = hashlib.sha256(b"").hexdigest()
    headers["x-acs-content-sha256"] = sha
    headers["Authorization"] = v3_authorization(
        creds["AccessKeyId"], secret if secret is not None else creds["AccessKeySecret"],
        "GET", sign_path or path, q, headers, sha)
    return raw(server, "GET", path + ("?" + encode_pairs(q) if q else ""), headers=headers)


def download_v1(server, creds: Mapping[str, str], identifier: str, query: Mapping[str, str] | None = None, *,
                secret: str | None = None) -> requests.Response:
    """GET /download/<identifier> with v1 (HMAC-SHA1) query parameters; the string to sign
    names the path as %2F like every v1 request."""
    p = v1_params(creds["AccessKeyId"], secret if secret is not None else creds["AccessKeySecret"],
                  None, None, query, method="GET")
    return raw(server, "GET", download_path(identifier) + "?" + encode_pairs(p.items()))


def download_bearer(server, token: str, identifier: str, query: Mapping[str, str] | None = None, *,
                    style: str = "authorization") -> requests.Response:
    """GET /download/<identifier> with `Authorization: Bearer` (or x-acs-bearer-token)."""
    headers = {"Authorization": f"Bearer {token}"} if style == "authorization" else {"x-acs-bearer-token": token}
    q = encode_pairs((k, str(v)) for k, v in (query or {}).items())
    return raw(server, "GET", download_path(identifier) + ("?" + q if q else ""), headers=headers)


def cli_download(server, account_id, identifier: str, fmt: str | None, out: str, password: str | None = None,
                 *, env: Mapping[str, str] | None = None, timeout: float = 30) -> subprocess.CompletedProcess:
    """`opencas cert download` against the server's data dir (bytes output)."""
    argv = [opencas_bin(), "cert", "download", "--data-dir", str(server.data_dir), "--account-id", str(account_id),
            "--identifier", identifier, "--out", out]
    if fmt is not None:
        argv += ["--format", fmt]
    if password is not None:
        argv += ["--password", password]
    e = {k: v for k, v in server.env().items() if k != "OPENCAS_CERT_PASSWORD"}
    e.update(env or {})
    return subprocess.run(argv, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL,
                          cwd=str(server.workdir), env=e)


def self_signed_ec(cn: str | None = None) -> tuple[str, str]:
    """A self-signed P-256 certificate for `cn` (a random name when None) with the name as its
    SAN, valid from a day ago for 60 days, and its PKCS#8 key: (cert PEM, key PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    cn = cn or f"ss-{uuid.uuid4().hex[:12]}.example.com"
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = _dt.datetime.now(_dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - _dt.timedelta(days=1))
            .not_valid_after(now + _dt.timedelta(days=60))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), False).sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM).decode(),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode())
