CREATE TABLE login_throttle_old (
    key TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    window_start TIMESTAMP NOT NULL,
    next_at TIMESTAMP NOT NULL
);
INSERT INTO login_throttle_old (key, username, attempts, window_start, next_at)
    SELECT key, username, attempts, window_start, next_at FROM login_throttle;
DROP TABLE login_throttle;
ALTER TABLE login_throttle_old RENAME TO login_throttle;
CREATE INDEX login_throttle_username ON login_throttle (username);
