-- When Baystack last started each kind of SMART self-test on a drive, so
-- the schedule knows which are due.
ALTER TABLE drives ADD COLUMN short_test_at TIMESTAMP;
ALTER TABLE drives ADD COLUMN long_test_at TIMESTAMP;
