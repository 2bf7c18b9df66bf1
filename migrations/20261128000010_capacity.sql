-- Capacity: where each cluster's Prometheus is, what each node has free, and the evidence a
-- right-sizing quota change carries to its approver.

-- A cluster's own Prometheus; without one, Berth asks the central BERTH_PROMETHEUS_URL with a
-- cluster label.
ALTER TABLE clusters ADD COLUMN prometheus_url text;

-- Read at every inventory sync: a node's allocatable and the requests of the pods bound to
-- it (pods that have not finished), for pool headroom and placement.
CREATE TABLE cluster_nodes (
    cluster_id          uuid NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
    name                text NOT NULL,
    pool                text NOT NULL,
    ready               boolean NOT NULL,
    unschedulable       boolean NOT NULL,
    cpu_millis          bigint NOT NULL,
    memory_bytes        bigint NOT NULL,
    pods                bigint NOT NULL,
    requested_cpu_millis    bigint NOT NULL,
    requested_memory_bytes  bigint NOT NULL,
    running_pods        bigint NOT NULL,
    observed_at         timestamptz NOT NULL,
    PRIMARY KEY (cluster_id, name)
);

ALTER TABLE namespace_requests ADD COLUMN evidence jsonb;
