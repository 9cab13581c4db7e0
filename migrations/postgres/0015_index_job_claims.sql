-- A worker reads back the jobs it just claimed by its claim token; settled jobs drop out of the
-- index (their claim is cleared), so it stays as small as the work in flight.
CREATE INDEX jobs_claim ON jobs (locked_by) WHERE locked_by IS NOT NULL;
