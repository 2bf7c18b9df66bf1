-- The namespace's measured use against its quota when a quota change was filed while a
-- usage-aware approval policy was enabled: what the policy decided on, shown to the approver.
ALTER TABLE namespace_requests ADD COLUMN usage_evidence jsonb;
