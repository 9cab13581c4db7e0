-- Every forecast the forecaster made, under the model version that made it, so the accuracy of
-- past forecasts can be measured once the prices they forecast are published (and survives
-- restarts). One row per (region, model version, interval); re-storing a version replaces it.
CREATE TABLE forecast_steps (
    region        TEXT             NOT NULL,
    model_version TEXT             NOT NULL,
    start_at      TIMESTAMPTZ      NOT NULL,
    duration_min  INTEGER          NOT NULL,
    made_at       TIMESTAMPTZ      NOT NULL,
    predicted     DOUBLE PRECISION NOT NULL,
    lower_bound   DOUBLE PRECISION NOT NULL,
    upper_bound   DOUBLE PRECISION NOT NULL,
    lead_days     INTEGER          NOT NULL,
    PRIMARY KEY (region, model_version, start_at)
);

-- Accuracy reads go by region and time.
CREATE INDEX forecast_steps_by_start ON forecast_steps (region, start_at);
