-- Price points: one row per (region, source, interval start, interval length). Re-fetches
-- update the row in place. Prices are canonical decimal TEXT (SQLite has no exact decimal);
-- timestamps are UTC RFC 3339 TEXT ('YYYY-MM-DDTHH:MM:SSZ'), which sorts chronologically.
CREATE TABLE price_points (
    region       TEXT    NOT NULL,
    source       TEXT    NOT NULL,
    start_at     TEXT    NOT NULL,
    duration_min INTEGER NOT NULL CHECK (duration_min > 0),
    price        TEXT    NOT NULL,
    currency     TEXT    NOT NULL CHECK (length(currency) = 3),
    unit         TEXT    NOT NULL CHECK (unit IN ('kWh', 'MWh')),
    kind         TEXT    NOT NULL CHECK (kind IN ('day_ahead', 'retail', 'forecast')),
    fetched_at   TEXT    NOT NULL,
    estimated    INTEGER NOT NULL DEFAULT 0 CHECK (estimated IN (0, 1)),
    PRIMARY KEY (region, source, start_at, duration_min)
) WITHOUT ROWID;

-- Range reads by region and time across sources.
CREATE INDEX price_points_region_start ON price_points (region, start_at);
