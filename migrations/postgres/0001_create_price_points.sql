-- Price points: one row per (region, source, interval start, interval length). Re-fetches
-- update the row in place. Prices are exact NUMERIC (scale as the source gave it).
CREATE TABLE price_points (
    region       TEXT        NOT NULL,
    source       TEXT        NOT NULL,
    start_at     TIMESTAMPTZ NOT NULL,
    duration_min INTEGER     NOT NULL CHECK (duration_min > 0),
    price        NUMERIC     NOT NULL,
    currency     TEXT        NOT NULL CHECK (length(currency) = 3),
    unit         TEXT        NOT NULL CHECK (unit IN ('kWh', 'MWh')),
    kind         TEXT        NOT NULL CHECK (kind IN ('day_ahead', 'retail', 'forecast')),
    fetched_at   TIMESTAMPTZ NOT NULL,
    estimated    BOOLEAN     NOT NULL DEFAULT FALSE,
    PRIMARY KEY (region, source, start_at, duration_min)
);

-- Range reads by region and time across sources.
CREATE INDEX price_points_region_start ON price_points (region, start_at);
