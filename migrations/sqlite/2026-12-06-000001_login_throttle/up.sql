-- Sign-in attempts are admitted and counted by one statement before the
-- password is checked (an upsert on one of these rows), so no more guesses
-- are checked than the limits allow, however many arrive at once. One row
-- per key: 'pair:' a user name from one address, 'address:' one address for
-- any name (username is then ''), 'user:' one name from any address.
DROP TABLE login_failures;
CREATE TABLE login_throttle (
    key TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    window_start TIMESTAMP NOT NULL,
    next_at TIMESTAMP NOT NULL
);
CREATE INDEX login_throttle_username ON login_throttle (username);
