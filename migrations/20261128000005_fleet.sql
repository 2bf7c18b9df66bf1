-- The fleet: registered clusters, how Berth reaches them, and the inventory read from them.

CREATE TABLE clusters (
    id                  uuid PRIMARY KEY,
    name                text NOT NULL,
    display_name        text NOT NULL,
    region              text NOT NULL,
    environment         text NOT NULL CHECK (environment IN ('prod', 'staging', 'dev')),
    layer               text NOT NULL CHECK (layer IN ('shared-infra', 'online', 'offline', 'stateful', 'secure')),
    dr_pair_id          uuid REFERENCES clusters (id) ON DELETE SET NULL,
    labels              jsonb NOT NULL DEFAULT '{}',
    -- kubeconfig: a context of the kubeconfig file named in Berth's configuration;
    -- in_cluster: Berth's own service account; token: api_url + CA + bearer token;
    -- simulated: a cluster of Berth's built-in fleet simulator (the demo fleet).
    connection          text NOT NULL CHECK (connection IN ('kubeconfig', 'in_cluster', 'token', 'simulated')),
    kubeconfig_context  text,
    api_url             text,
    -- Sealed with the configured key (XChaCha20-Poly1305: nonce || ciphertext); never returned.
    ca_sealed           bytea,
    token_sealed        bytea,
    disabled            boolean NOT NULL DEFAULT false,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT clusters_name_key UNIQUE (name),
    CONSTRAINT clusters_dr_pair_not_self CHECK (dr_pair_id IS DISTINCT FROM id)
);

-- The outcome of the latest sync of each cluster. A failing cluster keeps its last good
-- data (and its age) and says why it failed.
CREATE TABLE cluster_inventory (
    cluster_id          uuid PRIMARY KEY REFERENCES clusters (id) ON DELETE CASCADE,
    reachable           boolean NOT NULL,
    last_error          text,
    last_attempt_at     timestamptz NOT NULL,
    last_success_at     timestamptz,
    kubernetes_version  text,
    node_count          integer NOT NULL DEFAULT 0,
    ready_node_count    integer NOT NULL DEFAULT 0,
    velero_installed    boolean NOT NULL DEFAULT false
);

CREATE TABLE node_pools (
    cluster_id          uuid NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
    name                text NOT NULL,
    -- the node label that named the pool ('' for the fallback pool `default`)
    label_key           text NOT NULL,
    node_count          integer NOT NULL,
    ready_count         integer NOT NULL,
    zones               text[] NOT NULL,
    instance_types      text[] NOT NULL,
    taints              jsonb NOT NULL,
    common_labels       jsonb NOT NULL,
    cpu_millis          bigint NOT NULL,
    memory_bytes        bigint NOT NULL,
    pods                bigint NOT NULL,
    ephemeral_bytes     bigint NOT NULL,
    PRIMARY KEY (cluster_id, name)
);

CREATE TABLE storage_classes (
    cluster_id          uuid NOT NULL REFERENCES clusters (id) ON DELETE CASCADE,
    name                text NOT NULL,
    provisioner         text NOT NULL,
    parameters          jsonb NOT NULL,
    reclaim_policy      text NOT NULL,
    binding_mode        text NOT NULL,
    allow_expansion     boolean NOT NULL,
    is_default          boolean NOT NULL,
    PRIMARY KEY (cluster_id, name)
);

-- Namespaces Berth manages. The tenancy workflow fills this table; the fleet reads the quota
-- committed to each node pool from it.
CREATE TABLE namespaces (
    id                  uuid PRIMARY KEY,
    team_id             uuid NOT NULL REFERENCES teams (id),
    cluster_id          uuid NOT NULL REFERENCES clusters (id),
    name                text NOT NULL,
    node_pool           text NOT NULL,
    state               text NOT NULL,
    quota_cpu_millis    bigint NOT NULL DEFAULT 0,
    quota_memory_bytes  bigint NOT NULL DEFAULT 0,
    created_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT namespaces_cluster_name_key UNIQUE (cluster_id, name)
);
