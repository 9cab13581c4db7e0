-- Weather at each region's reference city (forecast steps), inputs for the price forecaster.
-- One row per (region, source, instant); refetches update in place.
CREATE TABLE weather_points (
    region          TEXT NOT NULL,
    source          TEXT NOT NULL,
    at              TEXT NOT NULL,
    temperature_c   REAL NOT NULL,
    cloud_cover_pct REAL NOT NULL,
    wind_speed_ms   REAL NOT NULL,
    fetched_at      TEXT NOT NULL,
    PRIMARY KEY (region, source, at)
) WITHOUT ROWID;
