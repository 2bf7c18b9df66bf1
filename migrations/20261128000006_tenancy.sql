-- Tenancy: presets, budgets, approval policies, namespace requests, the namespaces Berth
-- provisions, the objects applied into them, and the durable job queue that applies them.

-- Quota + LimitRange presets teams pick from (S / M / L / XL); admins edit them.
CREATE TABLE quota_presets (
    name            text PRIMARY KEY,
    rank            integer NOT NULL UNIQUE,
    -- a NamespaceSpec (quota and limits) as the API carries it
    spec            jsonb NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

INSERT INTO quota_presets (name, rank, spec) VALUES
('S', 1, '{"quota": {"requests_cpu": "2", "requests_memory": "4Gi", "limits_cpu": "4", "limits_memory": "8Gi", "pods": 20, "services": 5, "persistentvolumeclaims": 5, "requests_storage": "50Gi"},
           "limits": {"default_request_cpu": "100m", "default_request_memory": "128Mi", "default_limit_cpu": "500m", "default_limit_memory": "512Mi", "min_cpu": "10m", "min_memory": "16Mi", "max_cpu": "2", "max_memory": "4Gi", "max_limit_request_ratio_cpu": "10", "max_limit_request_ratio_memory": "4"}}'),
('M', 2, '{"quota": {"requests_cpu": "8", "requests_memory": "16Gi", "limits_cpu": "16", "limits_memory": "32Gi", "pods": 50, "services": 10, "persistentvolumeclaims": 10, "requests_storage": "200Gi"},
           "limits": {"default_request_cpu": "250m", "default_request_memory": "256Mi", "default_limit_cpu": "1", "default_limit_memory": "1Gi", "min_cpu": "10m", "min_memory": "16Mi", "max_cpu": "4", "max_memory": "8Gi", "max_limit_request_ratio_cpu": "10", "max_limit_request_ratio_memory": "4"}}'),
('L', 3, '{"quota": {"requests_cpu": "32", "requests_memory": "64Gi", "limits_cpu": "64", "limits_memory": "128Gi", "pods": 150, "services": 30, "persistentvolumeclaims": 30, "requests_storage": "1Ti"},
           "limits": {"default_request_cpu": "500m", "default_request_memory": "512Mi", "default_limit_cpu": "2", "default_limit_memory": "2Gi", "min_cpu": "10m", "min_memory": "16Mi", "max_cpu": "8", "max_memory": "32Gi", "max_limit_request_ratio_cpu": "10", "max_limit_request_ratio_memory": "4"}}'),
('XL', 4, '{"quota": {"requests_cpu": "96", "requests_memory": "384Gi", "limits_cpu": "192", "limits_memory": "768Gi", "pods": 500, "services": 100, "persistentvolumeclaims": 100, "requests_storage": "5Ti"},
           "limits": {"default_request_cpu": "1", "default_request_memory": "1Gi", "default_limit_cpu": "4", "default_limit_memory": "4Gi", "min_cpu": "10m", "min_memory": "16Mi", "max_cpu": "16", "max_memory": "64Gi", "max_limit_request_ratio_cpu": "10", "max_limit_request_ratio_memory": "4"}}');

-- A ceiling on the sum of a team's quotas, fleet-wide (cluster_id NULL) or on one cluster.
CREATE TABLE team_budgets (
    id              uuid PRIMARY KEY,
    team_id         uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    cluster_id      uuid REFERENCES clusters (id) ON DELETE CASCADE,
    cpu_millis      bigint NOT NULL CHECK (cpu_millis >= 0),
    memory_bytes    bigint NOT NULL CHECK (memory_bytes >= 0),
    storage_bytes   bigint NOT NULL CHECK (storage_bytes >= 0),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT team_budgets_scope_key UNIQUE NULLS NOT DISTINCT (team_id, cluster_id)
);

-- Auto-approval rules, evaluated in position order; the first that matches decides.
CREATE TABLE approval_policies (
    id              uuid PRIMARY KEY,
    name            text NOT NULL,
    position        integer NOT NULL,
    enabled         boolean NOT NULL DEFAULT true,
    -- a PolicyConditions object: kinds, environments, max_preset, within_budget, decrease_only
    conditions      jsonb NOT NULL,
    action          text NOT NULL CHECK (action IN ('approve', 'manual')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT approval_policies_name_key UNIQUE (name)
);

INSERT INTO approval_policies (id, name, position, conditions, action) VALUES
('00000000-0000-4000-8000-000000000001', 'dev and staging up to L within budget', 1,
 '{"kinds": ["create", "quota_change"], "environments": ["dev", "staging"], "max_preset": "L", "within_budget": true, "decrease_only": false}', 'approve'),
('00000000-0000-4000-8000-000000000002', 'quota decreases', 2,
 '{"kinds": ["quota_change"], "environments": [], "max_preset": null, "within_budget": false, "decrease_only": true}', 'approve');

ALTER TABLE namespaces
    ADD COLUMN environment          text NOT NULL DEFAULT 'dev' CHECK (environment IN ('prod', 'staging', 'dev')),
    ADD COLUMN purpose              text NOT NULL DEFAULT '',
    ADD COLUMN spec                 jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN quota_storage_bytes  bigint NOT NULL DEFAULT 0,
    ADD COLUMN expires_at           timestamptz,
    -- a timed burst: the spec to return to, and when
    ADD COLUMN burst_until          timestamptz,
    ADD COLUMN base_spec            jsonb,
    ADD COLUMN last_error           text,
    -- ResourceQuota status as last read from the cluster
    ADD COLUMN usage                jsonb,
    ADD COLUMN usage_at             timestamptz,
    -- the last drift check: object → what differs
    ADD COLUMN drift                jsonb,
    ADD COLUMN drift_checked_at     timestamptz,
    ADD COLUMN updated_at           timestamptz NOT NULL DEFAULT now(),
    ADD CONSTRAINT namespaces_state_check
        CHECK (state IN ('provisioning', 'ready', 'failed', 'decommissioning', 'decommissioned'));
-- A name is free again once its namespace is decommissioned.
ALTER TABLE namespaces DROP CONSTRAINT namespaces_cluster_name_key;
CREATE UNIQUE INDEX namespaces_live_name ON namespaces (cluster_id, name) WHERE state <> 'decommissioned';
CREATE INDEX namespaces_team ON namespaces (team_id);
CREATE INDEX namespaces_page ON namespaces (name, id);

CREATE TABLE namespace_requests (
    id              uuid PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('create', 'quota_change', 'decommission')),
    team_id         uuid NOT NULL REFERENCES teams (id),
    cluster_id      uuid NOT NULL REFERENCES clusters (id),
    namespace_id    uuid REFERENCES namespaces (id),
    namespace_name  text NOT NULL,
    node_pool       text NOT NULL,
    environment     text NOT NULL CHECK (environment IN ('prod', 'staging', 'dev')),
    preset          text,
    purpose         text NOT NULL,
    expires_at      timestamptz,
    burst_until     timestamptz,
    -- what was asked for, and (after an amendment) what will be applied
    requested_spec  jsonb NOT NULL,
    spec            jsonb NOT NULL,
    amended_by      uuid REFERENCES users (id),
    amendment_note  text,
    state           text NOT NULL CHECK (state IN ('pending', 'approved', 'rejected', 'cancelled',
                                                    'provisioning', 'ready', 'failed')),
    requested_by    uuid REFERENCES users (id),
    decided_by      uuid REFERENCES users (id),
    decided_at      timestamptz,
    decision_reason text,
    -- the approval policy that decided (auto-approval) or sent it to an admin
    matched_policy  text,
    over_budget     boolean NOT NULL DEFAULT false,
    last_error      text,
    attempts        integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX namespace_requests_team ON namespace_requests (team_id, created_at DESC);
CREATE INDEX namespace_requests_state ON namespace_requests (state, created_at DESC);
-- One open create request per name and cluster.
CREATE UNIQUE INDEX namespace_requests_open_name ON namespace_requests (cluster_id, namespace_name)
    WHERE kind = 'create' AND state IN ('pending', 'approved', 'provisioning', 'failed');

-- What the last apply did to each object of a namespace.
CREATE TABLE namespace_objects (
    namespace_id    uuid NOT NULL REFERENCES namespaces (id) ON DELETE CASCADE,
    kind            text NOT NULL,
    name            text NOT NULL,
    outcome         text NOT NULL CHECK (outcome IN ('applied', 'failed', 'deleted')),
    error           text,
    at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (namespace_id, kind, name)
);

-- Durable work: applying, reverting and deleting namespaces, and webhook deliveries. A
-- worker claims a due job with FOR UPDATE SKIP LOCKED and holds a lease; a crashed
-- worker's lease runs out and the job is claimed again. Finishing checks the lease, so
-- a job is finished once.
CREATE TABLE jobs (
    id              bigserial PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('apply', 'revert_burst', 'expire', 'decommission', 'webhook')),
    namespace_id    uuid REFERENCES namespaces (id) ON DELETE CASCADE,
    request_id      uuid REFERENCES namespace_requests (id) ON DELETE CASCADE,
    cluster_id      uuid REFERENCES clusters (id) ON DELETE CASCADE,
    payload         jsonb NOT NULL DEFAULT '{}',
    state           text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', 'dead')),
    run_at          timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0,
    lease_owner     uuid,
    lease_until     timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);
CREATE INDEX jobs_due ON jobs (run_at) WHERE state IN ('queued', 'running');

-- Webhooks told about request events, signed with HMAC-SHA256 of the body.
CREATE TABLE webhooks (
    id              uuid PRIMARY KEY,
    url             text NOT NULL,
    -- sealed like cluster credentials; never returned
    secret_sealed   bytea NOT NULL,
    events          text[] NOT NULL,
    enabled         boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Namespaces labelled managed-by=berth that Berth has no record of, as the last drift check
-- of each cluster found them.
CREATE TABLE out_of_band_namespaces (
    cluster_id      uuid NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
    name            text NOT NULL,
    team_label      text,
    seen_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cluster_id, name)
);
