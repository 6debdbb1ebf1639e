DROP TABLE lio_view;
ALTER TABLE pools DROP COLUMN thin;
DROP TABLE target_initiators;
DROP TABLE targets;
DROP TABLE snapshots;
DROP TABLE volumes;
