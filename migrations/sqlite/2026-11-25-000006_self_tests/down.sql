ALTER TABLE drives DROP COLUMN long_test_at;
ALTER TABLE drives DROP COLUMN short_test_at;
