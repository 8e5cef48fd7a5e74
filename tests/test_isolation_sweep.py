"""Isolation sweep: every routed action that names a resource (CertId, Identifier,
ParentIdentifier, CsrId, OrderId, InstanceId, WarehouseId, SerialNumber, CertIdentifier,
CustomIdentifier, CertificateId, CaIdentifier, Ids, ResourceId, ...) is called by account B
with account A's identifiers. B gets NotFound*/Forbidden* (or, for a list filter, a result
with nothing of A's), never A's data; afterwards every read of A's resources answers as
before (B's deletes, revokes and updates did nothing).

The routed actions come from the server itself (every spec action is probed; only
`InvalidAction.NotFound` means unrouted); a routed action with a reference parameter and no
case here fails the test, so a new action must be added. Admin operations (accounts,
packages, the built-in issuer) are CLI only: every action name in the registry source is
a spec action, and admin-like names are not routed."""
from __future__ import annotations

import base64
import json
import re
import sqlite3
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from opencas_testlib import REPO_ROOT, V_2018, V_2020_04, V_2020_06, download_v3, self_signed_ec as self_signed, v1_request

VERSIONS = (V_2018, V_2020_04, V_2020_06)
# request parameters that name an existing resource of the caller
REFERENCES = {"CertId", "Identifier", "ParentIdentifier", "CsrId", "OrderId", "InstanceId", "WarehouseId",
              "WarehouseInstanceId", "WarehouseInstanceIds", "SerialNumber", "CertIdentifier", "CustomIdentifier",
              "CertificateId", "CaIdentifier", "Identifiers", "Ids", "ResourceId", "ParentId", "Id"}
MARK = "isoA" + uuid.uuid4().hex[:10]  # in every name A gives: must never reach B
REFUSED = re.compile(r"^(NotFound|Forbidden)")


SDKS = {V_2018: "alibabacloud_cas20180713", V_2020_04: "alibabacloud_cas20200407",
        V_2020_06: "alibabacloud_cas20200630"}


def spec_actions() -> dict[tuple[str, str], list[str]]:
    """(version, action) -> wire names of its request parameters, for every action that takes
    any, read from the official SDKs' request models (the source shared/spec/api/*.json was
    generated from; they agree), so the sweep needs nothing outside the repository and its venv."""
    import importlib
    import inspect
    out = {}
    for v, module in SDKS.items():
        models = importlib.import_module(f"{module}.models")
        for name, cls in vars(models).items():
            if inspect.isclass(cls) and name.endswith("Request") and not name.endswith("ShrinkRequest"):
                params = re.findall(r"m\.get\('([A-Za-z0-9]+)'\)", inspect.getsource(cls.from_map))
                out[(v, name[: -len("Request")])] = sorted(set(params))
    return out


def public_action_names() -> set[str]:
    """Every action name of the public API, lowercased without separators, as the SDK
    clients name their methods."""
    import importlib
    names = set()
    for module in SDKS.values():
        client = importlib.import_module(f"{module}.client").Client
        names |= {n.replace("_", "").lower() for n in dir(client)
                  if not n.startswith("_") and not n.endswith(("_with_options", "_async"))}
    return names


def call(srv, creds, version, action, params=None):
    r = v1_request(srv, creds, action, version, {k: str(v) for k, v in (params or {}).items()})
    try:
        body = r.json()
    except ValueError:
        body = {"_raw": r.text}
    return r.status_code, body


def ok(srv, creds, version, action, **params) -> dict:
    status, body = call(srv, creds, version, action, params)
    assert status == 200, f"{action}: HTTP {status} {body}"
    return body


def csr_pem(cn: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return (x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode())



# --------------------------------------------------------------------------
# account A's world
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def world(server):
    a = server.creds
    subj = dict(Organization=MARK, OrganizationUnit="QA", Locality="Hangzhou", State="Zhejiang", CountryCode="CN")
    root = ok(server, a, V_2020_06, "CreateRootCACertificate", CommonName=f"{MARK} root", Algorithm="ECC_256",
              Years=10, **subj)["Identifier"]
    sub = ok(server, a, V_2020_06, "CreateSubCACertificate", ParentIdentifier=root, CommonName=f"{MARK} sub",
             Algorithm="ECC_256", Years=5, EnableCrl="true", **subj)["Identifier"]
    leaf = ok(server, a, V_2020_06, "CreateServerCertificate", ParentIdentifier=sub, Algorithm="ECC_256",
              CommonName=f"{MARK}.example.com", Days=30, Immediately=1,
              **{"Tags.1.Key": "owner", "Tags.1.Value": MARK})
    custom = f"cust-{uuid.uuid4().hex[:12]}"  # echoed back in refusals: no MARK in it
    client = ok(server, a, V_2020_06, "CreateClientCertificate", ParentIdentifier=sub, CommonName=f"{MARK} client",
                Days=30, Immediately=1, CustomIdentifier=custom, AliasName=MARK)
    csr_id = ok(server, a, V_2020_04, "CreateCsr", Algorithm="ECC", KeySize=256, CommonName=f"{MARK}.csr.example.com",
                CountryCode="CN", Province="Zhejiang", Locality="Hangzhou", Name=f"{MARK}-csr")["CsrId"]
    cert_pem, key_pem = self_signed(f"{MARK}.upload.example.com")
    upload = ok(server, a, V_2020_04, "UploadUserCertificate", Name=f"{MARK}-upload", Cert=cert_pem, Key=key_pem)
    wh = ok(server, a, V_2020_04, "CreateWarehouse", Name=f"{MARK}-wh", Type="ssl")["WarehouseInstanceId"]
    # a private CA certificate synced into A's certificate store
    ok(server, a, V_2020_06, "UploadPcaCertToCas", Ids=client["Identifier"])
    server.cli_json("package", "grant", "--account", str(a["AccountId"]), "--product", "symantec-free-1-free",
                    "--count", "3")
    order = ok(server, a, V_2020_04, "CreateCertificateRequest", ProductCode="symantec-free-1-free",
               Domain=f"{MARK.lower()}.example.com", ValidateType="DNS", Username=MARK, Email="a@example.com",
               Phone="13800000000")["OrderId"]
    orders = ok(server, a, V_2020_04, "ListUserCertificateOrder", OrderType="CPACK", ShowSize=100)
    instance = [o for o in orders["CertificateOrderList"] if o["OrderId"] == order][0]["InstanceId"]
    ok(server, a, V_2020_06, "TagResources", RegionId="cn-hangzhou", ResourceType="instance",
       **{"ResourceId.1": sub, "Tag.1.Key": "owner", "Tag.1.Value": MARK})
    ok(server, a, V_2020_04, "TagResources", RegionId="cn-hangzhou", ResourceType="Certificate",
       **{"ResourceId.1": str(upload["CertId"]), "Tag.1.Key": "owner", "Tag.1.Value": MARK})
    ok(server, a, V_2020_04, "TagResources", RegionId="cn-hangzhou", ResourceType="CSR",
       **{"ResourceId.1": str(csr_id), "Tag.1.Key": "owner", "Tag.1.Value": MARK})
    w = dict(root=root, sub=sub, leaf=leaf["Identifier"], serial=leaf["SerialNumber"], client=client["Identifier"],
             custom=custom, csr=csr_id, cert_id=upload["CertId"], upload_resource=upload["ResourceId"], wh=wh,
             wh_id=int(wh.removeprefix("cas-wh-")), order=order, instance=instance)
    # ListAllEndEntityInstance names a CA by its numeric row id, which no response shows
    db = sqlite3.connect(f"file:{server.data_dir / 'opencas.db'}?mode=ro", uri=True)
    try:
        (w["sub_id"],) = db.execute("SELECT id FROM cas WHERE identifier = ?", (sub,)).fetchone()
    finally:
        db.close()
    b = server.create_account(f"iso-b-{uuid.uuid4().hex[:6]}")
    w["a_account"] = a["AccountId"]
    return w, b


def snapshot(server, creds, w) -> dict:
    """Every read of A's resources, RequestIds dropped."""
    reads = [
        (V_2020_06, "DescribeCACertificate", {"Identifier": w["root"]}),
        (V_2020_06, "DescribeCACertificate", {"Identifier": w["sub"]}),
        (V_2020_06, "ListCACertificateLog", {"Identifier": w["sub"]}),
        (V_2020_06, "DescribeClientCertificate", {"Identifier": w["leaf"]}),
        (V_2020_06, "DescribeClientCertificate", {"Identifier": w["client"]}),
        (V_2020_06, "DescribeClientCertificateStatus", {"Identifier": w["leaf"]}),
        (V_2020_06, "ListClientCertificate", {"ShowSize": 100}),
        (V_2020_06, "DescribeCACertificateList", {"ShowSize": 100}),
        (V_2020_06, "ListRevokeCertificate", {}),
        (V_2020_04, "GetCsrDetail", {"CsrId": w["csr"]}),
        (V_2020_04, "GetUserCertificateDetail", {"CertId": w["cert_id"]}),
        (V_2020_04, "ListCertificates", {"ShowSize": 100}),
        (V_2020_04, "ListWarehouse", {}),
        (V_2020_04, "DescribeCertificateState", {"OrderId": w["order"]}),
        (V_2020_04, "GetInstanceDetail", {"InstanceId": w["instance"]}),
        (V_2020_04, "ListUserCertificateOrder", {"OrderType": "CPACK", "ShowSize": 100}),
        (V_2020_04, "ListCert", {"ShowSize": 100}),
        (V_2020_04, "DescribePackageState", {"ProductCode": "symantec-free-1-free"}),
        (V_2020_06, "ListTagResources", {"RegionId": "cn-hangzhou", "ResourceType": "instance",
                                         "ResourceId.1": w["sub"]}),
        (V_2020_04, "ListTagResources", {"RegionId": "cn-hangzhou", "ResourceType": "Certificate",
                                         "ResourceId.1": str(w["cert_id"])}),
        (V_2020_04, "ListTagResources", {"RegionId": "cn-hangzhou", "ResourceType": "CSR",
                                         "ResourceId.1": str(w["csr"])}),
    ]
    out = {}
    for v, action, params in reads:
        body = ok(server, creds, v, action, **params)
        body.pop("RequestId", None)
        out[f"{action} {params}"] = body
    return out


def cases(w) -> dict[tuple[str, str], list[tuple[str, dict]]]:
    """(version, action) -> [(expectation, params)]: "refused" (NotFound*/Forbidden*),
    "empty" (success with nothing of A's) or "unknown" (a status read that answers for any
    serial: A's must read as never issued)."""
    cid, ident, sub = w["cert_id"], w["leaf"], w["sub"]
    region = {"RegionId": "cn-hangzhou"}
    csr = csr_pem("b-isolation.example.com")
    ops = dict(Algorithm="ECDSA_SHA_256", Message=base64.b64encode(b"m").decode(), MessageType="RAW")
    crypto = [("refused", {"CertIdentifier": ident}), ("refused", {"CustomIdentifier": w["custom"]}),
              ("refused", {"WarehouseId": w["wh_id"], "CertIdentifier": ident})]
    issue = dict(Days=30, Immediately=1, CommonName="b.example.com")
    return {
        (V_2018, "CreateDVOrderAudit"): [("refused", {"InstanceId": w["instance"], "Domain": "b.example.com",
                                                      "DomainVerifyType": "DNS", "Username": "b",
                                                      "Email": "b@example.com", "Mobile": "13800000000"})],
        (V_2018, "DescribeDVOrderResult"): [("refused", {"InstanceId": w["instance"]})],
        (V_2018, "DescribeUserCertificateDetail"): [("refused", {"CertId": cid})],
        (V_2018, "DeleteUserCertificate"): [("refused", {"CertId": cid})],
        (V_2020_04, "ApplyCertificate"): [("refused", {"InstanceId": w["instance"], "Domain": "b.example.com",
                                                       "ValidationMethod": "DNS"})],
        (V_2020_04, "CancelCertificateForPackageRequest"): [("refused", {"OrderId": w["order"]})],
        (V_2020_04, "CancelOrderRequest"): [("refused", {"OrderId": w["order"]})],
        (V_2020_04, "CancelPendingCertificate"): [("refused", {"InstanceId": w["instance"]})],
        (V_2020_04, "CreateWHClientCertificate"): [("refused", {"ParentIdentifier": sub, **issue})],
        (V_2020_04, "Decrypt"): [(e, {**p, "Algorithm": "RSAES_OAEP_SHA_256",
                                      "CiphertextBlob": base64.b64encode(b"x" * 256).decode()}) for e, p in crypto],
        (V_2020_04, "Encrypt"): [(e, {**p, "Algorithm": "RSAES_OAEP_SHA_256",
                                      "Plaintext": base64.b64encode(b"x").decode()}) for e, p in crypto],
        (V_2020_04, "Sign"): [(e, {**p, "SigningAlgorithm": "SHA256withECDSA", "Message": ops["Message"],
                                   "MessageType": "RAW"}) for e, p in crypto],
        (V_2020_04, "Verify"): [(e, {**p, "SigningAlgorithm": "SHA256withECDSA", "Message": ops["Message"],
                                     "MessageType": "RAW", "SignatureValue": base64.b64encode(b"s").decode()})
                                for e, p in crypto],
        (V_2020_04, "DeleteCertificateRequest"): [("refused", {"OrderId": w["order"]})],
        (V_2020_04, "DeleteCsr"): [("refused", {"CsrId": w["csr"]})],
        (V_2020_04, "DeleteInstance"): [("refused", {"InstanceId": w["instance"]})],
        (V_2020_04, "DeletePCACert"): [("refused", {"Identifier": w["client"]})],
        (V_2020_04, "DeleteUserCertificate"): [("refused", {"CertId": cid})],
        (V_2020_04, "DeleteWarehouse"): [("refused", {"WarehouseInstanceId": w["wh"]})],
        (V_2020_04, "DescribeCertificateState"): [("refused", {"OrderId": w["order"]})],
        (V_2020_04, "DescribeWarehouseCert"): [("refused", {"CertIdentifier": ident})],
        (V_2020_04, "GetCertificateDetail"): [("refused", {"CertificateId": cid})],
        (V_2020_04, "GetCsrDetail"): [("refused", {"CsrId": w["csr"]})],
        (V_2020_04, "GetInstanceDetail"): [("refused", {"InstanceId": w["instance"]})],
        (V_2020_04, "GetUserCertificateDetail"): [("refused", {"CertId": cid})],
        (V_2020_04, "ListCert"): [("empty", {"Identifiers": f"{ident},{w['client']}"}),
                                  ("empty", {"WarehouseId": w["wh_id"]})],
        (V_2020_04, "ListCertWarehouse"): [("empty", {"InstanceId": w["wh"]})],
        (V_2020_04, "ListCertificates"): [("empty", {"InstanceId": w["instance"]})],
        (V_2020_04, "ListWarehouse"): [("empty", {"WarehouseInstanceIds": json.dumps([w["wh"]])})],
        (V_2020_04, "ListTagResources"): [("empty", {**region, "ResourceType": "Certificate",
                                                     "ResourceId.1": str(cid)}),
                                          ("empty", {**region, "ResourceType": "CSR", "ResourceId.1": str(w["csr"])})],
        (V_2020_04, "MoveResourceGroup"): [("refused", {**region, "ResourceType": "Certificate",
                                                        "ResourceId": str(cid), "ResourceGroupId": "rg-b"})],
        (V_2020_04, "RefundInstance"): [("refused", {"InstanceId": w["instance"]})],
        (V_2020_04, "RenewCertificateOrderForPackageRequest"): [("refused", {"OrderId": w["order"]})],
        (V_2020_04, "RevokeCertificate"): [("refused", {"InstanceId": w["instance"]}),
                                           ("refused", {"InstanceId": w["instance"], "CertificateId": cid})],
        (V_2020_04, "RevokeWHClientCertificate"): [("refused", {"Identifier": ident})],
        (V_2020_04, "ShareCertificate"): [("refused", {"CertificateId": cid, "TargetUserId": str(w["a_account"])})],
        (V_2020_04, "TagResources"): [("refused", {**region, "ResourceType": "Certificate", "ResourceId.1": str(cid),
                                                   "Tag.1.Key": "owner", "Tag.1.Value": "B"}),
                                      ("refused", {**region, "ResourceType": "CSR", "ResourceId.1": str(w["csr"]),
                                                   "Tag.1.Key": "owner", "Tag.1.Value": "B"})],
        (V_2020_04, "UntagResources"): [("refused", {**region, "ResourceType": "Certificate",
                                                     "ResourceId.1": str(cid), "All": "true"})],
        (V_2020_04, "UpdateCsr"): [("refused", {"CsrId": w["csr"], "Key": self_signed("x.example.com")[1]})],
        (V_2020_04, "UpdateInstance"): [("refused", {"InstanceId": w["instance"], "CertificateName": "b"})],
        (V_2020_04, "UploadPCACert"): [("refused", {"WarehouseId": w["wh_id"],
                                                    "Cert": self_signed("b-pca.example.com")[0]})],
        (V_2020_06, "AssignCertificateCount"): [("refused", {"CaIdentifier": sub, "CertTotalCount": 5})],
        (V_2020_06, "CreateClientCertificate"): [("refused", {"ParentIdentifier": sub, **issue})],
        (V_2020_06, "CreateClientCertificateWithCsr"): [("refused", {"ParentIdentifier": sub, "Csr": csr,
                                                                     "Days": 30, "Immediately": 1})],
        (V_2020_06, "CreateServerCertificate"): [("refused", {"ParentIdentifier": sub, "Algorithm": "ECC_256",
                                                              **issue})],
        (V_2020_06, "CreateServerCertificateWithCsr"): [("refused", {"ParentIdentifier": sub, "Csr": csr,
                                                                     "Days": 30, "Immediately": 1})],
        (V_2020_06, "CreateCustomCertificate"): [("refused", {"ParentIdentifier": sub, "Csr": csr,
                                                              "Validity": "30d", "Immediately": 1})],
        (V_2020_06, "CreateExternalCACertificate"): [("refused", {"InstanceId": sub, "Csr": csr,
                                                                  "Validity": "1y"})],
        (V_2020_06, "CreateRevokeClientCertificate"): [("refused", {"Identifier": ident})],
        (V_2020_06, "CreateSubCACertificate"): [("refused", {"ParentIdentifier": w["root"], "CommonName": "b sub",
                                                             "Algorithm": "ECC_256", "Years": 5,
                                                             "Organization": "B", "OrganizationUnit": "B",
                                                             "Locality": "B", "State": "B"})],
        (V_2020_06, "DeleteClientCertificate"): [("refused", {"Identifier": ident})],
        (V_2020_06, "DescribeCACertificate"): [("refused", {"Identifier": sub})],
        (V_2020_06, "DescribeCACertificateList"): [("empty", {"Identifier": sub})],
        (V_2020_06, "DescribeCertificatePrivateKey"): [("refused", {"Identifier": ident,
                                                                    "EncryptedCode": "Pw,.+-_#42"})],
        (V_2020_06, "DescribeClientCertificate"): [("refused", {"Identifier": ident})],
        (V_2020_06, "DescribeClientCertificateForSerialNumber"): [("empty", {"SerialNumber": w["serial"]})],
        (V_2020_06, "DescribeClientCertificateStatus"): [("empty", {"Identifier": ident})],
        (V_2020_06, "DescribeClientCertificateStatusForSerialNumber"): [("unknown", {"SerialNumber": w["serial"]})],
        (V_2020_06, "DescribePcaAndExternalCACertificateList"): [("empty", {"Identifiers": f"{w['root']},{sub}"})],
        (V_2020_06, "GetCAInstanceStatus"): [("refused", {"Identifier": sub}),
                                             ("refused", {"InstanceId": f"cas-pca-{sub}"})],
        (V_2020_06, "GetCaInstanceCrlAddress"): [("refused", {"CaIdentifier": sub})],
        (V_2020_06, "ListAllEndEntityInstance"): [("refused", {"ParentId": w["sub_id"]})],
        (V_2020_06, "ListCACertificateLog"): [("refused", {"Identifier": sub})],
        (V_2020_06, "ListCert"): [("empty", {"ParentIdentifier": sub})],
        (V_2020_06, "ListClientCertificate"): [("empty", {"Identifier": ident})],
        (V_2020_06, "ListTagResources"): [("empty", {**region, "ResourceType": "instance", "ResourceId.1": sub}),
                                          ("empty", {**region, "ResourceType": "Certificate",
                                                     "ResourceId.1": ident})],
        (V_2020_06, "MoveResourceGroup"): [("refused", {**region, "ResourceType": "instance", "ResourceId": sub,
                                                        "ResourceGroupId": "rg-b"})],
        (V_2020_06, "TagResources"): [("refused", {**region, "ResourceType": "instance", "ResourceId.1": sub,
                                                   "Tag.1.Key": "owner", "Tag.1.Value": "B"})],
        (V_2020_06, "UntagResources"): [("refused", {**region, "ResourceType": "instance", "ResourceId.1": sub,
                                                     "All": "true"})],
        (V_2020_06, "UpdateCACertificateStatus"): [("refused", {"Identifier": sub, "Status": "REVOKE"})],
        (V_2020_06, "UpdatePcaCertificate"): [("refused", {"Identifier": sub, "AliasName": "b"})],
        (V_2020_06, "UploadPcaCertToCas"): [("refused", {"Ids": ident})],
    }


# --------------------------------------------------------------------------
# the sweep
# --------------------------------------------------------------------------

def routed_actions(server, creds) -> set[tuple[str, str]]:
    out = set()
    for (v, action) in spec_actions():
        status, body = call(server, creds, v, action)
        if body.get("Code") != "InvalidAction.NotFound":
            out.add((v, action))
    return out


def test_every_reference_taking_action_refuses_a_stranger(server, world):
    w, b = world
    a = server.creds
    before = snapshot(server, a, w)
    routed = routed_actions(server, b)
    spec = spec_actions()
    needs = {k for k in routed if set(spec[k]) & REFERENCES}
    table = cases(w)
    missing = sorted(needs - set(table))
    assert not missing, f"routed actions that take an identifier and have no isolation case: {missing}"
    assert len(needs) >= 60, f"only {len(needs)} identifier-taking actions routed: the probe is broken"

    failures = []
    for key in sorted(table):
        if key not in routed:
            failures.append(f"{key}: has a case but is not routed (remove the case)")
            continue
        v, action = key
        for expect, params in table[key]:
            status, body = call(server, b, v, action, params)
            text = json.dumps(body, ensure_ascii=False)
            where = f"{v} {action} {sorted(params)}"
            if MARK in text or MARK.lower() in text:
                failures.append(f"{where}: A's data in B's answer: {text[:300]}")
            elif expect == "refused":
                if status == 200 or not REFUSED.match(str(body.get("Code", ""))) or status not in (403, 404):
                    failures.append(f"{where}: expected NotFound*/Forbidden*, got HTTP {status} {text[:300]}")
            elif expect == "unknown":
                # a status by serial answers for any serial: A's must read as one never issued
                if status != 200 or [s["Status"] for s in body.get("CertificateStatus", [])] != ["unknown"]:
                    failures.append(f"{where}: expected status unknown, got HTTP {status} {text[:300]}")
            elif status != 200:
                failures.append(f"{where}: expected an empty result, got HTTP {status} {text[:300]}")
            else:
                for ref in (w["leaf"], w["client"], w["sub"], w["root"], w["wh"], str(w["cert_id"])):
                    if f'"{ref}"' in text:
                        failures.append(f"{where}: A's {ref} in B's list: {text[:300]}")
    assert not failures, "\n".join(failures)

    # /download/<Identifier> takes one too
    r = download_v3(server, b, w["leaf"])
    assert r.status_code == 404 and r.json()["Code"].startswith("NotFound"), r.text[:300]

    # nothing B did changed anything of A's
    after = snapshot(server, a, w)
    changed = [k for k in before if before[k] != after[k]]
    assert not changed, f"A's resources changed by B's calls: {changed}"
    # ... and B has nothing of A's by listing
    for v, action, params in [(V_2020_06, "ListClientCertificate", {}), (V_2020_06, "DescribeCACertificateList", {}),
                              (V_2020_04, "ListCertificates", {}), (V_2020_04, "ListCsr", {}),
                              (V_2020_04, "ListCert", {}), (V_2020_04, "ListWarehouse", {}),
                              (V_2020_04, "ListUserCertificateOrder", {"OrderType": "CPACK"}),
                              (V_2020_04, "ListUserCertificateOrder", {"OrderType": "UPLOAD"}),
                              (V_2018, "DescribeUserCertificateList", {})]:
        text = json.dumps(ok(server, b, v, action, **params))
        assert MARK not in text and MARK.lower() not in text, f"{action}: A's data in B's list: {text[:300]}"


ADMIN_LIKE = ["CreateAccount", "DeleteAccount", "ListAccounts", "DisableAccount", "EnableAccount",
              "RotateCredentials", "CreateAccessKey", "GrantPackage", "CreatePackage", "PackageGrant",
              "AccountCreate", "CreateIssuerRoot", "BuiltinIssuer", "Backup", "Restore", "AuditList",
              "AuditVerify", "SetQuota", "DescribeAccount"]


def test_admin_operations_are_not_routed(server, creds):
    for name in ADMIN_LIKE:
        for v in VERSIONS:
            status, body = call(server, creds, v, name)
            assert (status, body.get("Code")) == (404, "InvalidAction.NotFound"), (v, name, status, body)
    # every action name the registry source registers is an action of the public API
    spec_names = public_action_names()
    registered = set()
    for f in (REPO_ROOT / "crates" / "wire" / "src" / "actions").rglob("*.rs"):
        registered |= set(re.findall(r'\.add\(\s*[A-Za-z0-9_"\-]+\s*,\s*"([A-Za-z0-9]+)"', f.read_text()))
    assert len(registered) >= 80, f"only {len(registered)} registrations found: the scan is broken"
    foreign = sorted(a for a in registered if a.lower() not in spec_names)
    assert not foreign, f"routed actions that are not in the public API: {foreign}"
