-- Round 3: a task's checklist (checklists.csv), stored like every other table.
CREATE TABLE IF NOT EXISTS checklists (id bigint PRIMARY KEY, fields jsonb NOT NULL);
