-- The whole data model. Timestamps are RFC 3339 text in UTC; JSON columns hold arrays/objects.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

INSERT INTO meta (key, value) VALUES ('change_seq', '0');

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'user')),
    password_hash TEXT,
    status        TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE TABLE api_keys (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id               INTEGER NOT NULL REFERENCES users (id),
    name                  TEXT NOT NULL,
    prefix                TEXT NOT NULL,
    key_hash              TEXT NOT NULL UNIQUE,
    status                TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
    expires_at            TEXT,
    allowed_models        TEXT NOT NULL DEFAULT '[]',
    allowed_clients       TEXT NOT NULL DEFAULT '[]',
    concurrency_limit     INTEGER NOT NULL DEFAULT 0,
    rate_limit_per_minute INTEGER NOT NULL DEFAULT 0,
    daily_cost_limit_usd  REAL,
    total_cost_limit_usd  REAL,
    created_at            TEXT NOT NULL,
    last_used_at          TEXT
);

CREATE TABLE accounts (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    kind               TEXT NOT NULL,
    name               TEXT NOT NULL UNIQUE,
    base_url           TEXT,
    priority           INTEGER NOT NULL DEFAULT 50,
    weight             INTEGER NOT NULL DEFAULT 1,
    allowed_models     TEXT NOT NULL DEFAULT '[]',
    model_map          TEXT NOT NULL DEFAULT '{}',
    max_concurrency    INTEGER NOT NULL DEFAULT 0,
    proxy_url          TEXT,
    status             TEXT NOT NULL DEFAULT 'active'
                       CHECK (status IN ('active', 'cooling', 'error', 'disabled')),
    status_reason      TEXT,
    status_until       TEXT,
    consecutive_errors INTEGER NOT NULL DEFAULT 0,
    last_check_at      TEXT,
    last_check_result  TEXT,
    extra              TEXT NOT NULL DEFAULT '{}',
    -- AES-256-GCM ciphertext of the credentials JSON, never plain text.
    credentials        TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
);

CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE prices (
    model      TEXT PRIMARY KEY,
    -- A LiteLLM-style price object (USD per token).
    price      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE usage_records (
    id                       INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at               TEXT NOT NULL,
    request_id               TEXT NOT NULL,
    api_key_id               INTEGER,
    user_id                  INTEGER,
    account_id               INTEGER,
    dialect                  TEXT NOT NULL,
    endpoint                 TEXT NOT NULL,
    requested_model          TEXT,
    upstream_model           TEXT,
    input_tokens             INTEGER NOT NULL DEFAULT 0,
    output_tokens            INTEGER NOT NULL DEFAULT 0,
    cache_creation_5m_tokens INTEGER NOT NULL DEFAULT 0,
    cache_creation_1h_tokens INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens        INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens         INTEGER NOT NULL DEFAULT 0,
    cost_usd                 REAL,
    stream                   INTEGER NOT NULL,
    status                   INTEGER NOT NULL,
    error_kind               TEXT,
    attempts                 INTEGER NOT NULL DEFAULT 1,
    ttfb_ms                  INTEGER,
    duration_ms              INTEGER NOT NULL,
    session_hash             TEXT
);

CREATE INDEX usage_records_created ON usage_records (created_at);
CREATE INDEX usage_records_key_created ON usage_records (api_key_id, created_at);

CREATE TABLE audit_log (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     TEXT NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    detail TEXT
);

-- Every change that the in-memory snapshots depend on bumps change_seq, so a running server
-- notices edits made by the CLI or another process by polling one row.
CREATE TRIGGER accounts_ins AFTER INSERT ON accounts BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'change_seq'; END;
CREATE TRIGGER accounts_upd AFTER UPDATE ON accounts BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'change_seq'; END;
CREATE TRIGGER accounts_del AFTER DELETE ON accounts BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'change_seq'; END;
CREATE TRIGGER keys_ins AFTER INSERT ON api_keys BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'change_seq'; END;
CREATE TRIGGER keys_upd AFTER UPDATE OF status, expires_at, allowed_models, allowed_clients, concurrency_limit, rate_limit_per_minute, daily_cost_limit_usd, total_cost_limit_usd, name ON api_keys BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'change_seq'; END;
CREATE TRIGGER keys_del AFTER DELETE ON api_keys BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'change_seq'; END;
CREATE TRIGGER users_upd AFTER UPDATE OF status ON users BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'change_seq'; END;
CREATE TRIGGER settings_ins AFTER INSERT ON settings BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'change_seq'; END;
CREATE TRIGGER settings_upd AFTER UPDATE ON settings BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'change_seq'; END;
CREATE TRIGGER settings_del AFTER DELETE ON settings BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'change_seq'; END;
CREATE TRIGGER prices_ins AFTER INSERT ON prices BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'change_seq'; END;
CREATE TRIGGER prices_upd AFTER UPDATE ON prices BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'change_seq'; END;
CREATE TRIGGER prices_del AFTER DELETE ON prices BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'change_seq'; END;
