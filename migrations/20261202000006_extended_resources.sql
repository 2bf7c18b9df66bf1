-- Extended resources (nvidia.com/gpu, …) a pool's nodes advertise, added up per pool: quotas
-- may limit them, and placement puts a namespace that asks for them only on a pool that has
-- them.
ALTER TABLE node_pools ADD COLUMN extended jsonb NOT NULL DEFAULT '{}';

-- Budgets may cap extended resources too: resource → whole units.
ALTER TABLE team_budgets ADD COLUMN extended jsonb NOT NULL DEFAULT '{}';
