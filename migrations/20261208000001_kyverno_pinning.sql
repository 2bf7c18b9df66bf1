-- Pinning with Kyverno: where a cluster runs Kyverno (its policies.kyverno.io CRDs are
-- served) an admin may choose Kyverno's MutatingPolicy and ValidatingPolicy instead of the
-- API server's own admission policies. `policy_engine` is the admin's choice; the inventory
-- records what the cluster serves, and the mechanism is chosen from both at each sync.
ALTER TABLE clusters
    ADD COLUMN policy_engine text NOT NULL DEFAULT 'kubernetes'
        CHECK (policy_engine IN ('kubernetes', 'kyverno'));

-- The version of policies.kyverno.io that serves both validatingpolicies and
-- mutatingpolicies (v1 in Kyverno 1.19), if any.
ALTER TABLE cluster_inventory ADD COLUMN kyverno_policies text;
