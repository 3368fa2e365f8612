-- The SQLite run lease is gone: runs on an SQLite file exclude each other through an OS lock on
-- `<database file>.run-lock`, and an in-memory database through a lock inside its one process.
DROP TABLE run_lease;
