-- taskboard's tables on PostgreSQL: one table per CSV file, each row's cells as a
-- jsonb object by column name (custom and unknown columns included), and the column
-- order of each file in taskboard_layout, so a table written back to CSV has the
-- columns it had.

CREATE TABLE users       (id bigint PRIMARY KEY, fields jsonb NOT NULL);
CREATE TABLE tasks       (id bigint PRIMARY KEY, fields jsonb NOT NULL);
CREATE TABLE docs        (id bigint PRIMARY KEY, fields jsonb NOT NULL);
CREATE TABLE comments    (id bigint PRIMARY KEY, fields jsonb NOT NULL);
CREATE TABLE credentials (id bigint PRIMARY KEY, fields jsonb NOT NULL);
CREATE TABLE feedback    (id bigint PRIMARY KEY, fields jsonb NOT NULL);
CREATE TABLE api_keys    (id bigint PRIMARY KEY, fields jsonb NOT NULL);
CREATE TABLE telegram    (id bigint PRIMARY KEY, fields jsonb NOT NULL);

-- The journal, as events.csv is: every change and every other event, by a global id.
-- row_after holds a changed record's whole row after the change (NULL for a delete and
-- for tables with secrets), so another server can follow without reading the table.
CREATE TABLE events (id bigint PRIMARY KEY, fields jsonb NOT NULL, row_after jsonb);

-- The last event id given. Every commit locks this one row first: commits from all
-- servers are serialised, and each sees the state the previous one left.
CREATE TABLE taskboard_head (
    one smallint PRIMARY KEY DEFAULT 1 CHECK (one = 1),
    last_event_id bigint NOT NULL
);
INSERT INTO taskboard_head (one, last_event_id) VALUES (1, 0);

-- Each table's columns in file order, and how its file was written.
CREATE TABLE taskboard_layout (
    tbl text PRIMARY KEY,
    header text[] NOT NULL,
    delimiter text NOT NULL DEFAULT ',',
    bom boolean NOT NULL DEFAULT false,
    crlf boolean NOT NULL DEFAULT false
);

-- Documents' content, written in the same transaction as their row.
CREATE TABLE taskboard_blobs (
    doc_id bigint PRIMARY KEY,
    filename text NOT NULL,
    content bytea NOT NULL
);

-- The files beside the tables: sessions, link codes, the job store, reports.
-- content NULL: the file does not exist (the row is there to be locked).
CREATE TABLE taskboard_aux (
    name text PRIMARY KEY,
    content bytea,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per scheduled run claimed: the primary key makes a run happen once.
CREATE TABLE taskboard_job_runs (
    job text NOT NULL,
    due text NOT NULL,
    server text NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job, due)
);
