-- Named proxies that accounts share, and OAuth sign-ins in progress.

-- An account names a proxy through its `proxy_url` column: a URL there is an inline proxy,
-- a bare name refers to a row here (resolved when the in-memory snapshot is built).
CREATE TABLE proxies (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL UNIQUE,
    -- AES-256-GCM ciphertext of the URL: it may carry a user and password.
    url        TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TRIGGER proxies_ins AFTER INSERT ON proxies BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'change_seq'; END;
CREATE TRIGGER proxies_upd AFTER UPDATE ON proxies BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'change_seq'; END;
CREATE TRIGGER proxies_del AFTER DELETE ON proxies BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'change_seq'; END;

-- OAuth authorisation-code flows between start and finish. Kept in the store (not in memory)
-- so any instance can finish a flow another one started; a row is deleted when it is used.
CREATE TABLE oauth_pending (
    state      TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    -- AES-256-GCM ciphertext of the flow's JSON (PKCE verifier, requested account fields).
    data       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
