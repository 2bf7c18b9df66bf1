-- Sessions and tokens answered from memory (backend/src/auth/cache.rs) must drop what Postgres
-- no longer says: every change that could alter who a credential is or what it may do
-- notifies `berth_credentials` when its transaction commits, and every replica listens. A
-- trigger, so no writer (the server, the CLI, an operator's psql) can forget one. The payload
-- is `user:<id>` for one user's credentials, `all` for everyone's; never a secret.
CREATE FUNCTION berth_credential_notice() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    row_data jsonb;
BEGIN
    IF TG_LEVEL = 'STATEMENT' OR TG_ARGV[0] = 'all' THEN
        PERFORM pg_notify('berth_credentials', 'all');
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN
        row_data := to_jsonb(OLD);
    ELSE
        row_data := to_jsonb(NEW);
    END IF;
    PERFORM pg_notify('berth_credentials', 'user:' || (row_data ->> TG_ARGV[0]));
    RETURN NULL;
END;
$$;

-- A user's name, email, admin flag or disabling; a user removed.
CREATE TRIGGER users_credential_notice AFTER UPDATE OF email, display_name, is_admin, disabled_at OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION berth_credential_notice('id');
-- A session or token revoked, cut short, changed or removed. Not the bookkeeping of their last
-- use (`last_seen_at`, `last_used_at`), which changes nothing a request is answered with.
CREATE TRIGGER sessions_credential_notice AFTER UPDATE OF revoked_at, expires_at, user_id, csrf_token OR DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION berth_credential_notice('user_id');
CREATE TRIGGER api_tokens_credential_notice AFTER UPDATE OF revoked_at, expires_at, user_id, scopes, secret_hash OR DELETE ON api_tokens
    FOR EACH ROW EXECUTE FUNCTION berth_credential_notice('user_id');
-- A membership added, removed or its role changed.
CREATE TRIGGER team_members_credential_notice AFTER INSERT OR UPDATE OR DELETE ON team_members
    FOR EACH ROW EXECUTE FUNCTION berth_credential_notice('user_id');
-- A team renamed or removed shows in every member's answers: drop them all.
CREATE TRIGGER teams_credential_notice AFTER UPDATE OF name, display_name OR DELETE ON teams
    FOR EACH ROW EXECUTE FUNCTION berth_credential_notice('all');
-- TRUNCATE fires no row trigger.
CREATE TRIGGER users_truncate_credential_notice AFTER TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION berth_credential_notice('all');
CREATE TRIGGER sessions_truncate_credential_notice AFTER TRUNCATE ON sessions
    FOR EACH STATEMENT EXECUTE FUNCTION berth_credential_notice('all');
CREATE TRIGGER api_tokens_truncate_credential_notice AFTER TRUNCATE ON api_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION berth_credential_notice('all');
CREATE TRIGGER team_members_truncate_credential_notice AFTER TRUNCATE ON team_members
    FOR EACH STATEMENT EXECUTE FUNCTION berth_credential_notice('all');
CREATE TRIGGER teams_truncate_credential_notice AFTER TRUNCATE ON teams
    FOR EACH STATEMENT EXECUTE FUNCTION berth_credential_notice('all');
