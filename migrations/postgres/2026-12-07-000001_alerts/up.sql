-- Alerts raised from observed state by the rules in src/domain/alert.rs.
-- One row per condition while it lasts: the partial unique index makes a
-- second raise of an open (rule, subject) an update of the same row, so
-- neither a restart nor two agents on one database make a duplicate. A
-- cleared alert stays as history; the same condition coming back later
-- is a new row.
CREATE TABLE alerts (
    id BIGSERIAL PRIMARY KEY,
    rule TEXT NOT NULL,
    subject TEXT NOT NULL,
    severity TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    summary TEXT NOT NULL,
    detail TEXT NOT NULL,
    link TEXT,
    raised_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    cleared_at TIMESTAMP,
    acked_at TIMESTAMP,
    acked_by TEXT,
    ack_note TEXT
);
CREATE UNIQUE INDEX alerts_open ON alerts (rule, subject) WHERE cleared_at IS NULL;
CREATE INDEX alerts_raised ON alerts (raised_at);
