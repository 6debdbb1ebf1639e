-- Every SMART reading, so that trends show and a verdict can say that a
-- count grew since the reading before.
CREATE TABLE smart_samples (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    drive_id BIGINT NOT NULL REFERENCES drives (id) ON DELETE CASCADE,
    at TIMESTAMP NOT NULL,
    health TEXT NOT NULL,
    reason TEXT NOT NULL,
    temperature_c INTEGER,
    power_on_hours BIGINT,
    -- The whole reading (attributes, counters), as JSON.
    data TEXT NOT NULL
);
CREATE INDEX smart_samples_drive ON smart_samples (drive_id, at);
