-- How many steps a job has and how many are done, on the job row itself:
-- the claim returns them with the job, and the statement that completes a
-- step moves steps_done on, so a runner never counts step rows.
ALTER TABLE jobs ADD COLUMN step_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN steps_done INTEGER NOT NULL DEFAULT 0;
-- When the step now running (the first not done) began.
ALTER TABLE jobs ADD COLUMN step_started_at TIMESTAMP;
UPDATE jobs SET
    step_count = (SELECT COUNT(*) FROM job_steps s WHERE s.job_id = jobs.id),
    steps_done = (SELECT COUNT(*) FROM job_steps s WHERE s.job_id = jobs.id AND s.state = 'done');
