-- Requests per minute per key (a user or an address) on each server, published about
-- once a second: a server adds the others' counts to its own, so a rate limit holds
-- across the servers behind a load balancer. Rows older than a minute are dropped.
CREATE TABLE taskboard_request_counts (
    server text NOT NULL,
    key text NOT NULL,
    count integer NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (server, key)
);
