-- Drill schedules: a cron expression read in a time zone, per namespace. The scheduler
-- claims due rows with FOR UPDATE SKIP LOCKED, so two Berth processes start a drill once.
CREATE TABLE drill_schedules (
    namespace_id    uuid PRIMARY KEY REFERENCES namespaces (id) ON DELETE CASCADE,
    cron            text NOT NULL,
    timezone        text NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('restore', 'readiness')),
    target          text NOT NULL CHECK (target IN ('same', 'dr_pair')),
    next_run_at     timestamptz NOT NULL,
    last_run_at     timestamptz,
    last_outcome    text,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX drill_schedules_due ON drill_schedules (next_run_at);
