-- Cluster-scoped objects that many namespaces share (the pool and workload policies and their
-- bindings): the digest of the manifest last applied to each cluster. A namespace's apply skips
-- a shared object whose digest matches, so the policies are applied once per cluster and again
-- only when they change. The drift check and the cluster sync delete a row whose object is
-- missing or differs on the cluster, and the next apply puts it back.
CREATE TABLE cluster_objects (
    cluster_id uuid NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
    kind       text NOT NULL,
    name       text NOT NULL,
    digest     text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cluster_id, kind, name)
);
