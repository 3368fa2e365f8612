-- A likely Productive match for an employee skipped for want of one (JSON: the kind, the person
-- and the exact `sync.email_overrides` line), shown by `status`; never acted on.
ALTER TABLE record_issues ADD COLUMN suggestion TEXT;
-- The employee's name as Personio gives it with a period: suggestions compare names.
ALTER TABLE personio_periods ADD COLUMN first_name TEXT;
ALTER TABLE personio_periods ADD COLUMN last_name TEXT;
