"""DeleteUserCertificate of API 2018-07-13 (CertId; SourceIp and Lang ignored; the answer is the
RequestId alone), through signature v1 (aliyun-python-sdk-core) and the official 2018-07-13 SDK:
the same deletion as 2020-04-07's, scoped to the caller's account."""
from __future__ import annotations

import json
import uuid

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException

from opencas_testlib import V_2018, acs_client, cas20180713, common_request
from test_audit import self_signed

NF = "NotFound.Certificate"


def call(acs, action: str, params: dict, method: str = "POST") -> dict:
    return json.loads(acs.do_action_with_exception(common_request(action, V_2018, params, method=method)))


def refused(acs, action: str, params: dict, status: int, code: str, method: str = "POST") -> None:
    with pytest.raises(ServerException) as e:
        acs.do_action_with_exception(common_request(action, V_2018, params, method=method))
    assert (e.value.get_http_status(), e.value.get_error_code()) == (status, code), e.value


def upload(acs) -> int:
    cert, key = self_signed()
    created = call(acs, "CreateUserCertificate", {"Name": f"del18-{uuid.uuid4().hex[:8]}", "Cert": cert, "Key": key})
    assert isinstance(created["CertId"], int)
    return created["CertId"]


def listed_ids(acs) -> set[int]:
    body = call(acs, "DescribeUserCertificateList", {"ShowSize": 100, "CurrentPage": 1}, method="GET")
    return {c["id"] for c in body["CertificateList"]}


def test_delete_through_signature_v1_and_isolation(server):
    a = acs_client(server)
    b_creds = server.create_account(f"del18-other-{uuid.uuid4().hex[:6]}")
    b = acs_client(server, b_creds)
    cert_id = upload(a)
    assert cert_id in listed_ids(a)

    # another account cannot delete (nor see) it: NotFound, and nothing changes
    refused(b, "DeleteUserCertificate", {"CertId": cert_id}, 404, NF)
    refused(b, "DescribeUserCertificateDetail", {"CertId": cert_id}, 404, NF, method="GET")
    assert call(a, "DescribeUserCertificateDetail", {"CertId": cert_id}, method="GET")["Id"] == cert_id

    body = call(a, "DeleteUserCertificate", {"CertId": cert_id, "SourceIp": "192.0.2.1", "Lang": "en"})
    assert set(body) == {"RequestId"} and body["RequestId"], body
    assert cert_id not in listed_ids(a)
    refused(a, "DescribeUserCertificateDetail", {"CertId": cert_id}, 404, NF, method="GET")
    refused(a, "DeleteUserCertificate", {"CertId": cert_id}, 404, NF)

    # refusals of the parameter itself
    refused(a, "DeleteUserCertificate", {}, 400, "MissingParameter.CertId")
    refused(a, "DeleteUserCertificate", {"CertId": "abc"}, 400, "InvalidParameter.CertId")
    refused(a, "DeleteUserCertificate", {"CertId": 0}, 400, "InvalidParameter.CertId")
    refused(a, "DeleteUserCertificate", {"CertId": 99999999}, 404, NF)


def test_delete_through_the_2018_sdk(server):
    from alibabacloud_cas20180713 import models
    from alibabacloud_tea_openapi.exceptions import AlibabaCloudException

    a = acs_client(server)
    cert_id = upload(a)
    sdk = cas20180713(server)
    other = cas20180713(server, server.create_account(f"del18-sdk-{uuid.uuid4().hex[:6]}"))
    with pytest.raises(AlibabaCloudException) as e:
        other.delete_user_certificate(models.DeleteUserCertificateRequest(cert_id=cert_id))
    assert (e.value.status_code, e.value.code) == (404, NF)
    resp = sdk.delete_user_certificate(models.DeleteUserCertificateRequest(cert_id=cert_id, lang="zh"))
    assert resp.body.request_id
    assert resp.body.to_map() == {"RequestId": resp.body.request_id}
    assert cert_id not in listed_ids(a)
