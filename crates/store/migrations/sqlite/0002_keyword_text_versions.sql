-- A narrower counter per account for `keyword_index`, which keeps large accounts' searchable
-- text in process: it moves only when that text or the set of live rows may change (name, CN,
-- SANs, deleted_at, account or id; an insert below the highest id), so that a revocation or a
-- warehouse move does not make the index rebuild. A delete for good moves row -1 of
-- certificate_list_versions, which the index reads too. No trigger fires on an ordinary
-- insert or on an update of other columns. A migration of its own, so that databases made
-- before it keep their checksum of 0001.
CREATE TABLE certificate_text_versions (
    account_id BIGINT PRIMARY KEY,
    version    BIGINT NOT NULL
);
CREATE TRIGGER certificates_text_update AFTER UPDATE OF id, account_id, name, common_name, sans, deleted_at
    ON certificates BEGIN
    INSERT INTO certificate_text_versions (account_id, version) VALUES (old.account_id, 1)
        ON CONFLICT (account_id) DO UPDATE SET version = version + 1;
    INSERT INTO certificate_text_versions (account_id, version) VALUES (new.account_id, 1)
        ON CONFLICT (account_id) DO UPDATE SET version = version + 1;
END;
-- an insert below the highest id (an explicit id; never done by opencas) is no ordinary one
-- for either counter
DROP TRIGGER certificates_listed_insert;
CREATE TRIGGER certificates_listed_insert AFTER INSERT ON certificates
    WHEN new.id < (SELECT MAX(id) FROM certificates) BEGIN
    INSERT INTO certificate_list_versions (account_id, version) VALUES (new.account_id, 1)
        ON CONFLICT (account_id) DO UPDATE SET version = version + 1;
    INSERT INTO certificate_text_versions (account_id, version) VALUES (new.account_id, 1)
        ON CONFLICT (account_id) DO UPDATE SET version = version + 1;
END;
