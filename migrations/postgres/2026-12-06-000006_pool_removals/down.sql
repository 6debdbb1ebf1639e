DROP TABLE pool_removals;
