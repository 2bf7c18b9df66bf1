-- Single sign-on with an OpenID Connect provider.
--
-- A user signed in through the provider is known by its issuer and subject (the email may
-- change there); such a user may have no password. `provider_admin` says the admin flag came
-- from the provider's groups, so the next sign-in may take it away again; an admin flag
-- given in Berth stays.
ALTER TABLE users ALTER COLUMN password_hash DROP NOT NULL;
ALTER TABLE users ADD COLUMN sso_issuer text;
ALTER TABLE users ADD COLUMN sso_subject text;
ALTER TABLE users ADD COLUMN provider_admin boolean NOT NULL DEFAULT false;
ALTER TABLE users ADD CONSTRAINT users_sso_identity_key UNIQUE (sso_issuer, sso_subject);
ALTER TABLE users ADD CONSTRAINT users_sso_identity_whole
    CHECK ((sso_issuer IS NULL) = (sso_subject IS NULL));
ALTER TABLE users ADD CONSTRAINT users_some_credential
    CHECK (password_hash IS NOT NULL OR sso_subject IS NOT NULL);

-- Where a membership came from: given in Berth (`manual`), or from the provider's groups
-- (`provider`), which each sign-in brings in line with the groups the user then carries.
ALTER TABLE team_members ADD COLUMN source text NOT NULL DEFAULT 'manual'
    CHECK (source IN ('manual', 'provider'));

-- Admin-editable rules from a provider group to a team role or to platform admin.
CREATE TABLE group_rules (
    id              uuid PRIMARY KEY,
    provider_group  text NOT NULL CHECK (length(provider_group) BETWEEN 1 AND 256),
    team_id         uuid REFERENCES teams (id) ON DELETE CASCADE,
    role            text NOT NULL CHECK (role IN ('member', 'owner', 'admin')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT group_rules_target CHECK ((role = 'admin') = (team_id IS NULL)),
    CONSTRAINT group_rules_unique UNIQUE NULLS NOT DISTINCT (provider_group, team_id, role)
);

-- A sign-in under way: the state sent to the provider (only its SHA-256), the browser it
-- belongs to (the SHA-256 of a cookie set at the start), the nonce and the PKCE verifier.
-- The callback deletes the row it uses, so a state works once; rows expire after minutes.
CREATE TABLE sso_logins (
    state_hash      bytea PRIMARY KEY,
    browser_hash    bytea NOT NULL,
    nonce           text NOT NULL,
    pkce_verifier   text NOT NULL,
    return_to       text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sso_logins_created ON sso_logins (created_at);
