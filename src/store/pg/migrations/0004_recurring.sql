-- Round 3: recurring work (recurring.csv), stored like every other table.
CREATE TABLE IF NOT EXISTS recurring (id bigint PRIMARY KEY, fields jsonb NOT NULL);
