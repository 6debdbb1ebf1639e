-- How the console reads an enclosure and sets its LEDs ("sysfs", "sg_ses",
-- "sim"), and what it could not read of it, in words.
ALTER TABLE enclosures ADD COLUMN method TEXT NOT NULL DEFAULT 'sysfs';
ALTER TABLE enclosures ADD COLUMN note TEXT;
