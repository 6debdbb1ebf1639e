ALTER TABLE bays DROP COLUMN fault_drive_id;
ALTER TABLE bays DROP COLUMN fault_since;
ALTER TABLE bays DROP COLUMN locate_since;
