-- Claiming a job checks what already runs on its cluster (at most BERTH_JOBS_PER_CLUSTER)
-- and on its namespace (one at a time). Running jobs are few; these keep the checks from
-- reading every job ever done.
CREATE INDEX jobs_running_cluster ON jobs (cluster_id) WHERE state = 'running';
CREATE INDEX jobs_running_namespace ON jobs (namespace_id) WHERE state = 'running';
