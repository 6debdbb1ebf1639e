ALTER TABLE enclosures DROP COLUMN elements;
