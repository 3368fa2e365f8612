-- How far a running run's write phase is (done, total, rate), for `status` from another process.
ALTER TABLE sync_runs ADD COLUMN progress TEXT;
