-- Key policy beyond the first cut, per-user limits, and account groups.

CREATE TABLE account_groups (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL
);

CREATE TABLE account_group_members (
    group_id   INTEGER NOT NULL REFERENCES account_groups (id) ON DELETE CASCADE,
    account_id INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, account_id)
);

ALTER TABLE api_keys ADD COLUMN expires_after_seconds INTEGER;
ALTER TABLE api_keys ADD COLUMN first_used_at TEXT;
ALTER TABLE api_keys ADD COLUMN allowed_dialects TEXT NOT NULL DEFAULT '[]';
ALTER TABLE api_keys ADD COLUMN tokens_per_minute INTEGER NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD COLUMN weekly_cost_limit_usd REAL;
ALTER TABLE api_keys ADD COLUMN bound_account_id INTEGER REFERENCES accounts (id);
ALTER TABLE api_keys ADD COLUMN bound_group_id INTEGER REFERENCES account_groups (id);
ALTER TABLE api_keys ADD COLUMN pool_fallback INTEGER NOT NULL DEFAULT 0;

ALTER TABLE users ADD COLUMN concurrency_limit INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN daily_cost_limit_usd REAL;
ALTER TABLE users ADD COLUMN weekly_cost_limit_usd REAL;
ALTER TABLE users ADD COLUMN total_cost_limit_usd REAL;

CREATE INDEX usage_records_user_created ON usage_records (user_id, created_at);

-- Policy edits must reach running servers: the key trigger now watches every policy column
-- (but not first_used_at / last_used_at, which the relay itself writes).
DROP TRIGGER keys_upd;
CREATE TRIGGER keys_upd AFTER UPDATE OF status, expires_at, expires_after_seconds, allowed_models,
    allowed_dialects, allowed_clients, concurrency_limit, rate_limit_per_minute, tokens_per_minute,
    daily_cost_limit_usd, weekly_cost_limit_usd, total_cost_limit_usd, bound_account_id,
    bound_group_id, pool_fallback, name, user_id
    ON api_keys BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'change_seq'; END;
DROP TRIGGER users_upd;
CREATE TRIGGER users_upd AFTER UPDATE OF status, concurrency_limit, daily_cost_limit_usd,
    weekly_cost_limit_usd, total_cost_limit_usd
    ON users BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'change_seq'; END;
CREATE TRIGGER users_ins AFTER INSERT ON users BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'change_seq'; END;
CREATE TRIGGER groups_ins AFTER INSERT ON account_groups BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'change_seq'; END;
CREATE TRIGGER groups_del AFTER DELETE ON account_groups BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'change_seq'; END;
CREATE TRIGGER group_members_ins AFTER INSERT ON account_group_members BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'change_seq'; END;
CREATE TRIGGER group_members_del AFTER DELETE ON account_group_members BEGIN UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'change_seq'; END;
