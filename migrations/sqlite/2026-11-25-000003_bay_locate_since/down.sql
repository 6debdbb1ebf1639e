ALTER TABLE bays DROP COLUMN locate_since;
