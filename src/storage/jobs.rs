//! The outbox's table: jobs queued in the same transaction as their cause (see
//! [`UnitOfWork::enqueue`](super::UnitOfWork::enqueue)) and worked off by the workers.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::sql::{Dialect, Kind, OnConflict, Statement, Table, col};

/// `jobs`: one row per queued piece of work.
pub static JOBS: Table = Table {
    name: "jobs",
    columns: &[
        col("id", Kind::Text),
        col("queue", Kind::Text),
        col("kind", Kind::Text),
        col("payload", Kind::Json),
        col("idempotency_key", Kind::Text),
        col("user_id", Kind::Text),
        col("status", Kind::Text),
        col("attempts", Kind::Int),
        col("run_at", Kind::Time),
        col("locked_by", Kind::Text),
        col("locked_until", Kind::Time),
        col("last_error", Kind::Text),
        col("created_at", Kind::Time),
        col("updated_at", Kind::Time),
    ],
    key: &["idempotency_key"],
};

/// Inserts `rows`; a job whose idempotency key exists is left as it is.
pub static INSERT_JOB: Statement =
    Statement::new(|d: Dialect| JOBS.insert(d, "rows", OnConflict::Nothing));

/// Every job of `queue`, oldest first.
pub static JOBS_OF_QUEUE: Statement =
    Statement::new(|d: Dialect| JOBS.select(d, "queue = {queue}", "created_at, id", ""));

/// Marks the running job `id` done at `now`; changes no row unless it is running.
pub static COMPLETE_JOB: Statement = Statement::new(|d: Dialect| {
    super::sql::render(
        "UPDATE jobs SET status = 'done', locked_by = NULL, locked_until = NULL, \
         updated_at = {now:time} WHERE id = {id} AND status = 'running'",
        d,
    )
});

/// A job to queue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// Which worker takes it (`email`, `alerts`, `billing`, `gdpr`).
    pub queue: String,
    /// What to do, within the queue.
    pub kind: String,
    pub payload: Value,
    /// Queuing the same key again is a no-op: retries of the cause never queue a job twice.
    pub idempotency_key: String,
    /// The user the job is about, if any (exports and deletions find it by this).
    pub user_id: Option<String>,
    /// Not before this instant.
    pub run_at: Timestamp,
}

/// A row of [`JOBS`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRow {
    pub id: String,
    pub queue: String,
    pub kind: String,
    pub payload: Value,
    pub idempotency_key: String,
    pub user_id: Option<String>,
    /// `queued`, `running`, `done` or `failed`.
    pub status: String,
    pub attempts: u32,
    pub run_at: Timestamp,
    pub locked_by: Option<String>,
    pub locked_until: Option<Timestamp>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl JobRow {
    /// The row of a newly queued job.
    pub fn queued(job: NewJob) -> JobRow {
        JobRow {
            id: uuid::Uuid::now_v7().to_string(),
            queue: job.queue,
            kind: job.kind,
            payload: job.payload,
            idempotency_key: job.idempotency_key,
            user_id: job.user_id,
            status: "queued".into(),
            attempts: 0,
            run_at: job.run_at,
            locked_by: None,
            locked_until: None,
            last_error: None,
            created_at: job.run_at,
            updated_at: job.run_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::rows::tests::{columns, fields};

    #[test]
    fn the_job_row_names_exactly_its_table_columns() {
        let row = JobRow::queued(NewJob {
            queue: "email".into(),
            kind: "welcome".into(),
            payload: Value::Null,
            idempotency_key: "k".into(),
            user_id: None,
            run_at: Timestamp::UNIX_EPOCH,
        });
        assert_eq!(fields(&row), columns(&JOBS));
    }
}
