DROP TABLE kernel_log_cursors;
ALTER TABLE drives DROP COLUMN last_io_error_at;
ALTER TABLE drives DROP COLUMN last_io_error;
ALTER TABLE drives DROP COLUMN io_errors;
ALTER TABLE drives DROP COLUMN medium_errors;
