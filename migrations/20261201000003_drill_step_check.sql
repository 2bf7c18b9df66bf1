-- Every state column names its words: the drill's step was the one without a CHECK.
-- The words are DrillStepName's (frontend/src/api.rs).
ALTER TABLE drills ADD CONSTRAINT drills_step_check
    CHECK (step IN ('queued', 'backup', 'wait_backup', 'find_backup', 'restore', 'wait_restore',
                    'wait_ready', 'check', 'cleanup', 'done'));
