-- Usage windows upstreams report per account (Claude 5-hour/7-day utilisation, Codex primary
-- and secondary windows). Written often and read by operators, so it lives apart from
-- `accounts` and does not bump change_seq.
CREATE TABLE account_quota (
    account_id INTEGER PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    data       TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
