//! Opening either backend: the pool, its connection settings, and the migrations embedded from
//! `migrations/sqlite` and `migrations/postgres` (both folders always carry the same numbers and
//! names; a test checks it).

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::{Pool, Storage, StorageError, StorageOptions, redact};

/// The SQLite migrations, embedded in the binary.
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
/// The PostgreSQL migrations, embedded in the binary.
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Storage {
    /// Opens the database named by `url` (`sqlite://path` or `postgres://…`) and applies
    /// pending migrations.
    pub async fn open(url: &str, options: &StorageOptions) -> Result<Storage, StorageError> {
        if url.starts_with("sqlite:") {
            Storage::open_sqlite(url, options).await
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Storage::open_postgres(url, options, None).await
        } else {
            Err(StorageError::InvalidUrl(redact(url)))
        }
    }

    /// Opens (creating if missing, with its folder) the SQLite file of `url` and migrates it.
    /// WAL journal: committed transactions survive a crash of the process.
    pub async fn open_sqlite(url: &str, options: &StorageOptions) -> Result<Storage, StorageError> {
        let connect = SqliteConnectOptions::from_str(url)
            .map_err(|e| StorageError::InvalidUrl(format!("{url}: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(options.acquire_timeout)
            .foreign_keys(true);
        if let Some(parent) = connect
            .get_filename()
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(|e| {
                StorageError::Unavailable(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await?;
        SQLITE_MIGRATIONS.run(&pool).await?;
        let storage = Storage {
            pool: Pool::Sqlite(pool),
        };
        storage.build_missing_days().await?;
        Ok(storage)
    }

    /// Connects to `url` and migrates. With `schema`, every connection works inside that schema
    /// (created if missing); tests use one schema each. Sessions run in UTC.
    pub async fn open_postgres(
        url: &str,
        options: &StorageOptions,
        schema: Option<&str>,
    ) -> Result<Storage, StorageError> {
        let mut connect = PgConnectOptions::from_str(url)
            .map_err(|e| StorageError::InvalidUrl(format!("{}: {e}", redact(url))))?
            .options([("timezone", "UTC")]);
        if let Some(schema) = schema {
            connect = connect.options([("search_path", schema)]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await?;
        if let Some(schema) = schema {
            let create = format!(
                "CREATE SCHEMA IF NOT EXISTS \"{}\"",
                schema.replace('"', "")
            );
            sqlx::raw_sql(sqlx::AssertSqlSafe(create))
                .execute(&pool)
                .await?;
        }
        POSTGRES_MIGRATIONS.run(&pool).await?;
        let storage = Storage {
            pool: Pool::Postgres(pool),
        };
        storage.build_missing_days().await?;
        Ok(storage)
    }

    /// Reclaims dead row versions and refreshes the planner's statistics (benches run it
    /// between an update-heavy phase and reads, as autovacuum would).
    pub async fn vacuum(&self) -> Result<(), StorageError> {
        match &self.pool {
            Pool::Sqlite(pool) => {
                sqlx::raw_sql("ANALYZE").execute(pool).await?;
            }
            Pool::Postgres(pool) => {
                sqlx::raw_sql("VACUUM ANALYZE").execute(pool).await?;
            }
        }
        Ok(())
    }

    /// Drops a PostgreSQL schema and everything in it (test helpers clean up with it).
    pub async fn drop_schema(&self, schema: &str) -> Result<(), StorageError> {
        if let Pool::Postgres(pool) = &self.pool {
            let drop = format!(
                "DROP SCHEMA IF EXISTS \"{}\" CASCADE",
                schema.replace('"', "")
            );
            sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
                .execute(pool)
                .await?;
        }
        Ok(())
    }
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
        for migrator in [&SQLITE_MIGRATIONS, &POSTGRES_MIGRATIONS] {
            let embedded: Vec<(i64, String)> = migrator
                .iter()
                .map(|m| (m.version, m.description.to_string()))
                .collect();
            let expected: Vec<(i64, String)> = sqlite
                .iter()
                .map(|name| {
                    let stem = &name[..name.len() - 4];
                    let (number, description) = stem.split_once('_').expect("NNNN_name.sql");
                    (number.parse().expect("NNNN"), description.replace('_', " "))
                })
                .collect();
            assert_eq!(embedded, expected);
        }
    }
}
