"""First-start bootstrap, the `opencas account` CLI and per-account isolation."""
from __future__ import annotations

import re
import stat

import pytest

from actions import ACTIONS, BY_NAME, call_core, call_tea, check_empty_list
from opencas_testlib import V_2020_04, assert_error, describe, assert_ok, bearer_request, poll, v1_request, v3_request

CRED_KEYS = {"AccountId", "AccessKeyId", "AccessKeySecret", "ApiKey"}
LIST_CERT = BY_NAME["ListCert"]

# every credential set seen in this module, checked against the server log at the end
SEEN_CREDS: list[dict] = []


def check_creds(c: dict):
    assert isinstance(c, dict), c
    assert set(c) >= CRED_KEYS, f"credentials JSON lacks {sorted(CRED_KEYS - set(c))}: {sorted(c)}"
    for k in CRED_KEYS:
        assert isinstance(c[k], str) and c[k], (k, c)
    assert re.fullmatch(r"\d+", c["AccountId"]), c["AccountId"]
    assert len({c["AccessKeyId"], c["AccessKeySecret"], c["ApiKey"]}) == 3
    SEEN_CREDS.append(c)


def works(server, c) -> bool:
    return v3_request(server, c, "ListCert", V_2020_04).status_code == 200


def status_code_pair(resp):
    try:
        return resp.status_code, resp.json().get("Code")
    except ValueError:
        return resp.status_code, None


def find_account(server, account_id):
    accounts = server.list_accounts()
    assert isinstance(accounts, list), accounts
    for a in accounts:
        assert isinstance(a, dict) and {"AccountId", "Name", "Status"} <= set(a), a
    matches = [a for a in accounts if str(a["AccountId"]) == str(account_id)]
    assert len(matches) == 1, f"account {account_id} not listed exactly once: {accounts}"
    return matches[0]


# ---------------------------------------------------------------- bootstrap

def test_bootstrap_files(server, creds):
    check_creds(creds)
    assert server.data_dir.is_dir()
    for name in ("credentials.json", "master.key"):
        p = server.data_dir / name
        assert p.is_file(), f"{p} missing; data dir has {sorted(x.name for x in server.data_dir.iterdir())}"
        mode = stat.S_IMODE(p.stat().st_mode)
        assert mode == 0o600, f"{name} has mode {oct(mode)}, want 0o600"
    assert (server.data_dir / "master.key").stat().st_size > 0


def test_initial_account_listed_active(server, creds):
    a = find_account(server, creds["AccountId"])
    assert a["Status"] == "Active", a
    assert isinstance(a["Name"], str)


def test_log_names_credentials_file(server, creds):
    log = server.log()
    paths = {str(server.credentials_path), str(server.credentials_path.resolve())}
    assert any(p in log for p in paths), f"server log does not name {server.credentials_path}:\n{log[-3000:]}"


# ---------------------------------------------------------------- account create / isolation

@pytest.fixture(scope="module")
def second(server):
    c = server.create_account("second-account")
    check_creds(c)
    assert poll(lambda: works(server, c), 2.5), "new account not usable within ~2s"
    return c


def test_create_account(server, creds, second):
    assert second["AccountId"] != creds["AccountId"]
    assert second["AccessKeyId"] != creds["AccessKeyId"]
    assert second["ApiKey"] != creds["ApiKey"]
    a = find_account(server, second["AccountId"])
    assert a["Name"] == "second-account" and a["Status"] == "Active", a


@pytest.mark.parametrize("action", ACTIONS, ids=[a.name for a in ACTIONS])
def test_both_accounts_see_empty_lists(server, creds, second, action):
    for c in (creds, second):
        _, _, body = call_tea(action, server, c)
        check_empty_list(action, body)
        check_empty_list(action, assert_ok(bearer_request(server, c["ApiKey"], action.name, action.version)))


def test_second_account_via_core_sdk(server, second):
    check_empty_list(LIST_CERT, call_core(LIST_CERT, server, second))


def test_cross_account_secret_rejected(server, creds, second):
    b_with_a = dict(second, AccessKeySecret=creds["AccessKeySecret"])
    a_with_b = dict(creds, AccessKeySecret=second["AccessKeySecret"])
    for mixed in (b_with_a, a_with_b):
        assert_error(v3_request(server, mixed, "ListCert", V_2020_04), 400, "SignatureDoesNotMatch")
        assert_error(v1_request(server, mixed, "ListCert", V_2020_04), 400, "SignatureDoesNotMatch")


def test_cross_account_secret_rejected_sdk(server, creds, second):
    from alibabacloud_tea_openapi.exceptions import ClientException
    with pytest.raises(ClientException) as ei:
        call_tea(LIST_CERT, server, dict(second, AccessKeySecret=creds["AccessKeySecret"]))
    assert (ei.value.status_code, ei.value.code) == (400, "SignatureDoesNotMatch")


def test_names_need_not_be_unique_or_are_rejected_cleanly(server):
    """A second `account create` with a taken name either succeeds with a new account
    or fails with a non-zero exit; it must never return the existing account's keys."""
    first = server.create_account("dup-name")
    check_creds(first)
    r = server.cli("account", "create", "--name", "dup-name", check=False)
    if r.returncode == 0:
        import json
        again = json.loads(r.stdout)
        check_creds(again)
        assert again["AccountId"] != first["AccountId"]
        assert again["AccessKeyId"] != first["AccessKeyId"]


# ---------------------------------------------------------------- disable

def test_disable_account(server, creds, second):
    c = server.create_account("to-disable")
    check_creds(c)
    assert poll(lambda: works(server, c), 2.5)
    server.cli("account", "disable", "--account-id", c["AccountId"])
    got = poll(lambda: status_code_pair(v3_request(server, c, "ListCert", V_2020_04)) == (403, "InvalidAccessKeyId.Inactive"), 3.5)
    assert got, f"disabled account still answered {status_code_pair(v3_request(server, c, 'ListCert', V_2020_04))}"
    assert_error(v3_request(server, c, "ListCert", V_2020_04), 403, "InvalidAccessKeyId.Inactive")
    assert_error(v1_request(server, c, "ListCert", V_2020_04), 403, "InvalidAccessKeyId.Inactive")
    from alibabacloud_tea_openapi.exceptions import ClientException
    with pytest.raises(ClientException) as ei:
        call_tea(LIST_CERT, server, c)
    assert (ei.value.status_code, ei.value.code) == (403, "InvalidAccessKeyId.Inactive")
    assert find_account(server, c["AccountId"])["Status"] == "Disabled"
    # the others are unaffected
    assert works(server, creds) and works(server, second)
    assert find_account(server, creds["AccountId"])["Status"] == "Active"


def test_disabled_account_bearer_rejected(server):
    c = server.create_account("to-disable-bearer")
    check_creds(c)
    assert poll(lambda: bearer_request(server, c["ApiKey"], "ListCert", V_2020_04).status_code == 200, 2.5)
    server.cli("account", "disable", "--account-id", c["AccountId"])
    assert poll(lambda: bearer_request(server, c["ApiKey"], "ListCert", V_2020_04).status_code != 200, 3.5)
    assert_error(bearer_request(server, c["ApiKey"], "ListCert", V_2020_04), 403, "InvalidAccessKeyId.Inactive")


# ---------------------------------------------------------------- rotate-key

def test_rotate_key(server, creds):
    old = server.create_account("to-rotate")
    check_creds(old)
    assert poll(lambda: works(server, old), 2.5)
    new = server.cli_json("account", "rotate-key", "--account-id", old["AccountId"])
    check_creds(new)
    assert new["AccountId"] == old["AccountId"]
    assert new["AccessKeyId"] != old["AccessKeyId"]
    assert new["AccessKeySecret"] != old["AccessKeySecret"]
    assert new["ApiKey"] != old["ApiKey"]
    got = poll(lambda: status_code_pair(v3_request(server, old, "ListCert", V_2020_04)) == (403, "InvalidAccessKeyId.Inactive"), 3.5)
    assert got, f"old key answered {status_code_pair(v3_request(server, old, 'ListCert', V_2020_04))}"
    assert_error(v1_request(server, old, "ListCert", V_2020_04), 403, "InvalidAccessKeyId.Inactive")
    assert poll(lambda: works(server, new), 3.5), "rotated key does not work"
    check_empty_list(LIST_CERT, call_tea(LIST_CERT, server, new)[2])
    check_empty_list(LIST_CERT, call_core(LIST_CERT, server, new))
    # the new ApiKey works, the old one no longer does
    assert poll(lambda: bearer_request(server, new["ApiKey"], "ListCert", V_2020_04).status_code == 200, 3.5)
    assert poll(lambda: bearer_request(server, old["ApiKey"], "ListCert", V_2020_04).status_code != 200, 3.5)
    r = bearer_request(server, old["ApiKey"], "ListCert", V_2020_04)
    # the contract leaves open which of the two an old ApiKey gets
    allowed = {(401, "InvalidBearerToken.NotFound"), (403, "InvalidAccessKeyId.Inactive")}
    assert status_code_pair(r) in allowed, describe(r)
    assert_error(r, r.status_code, r.json()["Code"])
    # the account is still active and unrelated accounts keep working
    assert find_account(server, old["AccountId"])["Status"] == "Active"
    assert works(server, creds)


# ---------------------------------------------------------------- secrets stay out of the log (keep last)

def test_zz_log_never_contains_secrets(server, creds):
    # make sure the server has handled failing auth with real secrets around
    v3_request(server, creds, "ListCert", V_2020_04, secret="wrong")
    v1_request(server, creds, "ListCert", V_2020_04, secret="wrong")
    bearer_request(server, creds["ApiKey"], "ListCert", V_2020_04)
    bearer_request(server, creds["ApiKey"] + "x", "ListCert", V_2020_04)
    log = server.log()
    try:
        log += server.stdout_path.read_text(errors="replace")
    except FileNotFoundError:
        pass
    assert log.strip(), "server wrote no log at all"
    leaked = []
    for c in SEEN_CREDS + [creds]:
        for k in ("AccessKeySecret", "ApiKey"):
            if c[k] in log:
                leaked.append(f"{k} of account {c['AccountId']}")
    assert not leaked, f"server log contains secrets: {leaked}"
