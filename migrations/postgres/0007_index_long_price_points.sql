-- Points longer than a day (monthly retail references) are read apart from the per-day
-- statistics; this partial index finds them without scanning every interval of the range.
CREATE INDEX price_points_long ON price_points (region, start_at) WHERE duration_min > 1440;
