ALTER TABLE jobs DROP COLUMN step_started_at;
ALTER TABLE jobs DROP COLUMN steps_done;
ALTER TABLE jobs DROP COLUMN step_count;
