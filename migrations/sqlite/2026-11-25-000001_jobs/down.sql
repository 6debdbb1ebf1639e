DROP TABLE noop_runs;
DROP TABLE job_commands;
DROP TABLE job_steps;
DROP TABLE open_resources;
DROP TABLE job_resources;
DROP TABLE jobs;
DROP TABLE queue_clock;
