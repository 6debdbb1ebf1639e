-- The job queue. A job's place in the queue is its id. Enqueuers first
-- take the row lock on queue_clock, so ids are handed out in commit order
-- and no runner can see a later job before an earlier one.
CREATE TABLE queue_clock (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    enqueued BIGINT NOT NULL
);
INSERT INTO queue_clock (id, enqueued) VALUES (1, 0);

CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    summary TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted')),
    requested_by TEXT NOT NULL,
    enqueued_at TIMESTAMP NOT NULL,
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    progress_percent INTEGER NOT NULL DEFAULT 0,
    progress_message TEXT NOT NULL DEFAULT '',
    -- The runner that holds (or last held) the job, its fencing token and
    -- when its lease runs out unless renewed.
    runner TEXT,
    fencing_token BIGINT NOT NULL DEFAULT 0,
    lease_expires_at TIMESTAMP,
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    retry_of BIGINT REFERENCES jobs (id)
);
-- The jobs waiting to start or to be resumed, in queue order.
CREATE INDEX jobs_waiting ON jobs (id) WHERE state IN ('queued', 'interrupted');

-- The resource keys a job locks (pool:tank, bay:<enclosure>:5, ...), kept
-- with the job for good.
CREATE TABLE job_resources (
    job_id BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    resource TEXT NOT NULL,
    PRIMARY KEY (job_id, resource)
);
CREATE INDEX job_resources_resource ON job_resources (resource, job_id);

-- The same keys while the job is unfinished: its place in each resource's
-- line. Inserted with the job; deleted as the last statement of the
-- transaction that finishes or cancels it. The check "is an earlier job on
-- this resource still open" reads only this small table, however long the
-- history grows.
CREATE TABLE open_resources (
    resource TEXT NOT NULL,
    job_id BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    PRIMARY KEY (resource, job_id)
) WITHOUT ROWID;

CREATE TABLE job_steps (
    job_id BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed', 'skipped')),
    started_at TIMESTAMP,
    finished_at TIMESTAMP,
    detail TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (job_id, position)
);

-- Every command a job ran.
CREATE TABLE job_commands (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    step INTEGER NOT NULL,
    fencing_token BIGINT NOT NULL,
    argv TEXT NOT NULL,
    exit_code INTEGER,
    signal INTEGER,
    timed_out BOOLEAN NOT NULL,
    duration_ms BIGINT NOT NULL,
    stdout TEXT NOT NULL,
    stderr TEXT NOT NULL,
    truncated BOOLEAN NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX job_commands_job ON job_commands (job_id, id);

-- What no-op jobs did, one row per resource: the evidence the queue's
-- torture test and benchmark check (no job twice, per-resource order).
CREATE TABLE noop_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id BIGINT NOT NULL,
    resource TEXT NOT NULL,
    fencing_token BIGINT NOT NULL,
    runner TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);
