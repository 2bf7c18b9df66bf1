-- Prices per hour for a pool of a cluster, or the fleet's default (cluster and pool NULL),
-- set by admins: the team cost report multiplies quotas, requests and recommendations by them.
CREATE TABLE prices (
    id              uuid PRIMARY KEY,
    cluster_id      uuid REFERENCES clusters(id) ON DELETE CASCADE,
    pool            text,
    cpu_core_hour   double precision NOT NULL CHECK (cpu_core_hour >= 0),
    memory_gib_hour double precision NOT NULL CHECK (memory_gib_hour >= 0),
    -- extended resource → price per unit-hour
    extended_hour   jsonb NOT NULL DEFAULT '{}',
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((cluster_id IS NULL) = (pool IS NULL))
);
CREATE UNIQUE INDEX prices_scope ON prices (coalesce(cluster_id, '00000000-0000-0000-0000-000000000000'), coalesce(pool, ''));
