"""Authentication: v3, v1, bearer, and every way a request can fail to authenticate."""
from __future__ import annotations

import hashlib
import json

import pytest

from actions import BY_NAME, call_core, call_tea, check_empty_list
from opencas_testlib import V_2020_04, V_2020_06, assert_error, assert_ok, bearer_request, \
    encode_pairs, raw, utc_timestamp, v1_request, v3_prepare, v3_request

LIST_CERT = BY_NAME["ListCert"]


# ---------------------------------------------------------------- our signer is accepted

def test_raw_v3_accepted(server, creds):
    body = assert_ok(v3_request(server, creds, "ListCert", V_2020_04, {"ShowSize": "21", "KeyWord": "a b*~/é"}))
    check_empty_list(LIST_CERT, body, size=21)


def test_raw_v3_get_accepted(server, creds):
    body = assert_ok(v3_request(server, creds, "ListCert", V_2020_04, {"CurrentPage": "2"}, method="GET"))
    check_empty_list(LIST_CERT, body, page=2)


def test_raw_v3_minimal_signed_headers(server, creds):
    """Go's openapi-util signs only host, content-type and x-acs-*: the server must use SignedHeaders."""
    from opencas_testlib import v3_authorization
    target, headers, body = v3_prepare(server, creds, "ListCert", V_2020_04, {"ShowSize": "22"})
    signed = ["host", "x-acs-action", "x-acs-content-sha256", "x-acs-date",
              "x-acs-signature-nonce", "x-acs-version"]
    headers["Authorization"] = v3_authorization(creds["AccessKeyId"], creds["AccessKeySecret"], "POST", "/",
                                                [("ShowSize", "22")], headers,
                                                headers["x-acs-content-sha256"], signed_headers=signed)
    headers["user-agent"] = "something-else/9"  # unsigned, may change freely
    check_empty_list(LIST_CERT, assert_ok(raw(server, "POST", target, headers=headers)), size=22)


def test_raw_v3_form_body_signed(server, creds):
    """Body params in a signed form body (as tea does for body-located params)."""
    body = encode_pairs([("ShowSize", "23")]).encode()
    r = v3_request(server, creds, "ListCert", V_2020_04, {}, body=body,
                   content_type="application/x-www-form-urlencoded")
    check_empty_list(LIST_CERT, assert_ok(r), size=23)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_raw_v1_query(server, creds, method):
    r = v1_request(server, creds, "ListCert", V_2020_04, {"ShowSize": "24", "KeyWord": "a b*~/+é"}, method=method)
    check_empty_list(LIST_CERT, assert_ok(r), size=24)


def test_raw_v1_pop_core_post_all_in_body(server, creds):
    """pop-core POST: URL is just '/', every parameter including Signature in the form body."""
    r = v1_request(server, creds, "ListCert", V_2020_04, {"ShowSize": "25"}, method="POST", all_in_body=True)
    check_empty_list(LIST_CERT, assert_ok(r), size=25)


def test_raw_v1_split_query_and_body(server, creds):
    r = v1_request(server, creds, "ListCert", V_2020_04, {"CurrentPage": "3"}, method="POST",
                   body_params={"ShowSize": "26"})
    check_empty_list(LIST_CERT, assert_ok(r), page=3, size=26)


def test_v1_timestamp_within_window_accepted(server, creds):
    for off in (-10 * 60, 10 * 60):
        assert_ok(v1_request(server, creds, "ListCert", V_2020_04, timestamp=utc_timestamp(off)))


def test_v3_date_within_window_accepted(server, creds):
    for off in (-10 * 60, 10 * 60):
        assert_ok(v3_request(server, creds, "ListCert", V_2020_04, date=utc_timestamp(off)))


# ---------------------------------------------------------------- wrong secret

def test_wrong_secret_tea_v3(server, creds):
    from alibabacloud_tea_openapi.exceptions import ClientException
    with pytest.raises(ClientException) as ei:
        call_tea(LIST_CERT, server, creds, secret="not-the-secret")
    assert ei.value.status_code == 400
    assert ei.value.code == "SignatureDoesNotMatch"


def test_wrong_secret_tea_v2(server, creds):
    from alibabacloud_tea_openapi.exceptions import ClientException
    with pytest.raises(ClientException) as ei:
        call_tea(LIST_CERT, server, creds, secret="not-the-secret", signature_algorithm="v2")
    assert ei.value.status_code == 400
    assert ei.value.code == "SignatureDoesNotMatch"


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_wrong_secret_core_sdk(server, creds, method):
    """aliyun-python-sdk-core splits Message on ':'; it then reports InvalidAccessKeySecret
    (server's string to sign equals its own) or SignatureDoesNotMatch."""
    from aliyunsdkcore.acs_exception.exceptions import ServerException
    with pytest.raises(ServerException) as ei:
        call_core(LIST_CERT, server, creds, secret="not-the-secret", method=method)
    assert ei.value.get_http_status() == 400
    assert ei.value.get_error_code() in ("InvalidAccessKeySecret", "SignatureDoesNotMatch")


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_wrong_secret_v1_message_has_server_string_to_sign(server, creds, method):
    r = v1_request(server, creds, "ListCert", V_2020_04, {"ShowSize": "5"}, method=method, secret="bad")
    body = assert_error(r, 400, "SignatureDoesNotMatch")
    assert ":" in body["Message"], body
    # what aliyun-python-sdk-core compares: Message.split(':')[1] == its string to sign
    assert creds["AccessKeySecret"] not in body["Message"]


def test_wrong_secret_raw_v3(server, creds):
    assert_error(v3_request(server, creds, "ListCert", V_2020_04, secret="bad"), 400, "SignatureDoesNotMatch")


def test_tampered_query_v3(server, creds):
    target, headers, body = v3_prepare(server, creds, "ListCert", V_2020_04, {"ShowSize": "5"})
    assert_error(raw(server, "POST", target.replace("ShowSize=5", "ShowSize=6"), headers=headers),
                 400, "SignatureDoesNotMatch")


def test_tampered_signed_header_v3(server, creds):
    target, headers, body = v3_prepare(server, creds, "ListCert", V_2020_04)
    headers["x-acs-action"] = "ListCsr"
    assert_error(raw(server, "POST", target, headers=headers), 400, "SignatureDoesNotMatch")


def test_tampered_query_v1(server, creds):
    from opencas_testlib import v1_params
    p = v1_params(creds["AccessKeyId"], creds["AccessKeySecret"], "ListCert", V_2020_04, {"ShowSize": "5"})
    p["ShowSize"] = "6"
    assert_error(raw(server, "GET", "/?" + encode_pairs(p.items())), 400, "SignatureDoesNotMatch")


# ---------------------------------------------------------------- v3 body hash

def test_v3_body_hash_mismatch(server, creds):
    """x-acs-content-sha256 (signed, consistent with the signature) does not match the body sent."""
    signed_body = b"ShowSize=10"
    r = v3_request(server, creds, "ListCert", V_2020_04, body=signed_body,
                   content_type="application/x-www-form-urlencoded", send_body=b"ShowSize=11")
    assert_error(r, 400, "SignatureDoesNotMatch")


def test_v3_empty_body_hash_with_a_body(server, creds):
    r = v3_request(server, creds, "ListCert", V_2020_04, body=b"",
                   content_type="application/x-www-form-urlencoded", send_body=b"ShowSize=11")
    assert_error(r, 400, "SignatureDoesNotMatch")


def test_v3_bogus_content_sha256(server, creds):
    r = v3_request(server, creds, "ListCert", V_2020_04, content_sha256="0" * 64)
    assert_error(r, 400, "SignatureDoesNotMatch")


# ---------------------------------------------------------------- unknown / missing credentials

def test_unknown_access_key_tea_v3(server):
    from alibabacloud_tea_openapi.exceptions import ClientException
    fake = {"AccessKeyId": "LTAInosuchkey000000000", "AccessKeySecret": "whatever"}
    with pytest.raises(ClientException) as ei:
        call_tea(LIST_CERT, server, fake)
    assert ei.value.status_code == 404
    assert ei.value.code == "InvalidAccessKeyId.NotFound"


def test_unknown_access_key_core_sdk(server):
    from aliyunsdkcore.acs_exception.exceptions import ServerException
    fake = {"AccessKeyId": "LTAInosuchkey000000000", "AccessKeySecret": "whatever"}
    with pytest.raises(ServerException) as ei:
        call_core(LIST_CERT, server, fake)
    assert ei.value.get_http_status() == 404
    assert ei.value.get_error_code() == "InvalidAccessKeyId.NotFound"


def test_unknown_access_key_raw(server):
    fake = {"AccessKeyId": "LTAInosuchkey000000000", "AccessKeySecret": "whatever"}
    assert_error(v1_request(server, fake, "ListCert", V_2020_04), 404, "InvalidAccessKeyId.NotFound")
    assert_error(v3_request(server, fake, "ListCert", V_2020_04), 404, "InvalidAccessKeyId.NotFound")


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_no_credentials(server, method):
    r = raw(server, method, "/?" + encode_pairs([("Action", "ListCert"), ("Version", V_2020_04)]))
    assert_error(r, 400, "IncompleteSignature")


def test_no_credentials_v3_style_headers(server):
    r = raw(server, "POST", "/", headers={"x-acs-action": "ListCert", "x-acs-version": V_2020_04,
                                          "x-acs-date": utc_timestamp(),
                                          "x-acs-content-sha256": hashlib.sha256(b"").hexdigest()})
    assert_error(r, 400, "IncompleteSignature")


# ---------------------------------------------------------------- timestamps

@pytest.mark.parametrize("offset", [-20 * 60, 20 * 60, -86400 * 3])
def test_v1_timestamp_expired(server, creds, offset):
    r = v1_request(server, creds, "ListCert", V_2020_04, timestamp=utc_timestamp(offset))
    assert_error(r, 400, "InvalidTimeStamp.Expired")


@pytest.mark.parametrize("offset", [-20 * 60, 20 * 60])
def test_v3_date_expired(server, creds, offset):
    r = v3_request(server, creds, "ListCert", V_2020_04, date=utc_timestamp(offset))
    assert_error(r, 400, "InvalidTimeStamp.Expired")


# ---------------------------------------------------------------- nonce replay

def test_v1_nonce_replay(server, creds):
    from opencas_testlib import v1_params
    p = v1_params(creds["AccessKeyId"], creds["AccessKeySecret"], "ListCert", V_2020_04)
    target = "/?" + encode_pairs(p.items())
    assert_ok(raw(server, "GET", target))
    assert_error(raw(server, "GET", target), 400, "SignatureNonceUsed")


def test_v1_nonce_reused_with_new_signature(server, creds):
    nonce = "opencas-test-nonce-" + utc_timestamp().replace(":", "")
    assert_ok(v1_request(server, creds, "ListCert", V_2020_04, {"ShowSize": "5"}, nonce=nonce))
    assert_error(v1_request(server, creds, "ListCert", V_2020_04, {"ShowSize": "6"}, nonce=nonce),
                 400, "SignatureNonceUsed")


def test_v3_nonce_replay(server, creds):
    target, headers, body = v3_prepare(server, creds, "ListCert", V_2020_04)
    assert_ok(raw(server, "POST", target, headers=headers))
    assert_error(raw(server, "POST", target, headers=headers), 400, "SignatureNonceUsed")


# ---------------------------------------------------------------- bearer

@pytest.mark.parametrize("style", ["header", "authorization"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_bearer_raw(server, creds, style, method):
    r = bearer_request(server, creds["ApiKey"], "ListCert", V_2020_04, {"ShowSize": "31"},
                       method=method, style=style)
    check_empty_list(LIST_CERT, assert_ok(r), size=31)


def test_bearer_params_in_form_body(server, creds):
    r = bearer_request(server, creds["ApiKey"], "ListCsr", V_2020_04, {"CurrentPage": "2"}, in_body=True)
    check_empty_list(BY_NAME["ListCsr"], assert_ok(r), page=2)


def test_bearer_action_from_headers(server, creds):
    r = raw(server, "POST", "/?ShowSize=32", headers={"x-acs-bearer-token": creds["ApiKey"],
                                                     "x-acs-action": "ListCert", "x-acs-version": V_2020_04})
    check_empty_list(LIST_CERT, assert_ok(r), size=32)


def test_bearer_tea_v1_style_query_token(server, creds):
    """tea do_rpcrequest puts BearerToken=...&SignatureType=BEARERTOKEN in the query."""
    q = [("Action", "ListCert"), ("Version", V_2020_04), ("Format", "json"),
         ("BearerToken", creds["ApiKey"]), ("SignatureType", "BEARERTOKEN"), ("ShowSize", "33")]
    check_empty_list(LIST_CERT, assert_ok(raw(server, "POST", "/?" + encode_pairs(q))), size=33)


@pytest.mark.parametrize("style", ["header", "authorization"])
def test_bearer_unknown_token(server, style):
    r = bearer_request(server, "no-such-api-key-0123456789", "ListCert", V_2020_04, style=style)
    assert_error(r, 401, "InvalidBearerToken.NotFound")


def test_bearer_unknown_token_tea(server, creds):
    from alibabacloud_tea_openapi.exceptions import ClientException
    with pytest.raises(ClientException) as ei:
        call_tea(LIST_CERT, server, dict(creds, ApiKey="no-such-api-key-0123456789"), bearer=True)
    assert ei.value.status_code == 401
    assert ei.value.code == "InvalidBearerToken.NotFound"


def test_bearer_is_not_access_key(server, creds):
    """The AccessKeySecret is not a bearer token and the ApiKey is not a secret."""
    assert_error(bearer_request(server, creds["AccessKeySecret"], "ListCert", V_2020_04),
                 401, "InvalidBearerToken.NotFound")
    assert_error(bearer_request(server, creds["AccessKeyId"], "ListCert", V_2020_04),
                 401, "InvalidBearerToken.NotFound")
    assert_error(v3_request(server, creds, "ListCert", V_2020_04, secret=creds["ApiKey"]),
                 400, "SignatureDoesNotMatch")


# ---------------------------------------------------------------- path style

@pytest.mark.parametrize("style", ["header", "authorization"])
def test_path_style_versioned_query(server, creds, style):
    h = {"x-acs-bearer-token": creds["ApiKey"]} if style == "header" else {"Authorization": f"Bearer {creds['ApiKey']}"}
    r = raw(server, "POST", f"/api/cas/{V_2020_04}/ListCert?ShowSize=41&CurrentPage=2", headers=h)
    check_empty_list(LIST_CERT, assert_ok(r), page=2, size=41)
    r = raw(server, "GET", f"/api/cas/{V_2020_06}/DescribeCACertificateList?ShowSize=42", headers=h)
    check_empty_list(BY_NAME["DescribeCACertificateList"], assert_ok(r), size=42)


def test_path_style_versioned_json_body(server, creds):
    h = {"Authorization": f"Bearer {creds['ApiKey']}", "Content-Type": "application/json"}
    r = raw(server, "POST", f"/api/cas/{V_2020_04}/ListUserCertificateOrder", headers=h,
            body=json.dumps({"ShowSize": 43, "CurrentPage": 3, "OrderType": "CERT"}))
    check_empty_list(BY_NAME["ListUserCertificateOrder"], assert_ok(r), page=3, size=43)


def test_path_style_v1_query(server, creds):
    h = {"Authorization": f"Bearer {creds['ApiKey']}"}
    r = raw(server, "GET", "/api/v1/ListCert?ShowSize=44", headers=h)
    check_empty_list(LIST_CERT, assert_ok(r), size=44)


def test_path_style_v1_json_body(server, creds):
    h = {"x-acs-bearer-token": creds["ApiKey"], "Content-Type": "application/json"}
    r = raw(server, "POST", "/api/v1/ListCsr", headers=h, body=json.dumps({"ShowSize": 45}))
    check_empty_list(BY_NAME["ListCsr"], assert_ok(r), size=45)
    r = raw(server, "POST", "/api/v1/DescribeCACertificateList", headers=h,
            body=json.dumps({"CurrentPage": 2, "CaStatus": "issue"}))
    check_empty_list(BY_NAME["DescribeCACertificateList"], assert_ok(r), page=2)


def test_path_style_errors(server, creds):
    h = {"Authorization": f"Bearer {creds['ApiKey']}"}
    assert_error(raw(server, "GET", "/api/v1/ListCert?ShowSize=0", headers=h), 400, "InvalidParameter.ShowSize")
    assert_error(raw(server, "GET", "/api/v1/NoSuchAction", headers=h), 404, "InvalidAction.NotFound")
    assert_error(raw(server, "GET", f"/api/cas/{V_2020_04}/NoSuchAction", headers=h), 404, "InvalidAction.NotFound")
    assert_error(raw(server, "GET", "/api/cas/2099-01-01/ListCert", headers=h), 400, "InvalidVersion")
    assert_error(raw(server, "GET", "/api/v1/ListCert", headers={"Authorization": "Bearer nope-nope-nope"}),
                 401, "InvalidBearerToken.NotFound")
