-- Prices per instance type, for pools without a price of their own. A pool's nodes say their
-- instance type (node.kubernetes.io/instance-type) and, through the provider's labels, whether
-- they are spot or on-demand; Berth splits the instance's hourly price between the node's
-- cores and its memory. A row with a region applies in that region only (the cluster's
-- region), and wins there over the row without one.
CREATE TABLE instance_prices (
    id              uuid PRIMARY KEY,
    instance_type   text NOT NULL,
    capacity        text NOT NULL CHECK (capacity IN ('on_demand', 'spot')),
    region          text,
    hour_price      double precision NOT NULL CHECK (hour_price >= 0),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX instance_prices_key ON instance_prices (instance_type, capacity, coalesce(region, ''));
