-- A resource a job left half-changed: it failed part-way after changing
-- the system. New jobs on it are refused, in words, until an operator
-- retries that job (the block passes to the retry), rolls it back, or
-- clears the block once the system is checked.
CREATE TABLE blocked_resources (
    resource TEXT PRIMARY KEY NOT NULL,
    job_id BIGINT NOT NULL REFERENCES jobs (id),
    reason TEXT NOT NULL,
    blocked_at TIMESTAMP NOT NULL
);
CREATE INDEX blocked_resources_job ON blocked_resources (job_id);
