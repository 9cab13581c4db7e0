-- Weather at each region's reference city (forecast steps), inputs for the price forecaster.
-- One row per (region, source, instant); refetches update in place.
CREATE TABLE weather_points (
    region          TEXT             NOT NULL,
    source          TEXT             NOT NULL,
    at              TIMESTAMPTZ      NOT NULL,
    temperature_c   DOUBLE PRECISION NOT NULL,
    cloud_cover_pct DOUBLE PRECISION NOT NULL,
    wind_speed_ms   DOUBLE PRECISION NOT NULL,
    fetched_at      TIMESTAMPTZ      NOT NULL,
    PRIMARY KEY (region, source, at)
);
