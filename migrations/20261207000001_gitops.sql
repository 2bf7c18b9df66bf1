-- GitOps delivery: clusters that Argo CD or Flux own get their namespaces as commits to a Git
-- repository instead of server-side applies, and Berth watches the cluster until the commit
-- has been synced.

-- The repositories Berth commits to. Credentials are sealed like cluster credentials and never
-- returned: `secret_sealed` is the password or token (auth basic) or the SSH private key (auth
-- ssh_key). `ca_pem` is the CA of an HTTPS host with a private CA; `known_hosts` the SSH host
-- keys Berth accepts (there is no trust on first use).
CREATE TABLE git_repositories (
    id                  uuid PRIMARY KEY,
    name                text NOT NULL,
    url                 text NOT NULL,
    branch              text NOT NULL,
    auth                text NOT NULL CHECK (auth IN ('none', 'basic', 'ssh_key')),
    username            text,
    secret_sealed       bytea,
    ca_pem              text,
    known_hosts         text,
    -- Merge requests for clusters that deliver through review: the host's API.
    forge               text CHECK (forge IN ('github', 'gitlab', 'gitea')),
    forge_api_url       text,
    forge_project       text,
    forge_token_sealed  bytea,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT git_repositories_name_key UNIQUE (name),
    CONSTRAINT git_repositories_secret CHECK ((auth = 'none') = (secret_sealed IS NULL)),
    CONSTRAINT git_repositories_forge_whole CHECK (
        (forge IS NULL) = (forge_api_url IS NULL)
        AND (forge IS NULL) = (forge_project IS NULL)
        AND (forge IS NULL) = (forge_token_sealed IS NULL))
);

-- How a cluster gets its namespaces: `direct` (server-side apply) or `gitops` (commits to
-- `git_path`, a template with {cluster}, {namespace}, {team} and {environment}; the shared
-- cluster-wide policies go to `git_shared_path`). With `git_review`, each change is a branch
-- for review (and a merge request when the repository names its host's API).
ALTER TABLE clusters
    ADD COLUMN delivery           text NOT NULL DEFAULT 'direct' CHECK (delivery IN ('direct', 'gitops')),
    ADD COLUMN git_repository_id  uuid REFERENCES git_repositories (id),
    ADD COLUMN git_path           text,
    ADD COLUMN git_shared_path    text,
    ADD COLUMN git_review         boolean NOT NULL DEFAULT false,
    ADD CONSTRAINT clusters_gitops_whole CHECK (
        delivery = 'direct'
        OR (git_repository_id IS NOT NULL AND git_path IS NOT NULL AND git_shared_path IS NOT NULL));
CREATE INDEX clusters_git_repository ON clusters (git_repository_id) WHERE git_repository_id IS NOT NULL;

-- What Berth last committed for a namespace (GitOps clusters): the digest of its files, the
-- commit and the branch it is on (the repository's branch, or a review branch with its merge
-- request), and what the delivery is waiting for.
ALTER TABLE namespaces
    ADD COLUMN git_digest        text,
    ADD COLUMN git_commit        text,
    ADD COLUMN git_branch        text,
    ADD COLUMN git_review_url    text,
    ADD COLUMN git_committed_at  timestamptz,
    ADD COLUMN delivery_status   text;

ALTER TABLE namespace_requests
    ADD COLUMN git_commit      text,
    ADD COLUMN git_branch      text,
    ADD COLUMN git_review_url  text;

-- A durable job that commits a cluster's shared policies (or removes unused ones) goes
-- through the same queue; its kind stays `prune` or `apply`.

-- Change windows: while a freeze holds a cluster, approved changes to it wait ("held by
-- freeze <name>") and continue when it ends. A window is dated (starts_at..ends_at) or
-- recurring (a cron expression in a time zone, each occurrence lasting duration_minutes).
-- It holds the clusters it names and every cluster of the environments it names; with
-- neither, the whole fleet.
CREATE TABLE freeze_windows (
    id                uuid PRIMARY KEY,
    name              text NOT NULL,
    reason            text NOT NULL,
    environments      text[] NOT NULL DEFAULT '{}'
        CHECK (environments <@ ARRAY['prod', 'staging', 'dev']::text[]),
    starts_at         timestamptz,
    ends_at           timestamptz,
    schedule          text,
    duration_minutes  integer,
    timezone          text,
    created_by        uuid REFERENCES users (id),
    created_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT freeze_windows_name_key UNIQUE (name),
    CONSTRAINT freeze_windows_when CHECK (
        (starts_at IS NOT NULL AND ends_at IS NOT NULL AND ends_at > starts_at
         AND schedule IS NULL AND duration_minutes IS NULL AND timezone IS NULL)
        OR (starts_at IS NULL AND ends_at IS NULL
            AND schedule IS NOT NULL AND duration_minutes > 0 AND timezone IS NOT NULL))
);

CREATE TABLE freeze_window_clusters (
    freeze_id   uuid NOT NULL REFERENCES freeze_windows (id) ON DELETE CASCADE,
    cluster_id  uuid NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
    PRIMARY KEY (freeze_id, cluster_id)
);

-- A request whose change a freeze holds is `held`, naming the freeze and when it ends; an
-- admin may release one request from the freeze, with a reason.
ALTER TABLE namespace_requests DROP CONSTRAINT namespace_requests_state_check;
ALTER TABLE namespace_requests ADD CONSTRAINT namespace_requests_state_check
    CHECK (state IN ('pending', 'approved', 'rejected', 'cancelled', 'provisioning', 'held', 'ready', 'failed'));
ALTER TABLE namespace_requests
    ADD COLUMN held_by                text,
    ADD COLUMN held_until             timestamptz,
    ADD COLUMN freeze_released_by     uuid REFERENCES users (id),
    ADD COLUMN freeze_released_at     timestamptz,
    ADD COLUMN freeze_release_reason  text;
-- A held create request still holds its name.
DROP INDEX namespace_requests_open_name;
CREATE UNIQUE INDEX namespace_requests_open_name ON namespace_requests (cluster_id, namespace_name)
    WHERE kind = 'create' AND state IN ('pending', 'approved', 'provisioning', 'held', 'failed');

-- A namespace whose change (a burst's end, an expiry) a freeze holds says so too.
ALTER TABLE namespaces
    ADD COLUMN held_by     text,
    ADD COLUMN held_until  timestamptz;

-- A GitOps namespace's objects are `committed` until the cluster has them, then `applied`.
ALTER TABLE namespace_objects DROP CONSTRAINT namespace_objects_outcome_check;
ALTER TABLE namespace_objects ADD CONSTRAINT namespace_objects_outcome_check
    CHECK (outcome IN ('applied', 'committed', 'failed', 'deleted'));

-- The folder a namespace's objects were last committed to, so a new path template moves it.
ALTER TABLE namespaces ADD COLUMN git_path text;
