"""The five implemented actions: how to call them through each client family
and what their empty-store responses must look like."""
from __future__ import annotations

import json
from dataclasses import dataclass

from opencas_testlib import V_2018, V_2020_04, V_2020_06, acs_client, cas20180713, cas20200407, \
    cas20200630, common_request, is_int


@dataclass(frozen=True)
class Action:
    name: str
    version: str
    list_key: str
    default_show_size: int | None  # None: the contract names no default
    fields: frozenset  # top-level keys the catalogue defines for the response
    sdk_method: str
    request_model: str
    sdk_module: str

    @property
    def id(self):
        return f"{self.name}@{self.version}"


ACTIONS = [
    Action("ListCert", V_2020_04, "CertList", 50,
           frozenset({"RequestId", "CertList", "TotalCount", "CurrentPage", "ShowSize"}),
           "list_cert", "ListCertRequest", "alibabacloud_cas20200407"),
    Action("ListUserCertificateOrder", V_2020_04, "CertificateOrderList", 50,
           frozenset({"RequestId", "CertificateOrderList", "TotalCount", "CurrentPage", "ShowSize"}),
           "list_user_certificate_order", "ListUserCertificateOrderRequest", "alibabacloud_cas20200407"),
    Action("ListCsr", V_2020_04, "CsrList", 50,
           frozenset({"RequestId", "CsrList", "TotalCount", "CurrentPage", "ShowSize"}),
           "list_csr", "ListCsrRequest", "alibabacloud_cas20200407"),
    Action("DescribeCACertificateList", V_2020_06, "CertificateList", 20,
           frozenset({"RequestId", "CertificateList", "TotalCount", "PageCount", "CurrentPage", "ShowSize"}),
           "describe_cacertificate_list", "DescribeCACertificateListRequest", "alibabacloud_cas20200630"),
    Action("DescribeUserCertificateList", V_2018, "CertificateList", None,
           frozenset({"RequestId", "CertificateList", "TotalCount", "CurrentPage", "ShowSize"}),
           "describe_user_certificate_list", "DescribeUserCertificateListRequest", "alibabacloud_cas20180713"),
]
BY_NAME = {a.name: a for a in ACTIONS}
ACTION_IDS = [a.name for a in ACTIONS]


def check_empty_list(action: Action, body: dict, page: int | None = None, size: int | None = None):
    """An empty-store list response with the catalogue's shape and JSON types."""
    assert isinstance(body, dict), body
    extra = set(body) - action.fields
    assert not extra, f"{action.name}: keys outside the catalogue's response model: {sorted(extra)} in {body}"
    missing = action.fields - set(body)
    assert not missing, f"{action.name}: missing keys {sorted(missing)} in {body}"
    assert isinstance(body["RequestId"], str) and body["RequestId"], body
    assert body[action.list_key] == [], body
    assert is_int(body["TotalCount"]) and body["TotalCount"] == 0, body
    assert is_int(body["CurrentPage"]) and body["CurrentPage"] == (page if page is not None else 1), body
    assert is_int(body["ShowSize"]), body
    if size is not None:
        assert body["ShowSize"] == size, body
    elif action.default_show_size is not None:
        assert body["ShowSize"] == action.default_show_size, body
    else:
        assert body["ShowSize"] >= 1, body
    if "PageCount" in action.fields:
        assert is_int(body["PageCount"]) and body["PageCount"] == 0, body
    assert "Code" not in body or body["Code"] in (200, "200", "OK", "Success", "success"), body


def tea_client(action: Action, server, creds, **kw):
    factory = {"alibabacloud_cas20200407": cas20200407, "alibabacloud_cas20200630": cas20200630,
               "alibabacloud_cas20180713": cas20180713}[action.sdk_module]
    return factory(server, creds, **kw)


def tea_request(action: Action, **fields):
    import importlib
    models = importlib.import_module(action.sdk_module + ".models")
    return getattr(models, action.request_model)(**fields)


def call_tea(action: Action, server, creds, page=None, size=None, **cfg):
    """Call through the product SDK; returns (status, headers, body dict)."""
    client = tea_client(action, server, creds, **cfg)
    fields = {}
    if page is not None:
        fields["current_page"] = page
    if size is not None:
        fields["show_size"] = size
    resp = getattr(client, action.sdk_method)(tea_request(action, **fields))
    # the 2018-07-13 response model keeps no status code; the SDK raised on >= 400
    status = getattr(resp, "status_code", None) or 200
    return status, resp.headers, resp.body.to_map()


def call_core(action: Action, server, creds, page=None, size=None, method="GET", secret=None,
              body_params=None):
    """Call through aliyun-python-sdk-core AcsClient + CommonRequest (v1)."""
    params = {}
    if page is not None:
        params["CurrentPage"] = page
    if size is not None:
        params["ShowSize"] = size
    client = acs_client(server, creds, secret=secret)
    raw_body = client.do_action_with_exception(
        common_request(action.name, action.version, params, method=method, body_params=body_params))
    return json.loads(raw_body)
