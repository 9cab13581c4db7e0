-- The newest calibrated forecast model of each region (its JSON: forecast, recent errors and
-- window weights), so a restart serves forecasts at once and recalibrates warm instead of from
-- scratch. Instants are fixed-width UTC text (see 0004).
CREATE TABLE forecast_models (
    region        TEXT NOT NULL PRIMARY KEY,
    version       TEXT NOT NULL,
    calibrated_at TEXT NOT NULL,
    model         TEXT NOT NULL
);
