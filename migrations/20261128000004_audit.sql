-- The audit trail: append-only and hash-chained.
--
-- Each row stores prev_hash (the hash of the row before it) and row_hash, the SHA-256 of
-- prev_hash and the row's own content. The id and both hashes are assigned by the trigger
-- below under a transaction-scoped advisory lock, so the chain order is the commit order
-- and no client can insert a row that is not chained. `berth audit verify` recomputes every
-- hash with audit_row_hash() and names the first row that does not match.
CREATE TABLE audit_events (
    id              bigint PRIMARY KEY,
    occurred_at     timestamptz NOT NULL DEFAULT date_trunc('milliseconds', clock_timestamp()),
    actor_user_id   uuid,
    actor_token_id  uuid,
    -- who acted, as people read it (an email, "system", or "cli")
    actor_label     text NOT NULL,
    action          text NOT NULL,
    target_type     text NOT NULL,
    target_id       text NOT NULL,
    team_id         uuid,
    before          jsonb,
    after           jsonb,
    request_id      text,
    client_addr     text,
    user_agent      text,
    prev_hash       bytea NOT NULL,
    row_hash        bytea NOT NULL
);
CREATE INDEX audit_events_team ON audit_events (team_id, id);
CREATE INDEX audit_events_actor ON audit_events (actor_user_id, id);
CREATE INDEX audit_events_action ON audit_events (action, id);
CREATE INDEX audit_events_target ON audit_events (target_type, target_id, id);

CREATE FUNCTION audit_row_hash(prev bytea, e audit_events) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$
    SELECT sha256(prev || convert_to(jsonb_build_array(
        e.id,
        extract(epoch FROM e.occurred_at)::text,
        e.actor_user_id, e.actor_token_id, e.actor_label,
        e.action, e.target_type, e.target_id, e.team_id,
        e.before, e.after,
        e.request_id, e.client_addr, e.user_agent
    )::text, 'UTF8'))
$$;

CREATE FUNCTION audit_events_chain() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    last_id bigint;
    last_hash bytea;
BEGIN
    -- One writer at a time: the lock is held until this transaction ends.
    PERFORM pg_advisory_xact_lock(7366255410716213505);
    SELECT id, row_hash INTO last_id, last_hash FROM audit_events ORDER BY id DESC LIMIT 1;
    NEW.id := coalesce(last_id, 0) + 1;
    NEW.prev_hash := coalesce(last_hash, '\x'::bytea);
    NEW.row_hash := audit_row_hash(NEW.prev_hash, NEW);
    RETURN NEW;
END;
$$;

CREATE TRIGGER audit_events_chain BEFORE INSERT ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_chain();

CREATE FUNCTION audit_events_refuse() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_refuse();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse();
