-- Admin API sign-in: browser sessions and long-lived API tokens, stored as hashes.

CREATE TABLE admin_sessions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash   TEXT NOT NULL UNIQUE,
    -- Sessions used from a browser (cookie) must send this CSRF token on changes.
    csrf_hash    TEXT,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind         TEXT NOT NULL CHECK (kind IN ('session', 'token')),
    name         TEXT NOT NULL DEFAULT '',
    created_at   TEXT NOT NULL,
    expires_at   TEXT,
    revoked_at   TEXT
);

CREATE INDEX admin_sessions_user ON admin_sessions (user_id);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX usage_records_account_created ON usage_records (account_id, created_at);
