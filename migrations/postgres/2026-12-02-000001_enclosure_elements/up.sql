-- An enclosure's elements other than its bays (power supplies, fans,
-- temperature sensors, ...) as last observed: a JSON array of
-- {"kind", "name", "status", "detail"}, replaced whole at each observation.
ALTER TABLE enclosures ADD COLUMN elements TEXT NOT NULL DEFAULT '[]';
