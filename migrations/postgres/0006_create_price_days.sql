-- Statistics of each source's prices per local day of their region (count, extremes with their
-- instants, the duration-weighted sum), kept beside the points so statistics over long ranges
-- combine a few hundred rows instead of reading every point. Maintained in the same transaction
-- as the points they summarise.
CREATE TABLE price_days (
    region       TEXT        NOT NULL,
    source       TEXT        NOT NULL,
    day          TEXT        NOT NULL,
    count        INTEGER     NOT NULL CHECK (count > 0),
    minutes      INTEGER     NOT NULL CHECK (minutes > 0),
    min_price    NUMERIC     NOT NULL,
    min_at       TIMESTAMPTZ NOT NULL,
    max_price    NUMERIC     NOT NULL,
    max_at       TIMESTAMPTZ NOT NULL,
    weighted_sum NUMERIC     NOT NULL,
    unit         TEXT        NOT NULL CHECK (unit IN ('kWh', 'MWh')),
    oldest_fetch TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (region, source, day)
);
