-- Where a drive was last seen, named as the bay map names it, so a pulled
-- drive's page can say where it was.
ALTER TABLE drives ADD COLUMN last_bay TEXT;
