-- Change notices between instances (issue 19, ADR 0015).
--
-- Every bump of change_seq is also announced on the `switchyard_changes` channel, so every
-- instance reloads at once instead of at its next poll. An account's runtime state (cool-downs,
-- error counts, health-check results) no longer bumps change_seq, which made every instance
-- reload everything: it is announced on `switchyard_account_state` with the account's id, and
-- each instance reads that one row. A change to or from `disabled` still bumps: an operator's
-- decision must also reach an instance that missed the notice. Payloads start with the schema,
-- since channels are per database and several installations may share one.

CREATE OR REPLACE FUNCTION bump_change_seq() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE meta SET value = (value::bigint + 1)::text WHERE key = 'change_seq';
    PERFORM pg_notify('switchyard_changes', current_schema());
    RETURN NULL;
END;
$$;

CREATE FUNCTION account_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    runtime CONSTANT text[] := ARRAY['status', 'status_reason', 'status_until',
        'consecutive_errors', 'last_check_at', 'last_check_result', 'updated_at'];
BEGIN
    IF TG_OP = 'UPDATE'
       AND NEW.status <> 'disabled' AND OLD.status <> 'disabled'
       AND (to_jsonb(NEW) - runtime) = (to_jsonb(OLD) - runtime) THEN
        PERFORM pg_notify('switchyard_account_state', current_schema() || ':' || NEW.id::text);
        RETURN NULL;
    END IF;
    UPDATE meta SET value = (value::bigint + 1)::text WHERE key = 'change_seq';
    PERFORM pg_notify('switchyard_changes', current_schema());
    RETURN NULL;
END;
$$;

DROP TRIGGER accounts_changed ON accounts;
CREATE TRIGGER accounts_changed AFTER INSERT OR UPDATE OR DELETE ON accounts
    FOR EACH ROW EXECUTE FUNCTION account_changed();
