-- I/O errors the kernel logged against each drive since Baystack first saw
-- it (medium errors apart from the rest), with the last one's line.
ALTER TABLE drives ADD COLUMN medium_errors BIGINT NOT NULL DEFAULT 0;
ALTER TABLE drives ADD COLUMN io_errors BIGINT NOT NULL DEFAULT 0;
ALTER TABLE drives ADD COLUMN last_io_error TEXT;
ALTER TABLE drives ADD COLUMN last_io_error_at TIMESTAMP;

-- How far each host's kernel log has been read: the boot and the sequence
-- number of the first record not read yet. An agent advances it with one
-- conditional statement, so two agents on one host count a record once.
CREATE TABLE kernel_log_cursors (
    host TEXT PRIMARY KEY NOT NULL,
    boot_id TEXT NOT NULL,
    next_seq BIGINT NOT NULL
);
