//! The two connection pools behind one type, and transactions over either. Each operation binds
//! the one JSON parameter of a [`Statement`]; this is the only place that knows which sqlx
//! driver runs it.

use sqlx::{PgPool, Postgres, Sqlite, SqlitePool};

use super::StorageError;
use super::sql::{Dialect, Statement};

/// A pool of one of the two backends.
#[derive(Debug, Clone)]
pub enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Pool {
    /// The SQL dialect of this pool.
    pub fn dialect(&self) -> Dialect {
        match self {
            Pool::Sqlite(_) => Dialect::Sqlite,
            Pool::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Runs a statement that returns one text value (a JSON array of rows, or a JSON object).
    pub async fn fetch_json(
        &self,
        stmt: &'static Statement,
        params: &str,
    ) -> Result<Option<String>, StorageError> {
        let sql = stmt.sql(self.dialect());
        Ok(match self {
            Pool::Sqlite(pool) => {
                sqlx::query_scalar(sql)
                    .bind(params)
                    .fetch_optional(pool)
                    .await?
            }
            Pool::Postgres(pool) => {
                sqlx::query_scalar(sql)
                    .bind(params)
                    .fetch_optional(pool)
                    .await?
            }
        })
    }

    /// Runs a statement that changes rows; returns how many.
    pub async fn execute(
        &self,
        stmt: &'static Statement,
        params: &str,
    ) -> Result<u64, StorageError> {
        let sql = stmt.sql(self.dialect());
        Ok(match self {
            Pool::Sqlite(pool) => sqlx::query(sql)
                .bind(params)
                .execute(pool)
                .await?
                .rows_affected(),
            Pool::Postgres(pool) => sqlx::query(sql)
                .bind(params)
                .execute(pool)
                .await?
                .rows_affected(),
        })
    }

    /// Starts a transaction. SQLite's takes the write lock at once (`BEGIN IMMEDIATE`), so a
    /// transaction that reads before it writes never fails on the upgrade.
    pub async fn begin(&self) -> Result<Tx, StorageError> {
        Ok(match self {
            Pool::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Pool::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// Checks the database answers.
    pub async fn ping(&self) -> Result<(), StorageError> {
        match self {
            Pool::Sqlite(pool) => {
                sqlx::query("SELECT 1").execute(pool).await?;
            }
            Pool::Postgres(pool) => {
                sqlx::query("SELECT 1").execute(pool).await?;
            }
        }
        Ok(())
    }

    /// Closes the pool (waits for checked-out connections).
    pub async fn close(&self) {
        match self {
            Pool::Sqlite(pool) => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }
}

/// An open transaction: rolled back when dropped without [`Tx::commit`].
pub enum Tx {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

impl Tx {
    fn dialect(&self) -> Dialect {
        match self {
            Tx::Sqlite(_) => Dialect::Sqlite,
            Tx::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Like [`Pool::fetch_json`], inside the transaction.
    pub async fn fetch_json(
        &mut self,
        stmt: &'static Statement,
        params: &str,
    ) -> Result<Option<String>, StorageError> {
        let sql = stmt.sql(self.dialect());
        Ok(match self {
            Tx::Sqlite(tx) => {
                sqlx::query_scalar(sql)
                    .bind(params)
                    .fetch_optional(&mut **tx)
                    .await?
            }
            Tx::Postgres(tx) => {
                sqlx::query_scalar(sql)
                    .bind(params)
                    .fetch_optional(&mut **tx)
                    .await?
            }
        })
    }

    /// Like [`Pool::execute`], inside the transaction.
    pub async fn execute(
        &mut self,
        stmt: &'static Statement,
        params: &str,
    ) -> Result<u64, StorageError> {
        let sql = stmt.sql(self.dialect());
        Ok(match self {
            Tx::Sqlite(tx) => sqlx::query(sql)
                .bind(params)
                .execute(&mut **tx)
                .await?
                .rows_affected(),
            Tx::Postgres(tx) => sqlx::query(sql)
                .bind(params)
                .execute(&mut **tx)
                .await?
                .rows_affected(),
        })
    }

    /// Makes every change of the transaction durable.
    pub async fn commit(self) -> Result<(), StorageError> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await?,
            Tx::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }
}
