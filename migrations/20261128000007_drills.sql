-- Disaster-recovery drills: a restore of the newest backup into a scratch namespace (on the
-- namespace's cluster or its DR pair), or a read-only failover-readiness check. Each drill
-- is carried out by a durable job, step by step, and keeps its evidence.

-- RTO / RPO objectives per namespace; absent: the defaults of its environment.
CREATE TABLE drill_objectives (
    namespace_id    uuid PRIMARY KEY REFERENCES namespaces (id) ON DELETE CASCADE,
    rto_seconds     integer NOT NULL CHECK (rto_seconds > 0),
    rpo_seconds     integer NOT NULL CHECK (rpo_seconds > 0),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE drills (
    id                  uuid PRIMARY KEY,
    namespace_id        uuid NOT NULL REFERENCES namespaces (id) ON DELETE CASCADE,
    kind                text NOT NULL CHECK (kind IN ('restore', 'readiness')),
    -- where the restore goes: the namespace's own cluster or its DR pair
    target_cluster_id   uuid REFERENCES clusters (id),
    state               text NOT NULL CHECK (state IN ('queued', 'running', 'passed', 'failed', 'cancelled')),
    requested_by        uuid REFERENCES users (id),
    -- objectives in force when the drill started
    rto_seconds         integer NOT NULL,
    rpo_seconds         integer NOT NULL,
    -- keep the scratch namespace this many hours (0: delete at once)
    keep_hours          integer NOT NULL DEFAULT 0,
    -- how long to wait for the restored workloads to be ready
    ready_timeout_seconds integer NOT NULL DEFAULT 600,
    started_at          timestamptz,
    finished_at         timestamptz,
    backup_name         text,
    backup_started_at   timestamptz,
    restore_name        text,
    scratch_namespace   text,
    restore_completed_at timestamptz,
    workloads_ready_at  timestamptz,
    items_restored      integer,
    items_total         integer,
    warnings            integer,
    errors              integer,
    -- the step the job is at, and every step so far with its time
    step                text NOT NULL DEFAULT 'queued',
    steps               jsonb NOT NULL DEFAULT '[]',
    -- readiness checks: name → {ok, detail}
    checks              jsonb,
    -- decided before the scratch namespace is cleaned up
    verdict             text CHECK (verdict IN ('pass', 'fail')),
    verdict_reason      text,
    cancel_requested    boolean NOT NULL DEFAULT false,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX drills_namespace ON drills (namespace_id, created_at DESC);
-- One drill at a time per namespace: a second is refused while one runs.
CREATE UNIQUE INDEX drills_one_running ON drills (namespace_id) WHERE state IN ('queued', 'running');

ALTER TABLE jobs ADD COLUMN drill_id uuid REFERENCES drills (id) ON DELETE CASCADE;
ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check
    CHECK (kind IN ('apply', 'revert_burst', 'expire', 'decommission', 'webhook', 'drill'));
