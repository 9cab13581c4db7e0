-- SQLite's instants were widened to milliseconds; TIMESTAMPTZ already keeps microseconds, so
-- there is nothing to change here (the migration exists so both folders stay in step).
SELECT 1;
