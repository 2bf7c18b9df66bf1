-- Guardrails per cluster layer, on top of each environment's: a namespace gets the stricter of
-- its environment's and its cluster layer's level or mode for every rule (a layer can tighten,
-- never loosen), and the layer's default PriorityClass if the admin sets one. A row of
-- 'privileged' and 'off' adds nothing.
CREATE TABLE layer_guardrails (
    layer                text PRIMARY KEY CHECK (layer IN ('shared-infra', 'online', 'offline', 'stateful', 'secure')),
    pod_security_enforce text NOT NULL CHECK (pod_security_enforce IN ('privileged', 'baseline', 'restricted')),
    pod_security_warn    text NOT NULL CHECK (pod_security_warn IN ('privileged', 'baseline', 'restricted')),
    pod_security_audit   text NOT NULL CHECK (pod_security_audit IN ('privileged', 'baseline', 'restricted')),
    require_resources    text NOT NULL CHECK (require_resources IN ('off', 'warn', 'audit', 'deny')),
    require_probes       text NOT NULL CHECK (require_probes IN ('off', 'warn', 'audit', 'deny')),
    forbid_latest        text NOT NULL CHECK (forbid_latest IN ('off', 'warn', 'audit', 'deny')),
    forbid_privileged    text NOT NULL CHECK (forbid_privileged IN ('off', 'warn', 'audit', 'deny')),
    -- The PriorityClass Berth writes on the layer's clusters and defaults pods to (where the
    -- cluster serves MutatingAdmissionPolicy); its value, which Kubernetes never lets change.
    priority_class       text,
    priority_value       integer CHECK (priority_value BETWEEN -2147483648 AND 1000000000),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CHECK ((priority_class IS NULL) = (priority_value IS NULL))
);

-- The guide's isolated-security clusters hold compliance workloads: restricted Pod Security and
-- every standard denied, whatever the environment says. Other layers add nothing until an admin
-- sets them.
INSERT INTO layer_guardrails VALUES
    ('shared-infra', 'privileged', 'privileged', 'privileged', 'off',  'off',  'off',  'off',  NULL, NULL, now()),
    ('online',       'privileged', 'privileged', 'privileged', 'off',  'off',  'off',  'off',  NULL, NULL, now()),
    ('offline',      'privileged', 'privileged', 'privileged', 'off',  'off',  'off',  'off',  NULL, NULL, now()),
    ('stateful',     'privileged', 'privileged', 'privileged', 'off',  'off',  'off',  'off',  NULL, NULL, now()),
    ('secure',       'restricted', 'restricted', 'restricted', 'deny', 'deny', 'deny', 'deny', NULL, NULL, now());
