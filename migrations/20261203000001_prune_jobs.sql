-- A cluster's prune job removes the shared objects (a layer's old PriorityClass and its
-- policy, a gone pool's policies) that no namespace can use any more.
ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check
    CHECK (kind IN ('apply', 'revert_burst', 'expire', 'decommission', 'webhook', 'drill', 'prune'));
