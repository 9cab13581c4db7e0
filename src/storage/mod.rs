//! Storage behind one interface with two implementations: SQLite (the embedded default, a file
//! created on first start) and PostgreSQL (production, multi-node). Both run the same contract
//! tests (`tests/storage_contract.rs`). Only `app.rs` (and the CLI) open a backend.

mod migrations;
mod postgres;
mod sqlite;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use wattline_actors::domain::{PricePoint, Region, Source};
use wattline_actors::ports::{PriceStore, StoreError};

pub use migrations::{postgres_migrations, sqlite_migrations};
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

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
            StorageError::Rejected(m) | StorageError::Corrupt(m) => StoreError::Rejected(m),
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

/// Everything the service reads and writes. Price writes go through the writer actor via the
/// [`PriceStore`] port; reads come straight from the edge.
#[async_trait]
pub trait Storage: PriceStore {
    /// Which backend this is (`sqlite` or `postgres`), for health output.
    fn backend(&self) -> &'static str;

    /// Checks the database answers.
    async fn ping(&self) -> Result<(), StorageError>;

    /// Points in the range ordered by start, then source.
    async fn price_range(&self, query: &RangeQuery) -> Result<Vec<PricePoint>, StorageError>;

    /// Closes the pool (waits for checked-out connections).
    async fn close(&self);
}

/// Connection settings shared by both backends.
#[derive(Debug, Clone)]
pub struct StorageOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

/// Opens the database named by `url` (`sqlite://path` or `postgres://…`) and applies pending
/// migrations.
pub async fn open(url: &str, options: &StorageOptions) -> Result<Arc<dyn Storage>, StorageError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url, options).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::open(url, options, None).await?))
    } else {
        Err(StorageError::InvalidUrl(redact(url)))
    }
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

/// Keeps the last point per storage key, so one statement never touches a row twice
/// (PostgreSQL refuses that in `ON CONFLICT DO UPDATE`).
fn dedupe_by_key(points: &[PricePoint]) -> Vec<&PricePoint> {
    let mut index: HashMap<_, usize> = HashMap::with_capacity(points.len());
    let mut out: Vec<&PricePoint> = Vec::with_capacity(points.len());
    for p in points {
        match index.get(&p.key()) {
            Some(&i) => out[i] = p,
            None => {
                index.insert(p.key(), out.len());
                out.push(p);
            }
        }
    }
    out
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
