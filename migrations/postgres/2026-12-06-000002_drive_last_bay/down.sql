ALTER TABLE drives DROP COLUMN last_bay;
