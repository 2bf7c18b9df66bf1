-- Pinning that holds without the PodNodeSelector plugin: what each cluster's API server
-- serves (read at every sync), and per namespace the last proof by server-side dry-run.
ALTER TABLE cluster_inventory
    ADD COLUMN validating_policies boolean NOT NULL DEFAULT false,
    ADD COLUMN mutating_policies   text CHECK (mutating_policies IN ('v1', 'v1beta1'));

ALTER TABLE namespaces ADD COLUMN pinning jsonb;
