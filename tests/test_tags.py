"""Tags and resource groups through the official SDKs of both versions (2020-04-07 and
2020-06-30): TagResources / UntagResources (keys and All) / ListTagResources (ResourceId and
Tag filters, NextToken paging) / ListTagKeys / MoveResourceGroup over CAs, issued
certificates and CSRs; the limits (20 tags a resource, key and value lengths, reserved
`aliyun` / `acs:` prefixes) with their exact error codes; tags given at creation; the
ResourceGroupId filters of DescribeCACertificateList and ListClientCertificate; and that
another account's resources can be neither seen nor tagged."""
from __future__ import annotations

import uuid

import pytest

from test_issuance import IApi, quick

V04 = "2020-04-07"
NF = "NotFound.Resource"


def uid() -> str:
    return uuid.uuid4().hex[:8]


class Tags:
    """The tag actions of one account through one SDK version."""

    def __init__(self, api: IApi):
        self.api = api
        self.v04 = api.version == V04

    def _tag_models(self, action: str, tags):
        cls = getattr(self.api.models, f"{action}RequestTag")
        return [cls(key=k, value=v) for k, v in tags]

    def tag(self, rtype: str, ids, tags) -> dict:
        return self.api("TagResources", region_id="cn-hangzhou", resource_type=rtype,
                        resource_id=[str(i) for i in ids], tag=self._tag_models("TagResources", tags))

    def tag_error(self, status: int, code: str, rtype: str, ids, tags):
        return self.api.error("TagResources", status, code, region_id="cn-hangzhou", resource_type=rtype,
                              resource_id=[str(i) for i in ids], tag=self._tag_models("TagResources", tags))

    def untag(self, rtype: str, ids, keys=None, all=None) -> dict:
        return self.api("UntagResources", region_id="cn-hangzhou", resource_type=rtype,
                        resource_id=[str(i) for i in ids], tag_key=keys, all=all)

    def page(self, rtype: str, ids=None, tags=None, max_results=None, next_token=None) -> tuple[list, str]:
        body = self.api("ListTagResources", region_id="cn-hangzhou", resource_type=rtype,
                        resource_id=[str(i) for i in ids] if ids else None,
                        tag=self._tag_models("ListTagResources", tags) if tags else None,
                        max_results=max_results, next_token=next_token)
        if self.v04:
            outer, rows = body, body["TagResources"]["TagResource"]
        else:
            outer = body["Data"]
            rows = outer["TagResources"]["TagResources"]
        assert isinstance(outer["NextToken"], str), body
        if max_results is not None:
            assert outer["MaxResults"] == max_results, body
        for r in rows:
            assert r["ResourceType"] == rtype, r
        return rows, outer["NextToken"]

    def all(self, rtype: str, ids=None, tags=None, max_results=20) -> list[tuple[str, str, str]]:
        """Every (ResourceId, TagKey, TagValue) row, following NextToken."""
        out, token = [], None
        while True:
            rows, token = self.page(rtype, ids, tags, max_results, token)
            assert len(rows) <= max_results
            out += [(r["ResourceId"], r["TagKey"], r["TagValue"]) for r in rows]
            if not token:
                return out

    def of(self, rtype: str, rid) -> dict[str, str]:
        rows = self.all(rtype, ids=[rid])
        assert {r[0] for r in rows} <= {str(rid)}, rows
        return {k: v for _, k, v in rows}

    def move(self, rtype: str, rid, rg: str) -> dict:
        return self.api("MoveResourceGroup", resource_type=rtype, resource_id=str(rid), resource_group_id=rg)


@pytest.fixture(scope="module")
def api(server):
    return IApi(server)


@pytest.fixture(scope="module")
def api04(server):
    return IApi(server, version=V04)


@pytest.fixture(scope="module")
def t06(api):
    return Tags(api)


@pytest.fixture(scope="module")
def t04(api04):
    return Tags(api04)


@pytest.fixture(scope="module")
def sub_ca(api):
    root = api.root()["Identifier"]
    return api.sub(root)["Identifier"]


def new_ca(api: IApi, **kw) -> str:
    return api.root(**kw)["Identifier"]


def new_cert(api: IApi, sub: str, **kw) -> tuple[str, int]:
    """An issued client certificate: (Identifier, CertId)."""
    ident = quick(api, sub, "CreateClientCertificate", **kw)["Identifier"]
    listed = api("ListClientCertificate", identifier=ident)["CertificateList"]
    assert len(listed) == 1, listed
    return ident, listed[0]["Id"]


def new_csr(api04: IApi) -> int:
    body = api04("CreateCsr", algorithm="ECC", key_size=256, common_name=f"www-{uid()}.example.com",
                 country_code="CN", province="Zhejiang", locality="Hangzhou")
    return body["CsrId"]


# --------------------------------------------------------------------------
# tagging, listing, filters
# --------------------------------------------------------------------------

def test_creation_tags_then_tag_and_filter_cas(api, t06):
    team = f"team-{uid()}"
    a = new_ca(api, tags=[("env", "prod"), ("team", team)])
    b = new_ca(api, tags=[("env", "dev"), ("team", team)])
    c = new_ca(api)
    assert t06.of("instance", a) == {"env": "prod", "team": team}
    assert t06.of("instance", c) == {}
    # add a key, and give an existing key a new value
    t06.tag("instance", [a, c], [("owner", "pki"), ("env", "staging")])
    assert t06.of("instance", a) == {"env": "staging", "team": team, "owner": "pki"}
    assert t06.of("instance", c) == {"env": "staging", "owner": "pki"}
    # "CA" names the same resources as "instance" in 2020-06-30
    assert t06.of("CA", b) == {"env": "dev", "team": team}
    # Tag filter: the resource must carry every tag given; an empty value matches any value
    assert {r[0] for r in t06.all("instance", tags=[("team", team)])} == {a, b}
    assert {r[0] for r in t06.all("instance", tags=[("team", team), ("env", "dev")])} == {b}
    assert {r[0] for r in t06.all("instance", tags=[("team", team), ("owner", "")])} == {a}
    # every tag of a matched resource is listed, not just the filtered ones
    assert sorted(t06.all("instance", tags=[("team", team), ("env", "dev")])) == \
        sorted([(b, "env", "dev"), (b, "team", team)])
    # ResourceId and Tag together: both must hold
    assert {r[0] for r in t06.all("instance", ids=[a, b, c], tags=[("team", team)])} == {a, b}
    assert t06.all("instance", tags=[("team", f"none-{uid()}")]) == []


def test_certificate_tags_across_versions(api, t04, t06, sub_ca):
    ident, cert_id = new_cert(api, sub_ca, tags=[("made", "at-creation")])
    # 2020-06-30 names the certificate by Identifier, 2020-04-07 by CertId: the same tags
    assert t06.of("Certificate", ident) == {"made": "at-creation"}
    assert t04.of("Certificate", cert_id) == {"made": "at-creation"}
    t04.tag("Certificate", [cert_id], [("via", "ssl")])
    t06.tag("Certificate", [ident], [("via2", "pca")])
    want = {"made": "at-creation", "via": "ssl", "via2": "pca"}
    assert t06.of("Certificate", ident) == want
    assert t04.of("Certificate", cert_id) == want
    # 2020-04-07 also accepts the Identifier and answers with the CertId
    rows = t04.all("Certificate", ids=[ident])
    assert {r[0] for r in rows} == {str(cert_id)}, rows
    # certificates and CAs are separate namespaces
    assert t06.all("instance", ids=[ident]) == []


def test_untag_keys_and_all(api, t06):
    ca = new_ca(api, tags=[("a", "1"), ("b", "2"), ("c", "3")])
    t06.untag("instance", [ca], keys=["a", "missing"])
    assert t06.of("instance", ca) == {"b": "2", "c": "3"}
    # All counts only when no TagKey is named
    t06.untag("instance", [ca], keys=["b"], all=True)
    assert t06.of("instance", ca) == {"c": "3"}
    t06.api.error("UntagResources", 400, "InvalidParameter.TagKey", region_id="cn-hangzhou",
                  resource_type="instance", resource_id=[ca], all=False)
    t06.api.error("UntagResources", 400, "InvalidParameter.TagKey", region_id="cn-hangzhou",
                  resource_type="instance", resource_id=[ca])
    assert t06.of("instance", ca) == {"c": "3"}
    t06.untag("instance", [ca], all=True)
    assert t06.of("instance", ca) == {}


def test_untag_all_through_2020_04_07(api04, t04):
    csr = new_csr(api04)
    t04.tag("CSR", [csr], [("x", "1"), ("y", "2")])
    assert t04.of("CSR", csr) == {"x": "1", "y": "2"}
    t04.untag("CSR", [csr], all=True)
    assert t04.of("CSR", csr) == {}


# --------------------------------------------------------------------------
# limits
# --------------------------------------------------------------------------

def test_limits(api, t06, t04):
    ca = new_ca(api)
    bad = "InvalidParameter.Tag"
    many = [(f"k{i:02}", "v") for i in range(21)]
    t06.tag_error(400, bad, "instance", [ca], many)
    assert t06.of("instance", ca) == {}
    t06.tag("instance", [ca], many[:20])
    assert len(t06.of("instance", ca)) == 20
    # a 21st key is refused, a new value for one of the 20 is not
    t06.tag_error(400, bad, "instance", [ca], [("k20", "v")])
    t06.tag("instance", [ca], [("k00", "changed")])
    got = t06.of("instance", ca)
    assert len(got) == 20 and got["k00"] == "changed" and "k20" not in got
    # refusal on one resource leaves the others of the same call untouched
    other = new_ca(api)
    t06.tag_error(400, bad, "instance", [other, ca], [("fresh", "1")])
    assert t06.of("instance", other) == {}

    fresh = new_ca(api)
    for key in ("aliyun", "aliyunx", "Aliyun-env", "acs:env", "ACS:x", "k" * 129):
        t06.tag_error(400, bad, "instance", [fresh], [(key, "v")])
        t04.tag_error(400, bad, "CA", [fresh], [(key, "v")])
    t06.tag_error(400, bad, "instance", [fresh], [("ok", "v" * 129)])
    t06.tag_error(400, bad, "instance", [fresh], [("dup", "1"), ("dup", "2")])
    assert t06.of("instance", fresh) == {}
    # the bounds themselves are allowed; "acs" without the colon is not reserved
    t06.tag("instance", [fresh], [("k" * 128, "v" * 128), ("acs-team", ""), ("x-aliyun", "y")])
    assert t06.of("instance", fresh) == {"k" * 128: "v" * 128, "acs-team": "", "x-aliyun": "y"}
    # creation tags follow the same limits
    api.error("CreateRootCACertificate", 400, "InvalidParameter.Tags", common_name=f"r-{uid()}",
              organization="o", organization_unit="u", locality="l", state="s", country_code="CN",
              algorithm="ECC_256", years=5, tags=[("aliyun:x", "y")])


def test_refusals(api, t06, t04):
    ca = new_ca(api)
    t06.tag_error(400, "InvalidParameter.ResourceType", "bucket", [ca], [("a", "b")])
    t06.api.error("TagResources", 400, "MissingParameter.ResourceType", region_id="cn-hangzhou",
                  resource_id=[ca], tag=t06._tag_models("TagResources", [("a", "b")]))
    t06.api.error("TagResources", 400, "MissingParameter.ResourceId", region_id="cn-hangzhou",
                  resource_type="instance", tag=t06._tag_models("TagResources", [("a", "b")]))
    t06.api.error("TagResources", 400, "MissingParameter.Tag", region_id="cn-hangzhou",
                  resource_type="instance", resource_id=[ca])
    t06.tag_error(404, NF, "instance", [ca, "0" * 32], [("a", "b")])
    assert t06.of("instance", ca) == {}
    # at most 50 resources a call
    t06.tag_error(400, "InvalidParameter.ResourceId", "instance", [ca] * 51, [("a", "b")])
    t06.tag("instance", [ca] * 50, [("a", "b")])
    assert t06.of("instance", ca) == {"a": "b"}
    # 2020-04-07: ResourceId and Tag cannot both be empty
    t04.api.error("ListTagResources", 400, "MissingParameter.ResourceId", region_id="cn-hangzhou",
                  resource_type="CA")
    # "instance" is a certificate order in 2020-04-07, and a CA is not one
    t04.tag_error(404, NF, "instance", [ca], [("a", "b")])
    t06.api.error("ListTagResources", 400, "InvalidParameter.NextToken", region_id="cn-hangzhou",
                  resource_type="instance", next_token="not-a-token")
    t06.api.error("ListTagResources", 400, "InvalidParameter.MaxResults", region_id="cn-hangzhou",
                  resource_type="instance", max_results=0)
    t06.api.error("MoveResourceGroup", 400, "MissingParameter.ResourceGroupId", resource_type="instance",
                  resource_id=ca)
    t06.api.error("MoveResourceGroup", 404, NF, resource_type="instance", resource_id="f" * 32,
                  resource_group_id="rg-x")


def test_next_token_paging(api, t06):
    marker = f"page-{uid()}"
    cas = [new_ca(api, tags=[("marker", marker)] + [(f"t{j}", str(j)) for j in range(i)]) for i in range(6)]
    want = sorted((ca, k, v) for ca in cas for k, v in t06.of("instance", ca).items())
    assert len(want) == sum(1 + i for i in range(6))
    for size in (1, 4, 7, 100):
        got = t06.all("instance", tags=[("marker", marker)], max_results=size)
        assert sorted(got) == want and len(set(got)) == len(got), size
    first, token = t06.page("instance", tags=[("marker", marker)], max_results=5)
    assert len(first) == 5 and token
    _, last = t06.page("instance", tags=[("marker", marker)], max_results=len(want))
    assert last == ""


# --------------------------------------------------------------------------
# resource groups
# --------------------------------------------------------------------------

def test_move_resource_group_then_filter(api, api04, t06, t04, sub_ca):
    rg = f"rg-{uid()}"
    a, b = new_ca(api), new_ca(api)
    t06.move("instance", a, rg)
    listed = api("DescribeCACertificateList", resource_group_id=rg, show_size=100)["CertificateList"]
    assert [x["Identifier"] for x in listed] == [a]
    assert listed[0]["ResourceGroupId"] == rg
    t04.move("CA", b, rg)
    listed = api("DescribeCACertificateList", resource_group_id=rg, show_size=100)["CertificateList"]
    assert {x["Identifier"] for x in listed} == {a, b}
    # moving again replaces the group
    t06.move("instance", b, rg + "-2")
    listed = api("DescribeCACertificateList", resource_group_id=rg, show_size=100)["CertificateList"]
    assert [x["Identifier"] for x in listed] == [a]

    # certificates: 2020-04-07 by CertId, 2020-06-30 by Identifier
    c1, c1_id = new_cert(api, sub_ca)
    c2, _ = new_cert(api, sub_ca)
    c3, _ = new_cert(api, sub_ca)
    t04.move("Certificate", c1_id, rg)
    t06.move("Certificate", c2, rg)
    listed = api("ListClientCertificate", resource_group_id=rg, show_size=100)["CertificateList"]
    assert {x["Identifier"] for x in listed} == {c1, c2}
    assert all(x["ResourceGroupId"] == rg for x in listed)
    assert c3 not in {x["Identifier"] for x in listed}


def test_list_certificates_filters_by_resource_group(api, api04, t04, sub_ca):
    """ListCertificates (2020-04-07) honours ResourceGroupId over the certificate store."""
    rg = f"rg-{uid()}"
    (c1, c1_id), (c2, c2_id) = new_cert(api, sub_ca), new_cert(api, sub_ca)
    api("UploadPcaCertToCas", ids=f"{c1},{c2}")

    def store_ids(**kw) -> set[int]:
        rows = api04("ListCertificates", show_size=100, **kw)["CertificateList"]
        return {r["CertificateId"] for r in rows}

    assert {c1_id, c2_id} <= store_ids()
    assert store_ids(resource_group_id=rg) == set()
    t04.move("Certificate", c1_id, rg)
    assert store_ids(resource_group_id=rg) == {c1_id}
    assert store_ids(resource_group_id=rg, keyword=f"cas-pca-{c2}") == set()


def test_list_tag_keys(api04, t04):
    rg = f"rg-{uid()}"
    prefix = f"lk{uid()}"
    csrs = [new_csr(api04) for _ in range(3)]
    t04.tag("CSR", csrs, [(f"{prefix}-all", "1")])
    t04.tag("CSR", csrs[:2], [(f"{prefix}-two", "1")])
    t04.tag("CSR", csrs[:1], [(f"{prefix}-one", "1")])

    def keys(**kw) -> dict[str, int]:
        out, page = {}, 1
        while True:
            body = api04("ListTagKeys", region_id="cn-hangzhou", resource_type="CSR", current_page=page,
                         page_size=2, **kw)
            assert body["PageSize"] == 2 and body["CurrentPage"] == page, body
            assert len(body["TagKeys"]) <= 2
            out.update({k["TagKey"]: k["TagCount"] for k in body["TagKeys"]})
            if not body["NextToken"]:
                assert page * 2 >= body["TotalCount"], body
                return out
            assert body["NextToken"] == str(page + 1)
            page += 1

    mine = {k: n for k, n in keys().items() if k.startswith(prefix)}
    assert mine == {f"{prefix}-all": 3, f"{prefix}-two": 2, f"{prefix}-one": 1}
    assert keys(resource_group_id=rg) == {}
    t04.move("CSR", csrs[1], rg)
    assert keys(resource_group_id=rg) == {f"{prefix}-all": 1, f"{prefix}-two": 1}


def test_deleted_csr_tags_do_not_carry_over(api04, t04):
    csr = new_csr(api04)
    t04.tag("CSR", [csr], [("gone", "yes")])
    api04("DeleteCsr", csr_id=csr)
    t04.tag_error(404, NF, "CSR", [csr], [("a", "b")])
    again = new_csr(api04)
    assert t04.of("CSR", again) == {}


# --------------------------------------------------------------------------
# isolation between accounts
# --------------------------------------------------------------------------

def test_other_accounts_resources_invisible(server, api, api04, t06, t04, sub_ca):
    marker = f"iso-{uid()}"
    ca = new_ca(api, tags=[("marker", marker)])
    cert, cert_id = new_cert(api, sub_ca, tags=[("marker", marker)])
    csr = new_csr(api04)
    t04.tag("CSR", [csr], [("marker", marker)])

    other = IApi(server, server.create_account(f"tags-{uid()}"))
    o06, o04 = Tags(other), Tags(IApi(server, other.creds, version=V04))
    for tags, rtype, rid in ((o06, "instance", ca), (o04, "CA", ca), (o06, "Certificate", cert),
                             (o04, "Certificate", cert_id), (o04, "CSR", csr)):
        tags.tag_error(404, NF, rtype, [rid], [("stolen", "1")])
        tags.api.error("UntagResources", 404, NF, region_id="cn-hangzhou", resource_type=rtype,
                       resource_id=[str(rid)], all=True)
        tags.api.error("MoveResourceGroup", 404, NF, resource_type=rtype, resource_id=str(rid),
                       resource_group_id="rg-stolen")
        assert tags.all(rtype, ids=[rid]) == []
        assert tags.all(rtype, tags=[("marker", marker)]) == []
    keys = o04.api("ListTagKeys", region_id="cn-hangzhou", resource_type="CSR")
    assert keys["TagKeys"] == [] and keys["TotalCount"] == 0, keys
    # the other account's own resource with the same tag does not mix with ours
    mine = new_ca(other, tags=[("marker", marker)])
    assert {r[0] for r in o06.all("instance", tags=[("marker", marker)])} == {mine}
    assert {r[0] for r in t06.all("instance", tags=[("marker", marker)])} == {ca}
    # ours untouched
    assert t06.of("instance", ca) == {"marker": marker}
    assert t06.of("Certificate", cert) == {"marker": marker}
    assert t04.of("CSR", csr) == {"marker": marker}
    assert api("DescribeCACertificate", identifier=ca)["Certificate"].get("ResourceGroupId", "") == ""
