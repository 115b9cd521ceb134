-- A key's own cross_dialect (off, fallback, any); NULL follows the runtime setting.
ALTER TABLE api_keys ADD COLUMN cross_dialect TEXT;

-- The new policy column reaches running servers like the others.
DROP TRIGGER keys_upd ON api_keys;
CREATE TRIGGER keys_upd AFTER UPDATE OF status, expires_at, expires_after_seconds, allowed_models,
    allowed_dialects, allowed_clients, concurrency_limit, rate_limit_per_minute, tokens_per_minute,
    daily_cost_limit_usd, weekly_cost_limit_usd, total_cost_limit_usd, bound_account_id,
    bound_group_id, pool_fallback, cross_dialect, name, user_id ON api_keys
    FOR EACH ROW EXECUTE FUNCTION bump_change_seq();
