-- Statistics of each source's prices per local day of their region (count, extremes with their
-- instants, the duration-weighted sum), kept beside the points so statistics over long ranges
-- combine a few hundred rows instead of reading every point. Maintained in the same transaction
-- as the points they summarise. Money is canonical decimal TEXT, instants fixed-width UTC text.
CREATE TABLE price_days (
    region       TEXT    NOT NULL,
    source       TEXT    NOT NULL,
    day          TEXT    NOT NULL,
    count        INTEGER NOT NULL CHECK (count > 0),
    minutes      INTEGER NOT NULL CHECK (minutes > 0),
    min_price    TEXT    NOT NULL,
    min_at       TEXT    NOT NULL,
    max_price    TEXT    NOT NULL,
    max_at       TEXT    NOT NULL,
    weighted_sum TEXT    NOT NULL,
    unit         TEXT    NOT NULL CHECK (unit IN ('kWh', 'MWh')),
    oldest_fetch TEXT    NOT NULL,
    PRIMARY KEY (region, source, day)
) WITHOUT ROWID;
