-- The supplier and tariff catalogue (seeded from config/catalogue.json on first start, edited by
-- operators) and each user's preferences document. A tariff's rate rule is a JSON document by
-- type (fixed, variable, time_of_use, dynamic, agile); money is exact decimal per kWh and per
-- day in the tariff's currency. Figures carry their source and date, or `example` = true.
CREATE TABLE suppliers (
    id             TEXT             NOT NULL PRIMARY KEY,
    name           TEXT             NOT NULL,
    regions        TEXT             NOT NULL,
    website        TEXT,
    green_provider BOOLEAN          NOT NULL DEFAULT FALSE,
    rating         DOUBLE PRECISION,
    active         BOOLEAN          NOT NULL DEFAULT TRUE,
    created_at     TIMESTAMPTZ      NOT NULL,
    updated_at     TIMESTAMPTZ      NOT NULL
);

CREATE TABLE tariffs (
    id              TEXT        NOT NULL PRIMARY KEY,
    supplier_id     TEXT        NOT NULL REFERENCES suppliers (id) ON DELETE CASCADE,
    region          TEXT        NOT NULL,
    name            TEXT        NOT NULL,
    tariff_type     TEXT        NOT NULL,
    rates           JSONB       NOT NULL,
    standing_charge NUMERIC     NOT NULL,
    currency        TEXT        NOT NULL,
    green_share     INTEGER     NOT NULL DEFAULT 0,
    contract_length TEXT        NOT NULL,
    exit_fee        NUMERIC     NOT NULL,
    valid_from      TEXT,
    valid_to        TEXT,
    source          TEXT        NOT NULL,
    source_date     TEXT,
    example         BOOLEAN     NOT NULL DEFAULT FALSE,
    active          BOOLEAN     NOT NULL DEFAULT TRUE,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);

CREATE INDEX tariffs_supplier ON tariffs (supplier_id);
CREATE INDEX tariffs_region ON tariffs (region);

CREATE TABLE user_preferences (
    user_id    TEXT        NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    document   JSONB       NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
