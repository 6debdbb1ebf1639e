-- Nothing to do: a PostgreSQL primary key is NOT NULL already. The SQLite
-- migration of this version makes login_throttle's key NOT NULL there too.
-- (Through diesel, PostgreSQL takes a file without a statement for an error.)
SELECT 1;
