"""The official SDKs, used exactly as a user would, against an empty store."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from actions import ACTIONS, ACTION_IDS, BY_NAME, call_core, call_tea, check_empty_list
from opencas_testlib import acs_client, common_request, is_int


# ---------------------------------------------------------------- v3 (default tea)

@pytest.mark.parametrize("action", ACTIONS, ids=ACTION_IDS)
def test_tea_v3_defaults(server, creds, action):
    status, headers, body = call_tea(action, server, creds)
    assert status == 200
    check_empty_list(action, body)
    assert headers.get("x-acs-request-id") == body["RequestId"]


@pytest.mark.parametrize("action", ACTIONS, ids=ACTION_IDS)
def test_tea_v3_paging_echoed(server, creds, action):
    status, headers, body = call_tea(action, server, creds, page=3, size=7)
    assert status == 200
    check_empty_list(action, body, page=3, size=7)


@pytest.mark.parametrize("size", [1, 1000])
def test_tea_v3_show_size_bounds_accepted(server, creds, size):
    status, _, body = call_tea(BY_NAME["ListCert"], server, creds, size=size)
    assert status == 200
    check_empty_list(BY_NAME["ListCert"], body, size=size)


def test_tea_v3_filters_accepted(server, creds):
    from alibabacloud_cas20200407 import models
    from opencas_testlib import cas20200407
    c = cas20200407(server, creds)
    for kw in [dict(status="ISSUE"), dict(status="REVOKE"), dict(source_type="upload"),
               dict(source_type="aliyun"), dict(cert_type="CA"), dict(cert_type="CERT"),
               dict(warehouse_id=5), dict(key_word="a b*c~d/é中"), dict(identifiers="x,y")]:
        r = c.list_cert(models.ListCertRequest(**kw))
        assert r.status_code == 200, kw
        check_empty_list(BY_NAME["ListCert"], r.body.to_map())
    for ot in ["CPACK", "BUY", "UPLOAD", "CERT"]:
        r = c.list_user_certificate_order(models.ListUserCertificateOrderRequest(order_type=ot))
        assert r.status_code == 200, ot
        check_empty_list(BY_NAME["ListUserCertificateOrder"], r.body.to_map())
    r = c.list_csr(models.ListCsrRequest(algorithm="RSA", key_word="example.com"))
    check_empty_list(BY_NAME["ListCsr"], r.body.to_map())


def test_tea_v3_ca_filters_accepted(server, creds):
    from alibabacloud_cas20200630 import models
    from opencas_testlib import cas20200630
    c = cas20200630(server, creds)
    for kw in [dict(ca_status="issue"), dict(ca_status="forbidden"), dict(ca_status="revoke"),
               dict(cert_type="root"), dict(cert_type="subRoot"), dict(cert_type="externalCa"),
               dict(valid_status="valid"), dict(valid_status="notValid")]:
        r = c.describe_cacertificate_list(models.DescribeCACertificateListRequest(**kw))
        assert r.status_code == 200, kw
        check_empty_list(BY_NAME["DescribeCACertificateList"], r.body.to_map())


def test_request_ids_unique(server, creds):
    ids = set()
    for action in ACTIONS:
        for _ in range(3):
            _, headers, body = call_tea(action, server, creds)
            assert headers.get("x-acs-request-id") == body["RequestId"]
            ids.add(body["RequestId"])
    assert len(ids) == 3 * len(ACTIONS)


# ---------------------------------------------------------------- v1 via tea (signature_algorithm=v2)

@pytest.mark.parametrize("action", ACTIONS, ids=ACTION_IDS)
def test_tea_signature_v2(server, creds, action):
    status, headers, body = call_tea(action, server, creds, page=2, size=9, signature_algorithm="v2")
    assert status == 200
    check_empty_list(action, body, page=2, size=9)
    assert headers.get("x-acs-request-id") == body["RequestId"]


# ---------------------------------------------------------------- v1 via aliyun-python-sdk-core

@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("action", ACTIONS, ids=ACTION_IDS)
def test_core_sdk(server, creds, action, method):
    check_empty_list(action, call_core(action, server, creds, method=method))
    check_empty_list(action, call_core(action, server, creds, page=4, size=11, method=method), page=4, size=11)


def test_core_sdk_post_with_form_body_params(server, creds):
    """add_body_params values travel in a signed form body."""
    body = call_core(BY_NAME["ListCert"], server, creds, method="POST",
                     body_params={"ShowSize": "13", "KeyWord": "a b+c*é"})
    check_empty_list(BY_NAME["ListCert"], body, size=13)


# ---------------------------------------------------------------- bearer via tea

@pytest.mark.parametrize("action", ACTIONS, ids=ACTION_IDS)
def test_tea_bearer_v3_path(server, creds, action):
    status, headers, body = call_tea(action, server, creds, page=2, size=5, bearer=True)
    assert status == 200
    check_empty_list(action, body, page=2, size=5)


@pytest.mark.parametrize("action", ACTIONS, ids=ACTION_IDS)
def test_tea_bearer_v1_path(server, creds, action):
    status, headers, body = call_tea(action, server, creds, bearer=True, signature_algorithm="v2")
    assert status == 200
    check_empty_list(action, body)


# ---------------------------------------------------------------- Format=XML

def _xml_call(server, creds, action, params=None, method="GET"):
    client = acs_client(server, creds)
    req = common_request(action.name, action.version, params, method=method)
    req.set_accept_format("XML")
    status, headers, body, exc = client._implementation_of_do_action(req)
    return status, {k.lower(): v for k, v in headers.items()}, body, exc


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_core_sdk_xml_success(server, creds, method):
    action = BY_NAME["ListCert"]
    status, headers, body, exc = _xml_call(server, creds, action, {"ShowSize": "12"}, method)
    assert status == 200 and exc is None, (status, body)
    assert headers.get("content-type") == "text/xml;charset=utf-8", headers
    root = ET.fromstring(body)
    assert root.tag == "ListCertResponse"
    assert root.findtext("RequestId") == headers.get("x-acs-request-id")
    assert root.findtext("TotalCount") == "0"
    assert root.findtext("CurrentPage") == "1"
    assert root.findtext("ShowSize") == "12"
    assert root.find("Code") is None or root.findtext("Code") in ("200", "OK", "Success", "success")


@pytest.mark.parametrize("action", ACTIONS, ids=ACTION_IDS)
def test_core_sdk_xml_root_per_action(server, creds, action):
    status, headers, body, exc = _xml_call(server, creds, action)
    assert status == 200, body
    assert headers.get("content-type") == "text/xml;charset=utf-8", headers
    root = ET.fromstring(body)
    assert root.tag == f"{action.name}Response"
    assert root.findtext("TotalCount") == "0"
    assert root.findtext("RequestId")


def test_core_sdk_xml_error(server, creds):
    status, headers, body, exc = _xml_call(server, creds, BY_NAME["ListCert"], {"ShowSize": "0"})
    assert status == 400, body
    assert headers.get("content-type") == "text/xml;charset=utf-8", headers
    root = ET.fromstring(body)
    assert root.tag == "Error"
    assert root.findtext("Code") == "InvalidParameter.ShowSize"
    for k in ("RequestId", "HostId", "Message", "Recommend"):
        assert root.find(k) is not None, f"<Error> lacks <{k}>: {body!r}"
    assert root.findtext("RequestId") == headers.get("x-acs-request-id")


# ---------------------------------------------------------------- SDK error reporting

def test_tea_reports_validation_error(server, creds):
    from alibabacloud_cas20200407 import models
    from alibabacloud_tea_openapi.exceptions import ClientException
    from opencas_testlib import cas20200407
    with pytest.raises(ClientException) as ei:
        cas20200407(server, creds).list_cert(models.ListCertRequest(show_size=1001))
    assert ei.value.status_code == 400
    assert ei.value.code == "InvalidParameter.ShowSize"
    assert ei.value.request_id and ei.value.request_id != "None"
    assert isinstance(ei.value.data, dict) and ei.value.data.get("HostId") is not None


def test_core_reports_validation_error(server, creds):
    from aliyunsdkcore.acs_exception.exceptions import ServerException
    with pytest.raises(ServerException) as ei:
        call_core(BY_NAME["ListCert"], server, creds, page=0)
    assert ei.value.get_http_status() == 400
    assert ei.value.get_error_code() == "InvalidParameter.CurrentPage"
    assert ei.value.get_request_id()


def test_integer_fields_are_json_integers(server, creds):
    """Typed SDKs (Go/Java) need integers, not strings: check the decoded body."""
    for action in ACTIONS:
        _, _, body = call_tea(action, server, creds, page=2, size=3)
        for k in ("TotalCount", "CurrentPage", "ShowSize") + (("PageCount",) if "PageCount" in action.fields else ()):
            assert is_int(body[k]), (action.name, k, body)


def test_version_routing_2018_json_body(server, creds):
    """The 2018-07-13 SDK sends params in the query AND a JSON body; the server must accept it."""
    status, _, body = call_tea(BY_NAME["DescribeUserCertificateList"], server, creds, page=6, size=8)
    assert status == 200
    check_empty_list(BY_NAME["DescribeUserCertificateList"], body, page=6, size=8)
