-- Teams own namespaces; their name is the prefix of every namespace they request.
CREATE TABLE teams (
    id              uuid PRIMARY KEY,
    name            text NOT NULL,
    display_name    text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT teams_name_key UNIQUE (name)
);

CREATE TABLE team_members (
    team_id         uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role            text NOT NULL CHECK (role IN ('member', 'owner')),
    added_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT team_members_pkey PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user ON team_members (user_id);
