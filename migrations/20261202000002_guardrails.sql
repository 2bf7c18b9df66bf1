-- Workload guardrails per environment, edited by admins: the Pod Security Admission levels
-- written on each namespace, and the mode of each workload standard (a
-- ValidatingAdmissionPolicy Berth writes per cluster). Seeded with the platform guide's
-- presets: production denies what breaks it, development warns.
CREATE TABLE guardrails (
    environment          text PRIMARY KEY CHECK (environment IN ('prod', 'staging', 'dev')),
    pod_security_enforce text NOT NULL CHECK (pod_security_enforce IN ('privileged', 'baseline', 'restricted')),
    pod_security_warn    text NOT NULL CHECK (pod_security_warn IN ('privileged', 'baseline', 'restricted')),
    pod_security_audit   text NOT NULL CHECK (pod_security_audit IN ('privileged', 'baseline', 'restricted')),
    require_resources    text NOT NULL CHECK (require_resources IN ('off', 'warn', 'audit', 'deny')),
    require_probes       text NOT NULL CHECK (require_probes IN ('off', 'warn', 'audit', 'deny')),
    forbid_latest        text NOT NULL CHECK (forbid_latest IN ('off', 'warn', 'audit', 'deny')),
    forbid_privileged    text NOT NULL CHECK (forbid_privileged IN ('off', 'warn', 'audit', 'deny')),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

INSERT INTO guardrails VALUES
    ('prod',    'baseline', 'restricted', 'restricted', 'warn', 'warn', 'deny', 'deny', now()),
    ('staging', 'baseline', 'restricted', 'restricted', 'warn', 'warn', 'warn', 'deny', now()),
    ('dev',     'baseline', 'restricted', 'baseline',   'off',  'off',  'warn', 'deny', now());
