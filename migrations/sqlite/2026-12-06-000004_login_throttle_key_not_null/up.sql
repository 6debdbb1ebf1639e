-- login_throttle's key was declared `TEXT PRIMARY KEY` without NOT NULL,
-- which SQLite, unlike PostgreSQL, takes as letting the key be NULL (any
-- number of rows of it). SQLite cannot add NOT NULL to a column, so the table
-- is made again with the key NOT NULL, as on PostgreSQL, and as
-- kernel_log_cursors and blocked_resources declare theirs.
CREATE TABLE login_throttle_new (
    key TEXT PRIMARY KEY NOT NULL,
    username TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    window_start TIMESTAMP NOT NULL,
    next_at TIMESTAMP NOT NULL
);
INSERT INTO login_throttle_new (key, username, attempts, window_start, next_at)
    SELECT key, username, attempts, window_start, next_at FROM login_throttle
    WHERE key IS NOT NULL;
DROP TABLE login_throttle;
ALTER TABLE login_throttle_new RENAME TO login_throttle;
CREATE INDEX login_throttle_username ON login_throttle (username);
