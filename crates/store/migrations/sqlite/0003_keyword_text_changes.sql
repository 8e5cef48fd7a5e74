-- Which certificate each move of certificate_text_versions was for, so that `keyword_index`
-- can patch a large account's buffer after a rename, a delete or a move between accounts
-- (re-reading just those rows) instead of rebuilding it from every row. One row per move,
-- written by the same triggers; each account keeps its last 4,096 (a search that finds an
-- older one missing rebuilds, as before). SQLite only, like the counter.
CREATE TABLE certificate_text_changes (
    account_id BIGINT NOT NULL,
    version    BIGINT NOT NULL,
    cert_id    BIGINT NOT NULL,
    PRIMARY KEY (account_id, version)
) WITHOUT ROWID;

DROP TRIGGER certificates_text_update;
CREATE TRIGGER certificates_text_update AFTER UPDATE OF id, account_id, name, common_name, sans, deleted_at
    ON certificates BEGIN
    INSERT INTO certificate_text_versions (account_id, version) VALUES (old.account_id, 1)
        ON CONFLICT (account_id) DO UPDATE SET version = version + 1;
    INSERT INTO certificate_text_changes (account_id, version, cert_id)
        SELECT account_id, version, old.id FROM certificate_text_versions WHERE account_id = old.account_id;
    INSERT INTO certificate_text_versions (account_id, version) VALUES (new.account_id, 1)
        ON CONFLICT (account_id) DO UPDATE SET version = version + 1;
    INSERT INTO certificate_text_changes (account_id, version, cert_id)
        SELECT account_id, version, new.id FROM certificate_text_versions WHERE account_id = new.account_id;
    DELETE FROM certificate_text_changes WHERE account_id = old.account_id
        AND version <= (SELECT version - 4096 FROM certificate_text_versions WHERE account_id = old.account_id);
    DELETE FROM certificate_text_changes WHERE account_id = new.account_id
        AND version <= (SELECT version - 4096 FROM certificate_text_versions WHERE account_id = new.account_id);
END;

DROP TRIGGER certificates_listed_insert;
CREATE TRIGGER certificates_listed_insert AFTER INSERT ON certificates
    WHEN new.id < (SELECT MAX(id) FROM certificates) BEGIN
    INSERT INTO certificate_list_versions (account_id, version) VALUES (new.account_id, 1)
        ON CONFLICT (account_id) DO UPDATE SET version = version + 1;
    INSERT INTO certificate_text_versions (account_id, version) VALUES (new.account_id, 1)
        ON CONFLICT (account_id) DO UPDATE SET version = version + 1;
    INSERT INTO certificate_text_changes (account_id, version, cert_id)
        SELECT account_id, version, new.id FROM certificate_text_versions WHERE account_id = new.account_id;
    DELETE FROM certificate_text_changes WHERE account_id = new.account_id
        AND version <= (SELECT version - 4096 FROM certificate_text_versions WHERE account_id = new.account_id);
END;
