//! SQL written once for both dialects. A [`Table`] names its columns and their kinds; from it
//! come the batch upsert and the JSON-object select of each dialect. Every statement binds one
//! parameter, a JSON object, and names what it reads from it in the template (`{region}`,
//! `{from:time}`), so rows travel by column name in both directions and a statement is one round
//! trip whatever the batch size. Generated SQL is built once per dialect and kept for the process.

use std::sync::OnceLock;

/// Which database the SQL is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// How a column (or parameter) is stored and exchanged as JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Int,
    Real,
    Bool,
    /// An instant: TIMESTAMPTZ in PostgreSQL; in SQLite fixed-width UTC text with milliseconds
    /// (`YYYY-MM-DDTHH:MM:SS.mmmZ`), so text order is time order.
    Time,
    /// An exact decimal: NUMERIC in PostgreSQL, canonical text in SQLite; a JSON string.
    Money,
    /// A JSON document: JSONB in PostgreSQL, text in SQLite.
    Json,
}

impl Kind {
    fn parse(name: &str) -> Option<Kind> {
        Some(match name {
            "text" => Kind::Text,
            "int" => Kind::Int,
            "real" => Kind::Real,
            "bool" => Kind::Bool,
            "time" => Kind::Time,
            "money" => Kind::Money,
            "json" => Kind::Json,
            _ => return None,
        })
    }

    /// A text value (a JSON scalar taken out as text) converted to this kind.
    fn cast_text(self, dialect: Dialect, text: &str) -> String {
        match (dialect, self) {
            (Dialect::Sqlite, Kind::Time) => format!("strftime('%Y-%m-%dT%H:%M:%fZ', {text})"),
            (Dialect::Sqlite, _) => text.to_string(),
            (Dialect::Postgres, Kind::Text) => text.to_string(),
            (Dialect::Postgres, Kind::Int) => format!("({text})::int8"),
            (Dialect::Postgres, Kind::Real) => format!("({text})::float8"),
            (Dialect::Postgres, Kind::Bool) => format!("({text})::boolean"),
            (Dialect::Postgres, Kind::Time) => format!("({text})::timestamptz"),
            (Dialect::Postgres, Kind::Money) => format!("({text})::numeric"),
            (Dialect::Postgres, Kind::Json) => format!("({text})::jsonb"),
        }
    }

    /// The value of member `name` of the JSON object `object`.
    fn member(self, dialect: Dialect, object: &str, name: &str) -> String {
        match (dialect, self) {
            (Dialect::Sqlite, Kind::Json) => format!("({object} -> '$.{name}')"),
            (Dialect::Sqlite, kind) => {
                kind.cast_text(dialect, &format!("({object} ->> '$.{name}')"))
            }
            (Dialect::Postgres, Kind::Json) => format!("({object} -> '{name}')"),
            (Dialect::Postgres, kind) => {
                kind.cast_text(dialect, &format!("({object} ->> '{name}')"))
            }
        }
    }
}

/// One column of a table.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
}

/// Shorthand for a [`Column`].
pub const fn col(name: &'static str, kind: Kind) -> Column {
    Column { name, kind }
}

/// A table: its columns (named like the fields of its row struct) and its key.
#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [Column],
    /// The conflict target of upserts (the primary key or a unique key).
    pub key: &'static [&'static str],
}

/// What an insert does with a row whose key exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnConflict {
    /// Replace every non-key column.
    Update,
    /// Replace the non-key columns only where one differs (other than those in `except`,
    /// which are kept as stored when nothing else changed): an identical row is not written.
    UpdateChanged { except: &'static [&'static str] },
    /// Keep the stored row.
    Nothing,
    /// No conflict target: a conflict is an error.
    Fail,
}

/// The parameter object as SQL, in each dialect.
fn params(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "?1",
        Dialect::Postgres => "$1::jsonb",
    }
}

impl Table {
    /// Inserts every row of the JSON array parameter member `rows_param` (objects named by column).
    pub fn insert(&self, dialect: Dialect, rows_param: &str, conflict: OnConflict) -> String {
        let names: Vec<&str> = self.columns.iter().map(|c| c.name).collect();
        let (source, row) = match dialect {
            Dialect::Sqlite => (
                format!("json_each({}, '$.{rows_param}') AS r", params(dialect)),
                "r.value",
            ),
            Dialect::Postgres => (
                format!(
                    "jsonb_array_elements({} -> '{rows_param}') AS r",
                    params(dialect)
                ),
                "r",
            ),
        };
        let values: Vec<String> = self
            .columns
            .iter()
            .map(|c| c.kind.member(dialect, row, c.name))
            .collect();
        // `WHERE true` resolves SQLite's parsing ambiguity of `INSERT … SELECT … ON CONFLICT`.
        let mut sql = format!(
            "INSERT INTO {} ({}) SELECT {} FROM {source} WHERE true",
            self.name,
            names.join(", "),
            values.join(", ")
        );
        let others: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| !self.key.contains(n))
            .collect();
        match conflict {
            OnConflict::Fail => {}
            OnConflict::Nothing => sql.push_str(&format!(
                " ON CONFLICT ({}) DO NOTHING",
                self.key.join(", ")
            )),
            OnConflict::Update | OnConflict::UpdateChanged { .. } if others.is_empty() => sql
                .push_str(&format!(
                    " ON CONFLICT ({}) DO NOTHING",
                    self.key.join(", ")
                )),
            OnConflict::Update | OnConflict::UpdateChanged { .. } => {
                let set: Vec<String> = others
                    .iter()
                    .map(|n| format!("{n} = excluded.{n}"))
                    .collect();
                sql.push_str(&format!(
                    " ON CONFLICT ({}) DO UPDATE SET {}",
                    self.key.join(", "),
                    set.join(", ")
                ));
                if let OnConflict::UpdateChanged { except } = conflict {
                    let compared: Vec<&str> = others
                        .iter()
                        .copied()
                        .filter(|n| !except.contains(n))
                        .collect();
                    let changed: Vec<String> = compared
                        .iter()
                        .map(|n| format!("{0}.{n} IS NOT excluded.{n}", self.name))
                        .collect();
                    let changed = match dialect {
                        Dialect::Sqlite => changed.join(" OR "),
                        Dialect::Postgres => changed
                            .join(" OR ")
                            .replace(" IS NOT ", " IS DISTINCT FROM "),
                    };
                    sql.push_str(&format!(" WHERE {changed}"));
                }
            }
        }
        sql
    }

    /// Selects the rows matching `filter` (a template, see [`render`]) as one JSON array of
    /// objects named by column, in `order`, at most `limit` (a template too, or empty).
    pub fn select(&self, dialect: Dialect, filter: &str, order: &str, limit: &str) -> String {
        let filter = render(filter, dialect);
        let limit = if limit.is_empty() {
            String::new()
        } else {
            format!(" LIMIT {}", render(limit, dialect))
        };
        match dialect {
            Dialect::Sqlite => {
                let fields: Vec<String> = self
                    .columns
                    .iter()
                    .map(|c| {
                        let value = match c.kind {
                            Kind::Bool => format!(
                                "CASE WHEN {0} IS NULL THEN NULL WHEN {0} THEN json('true') ELSE json('false') END",
                                c.name
                            ),
                            Kind::Json => format!("json({})", c.name),
                            _ => c.name.to_string(),
                        };
                        format!("'{}', {value}", c.name)
                    })
                    .collect();
                let names: Vec<&str> = self.columns.iter().map(|c| c.name).collect();
                format!(
                    "SELECT json_group_array(json_object({}) ORDER BY {order}) FROM \
                     (SELECT {} FROM {} WHERE {filter} ORDER BY {order}{limit})",
                    fields.join(", "),
                    names.join(", "),
                    self.name
                )
            }
            Dialect::Postgres => {
                // NUMERIC goes out as text, so no digit is lost to a JSON number.
                let fields: Vec<String> = self
                    .columns
                    .iter()
                    .map(|c| match c.kind {
                        Kind::Money => format!("{0}::text AS {0}", c.name),
                        _ => c.name.to_string(),
                    })
                    .collect();
                format!(
                    "SELECT COALESCE(json_agg(t ORDER BY {order})::text, '[]') FROM \
                     (SELECT {} FROM {} WHERE {filter} ORDER BY {order}{limit}) AS t",
                    fields.join(", "),
                    self.name
                )
            }
        }
    }

    /// The column names, in order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> {
        self.columns.iter().map(|c| c.name)
    }
}

/// Renders a statement template for `dialect`: `{name}` or `{name:kind}` becomes member `name`
/// of the parameter object as that kind (text by default); `{sqlite:…|postgres:…}` picks the
/// text for the dialect. Everything else is SQL both dialects understand.
pub fn render(template: &str, dialect: Dialect) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..]
            .find('}')
            .map(|c| open + c)
            .unwrap_or_else(|| panic!("unclosed placeholder in {template}"));
        let inner = &rest[open + 1..close];
        if let Some(choice) = inner.strip_prefix("sqlite:") {
            let (sqlite, postgres) = choice
                .split_once("|postgres:")
                .unwrap_or_else(|| panic!("dialect choice without postgres in {template}"));
            out.push_str(match dialect {
                Dialect::Sqlite => sqlite,
                Dialect::Postgres => postgres,
            });
        } else {
            let (name, kind) = match inner.split_once(':') {
                Some((name, kind)) => (
                    name,
                    Kind::parse(kind)
                        .unwrap_or_else(|| panic!("unknown kind {kind} in {template}")),
                ),
                None => (inner, Kind::Text),
            };
            let value = kind.member(dialect, params(dialect), name);
            match dialect {
                // SQLite computes an expression of parameters once per statement by itself.
                Dialect::Sqlite => out.push_str(&value),
                // PostgreSQL's generic plans would cast the text parameter to jsonb again for
                // every row; as a scalar subquery it is an InitPlan, evaluated once.
                Dialect::Postgres => out.push_str(&format!("(SELECT {value})")),
            }
        }
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

/// A statement built once per dialect on first use and kept for the process (so its text is
/// `'static`, which sqlx takes as safe, and its prepared form is cached per connection).
pub struct Statement {
    build: fn(Dialect) -> String,
    sqlite: OnceLock<String>,
    postgres: OnceLock<String>,
}

impl Statement {
    /// A statement whose SQL `build` makes.
    pub const fn new(build: fn(Dialect) -> String) -> Self {
        Statement {
            build,
            sqlite: OnceLock::new(),
            postgres: OnceLock::new(),
        }
    }

    /// The SQL for `dialect`.
    pub fn sql(&'static self, dialect: Dialect) -> &'static str {
        let cell = match dialect {
            Dialect::Sqlite => &self.sqlite,
            Dialect::Postgres => &self.postgres,
        };
        cell.get_or_init(|| (self.build)(dialect))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static T: Table = Table {
        name: "t",
        columns: &[
            col("id", Kind::Text),
            col("at", Kind::Time),
            col("price", Kind::Money),
            col("ok", Kind::Bool),
            col("doc", Kind::Json),
        ],
        key: &["id"],
    };

    #[test]
    fn templates_name_their_parameters_in_each_dialect() {
        let t = "a = {a} AND b >= {b:time} {sqlite:LIMIT 1|postgres:FOR UPDATE SKIP LOCKED}";
        assert_eq!(
            render(t, Dialect::Sqlite),
            "a = (?1 ->> '$.a') AND b >= strftime('%Y-%m-%dT%H:%M:%fZ', (?1 ->> '$.b')) LIMIT 1"
        );
        assert_eq!(
            render(t, Dialect::Postgres),
            "a = (SELECT ($1::jsonb ->> 'a')) AND b >= (SELECT (($1::jsonb ->> 'b'))::timestamptz) FOR UPDATE SKIP LOCKED"
        );
    }

    #[test]
    fn upserts_name_every_column_and_compare_only_what_counts() {
        let sql = T.insert(
            Dialect::Postgres,
            "rows",
            OnConflict::UpdateChanged { except: &["at"] },
        );
        assert!(sql.starts_with("INSERT INTO t (id, at, price, ok, doc) SELECT (r ->> 'id'), "));
        assert!(sql.contains("((r ->> 'price'))::numeric"));
        assert!(sql.contains("(r -> 'doc')"));
        assert!(
            sql.contains("ON CONFLICT (id) DO UPDATE SET at = excluded.at, price = excluded.price")
        );
        assert!(sql.ends_with(
            "WHERE t.price IS DISTINCT FROM excluded.price OR t.ok IS DISTINCT FROM excluded.ok OR t.doc IS DISTINCT FROM excluded.doc"
        ));
        let sql = T.insert(Dialect::Sqlite, "rows", OnConflict::Nothing);
        assert!(
            sql.contains(
                "FROM json_each(?1, '$.rows') AS r WHERE true ON CONFLICT (id) DO NOTHING"
            )
        );
    }

    #[test]
    fn selects_return_objects_with_exact_money_and_real_booleans() {
        let sql = T.select(Dialect::Postgres, "id = {id}", "at", "");
        assert!(sql.contains("price::text AS price"), "{sql}");
        assert!(sql.contains("json_agg(t ORDER BY at)"));
        let sql = T.select(Dialect::Sqlite, "id = {id}", "at", "{n:int}");
        assert!(sql.contains("'ok', CASE WHEN ok IS NULL THEN NULL WHEN ok THEN json('true')"));
        assert!(sql.contains("'doc', json(doc)"));
        assert!(sql.ends_with("ORDER BY at LIMIT (?1 ->> '$.n'))"), "{sql}");
    }
}
