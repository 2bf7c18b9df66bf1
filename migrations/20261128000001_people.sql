-- People and their browser sessions.
-- Emails are stored lower-cased by the service layer; the unique index keeps them distinct.
CREATE TABLE users (
    id              uuid PRIMARY KEY,
    email           text NOT NULL,
    display_name    text NOT NULL,
    -- argon2id PHC string; never leaves the server.
    password_hash   text NOT NULL,
    is_admin        boolean NOT NULL DEFAULT false,
    disabled_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    password_changed_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_email_lowercase CHECK (email = lower(email))
);

-- A session row is keyed by the SHA-256 of the cookie value, so a copy of this table
-- does not let anyone log in.
CREATE TABLE sessions (
    id_hash         bytea PRIMARY KEY,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_seen_at    timestamptz NOT NULL DEFAULT now(),
    -- absolute expiry; idle expiry is last_seen_at + the configured idle timeout.
    expires_at      timestamptz NOT NULL,
    revoked_at      timestamptz,
    client_addr     text,
    user_agent      text
);
CREATE INDEX sessions_user_id ON sessions (user_id);

-- Failed logins, counted per account and per client address for throttling.
CREATE TABLE login_failures (
    id              bigserial PRIMARY KEY,
    throttle_key    text NOT NULL,
    failed_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_failures_key_time ON login_failures (throttle_key, failed_at);
