"""ListCert (2020-04-07) with a broad keyword, through the official SDK: the server keeps the
matches of a keyword with many hits in process (SQLite), and TotalCount and the pages must
stay exact while certificates are uploaded and deleted through the API and changed behind
its back in the database file, between the pages of one walk.

1,200 matching rows are needed before a result is kept (1,000 or more matches); the API
would take long to upload them, so one certificate is uploaded and copied with sqlite3, as
the search bench does."""
from __future__ import annotations

import random
import sqlite3
import time
import uuid

import pytest

from cert_upload_lib import Api04, Pki
from opencas_testlib import requires_sqlite_file

TAG = uuid.uuid4().hex[:6]
WORD = f"broadkw{TAG}"
COPIES = 1_200


def db(server) -> sqlite3.Connection:
    requires_sqlite_file()
    return sqlite3.connect(server.data_dir / "opencas.db", timeout=30)


@pytest.fixture(scope="module")
def api(server):
    return Api04(server)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(tmp_path_factory.mktemp("broad-pki"))


@pytest.fixture(scope="module")
def world(server, api, pki):
    """CertIds of the matching certificates, newest first."""
    requires_sqlite_file()
    b = pki.chain("P256", f"t.{WORD}.example.com")
    template = api.upload(name=f"tpl-{TAG}", cert=b.cert_field, key=b.key_as("pkcs8"))
    with db(server) as c:
        c.execute(
            f"""WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < {COPIES - 1})
            INSERT INTO certificates (account_id, identifier, name, source_type, cert_type, certificate_type,
              status, issuer_identifier, common_name, sans, subject_dn, issuer, organization, organization_unit,
              country, province, city, algorithm, key_algorithm, key_size, sign_algorithm, serial_no,
              fingerprint_md5, fingerprint_sha1, fingerprint_sha256, not_before, not_after, days, has_private_key,
              cert_der, chain_pem, created_at, in_cert_store)
            SELECT t.account_id, printf('{TAG}%026x', seq.n), printf('h%05d.{WORD}.example.com', seq.n),
              t.source_type, t.cert_type, t.certificate_type, t.status, t.issuer_identifier,
              printf('h%05d.{WORD}.example.com', seq.n), printf('www.h%05d.{WORD}.example.com', seq.n),
              t.subject_dn, t.issuer, t.organization, t.organization_unit, t.country, t.province, t.city,
              t.algorithm, t.key_algorithm, t.key_size, t.sign_algorithm, printf('{TAG}%x', seq.n),
              t.fingerprint_md5, t.fingerprint_sha1, t.fingerprint_sha256, t.not_before, t.not_after, t.days,
              0, t.cert_der, t.chain_pem, t.created_at + seq.n, t.in_cert_store
            FROM seq, certificates t WHERE t.id = ?""",
            (template,),
        )
        ids = [r[0] for r in c.execute(
            "SELECT id FROM certificates WHERE sans LIKE ? AND deleted_at IS NULL ORDER BY id DESC",
            (f"%{WORD}%",),
        )]
    assert len(ids) == COPIES
    return {"ids": ids, "pki": pki}


def listed(api, **fields) -> tuple[int, list[str]]:
    body = api("ListCert", key_word=WORD.upper() + ".Example", show_size=100, **fields)
    return body["TotalCount"], [c["Identifier"] for c in body["CertList"]]


def identifiers(server, ids: list[int]) -> list[str]:
    with db(server) as c:
        by_id = dict(c.execute(
            f"SELECT id, identifier FROM certificates WHERE id IN ({','.join('?' * len(ids))})", ids))
    return [by_id[i] for i in ids]


def test_total_and_pages_stay_exact_while_certificates_come_and_go(server, api, world):
    ids = list(world["ids"])
    total, first = listed(api, current_page=1)
    assert total == COPIES
    assert first == identifiers(server, ids[:100])

    # an upload through the API lands on top; a deletion through the API leaves every page
    b = world["pki"].chain("P256", f"new.{WORD}.example.com")
    new_id = api.upload(name=f"new-{TAG}", cert=b.cert_field, key=b.key_as("pkcs8"))
    ids.insert(0, new_id)
    gone = ids[150]
    api("DeleteUserCertificate", cert_id=gone)
    ids.remove(gone)
    total, second = listed(api, current_page=2)
    assert total == COPIES
    assert second == identifiers(server, ids[100:200])

    # written behind the server's back: a rename out of the keyword, a copy's status
    with db(server) as c:
        c.execute("UPDATE certificates SET name = 'x', common_name = 'x', sans = 'x' WHERE id = ?", (ids[5],))
        c.execute("UPDATE certificates SET status = 'REVOKE' WHERE id = ?", (ids[7],))
    renamed = ids.pop(5)
    total, page = listed(api, current_page=1)
    assert total == COPIES - 1
    assert page == identifiers(server, ids[:100])
    assert identifiers(server, [renamed])[0] not in page
    assert listed(api, current_page=1, status="REVOKE")[0] == 1

    walked: list[str] = []
    for p in range(1, 14):
        total, page = listed(api, current_page=p)
        assert total == len(ids)
        walked.extend(page)
    assert walked == identifiers(server, ids)


def test_another_accounts_matches_are_not_counted(server, api, world):
    name = f"broad-other-{TAG}"
    other = Api04(server, server.create_account(name))
    before, _ = listed(api, current_page=1)
    with db(server) as c:
        (account,) = c.execute("SELECT id FROM accounts WHERE name = ?", (name,)).fetchone()
        c.execute(
            """INSERT INTO certificates (account_id, identifier, name, source_type, cert_type, status, common_name,
              sans, subject_dn, issuer, algorithm, key_algorithm, key_size, sign_algorithm, serial_no,
              fingerprint_md5, fingerprint_sha1, fingerprint_sha256, not_before, not_after, days, has_private_key,
              cert_der, chain_pem, created_at, in_cert_store)
            SELECT ?, 'o' || identifier, name, source_type, cert_type, status, common_name, sans, subject_dn,
              issuer, algorithm, key_algorithm, key_size, sign_algorithm, 'o' || serial_no, fingerprint_md5,
              fingerprint_sha1, fingerprint_sha256, not_before, not_after, days, 0, cert_der, chain_pem,
              created_at, 1
            FROM certificates WHERE sans LIKE ? AND deleted_at IS NULL ORDER BY id LIMIT 3""",
            (account, f"%{WORD}%"),
        )
    assert other("ListCert", key_word=WORD, show_size=10)["TotalCount"] == 3
    assert listed(api, current_page=1)[0] == before


# Past 10,000 rows every trigram of a keyword is common: the keyword is "broad" and its first
# search is answered by the in-process index of the account's text (keyword_index), built in
# the background after the first such search through FTS5, patched after a rename, rebuilt after
# a delete for good.
# Trigrams no other test is likely to have searched for: the server remembers for a minute
# how common each trigram it looked up is, and a trigram counted in fewer than 10,000 rows
# would route the keyword to the rare-trigram lookup instead of the index.
WIDE = "zq" + "".join(random.choice("jqxzvkw") for _ in range(10))
WIDE_COPIES = 10_500


def wide_keyword(n: int) -> str:
    """A keyword never asked before (first search: no kept result), matching every copy: a
    piece of WIDE, whose trigrams the server first counts once the copies are in (the
    trigrams of ".example" it counted earlier, in fewer rows, and would believe rare)."""
    start, cut = divmod(n, 4)  # n < 24: 6 starts, 4 cuts
    return WIDE[start:len(WIDE) - cut].upper() if n % 2 else WIDE[start:len(WIDE) - cut]


def test_first_searches_of_a_broad_keyword_stay_exact_across_renames(server, api, world):
    with db(server) as c:
        template = world["ids"][-1]
        (account,) = c.execute("SELECT account_id FROM certificates WHERE id = ?", (template,)).fetchone()
        c.execute(
            f"""WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < {WIDE_COPIES})
            INSERT INTO certificates (account_id, identifier, name, source_type, cert_type, certificate_type,
              status, issuer_identifier, common_name, sans, subject_dn, issuer, organization, organization_unit,
              country, province, city, algorithm, key_algorithm, key_size, sign_algorithm, serial_no,
              fingerprint_md5, fingerprint_sha1, fingerprint_sha256, not_before, not_after, days, has_private_key,
              cert_der, chain_pem, created_at, in_cert_store)
            SELECT t.account_id, printf('w{TAG}%025x', seq.n), printf('h%05d.{WIDE}.example.com', seq.n),
              t.source_type, t.cert_type, t.certificate_type, t.status, t.issuer_identifier,
              printf('h%05d.{WIDE}.example.com', seq.n), printf('www.h%05d.{WIDE}.example.com', seq.n),
              t.subject_dn, t.issuer, t.organization, t.organization_unit, t.country, t.province, t.city,
              t.algorithm, t.key_algorithm, t.key_size, t.sign_algorithm, printf('w{TAG}%x', seq.n),
              t.fingerprint_md5, t.fingerprint_sha1, t.fingerprint_sha256, t.not_before, t.not_after, t.days,
              0, t.cert_der, t.chain_pem, t.created_at + seq.n, t.in_cert_store
            FROM seq, certificates t WHERE t.id = ?""",
            (template,),
        )
    asked = iter(range(24))

    def expected() -> tuple[int, list[str]]:
        with db(server) as c:
            ids = [r[0] for r in c.execute(
                "SELECT id FROM certificates WHERE account_id = ? AND deleted_at IS NULL AND sans LIKE ? "
                "ORDER BY id DESC", (account, f"%{WIDE}.example%"))]
        return len(ids), identifiers(server, ids[:100])

    def first_search(**fields) -> tuple[int, list[str]]:
        body = api("ListCert", key_word=wide_keyword(next(asked)), show_size=100, current_page=1, **fields)
        return body["TotalCount"], [c["Identifier"] for c in body["CertList"]]

    built = server.log().count("keyword index built")

    def index_rebuilt() -> None:
        """Waits for the server to log one more build of an account's keyword index. A build
        starts on a search that finds the index missing or stale, but not within four times
        the last build's duration: another search every second asks again."""
        nonlocal built
        deadline = time.monotonic() + 20
        next_ask = time.monotonic() + 1
        while server.log().count("keyword index built") <= built:
            assert time.monotonic() < deadline, "no keyword index build logged"
            if time.monotonic() > next_ask:
                assert first_search() == expected()
                next_ask = time.monotonic() + 1
            time.sleep(0.05)
        built += 1

    # the first search goes through FTS5 and starts the build; the next ones use the index
    assert first_search() == expected() and expected()[0] == WIDE_COPIES
    index_rebuilt()
    for _ in range(3):
        assert first_search() == expected()
    # past 10,000 rows the build also sorts the text's suffixes, and the sorted index answers
    # a keyword of one row too, rare trigrams or not
    deadline = time.monotonic() + 20
    while server.log().count("suffixes sorted") < built:
        assert time.monotonic() < deadline, "no sorted suffixes logged"
        time.sleep(0.05)
    for n in (1, 4_242, WIDE_COPIES):
        body = api("ListCert", key_word=f"H{n:05d}.{WIDE}.EXA", show_size=10)
        assert [c["CommonName"] for c in body["CertList"]] == [f"h{n:05d}.{WIDE}.example.com"]
        assert body["TotalCount"] == 1
    assert api("ListCert", key_word=f"h{WIDE_COPIES + 1:05d}.{WIDE}", show_size=10)["TotalCount"] == 0
    for _ in range(3):
        assert first_search() == expected()

    # behind the server's back: a rename out of the keyword (patched into the index from the
    # log of changed rows, no rebuild) and a revocation (it stays current)
    with db(server) as c:
        (top,) = c.execute("SELECT MAX(id) FROM certificates WHERE name LIKE ?", (f"%{WIDE}%",)).fetchone()
        c.execute("UPDATE certificates SET name = 'y', common_name = 'y', sans = 'y' WHERE id = ?", (top,))
        c.execute("UPDATE certificates SET status = 'REVOKE' WHERE id = ?", (top - 1,))
    for _ in range(3):
        assert first_search() == expected()
    assert expected()[0] == WIDE_COPIES - 1
    assert first_search(status="REVOKE")[0] == 1
    # a stale index would have asked for a build by now, and once past the rest after the
    # last one (four times its duration), have logged it
    time.sleep(1)
    assert first_search() == expected()
    time.sleep(1)
    assert server.log().count("keyword index built") == built

    # a delete for good behind its back: stale, FTS5 answers meanwhile, then rebuilt
    with db(server) as c:
        (top,) = c.execute("SELECT MAX(id) FROM certificates WHERE name LIKE ?", (f"%{WIDE}%",)).fetchone()
        c.execute("DELETE FROM certificates WHERE id = ?", (top,))
    assert first_search() == expected()
    index_rebuilt()
    assert first_search() == expected()
    assert expected()[0] == WIDE_COPIES - 2

    # an upload through the API: appended to the index
    b = world["pki"].chain("P256", f"new.{WIDE}.example.com")
    api.upload(name=f"wide-{TAG}", cert=b.cert_field, key=b.key_as("pkcs8"))
    for _ in range(3):
        assert first_search() == expected()
    assert expected()[0] == WIDE_COPIES - 1
