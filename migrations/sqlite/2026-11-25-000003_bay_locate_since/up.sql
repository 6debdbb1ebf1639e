-- Since when the observer has seen a bay's identify LED lit: the agent turns
-- it off after a while, so lights are not left on for weeks.
ALTER TABLE bays ADD COLUMN locate_since TIMESTAMP;
