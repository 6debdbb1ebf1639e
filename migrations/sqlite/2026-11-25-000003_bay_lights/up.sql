-- Since when the observer has seen a bay's identify LED lit: the agent turns
-- it off after a while, so lights are not left on for weeks.
ALTER TABLE bays ADD COLUMN locate_since TIMESTAMP;
-- Since when the fault LED is lit, and the drive the bay held then: the
-- agent clears the LED once the bay holds another drive, a healthy one.
ALTER TABLE bays ADD COLUMN fault_since TIMESTAMP;
ALTER TABLE bays ADD COLUMN fault_drive_id BIGINT;
