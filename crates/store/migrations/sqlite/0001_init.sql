-- opencas schema v1. Every row belongs to an account; every query is scoped by it.
-- Times are UTC unix milliseconds. Written in the SQL subset SQLite and PostgreSQL share,
-- except BLOB (BYTEA in the PostgreSQL migrations).

CREATE TABLE accounts (
    id            BIGINT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    status        TEXT NOT NULL CHECK (status IN ('Active', 'Disabled')),
    api_key_hash  TEXT NOT NULL UNIQUE,
    created_at    BIGINT NOT NULL
);

CREATE TABLE access_keys (
    access_key_id TEXT PRIMARY KEY,
    account_id    BIGINT NOT NULL REFERENCES accounts (id),
    secret_sealed BLOB NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('Active', 'Inactive')),
    created_at    BIGINT NOT NULL
);
CREATE INDEX access_keys_account ON access_keys (account_id);

-- Certificate authorities (private CA, API 2020-06-30).
CREATE TABLE cas (
    id                  INTEGER PRIMARY KEY,
    account_id          BIGINT NOT NULL REFERENCES accounts (id),
    identifier          TEXT NOT NULL,
    parent_identifier   TEXT,
    -- the CA whose key signed this certificate (itself for a root): serials are unique per issuer
    issuer_identifier   TEXT NOT NULL,
    certificate_type    TEXT NOT NULL CHECK (certificate_type IN ('ROOT', 'SUB_ROOT')),
    issuer_type         TEXT NOT NULL,
    status              TEXT NOT NULL CHECK (status IN ('ISSUE', 'FORBIDDEN', 'REVOKE')),
    alias               TEXT,
    common_name         TEXT NOT NULL,
    organization        TEXT,
    organization_unit   TEXT,
    locality            TEXT,
    state               TEXT,
    country_code        TEXT,
    subject_dn          TEXT NOT NULL,
    algorithm           TEXT NOT NULL,
    key_algorithm       TEXT NOT NULL,
    key_size            BIGINT NOT NULL,
    sign_algorithm      TEXT NOT NULL,
    sm2_id              TEXT,
    serial_number       TEXT NOT NULL,
    not_before          BIGINT NOT NULL,
    not_after           BIGINT NOT NULL,
    years               BIGINT NOT NULL,
    path_len            BIGINT,
    ext_key_usages      TEXT NOT NULL,
    cert_max_time_days  BIGINT,
    enable_crl          BIGINT NOT NULL,
    crl_day             BIGINT NOT NULL,
    md5                 TEXT NOT NULL,
    sha256              TEXT NOT NULL,
    cert_der            BLOB NOT NULL,
    chain_pem           TEXT NOT NULL,
    -- NULL for an external CA, whose key is held outside opencas
    key_sealed          BLOB,
    cert_total_count    BIGINT NOT NULL CHECK (cert_total_count >= 0),
    cert_issued_count   BIGINT NOT NULL CHECK (cert_issued_count >= 0),
    -- the number of the last CRL this CA signed (RFC 5280: monotonically increasing)
    crl_number          BIGINT NOT NULL DEFAULT 0,
    -- bumped in the transaction that revokes a certificate of this CA: a cached CRL or
    -- OCSP answer checks it instead of counting revoked rows
    revocation_seq      BIGINT NOT NULL DEFAULT 0,
    resource_group_id   TEXT,
    status_changed_at   BIGINT,
    created_at          BIGINT NOT NULL,
    UNIQUE (account_id, identifier),
    UNIQUE (issuer_identifier, serial_number),
    CHECK (cert_issued_count <= cert_total_count)
);
CREATE INDEX cas_account_created ON cas (account_id, created_at);
CREATE INDEX cas_parent ON cas (account_id, parent_identifier);
CREATE UNIQUE INDEX cas_identifier ON cas (identifier);

-- Every lifecycle event of a CA, written in the transaction that causes it.
CREATE TABLE ca_logs (
    id            INTEGER PRIMARY KEY,
    account_id    BIGINT NOT NULL REFERENCES accounts (id),
    ca_identifier TEXT NOT NULL,
    op_type       TEXT NOT NULL,
    content       TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX ca_logs_ca ON ca_logs (account_id, ca_identifier, id);

-- ClientToken / idempotency keys: the first request with a token creates the resource,
-- a repeat returns it.
CREATE TABLE idempotency (
    account_id  BIGINT NOT NULL REFERENCES accounts (id),
    action      TEXT NOT NULL,
    token       TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (account_id, action, token)
);

-- Tags of any taggable resource.
CREATE TABLE tags (
    account_id    BIGINT NOT NULL REFERENCES accounts (id),
    resource_type TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    tag_key       TEXT NOT NULL,
    tag_value     TEXT NOT NULL,
    PRIMARY KEY (account_id, resource_type, resource_id, tag_key)
);

-- Every certificate the account holds: issued by its private CAs, uploaded, or ordered.
CREATE TABLE certificates (
    id                 INTEGER PRIMARY KEY,
    account_id         BIGINT NOT NULL REFERENCES accounts (id),
    identifier         TEXT NOT NULL,
    name               TEXT NOT NULL,
    -- 'upload', 'aliyun' (ordered) or 'pca' (issued by a private CA here)
    source_type        TEXT NOT NULL,
    cert_type          TEXT NOT NULL,
    -- SERVER, CLIENT, CUSTOM for issued certificates; NULL otherwise
    certificate_type   TEXT,
    status             TEXT NOT NULL,
    issuer_identifier  TEXT,
    custom_identifier  TEXT,
    common_name        TEXT NOT NULL,
    sans               TEXT NOT NULL,
    subject_dn         TEXT NOT NULL,
    issuer             TEXT NOT NULL,
    organization       TEXT,
    organization_unit  TEXT,
    country            TEXT,
    province           TEXT,
    city               TEXT,
    algorithm          TEXT NOT NULL,
    key_algorithm      TEXT NOT NULL,
    key_size           BIGINT NOT NULL,
    sign_algorithm     TEXT NOT NULL,
    serial_no          TEXT NOT NULL,
    fingerprint_md5    TEXT NOT NULL,
    fingerprint_sha1   TEXT NOT NULL,
    fingerprint_sha256 TEXT NOT NULL,
    not_before         BIGINT NOT NULL,
    not_after          BIGINT NOT NULL,
    days               BIGINT NOT NULL,
    warehouse_id       BIGINT,
    resource_group_id  TEXT,
    has_private_key    BIGINT NOT NULL,
    cert_der           BLOB NOT NULL,
    chain_pem          TEXT NOT NULL,
    key_sealed         BLOB,
    revoked_at         BIGINT,
    revoke_reason      TEXT,
    -- DeleteClientCertificate hides a revoked certificate from its account, but it stays
    -- on its CA's CRL and in OCSP answers until it expires
    deleted_at         BIGINT,
    created_at         BIGINT NOT NULL,
    -- 1 when the certificate is in the SSL certificate store and has a CertId there: uploaded
    -- with UploadUserCertificate / CreateUserCertificate, or a private CA's certificate synced
    -- with UploadPcaCertToCas
    in_cert_store      BIGINT NOT NULL DEFAULT 0,
    -- an SM2 dual upload: the certificate above is the signing one, this the encryption one
    encrypt_cert_der   BLOB,
    encrypt_key_sealed BLOB,
    UNIQUE (account_id, identifier),
    UNIQUE (account_id, custom_identifier)
);
CREATE INDEX certificates_account_created ON certificates (account_id, created_at);
-- Serials are unique per issuing CA (NULL issuer: not issued here).
CREATE UNIQUE INDEX certificates_issuer_serial ON certificates (issuer_identifier, serial_no);
-- What a CA's CRL lists.
CREATE INDEX certificates_revoked ON certificates (issuer_identifier, revoked_at, serial_no, revoke_reason)
    WHERE revoked_at IS NOT NULL;
-- Names of uploaded certificates are unique per account, as the console requires.
CREATE UNIQUE INDEX certificates_upload_name ON certificates (account_id, name)
    WHERE in_cert_store = 1 AND source_type = 'upload' AND deleted_at IS NULL;

CREATE TABLE csrs (
    id            INTEGER PRIMARY KEY,
    account_id    BIGINT NOT NULL REFERENCES accounts (id),
    name          TEXT NOT NULL,
    common_name   TEXT NOT NULL,
    sans          TEXT NOT NULL,
    algorithm     TEXT NOT NULL,
    key_size      BIGINT NOT NULL,
    corp_name     TEXT,
    department    TEXT,
    country_code  TEXT,
    province      TEXT,
    locality      TEXT,
    key_sha256    TEXT NOT NULL,
    csr_der       BLOB NOT NULL,
    has_private_key BIGINT NOT NULL,
    resource_group_id TEXT,
    created_at    BIGINT NOT NULL,
    -- PKCS#8 DER sealed under the record `csr:<account_id>:<id>`.
    key_sealed    BLOB
);
CREATE INDEX csrs_account_created ON csrs (account_id, created_at);
-- crypto operations find the key of a certificate issued from a CSR made here by its public key
CREATE INDEX csrs_account_key ON csrs (account_id, key_sha256);

-- Certificate orders (DV orders, package quota orders).
CREATE TABLE orders (
    id                INTEGER PRIMARY KEY,
    account_id        BIGINT NOT NULL REFERENCES accounts (id),
    order_type        TEXT NOT NULL,
    status            TEXT NOT NULL,
    product_code      TEXT NOT NULL,
    cert_type         TEXT NOT NULL,
    algorithm         TEXT NOT NULL,
    domain            TEXT NOT NULL,
    domain_count      BIGINT NOT NULL,
    domain_type       TEXT NOT NULL,
    resource_group_id TEXT,
    certificate_id    BIGINT,
    buy_date          BIGINT NOT NULL,
    created_at        BIGINT NOT NULL,
    -- DV order pipeline (CPACK orders from a package)
    instance_id       TEXT,
    validate_type     TEXT,
    username          TEXT,
    email             TEXT,
    phone             TEXT,
    province          TEXT,
    city              TEXT,
    -- 'builtin' or the name of an ACME upstream
    issuer            TEXT,
    -- the request the certificate is issued for; key_sealed only when the service made it,
    -- sealed under the record `order:<account_id>:<id>`
    csr_der           BLOB,
    key_sealed        BLOB,
    acme_order_url    TEXT,
    fail_reason       TEXT,
    certificate_identifier TEXT,
    cert_not_after    BIGINT,
    -- 1 while the order holds a unit of its package (DeleteCertificateRequest gives it back)
    counted           BIGINT NOT NULL DEFAULT 0,
    -- the order this one renews
    renewed_from      BIGINT,
    -- instance settings (UpdateInstance)
    instance_name     TEXT,
    auto_reissue      BIGINT NOT NULL DEFAULT 0,
    deleted_at        BIGINT
);
CREATE INDEX orders_account_created ON orders (account_id, created_at);
CREATE UNIQUE INDEX orders_instance ON orders (instance_id) WHERE instance_id IS NOT NULL;

-- Certificate packages an operator granted (`opencas package grant`). UsedCount counts every
-- request made against the package, issued or not; IssuedCount the certificates issued.
CREATE TABLE packages (
    account_id    BIGINT NOT NULL REFERENCES accounts (id),
    product_code  TEXT NOT NULL,
    total_count   BIGINT NOT NULL,
    used_count    BIGINT NOT NULL DEFAULT 0,
    issued_count  BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    CHECK (used_count <= total_count),
    PRIMARY KEY (account_id, product_code)
);

-- What each domain of an order must publish: DNS (record_name TXT = value) or FILE
-- (http://<domain><record_name> serving value).
CREATE TABLE order_challenges (
    account_id   BIGINT NOT NULL REFERENCES accounts (id),
    order_id     BIGINT NOT NULL,
    position     BIGINT NOT NULL,
    domain       TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('DNS', 'FILE')),
    record_name  TEXT NOT NULL,
    value        TEXT NOT NULL,
    validated_at BIGINT,
    PRIMARY KEY (order_id, position)
);

-- Durable background work (domain validation and issuance of orders, ...). A worker claims a
-- due row by setting its lease in one UPDATE, so a restart resumes the work and replicas
-- never run one job at the same time; `step` records how far a multi-step job got.
CREATE TABLE jobs (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL,
    account_id   BIGINT NOT NULL,
    subject_id   BIGINT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed', 'cancelled')),
    step         TEXT NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    next_run_at  BIGINT NOT NULL,
    deadline     BIGINT NOT NULL,
    last_error   TEXT,
    lease_owner  TEXT,
    lease_until  BIGINT NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL,
    UNIQUE (kind, subject_id)
);
CREATE INDEX jobs_due ON jobs (next_run_at) WHERE state = 'pending';

-- The account that owns opencas's built-in public issuer (a root and a DV intermediate in
-- `cas`): it has no access key, so no tenant can act as it, and its CAs are reachable only
-- through the public CRL, OCSP and CA certificate endpoints.
INSERT INTO accounts (id, name, status, api_key_hash, created_at)
    VALUES (0, '__opencas_public_issuer', 'Disabled', '-', 0);

-- ListCert orders by id (immutable, increasing) so NextToken pages stay put while
-- certificates are added; this index serves that order within one account. Partial: every
-- read skips deleted rows, and a keyword search then checks its matches against this
-- small index instead of fetching each (large) row.
CREATE INDEX certificates_account_id ON certificates (account_id, id) WHERE deleted_at IS NULL;

-- Fuzzy KeyWord search over name, CN and SANs: a trigram index answers substring matches
-- of three characters or more without scanning the account's certificates. External
-- content (the rows stay in `certificates`), kept in step by the triggers below, so no
-- writer can forget it.
CREATE VIRTUAL TABLE certificates_search USING fts5 (
    name, common_name, sans,
    content = 'certificates', content_rowid = 'id', tokenize = 'trigram'
);
CREATE TRIGGER certificates_search_insert AFTER INSERT ON certificates BEGIN
    INSERT INTO certificates_search (rowid, name, common_name, sans)
    VALUES (new.id, new.name, new.common_name, new.sans);
END;
CREATE TRIGGER certificates_search_delete AFTER DELETE ON certificates BEGIN
    INSERT INTO certificates_search (certificates_search, rowid, name, common_name, sans)
    VALUES ('delete', old.id, old.name, old.common_name, old.sans);
END;
CREATE TRIGGER certificates_search_update AFTER UPDATE OF name, common_name, sans ON certificates BEGIN
    INSERT INTO certificates_search (certificates_search, rowid, name, common_name, sans)
    VALUES ('delete', old.id, old.name, old.common_name, old.sans);
    INSERT INTO certificates_search (rowid, name, common_name, sans)
    VALUES (new.id, new.name, new.common_name, new.sans);
END;

-- A counter per account that moves whenever a change could alter which of its certificates
-- a ListCert filter selects (anything but an ordinary insert, which takes the next id): the
-- keyword search keeps broad results in process (`keyword_cache`) and trusts one only while
-- the counter stands still, checking just the rows inserted since. Row -1 counts the changes
-- that let a later insert take an id seen before (a row deleted for good, an id changed),
-- which concern every account. Kept by triggers so that no writer (this process, another
-- one, the sqlite3 shell) can forget it. The UPDATE OF list names every column `CertQuery`
-- filters on; a unit test holds the two together. SQLite only: on PostgreSQL ids are not
-- handed out in commit order, and no such cache exists there.
CREATE TABLE certificate_list_versions (
    account_id BIGINT PRIMARY KEY,
    version    BIGINT NOT NULL
);
CREATE TRIGGER certificates_listed_update AFTER UPDATE OF id, account_id, identifier, name, common_name, sans,
    deleted_at, warehouse_id, status, source_type, cert_type, certificate_type, issuer_identifier, not_before,
    not_after ON certificates BEGIN
    INSERT INTO certificate_list_versions (account_id, version) VALUES (old.account_id, 1)
        ON CONFLICT (account_id) DO UPDATE SET version = version + 1;
    INSERT INTO certificate_list_versions (account_id, version) VALUES (new.account_id, 1)
        ON CONFLICT (account_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER certificates_listed_renumber AFTER UPDATE OF id ON certificates WHEN new.id <> old.id BEGIN
    INSERT INTO certificate_list_versions (account_id, version) VALUES (-1, 1)
        ON CONFLICT (account_id) DO UPDATE SET version = version + 1;
END;
CREATE TRIGGER certificates_listed_delete AFTER DELETE ON certificates BEGIN
    INSERT INTO certificate_list_versions (account_id, version) VALUES (old.account_id, 1)
        ON CONFLICT (account_id) DO UPDATE SET version = version + 1;
    INSERT INTO certificate_list_versions (account_id, version) VALUES (-1, 1)
        ON CONFLICT (account_id) DO UPDATE SET version = version + 1;
END;
-- an insert below the highest id (an explicit id; never done by opencas) is no ordinary one
CREATE TRIGGER certificates_listed_insert AFTER INSERT ON certificates
    WHEN new.id < (SELECT MAX(id) FROM certificates) BEGIN
    INSERT INTO certificate_list_versions (account_id, version) VALUES (new.account_id, 1)
        ON CONFLICT (account_id) DO UPDATE SET version = version + 1;
END;

-- Certificate warehouses (API 2020-04-07). `biz` 'contract' counts against the
-- e-contract signing quota, anything else against the certificate application quota.
CREATE TABLE warehouses (
    id             INTEGER PRIMARY KEY,
    account_id     BIGINT NOT NULL REFERENCES accounts (id),
    name           TEXT NOT NULL,
    warehouse_type TEXT NOT NULL,
    biz            TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    UNIQUE (account_id, name)
);
CREATE INDEX warehouses_account ON warehouses (account_id, id);
CREATE INDEX certificates_warehouse ON certificates (account_id, warehouse_id) WHERE warehouse_id IS NOT NULL;

-- ShareCertificate: the copy a share made in the target account, so a repeat is a no-op.
CREATE TABLE certificate_shares (
    account_id            BIGINT NOT NULL REFERENCES accounts (id),
    certificate_id        BIGINT NOT NULL,
    target_account_id     BIGINT NOT NULL REFERENCES accounts (id),
    target_certificate_id BIGINT NOT NULL,
    created_at            BIGINT NOT NULL,
    PRIMARY KEY (account_id, certificate_id, target_account_id)
);

-- The last CRL each CA signed: a restart serves the same CRL, and refresh_at is the durable
-- schedule of the background refresher. A worker claims a due row by moving refresh_at
-- ahead by a lease in one UPDATE, so replicas never re-sign the same CRL twice.
CREATE TABLE crls (
    issuer_identifier TEXT PRIMARY KEY,
    crl_number        BIGINT NOT NULL,
    -- unix seconds
    this_update       BIGINT NOT NULL,
    next_update       BIGINT NOT NULL,
    refresh_at        BIGINT NOT NULL,
    -- the revocation state it lists (see RevocationVersion)
    version           TEXT NOT NULL,
    -- empty while a first CRL is being signed under a claim
    der               BLOB NOT NULL
);
CREATE INDEX crls_refresh ON crls (refresh_at);

-- The account opencas holds at each configured ACME CA (`[acme.<name>]`): the serialised
-- account credentials hold its private key, so they are sealed like every key.
CREATE TABLE acme_accounts (
    name               TEXT PRIMARY KEY,
    directory_url      TEXT NOT NULL,
    credentials_sealed BLOB NOT NULL,
    updated_at         BIGINT NOT NULL
);

-- Signature nonces seen within the replay window, kept in the database so that replicas
-- sharing it refuse a nonce any of them accepted (the primary key decides). `expires_at`
-- is unix seconds; an expired row may be reused and is deleted by a periodic cleanup.
CREATE TABLE request_nonces (
    credential TEXT NOT NULL,
    nonce      TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (credential, nonce)
);
CREATE INDEX request_nonces_expiry ON request_nonces (expires_at);

-- The audit log (see crates/store/src/audit.rs): append-only, every row chained to the one
-- before by `hash = SHA-256(prev_hash || canonical row)`. `seq` is given by the appender, not
-- the database, because the hash covers it. No account_id scoping: operators read it.
CREATE TABLE audit_log (
    seq           BIGINT PRIMARY KEY,
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
CREATE INDEX audit_log_at ON audit_log (at_ms);
CREATE INDEX audit_log_account ON audit_log (account_id, seq);
-- Append-only for the process itself; the hash chain is what detects changes made behind
-- its back (these triggers can be dropped by anyone holding the file).
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
