-- Berth runs as `berth_app`, which may read and write every table but may only INSERT and
-- SELECT the audit trail: no UPDATE, DELETE or TRUNCATE, and, not being the owner, no
-- ALTER TABLE … DISABLE TRIGGER either. Migrations run as the owner
-- (BERTH_MIGRATE_DATABASE_URL). The role is made here without LOGIN; whoever runs the
-- database gives it a login and a password (the scripts do: ALTER ROLE berth_app LOGIN).
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'berth_app') THEN
        CREATE ROLE berth_app NOLOGIN;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO berth_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO berth_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO berth_app;
REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON audit_events FROM berth_app;
REVOKE ALL ON _sqlx_migrations FROM berth_app;
GRANT SELECT ON _sqlx_migrations TO berth_app;

-- Tables and sequences later migrations create get the same (the audit trail stays as above).
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO berth_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO berth_app;
