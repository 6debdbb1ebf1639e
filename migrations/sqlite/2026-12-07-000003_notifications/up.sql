-- Where alerts are sent: e-mail through an SMTP relay, or a signed webhook.
-- `settings` is the channel's JSON without its secret; `secret` (the SMTP
-- password, the webhook's signing secret) is read by the agent only and
-- never shown, logged or put in a job.
CREATE TABLE notification_channels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('email', 'webhook')),
    min_severity TEXT NOT NULL CHECK (min_severity IN ('info', 'warning', 'critical')),
    remind_hours INTEGER NOT NULL,
    settings TEXT NOT NULL,
    secret TEXT,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

-- One message to one channel: planned in the transaction that raised,
-- escalated or cleared its alert (so each change is told once), sent by an
-- `alert.notify` job per attempt, tried again with back-off (next_at)
-- until delivered or given up.
CREATE TABLE notification_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel_id BIGINT NOT NULL REFERENCES notification_channels (id) ON DELETE CASCADE,
    alert_id BIGINT REFERENCES alerts (id),
    event TEXT NOT NULL CHECK (event IN ('raised', 'escalated', 'cleared', 'reminder', 'test')),
    created_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL,
    next_at TIMESTAMP,
    job_id BIGINT,
    delivered_at TIMESTAMP,
    gave_up_at TIMESTAMP,
    last_error TEXT
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (next_at) WHERE next_at IS NOT NULL;
CREATE INDEX notification_deliveries_alert ON notification_deliveries (alert_id, channel_id);
