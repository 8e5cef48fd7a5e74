"""RPC routing, request decoding, parameter validation and error responses."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from actions import ACTIONS, ACTION_IDS, BY_NAME, check_empty_list
from opencas_testlib import V_2018, V_2020_04, V_2020_06, assert_error, assert_ok, bearer_request, \
    raw, v1_request, v3_request


def bearer(creds, **extra):
    return dict({"x-acs-bearer-token": creds["ApiKey"]}, **extra)


# ---------------------------------------------------------------- routing

@pytest.mark.parametrize("action", ["NoSuchAction", "CreateNothing"])
def test_unknown_action(server, creds, action):
    assert_error(v3_request(server, creds, action, V_2020_04), 404, "InvalidAction.NotFound")
    assert_error(v1_request(server, creds, action, V_2020_04), 404, "InvalidAction.NotFound")
    assert_error(bearer_request(server, creds["ApiKey"], action, V_2020_04), 404, "InvalidAction.NotFound")


def test_action_of_another_version(server, creds):
    """ListCsr exists only in 2020-04-07; DescribeCACertificateList only in 2020-06-30."""
    assert_error(v3_request(server, creds, "ListCsr", V_2020_06), 404, "InvalidAction.NotFound")
    assert_error(v3_request(server, creds, "DescribeCACertificateList", V_2020_04), 404, "InvalidAction.NotFound")
    assert_error(v1_request(server, creds, "ListCsr", V_2018), 404, "InvalidAction.NotFound")


def test_unknown_version(server, creds):
    assert_error(v3_request(server, creds, "ListCert", "2099-01-01"), 400, "InvalidVersion")
    assert_error(v1_request(server, creds, "ListCert", "2099-01-01"), 400, "InvalidVersion")
    assert_error(bearer_request(server, creds["ApiKey"], "ListCert", "2099-01-01"), 400, "InvalidVersion")


def test_missing_action(server, creds):
    assert_error(v3_request(server, creds, None, V_2020_04), 400, "MissingParameter.Action")
    assert_error(v1_request(server, creds, None, V_2020_04), 400, "MissingParameter.Action")
    assert_error(bearer_request(server, creds["ApiKey"], None, V_2020_04), 400, "MissingParameter.Action")


def test_param_wins_over_header(server, creds):
    """v1 clients send Action both as a parameter and as x-acs-action; route on the parameter."""
    r = v1_request(server, creds, "ListCsr", V_2020_04,
                   extra_headers={"x-acs-action": "ListCert", "x-acs-version": V_2020_04})
    check_empty_list(BY_NAME["ListCsr"], assert_ok(r))


def test_json_object_body_on_root(server, creds):
    r = raw(server, "POST", "/", headers=bearer(creds, **{"Content-Type": "application/json"}),
            body=json.dumps({"Action": "ListCert", "Version": V_2020_04, "ShowSize": 17, "CurrentPage": 2}))
    check_empty_list(BY_NAME["ListCert"], assert_ok(r), page=2, size=17)


def test_json_body_with_header_routing(server, creds):
    r = raw(server, "POST", "/", headers=bearer(creds, **{"Content-Type": "application/json; charset=utf-8",
                                                         "x-acs-action": "DescribeUserCertificateList",
                                                         "x-acs-version": V_2018}),
            body=json.dumps({"ShowSize": 18, "CurrentPage": 4}))
    check_empty_list(BY_NAME["DescribeUserCertificateList"], assert_ok(r), page=4, size=18)


def test_form_plus_is_space_and_utf8(server, creds):
    """Form/query decoding: '+' is a space, %XX are UTF-8 bytes (values must still validate)."""
    r = raw(server, "GET", "/?Action=ListCert&Version=2020-04-07&KeyWord=a+b%E4%B8%AD&Status=ISSUE",
            headers=bearer(creds))
    check_empty_list(BY_NAME["ListCert"], assert_ok(r))
    r = raw(server, "POST", "/", headers=bearer(creds, **{"Content-Type": "application/x-www-form-urlencoded"}),
            body="Action=ListCert&Version=2020-04-07&SourceType=upload&KeyWord=x+y%2Bz")
    check_empty_list(BY_NAME["ListCert"], assert_ok(r))


# ---------------------------------------------------------------- undecodable bodies

FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize("body", [
    b"Action=ListCert&Version=2020-04-07&KeyWord=%ZZ",
    b"Action=ListCert&Version=2020-04-07&KeyWord=%E4%B8",      # truncated UTF-8 sequence
    b"Action=ListCert&Version=2020-04-07&KeyWord=%FF%FE",
    b"Action=ListCert&Version=2020-04-07&KeyWord=\xff\xfe",    # raw non-UTF-8 bytes
], ids=["bad-percent", "truncated-utf8", "pct-non-utf8", "raw-non-utf8"])
def test_undecodable_form_body(server, creds, body):
    r = raw(server, "POST", "/", headers=bearer(creds, **{"Content-Type": FORM}), body=body)
    assert_error(r, 400, "InvalidParameter.Body")


@pytest.mark.parametrize("body", [b"[1, 2]", b'"ListCert"', b"42", b"null", b"{not json", b'{"ShowSize": 1',
                                  b"\xff\xfe{}"],
                         ids=["array", "string", "number", "null", "garbage", "truncated", "non-utf8"])
def test_json_body_not_an_object(server, creds, body):
    r = raw(server, "POST", "/?Action=ListCert&Version=2020-04-07",
            headers=bearer(creds, **{"Content-Type": "application/json"}), body=body)
    assert_error(r, 400, "InvalidParameter.Body")


def test_undecodable_body_signed_v3(server, creds):
    """Even correctly signed, a non-UTF-8 form body is rejected as a body problem, not a 500."""
    body = b"KeyWord=%FF%FE"
    r = v3_request(server, creds, "ListCert", V_2020_04, body=body, content_type=FORM)
    assert_error(r, 400, "InvalidParameter.Body")


def test_body_too_large(server, creds):
    """The module server runs with [limits] max_body_bytes = 65536."""
    big = b"Action=ListCert&Version=2020-04-07&KeyWord=" + b"a" * 70000
    r = raw(server, "POST", "/", headers=bearer(creds, **{"Content-Type": FORM}), body=big)
    assert_error(r, 413, "RequestEntityTooLarge")
    big_json = json.dumps({"Action": "ListCert", "Version": V_2020_04, "KeyWord": "b" * 200000}).encode()
    r = raw(server, "POST", "/", headers=bearer(creds, **{"Content-Type": "application/json"}), body=big_json)
    assert_error(r, 413, "RequestEntityTooLarge")


def test_body_under_limit_accepted(server, creds):
    # an extra, unknown parameter carries the bulk (KeyWord itself has a length limit)
    ok = b"Action=ListCert&Version=2020-04-07&Padding=" + b"a" * 60000
    r = raw(server, "POST", "/", headers=bearer(creds, **{"Content-Type": FORM}), body=ok)
    check_empty_list(BY_NAME["ListCert"], assert_ok(r))


# ---------------------------------------------------------------- parameter validation

PAGING_BAD = [("CurrentPage", v) for v in ("0", "-1", "abc", "1.5", "1e3")] + \
             [("ShowSize", v) for v in ("0", "-5", "1001", "abc", "2.0", "99999999999999999999")]


@pytest.mark.parametrize("action", ACTIONS, ids=ACTION_IDS)
@pytest.mark.parametrize("name,value", PAGING_BAD, ids=[f"{n}={v}" for n, v in PAGING_BAD])
def test_paging_validation(server, creds, action, name, value):
    r = bearer_request(server, creds["ApiKey"], action.name, action.version, {name: value})
    assert_error(r, 400, f"InvalidParameter.{name}")


ENUM_BAD = [
    ("ListCert", "Status", "BOGUS"), ("ListCert", "SourceType", "cloud"), ("ListCert", "CertType", "ROOT"),
    ("ListCert", "WarehouseId", "abc"), ("ListCert", "WarehouseId", "1x"),
    ("ListUserCertificateOrder", "OrderType", "SELL"),
    ("DescribeCACertificateList", "CaStatus", "gone"), ("DescribeCACertificateList", "CertType", "leaf"),
    ("DescribeCACertificateList", "ValidStatus", "maybe"),
]


@pytest.mark.parametrize("action,name,value", ENUM_BAD, ids=[f"{a}.{n}={v}" for a, n, v in ENUM_BAD])
@pytest.mark.parametrize("auth", ["bearer", "v3", "v1"])
def test_enum_validation(server, creds, action, name, value, auth):
    a = BY_NAME[action]
    if auth == "bearer":
        r = bearer_request(server, creds["ApiKey"], a.name, a.version, {name: value})
    elif auth == "v3":
        r = v3_request(server, creds, a.name, a.version, {name: value})
    else:
        r = v1_request(server, creds, a.name, a.version, {name: value})
    assert_error(r, 400, f"InvalidParameter.{name}")


ENUM_GOOD = [
    ("ListCert", "Status", ["ISSUE", "REVOKE"]), ("ListCert", "SourceType", ["upload", "aliyun"]),
    ("ListCert", "CertType", ["CA", "CERT"]), ("ListCert", "WarehouseId", ["1", "12345"]),
    ("ListUserCertificateOrder", "OrderType", ["CPACK", "BUY", "UPLOAD", "CERT"]),
    ("DescribeCACertificateList", "CaStatus", ["issue", "forbidden", "revoke"]),
    ("DescribeCACertificateList", "CertType", ["root", "subRoot", "externalCa"]),
    ("DescribeCACertificateList", "ValidStatus", ["valid", "notValid"]),
]


@pytest.mark.parametrize("action,name,values", ENUM_GOOD, ids=[f"{a}.{n}" for a, n, _ in ENUM_GOOD])
def test_enum_valid_values(server, creds, action, name, values):
    a = BY_NAME[action]
    for v in values:
        check_empty_list(a, assert_ok(bearer_request(server, creds["ApiKey"], a.name, a.version, {name: v})))


def test_validation_error_via_sdk_2018_json_body(server, creds):
    """The 2018 SDK sends ShowSize in query and JSON body; a bad value is still a 400."""
    from alibabacloud_cas20180713 import models
    from alibabacloud_tea_openapi.exceptions import ClientException
    from opencas_testlib import cas20180713
    with pytest.raises(ClientException) as ei:
        cas20180713(server, creds).describe_user_certificate_list(
            models.DescribeUserCertificateListRequest(show_size=0))
    assert ei.value.status_code == 400
    assert ei.value.code == "InvalidParameter.ShowSize"


def test_validation_error_via_sdk_2020_06(server, creds):
    from alibabacloud_cas20200630 import models
    from alibabacloud_tea_openapi.exceptions import ClientException
    from opencas_testlib import cas20200630
    with pytest.raises(ClientException) as ei:
        cas20200630(server, creds).describe_cacertificate_list(
            models.DescribeCACertificateListRequest(ca_status="bogus"))
    assert ei.value.status_code == 400
    assert ei.value.code == "InvalidParameter.CaStatus"


# ---------------------------------------------------------------- error responses

def test_error_request_ids_unique(server, creds):
    ids = set()
    for _ in range(5):
        body = assert_error(bearer_request(server, creds["ApiKey"], "NoSuchAction", V_2020_04),
                            404, "InvalidAction.NotFound")
        ids.add(body["RequestId"])
    assert len(ids) == 5


def test_error_xml_format(server, creds):
    r = v1_request(server, creds, "NoSuchAction", V_2020_04, fmt="XML")
    assert r.status_code == 404, r.text
    assert r.headers.get("content-type") == "text/xml;charset=utf-8", r.headers
    root = ET.fromstring(r.content)
    assert root.tag == "Error"
    assert root.findtext("Code") == "InvalidAction.NotFound"
    assert root.findtext("RequestId") == r.headers.get("x-acs-request-id")
    for k in ("HostId", "Message", "Recommend"):
        assert root.find(k) is not None, r.text


def test_auth_error_xml_format(server, creds):
    r = v1_request(server, creds, "ListCert", V_2020_04, fmt="XML", secret="wrong")
    assert r.status_code == 400, r.text
    assert r.headers.get("content-type") == "text/xml;charset=utf-8", r.headers
    root = ET.fromstring(r.content)
    assert root.tag == "Error" and root.findtext("Code") == "SignatureDoesNotMatch"
    assert ":" in (root.findtext("Message") or "")


def test_success_json_content_type(server, creds):
    r = bearer_request(server, creds["ApiKey"], "ListCert", V_2020_04)
    assert_ok(r)
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers


@pytest.mark.parametrize("target,method", [
    ("/", "GET"), ("/", "PUT"), ("/", "DELETE"), ("/?Action=", "GET"), ("/?Action=ListCert", "GET"),
    ("/?Version=2020-04-07", "POST"), ("/api/cas", "GET"), ("/api/v1/", "POST"),
    ("/?Action=ListCert&Version=2020-04-07&Signature=x&AccessKeyId=y&SignatureMethod=HMAC-SHA1", "GET"),
])
def test_odd_requests_never_500(server, target, method):
    r = raw(server, method, target)
    assert 400 <= r.status_code < 500, f"{method} {target}: HTTP {r.status_code} {r.text[:300]!r}"
    body = r.json() if r.headers.get("content-type", "").startswith("application/json") else None
    assert isinstance(body, dict) and body.get("Code"), f"{method} {target}: non-JSON error {r.text[:300]!r}"
    assert set(body) >= {"RequestId", "HostId", "Code", "Message", "Recommend"}, body


@pytest.mark.parametrize("headers", [
    {"Authorization": "ACS3-HMAC-SHA256 garbage"},
    {"Authorization": "ACS3-HMAC-SHA256 Credential=,SignedHeaders=,Signature="},
    {"Authorization": "Bearer"},
    {"Authorization": "Basic dXNlcjpwYXNz"},
    {"x-acs-date": "yesterday", "Authorization": "ACS3-HMAC-SHA256 Credential=a,SignedHeaders=host,Signature=00"},
], ids=["garbage", "empty-parts", "bearer-empty", "basic", "bad-date"])
def test_malformed_authorization_never_500(server, headers):
    h = dict(headers, **{"x-acs-action": "ListCert", "x-acs-version": V_2020_04})
    r = raw(server, "POST", "/", headers=h)
    assert 400 <= r.status_code < 500, f"HTTP {r.status_code} {r.text[:300]!r}"
    body = r.json()
    assert isinstance(body, dict) and body.get("Code") and body.get("RequestId"), body
