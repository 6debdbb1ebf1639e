DROP TABLE scrubs;
DROP TABLE pool_members;
DROP TABLE pools;
ALTER TABLE drives DROP COLUMN signatures;
