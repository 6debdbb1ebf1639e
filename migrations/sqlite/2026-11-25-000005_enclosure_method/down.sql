ALTER TABLE enclosures DROP COLUMN note;
ALTER TABLE enclosures DROP COLUMN method;
