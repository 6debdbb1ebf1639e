DROP TABLE sector_heals;
DROP TABLE pool_removals;
