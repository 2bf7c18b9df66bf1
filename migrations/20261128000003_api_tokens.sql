-- Tokens for automation. Only the SHA-256 of the secret is kept; the secret is shown once.
CREATE TABLE api_tokens (
    id              uuid PRIMARY KEY,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name            text NOT NULL,
    -- the first characters of the secret, so people can tell their tokens apart
    prefix          text NOT NULL,
    secret_hash     bytea NOT NULL,
    scopes          text[] NOT NULL CHECK (scopes <@ ARRAY['read', 'request', 'approve']::text[] AND cardinality(scopes) > 0),
    expires_at      timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_used_at    timestamptz,
    revoked_at      timestamptz,
    CONSTRAINT api_tokens_secret_hash_key UNIQUE (secret_hash),
    CONSTRAINT api_tokens_user_name_key UNIQUE (user_id, name)
);
