//! The migrations of both dialects, embedded in the binary so `wattline migrate` and the first
//! start work from any directory. The two folders always change together (same numbers, same
//! names); a unit test checks the embedded lists match the folders.

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// (version, description, sqlite sql, postgres sql)
const MIGRATIONS: &[(i64, &str, &str, &str)] = &[
    (
        1,
        "create price points",
        include_str!("../../migrations/sqlite/0001_create_price_points.sql"),
        include_str!("../../migrations/postgres/0001_create_price_points.sql"),
    ),
    (
        2,
        "create weather points",
        include_str!("../../migrations/sqlite/0002_create_weather_points.sql"),
        include_str!("../../migrations/postgres/0002_create_weather_points.sql"),
    ),
    (
        3,
        "create forecast steps",
        include_str!("../../migrations/sqlite/0003_create_forecast_steps.sql"),
        include_str!("../../migrations/postgres/0003_create_forecast_steps.sql"),
    ),
];

fn migrator(pick: fn(&(i64, &str, &'static str, &'static str)) -> &'static str) -> Migrator {
    Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .map(|m| {
                Migration::new(
                    m.0,
                    Cow::Borrowed(m.1),
                    MigrationType::Simple,
                    pick(m).into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

/// Every SQLite migration.
pub fn sqlite_migrations() -> Migrator {
    migrator(|m| m.2)
}

/// Every PostgreSQL migration.
pub fn postgres_migrations() -> Migrator {
    migrator(|m| m.3)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(dialect: &str) -> Vec<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(dialect);
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("migrations folder")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn both_dialect_folders_hold_the_same_migrations_and_all_are_embedded() {
        let sqlite = folder("sqlite");
        assert_eq!(
            sqlite,
            folder("postgres"),
            "migrations/sqlite and migrations/postgres differ"
        );
        assert_eq!(
            sqlite.len(),
            MIGRATIONS.len(),
            "a migration file is not embedded in migrations.rs"
        );
        for (name, m) in sqlite.iter().zip(MIGRATIONS) {
            let number: i64 = name[..4].parse().expect("NNNN_ prefix");
            assert_eq!(number, m.0);
            assert_eq!(
                name[5..name.len() - 4].replace('_', " "),
                m.1,
                "description must match the file name"
            );
        }
    }
}
