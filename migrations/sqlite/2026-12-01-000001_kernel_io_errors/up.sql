-- I/O errors the kernel logged against each drive (medium errors apart
-- from the rest), counted since Baystack began reading the log for it, with
-- the last one's line.
ALTER TABLE drives ADD COLUMN medium_errors BIGINT NOT NULL DEFAULT 0;
ALTER TABLE drives ADD COLUMN io_errors BIGINT NOT NULL DEFAULT 0;
ALTER TABLE drives ADD COLUMN last_io_error TEXT;
ALTER TABLE drives ADD COLUMN last_io_error_at TIMESTAMP;

-- How far the kernel log of each boot (of each host) has been read: the
-- sequence number of the first record not read yet. An agent moves it on
-- with one conditional statement, so two agents on one host count a record
-- once.
CREATE TABLE kernel_log_cursors (
    boot_id TEXT PRIMARY KEY NOT NULL,
    next_seq BIGINT NOT NULL
);
