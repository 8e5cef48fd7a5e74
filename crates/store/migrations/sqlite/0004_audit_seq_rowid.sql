-- `seq` becomes the table's rowid (INTEGER PRIMARY KEY). Declared BIGINT PRIMARY KEY it was a
-- column beside the rowid with an index of its own, a third b-tree written for every record
-- (two per state-changing call), and the chain head (`ORDER BY seq DESC LIMIT 1`) was read
-- through that index. Same columns, values and order; the table is rebuilt because SQLite
-- cannot change a primary key in place (dropping it drops its triggers first, so the
-- append-only triggers do not fire, and are created again below).
CREATE TABLE audit_log_rowid (
    seq           INTEGER PRIMARY KEY,
    at_ms         BIGINT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('call', 'result', 'use', 'auth', 'throttled')),
    account_id    BIGINT,
    access_key_id TEXT,
    action        TEXT NOT NULL,
    version       TEXT NOT NULL,
    request_id    TEXT NOT NULL,
    source        TEXT NOT NULL,
    params        TEXT NOT NULL,
    resources     TEXT NOT NULL,
    status        BIGINT,
    code          TEXT,
    prev_hash     TEXT NOT NULL,
    hash          TEXT NOT NULL
);
INSERT INTO audit_log_rowid (seq, at_ms, kind, account_id, access_key_id, action, version, request_id, source,
                             params, resources, status, code, prev_hash, hash)
    SELECT seq, at_ms, kind, account_id, access_key_id, action, version, request_id, source,
           params, resources, status, code, prev_hash, hash
    FROM audit_log ORDER BY seq;
DROP TABLE audit_log;
ALTER TABLE audit_log_rowid RENAME TO audit_log;
CREATE INDEX audit_log_at ON audit_log (at_ms);
CREATE INDEX audit_log_account ON audit_log (account_id, seq);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
