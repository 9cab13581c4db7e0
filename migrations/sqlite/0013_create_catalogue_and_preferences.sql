-- The supplier and tariff catalogue (seeded from config/catalogue.json on first start, edited by
-- operators) and each user's preferences document. A tariff's rate rule is a JSON document by
-- type (fixed, variable, time_of_use, dynamic, agile); money is exact decimal text per kWh and
-- per day in the tariff's currency. Figures carry their source and date, or `example` = 1.
CREATE TABLE suppliers (
    id             TEXT    NOT NULL PRIMARY KEY,
    name           TEXT    NOT NULL,
    regions        TEXT    NOT NULL,
    website        TEXT,
    green_provider INTEGER NOT NULL DEFAULT 0,
    rating         REAL,
    active         INTEGER NOT NULL DEFAULT 1,
    created_at     TEXT    NOT NULL,
    updated_at     TEXT    NOT NULL
);

CREATE TABLE tariffs (
    id              TEXT    NOT NULL PRIMARY KEY,
    supplier_id     TEXT    NOT NULL REFERENCES suppliers (id) ON DELETE CASCADE,
    region          TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    tariff_type     TEXT    NOT NULL,
    rates           TEXT    NOT NULL,
    standing_charge TEXT    NOT NULL,
    currency        TEXT    NOT NULL,
    green_share     INTEGER NOT NULL DEFAULT 0,
    contract_length TEXT    NOT NULL,
    exit_fee        TEXT    NOT NULL,
    valid_from      TEXT,
    valid_to        TEXT,
    source          TEXT    NOT NULL,
    source_date     TEXT,
    example         INTEGER NOT NULL DEFAULT 0,
    active          INTEGER NOT NULL DEFAULT 1,
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL
);

CREATE INDEX tariffs_supplier ON tariffs (supplier_id);
CREATE INDEX tariffs_region ON tariffs (region);

CREATE TABLE user_preferences (
    user_id    TEXT NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    document   TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
