-- Portable SQL: the same migrations serve PostgreSQL and SQLite.
-- Sync runs: one row per run, for `status` and operators.
CREATE TABLE sync_runs (
    id          TEXT PRIMARY KEY,
    trigger     TEXT NOT NULL,
    dry_run     BIGINT NOT NULL DEFAULT 0,
    full_read   BIGINT NOT NULL DEFAULT 0,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    outcome     TEXT NOT NULL,
    counts      TEXT,
    error       TEXT
);
CREATE INDEX sync_runs_started_at ON sync_runs (started_at);

-- Personio absence type -> Productive event.
CREATE TABLE type_mappings (
    personio_type_id BIGINT PRIMARY KEY,
    event_id         BIGINT NOT NULL,
    personio_name    TEXT NOT NULL,
    created_by_sync  BIGINT NOT NULL
);

-- The last known state of every in-scope Personio day-unit period (refreshed by full reads,
-- patched by incremental ones).
CREATE TABLE personio_periods (
    id             BIGINT PRIMARY KEY,
    employee_id    BIGINT NOT NULL,
    email          TEXT NOT NULL,
    type_id        BIGINT NOT NULL,
    type_name      TEXT NOT NULL,
    status         TEXT NOT NULL,
    start_date     TEXT NOT NULL,
    end_date       TEXT NOT NULL,
    half_day_start BIGINT NOT NULL,
    half_day_end   BIGINT NOT NULL
);

-- The journal of bookings the sync owns: intent recorded before each write, outcome after it.
CREATE TABLE synced_bookings (
    period_id   BIGINT NOT NULL,
    part        BIGINT NOT NULL,
    person_id   BIGINT NOT NULL,
    event_id    BIGINT NOT NULL,
    start_date  TEXT NOT NULL,
    end_date    TEXT NOT NULL,
    minutes     BIGINT NOT NULL,
    note        TEXT NOT NULL,
    booking_id  BIGINT,
    state       TEXT NOT NULL,
    approved    BIGINT NOT NULL DEFAULT 1,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (period_id, part)
);

-- Records the last run skipped or failed, with reasons.
CREATE TABLE record_issues (
    key         TEXT PRIMARY KEY,
    source      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    personio_id TEXT,
    email       TEXT,
    dates       TEXT,
    reason      TEXT NOT NULL,
    run_id      TEXT NOT NULL,
    since       TEXT NOT NULL
);

-- Named cursors (last incremental read, last full reconcile).
CREATE TABLE cursors (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- A lease standing in for an advisory lock where the backend has none (SQLite).
CREATE TABLE run_lease (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
