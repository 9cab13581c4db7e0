//! Storage: one [`Storage`] over either SQLite (the embedded default, a file created on first
//! start) or PostgreSQL (production, multi-node). Every statement is written once as a template
//! and rendered per dialect (`sql.rs`); rows travel as JSON objects named by column (`rows.rs`);
//! several writes commit together through a [`UnitOfWork`]. Both backends run the same contract
//! tests (`tests/storage_contract.rs`). Only `app.rs` (and the CLI) open one.

pub mod alerts;
pub mod api_keys;
pub mod beta;
pub mod billing;
pub mod catalogue;
pub mod days;
mod db;
pub mod gdpr;
pub mod jobs;
pub mod magic_links;
pub mod models;
mod open;
mod prices;
pub mod rows;
pub mod sql;
mod unit;
pub mod users;

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde::de::DeserializeOwned;
use wattline_actors::domain::{Region, Source};
use wattline_actors::ports::StoreError;

pub use db::{Pool, Tx};
pub use jobs::NewJob;
pub use sql::{Dialect, Statement};
pub use unit::UnitOfWork;

/// Why storage failed. Mapped to HTTP only in `error.rs`.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database URL is not one we can open.
    #[error("unsupported database url: {0}")]
    InvalidUrl(String),
    /// The database cannot be reached, or the pool timed out.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database refused a write (constraint, encoding).
    #[error("database rejected the data: {0}")]
    Rejected(String),
    /// A write that had to change a given number of rows changed another (someone else changed
    /// the row first; the whole unit of work was rolled back), or a row whose unique key is
    /// taken.
    #[error("conflicting change: {0}")]
    Conflict(String),
    /// A stored row could not be read back into the domain.
    #[error("stored row is corrupt: {0}")]
    Corrupt(String),
    /// Migrations could not be applied.
    #[error("migration failed: {0}")]
    Migration(String),
}

impl From<sqlx::Error> for StorageError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StorageError::Conflict(db.to_string())
            }
            sqlx::Error::Database(db) => StorageError::Rejected(db.to_string()),
            sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::ColumnNotFound(_) => StorageError::Corrupt(error.to_string()),
            other => StorageError::Unavailable(other.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StorageError {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        StorageError::Migration(error.to_string())
    }
}

impl From<StorageError> for StoreError {
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::Rejected(m) | StorageError::Corrupt(m) | StorageError::Conflict(m) => {
                StoreError::Rejected(m)
            }
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}

/// A read of stored points of one region over `[from, to)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeQuery {
    pub region: Region,
    pub from: Timestamp,
    pub to: Timestamp,
    /// Only this source; all sources when `None`.
    pub source: Option<Source>,
}

impl RangeQuery {
    /// Longest interval we store (a monthly retail average): how far before an instant a point
    /// may start and still be running at it.
    const LONGEST_INTERVAL: SignedDuration = SignedDuration::from_hours(32 * 24);

    /// Every point of `region` that may still be running at `since` or starts later; callers
    /// drop those that ended before `since`.
    pub fn running_since(region: Region, since: Timestamp) -> Self {
        let from = since
            .checked_sub(Self::LONGEST_INTERVAL)
            .unwrap_or(Timestamp::MIN);
        RangeQuery {
            region,
            from,
            to: Timestamp::MAX,
            source: None,
        }
    }
}

/// Connection settings shared by both backends.
#[derive(Debug, Clone)]
pub struct StorageOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

/// The database of the service. Price writes go through the writer actor via the
/// [`PriceStore`](wattline_actors::ports::PriceStore) port; reads come straight from the edge.
#[derive(Debug, Clone)]
pub struct Storage {
    pool: Pool,
}

impl Storage {
    /// Which backend this is (`sqlite` or `postgres`), for health output.
    pub fn backend(&self) -> &'static str {
        match self.pool.dialect() {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
        }
    }

    /// The pool, for the modules that run statements.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> Result<(), StorageError> {
        self.pool.ping().await
    }

    /// Closes the pool (waits for checked-out connections).
    pub async fn close(&self) {
        self.pool.close().await
    }

    /// Runs a select statement and decodes its JSON array of rows.
    pub async fn rows<T: DeserializeOwned>(
        &self,
        stmt: &'static Statement,
        params: &impl serde::Serialize,
    ) -> Result<Vec<T>, StorageError> {
        let json = self.pool.fetch_json(stmt, &to_json(params)).await?;
        decode_rows(json.as_deref())
    }

    /// Runs a statement that changes rows; returns how many.
    pub async fn execute(
        &self,
        stmt: &'static Statement,
        params: &impl serde::Serialize,
    ) -> Result<u64, StorageError> {
        self.pool.execute(stmt, &to_json(params)).await
    }

    /// Starts a transaction (for reads and writes that must see each other).
    pub async fn begin(&self) -> Result<Tx, StorageError> {
        self.pool.begin().await
    }

    /// Commits every step of `unit` in one transaction, or none of them; returns the rows each
    /// step changed.
    pub async fn commit(&self, unit: UnitOfWork) -> Result<Vec<u64>, StorageError> {
        unit.run(&self.pool).await
    }
}

/// Parameters as the one JSON text a statement binds.
pub(crate) fn to_json(params: &impl serde::Serialize) -> String {
    serde_json::to_string(params).expect("statement parameters serialise to JSON")
}

/// Decodes the JSON array a select returns (no row at all reads as empty).
pub(crate) fn decode_rows<T: DeserializeOwned>(json: Option<&str>) -> Result<Vec<T>, StorageError> {
    match json {
        None => Ok(Vec::new()),
        Some(json) => serde_json::from_str(json).map_err(|e| StorageError::Corrupt(e.to_string())),
    }
}

/// A range bound as an instant PostgreSQL can take: open bounds are clamped to 1900..9999.
pub(crate) fn bound(at: Timestamp) -> Timestamp {
    const YEAR_1900: i64 = -2_208_988_800;
    const YEAR_9999: i64 = 253_402_300_799;
    at.clamp(
        Timestamp::from_second(YEAR_1900).unwrap_or(Timestamp::UNIX_EPOCH),
        Timestamp::from_second(YEAR_9999).unwrap_or(Timestamp::MAX),
    )
}

/// The URL with any password replaced, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme && url[scheme + 3..at].contains(':') => {
            let user = url[scheme + 3..at].split(':').next().unwrap_or("");
            format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_the_password_only() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(redact("sqlite://data/w.sqlite3"), "sqlite://data/w.sqlite3");
        assert_eq!(redact("postgres://app@db/x"), "postgres://app@db/x");
    }
}
