//! The outbox's table: jobs queued in the same transaction as their cause (see
//! [`UnitOfWork::enqueue`](super::UnitOfWork::enqueue)) and worked off by the workers.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use async_trait::async_trait;
use wattline_actors::ports::{ClaimedJob, JobQueue, QueueCounts, StoreError};

use super::Storage;
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

/// Claims due jobs of `queue` (and running ones whose lease lapsed) for `claim`, oldest first.
/// PostgreSQL skips rows another claimer holds locked, so concurrent claimers on several nodes
/// never take the same job; SQLite runs one write at a time, which gives the same.
static CLAIM_JOBS: Statement = Statement::new(|d: Dialect| {
    super::sql::render(
        "UPDATE jobs SET status = 'running', locked_by = {claim}, locked_until = {until:time}, \
         attempts = attempts + 1, updated_at = {now:time} \
         WHERE id IN (SELECT id FROM jobs WHERE queue = {queue} AND \
           ((status = 'queued' AND run_at <= {now:time}) OR \
            (status = 'running' AND locked_until < {now:time})) \
           ORDER BY run_at, id LIMIT {limit:int}{sqlite:|postgres: FOR UPDATE SKIP LOCKED})",
        d,
    )
});

/// PostgreSQL claims and reads back in one round trip (`UPDATE … RETURNING` in a CTE).
static CLAIM_JOBS_RETURNING: Statement = Statement::new(|d: Dialect| {
    let columns: Vec<&str> = JOBS.names().collect();
    format!(
        "WITH claimed AS ({} RETURNING {}) \
         SELECT COALESCE(json_agg(c ORDER BY run_at, id)::text, '[]') FROM claimed c",
        CLAIM_JOBS.sql(d),
        columns.join(", ")
    )
});

/// The jobs held by `claim`.
static CLAIMED_JOBS: Statement = Statement::new(|d: Dialect| {
    JOBS.select(
        d,
        "locked_by = {claim} AND status = 'running'",
        "run_at, id",
        "",
    )
});

/// Settles job `id` as `status` while `claim` still holds it: done, queued again (due at
/// `run_at`) or failed; the error is kept for operators. A done job keeps no payload: what it
/// carried (an address, a sign-in link, a webhook secret) is not needed once it is delivered.
static SETTLE_JOB: Statement = Statement::new(|d: Dialect| {
    super::sql::render(
        "UPDATE jobs SET status = {status}, run_at = COALESCE({run_at:time}, run_at), \
         last_error = COALESCE({error}, last_error), locked_by = NULL, locked_until = NULL, \
         payload = CASE WHEN {status} = 'done' \
           THEN {sqlite:json_object()|postgres:jsonb_build_object()} ELSE payload END, \
         updated_at = {now:time} WHERE id = {id} AND locked_by = {claim} AND status = 'running'",
        d,
    )
});

/// Marks done every job of `ids` that `claim` still holds (one statement for a batch).
static COMPLETE_JOBS: Statement = Statement::new(|d: Dialect| {
    super::sql::render(
        "UPDATE jobs SET status = 'done', locked_by = NULL, locked_until = NULL, \
         payload = {sqlite:json_object()|postgres:jsonb_build_object()}, updated_at = {now:time} \
         WHERE locked_by = {claim} AND status = 'running' AND id IN (SELECT value FROM \
           {sqlite:json_each|postgres:jsonb_array_elements_text}({ids:json}))",
        d,
    )
});

/// Counts of a queue, one JSON object.
static QUEUE_COUNTS: Statement = Statement::new(|d: Dialect| {
    super::sql::render(
        "SELECT {sqlite:json_object|postgres:json_build_object}(\
           'queued', (SELECT count(*) FROM jobs WHERE queue = {queue} AND status = 'queued'), \
           'running', (SELECT count(*) FROM jobs WHERE queue = {queue} AND status = 'running'), \
           'failed', (SELECT count(*) FROM jobs WHERE queue = {queue} AND status = 'failed'), \
           'oldest_queued', (SELECT min(created_at) FROM jobs \
                             WHERE queue = {queue} AND status = 'queued')){sqlite:|postgres:::text}",
        d,
    )
});

/// Parked jobs, most recently failed first (of one queue when `queue` is set).
pub static FAILED_JOBS: Statement = Statement::new(|d: Dialect| {
    JOBS.select(
        d,
        "status = 'failed' AND ({queue} IS NULL OR queue = {queue})",
        "updated_at DESC, id",
        "{limit:int}",
    )
});

/// Queues the parked job `id` again with a fresh set of attempts, due at `now`.
pub static RETRY_FAILED_JOB: Statement = Statement::new(|d: Dialect| {
    super::sql::render(
        "UPDATE jobs SET status = 'queued', attempts = 0, run_at = {now:time}, \
         updated_at = {now:time} WHERE id = {id} AND status = 'failed'",
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

impl JobRow {
    fn claimed(self, claim: &str) -> ClaimedJob {
        ClaimedJob {
            id: self.id,
            queue: self.queue,
            kind: self.kind,
            payload: self.payload,
            idempotency_key: self.idempotency_key,
            user_id: self.user_id,
            attempts: self.attempts,
            claim: claim.to_string(),
        }
    }
}

#[derive(Deserialize)]
struct CountsRow {
    queued: u64,
    running: u64,
    failed: u64,
    oldest_queued: Option<Timestamp>,
}

impl Storage {
    async fn settle(
        &self,
        job: &ClaimedJob,
        status: &str,
        run_at: Option<Timestamp>,
        error: Option<&str>,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let params = serde_json::json!({
            "id": job.id, "claim": job.claim, "status": status,
            "run_at": run_at, "error": error, "now": now,
        });
        Ok(self.execute(&SETTLE_JOB, &params).await? == 1)
    }

    /// Parked jobs, most recently failed first, at most `limit`.
    pub async fn failed_jobs(
        &self,
        queue: Option<&str>,
        limit: u32,
    ) -> Result<Vec<JobRow>, super::StorageError> {
        self.rows(
            &FAILED_JOBS,
            &serde_json::json!({ "queue": queue, "limit": limit }),
        )
        .await
    }

    /// Queues the parked job `id` again; false when no parked job has that id.
    pub async fn retry_failed_job(
        &self,
        id: &str,
        now: Timestamp,
    ) -> Result<bool, super::StorageError> {
        let changed = self
            .execute(
                &RETRY_FAILED_JOB,
                &serde_json::json!({ "id": id, "now": now }),
            )
            .await?;
        Ok(changed == 1)
    }
}

#[async_trait]
impl JobQueue for Storage {
    async fn claim(
        &self,
        queue: &str,
        claim: &str,
        limit: u32,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Vec<ClaimedJob>, StoreError> {
        let params = serde_json::json!({
            "queue": queue, "claim": claim, "limit": limit, "now": now, "until": lease_until,
        });
        let rows: Vec<JobRow> = match self.pool().dialect() {
            Dialect::Postgres => self.rows(&CLAIM_JOBS_RETURNING, &params).await?,
            // SQLite cannot aggregate what an UPDATE returns: claim, then read the claim back.
            Dialect::Sqlite => {
                if self.execute(&CLAIM_JOBS, &params).await? == 0 {
                    return Ok(Vec::new());
                }
                self.rows(&CLAIMED_JOBS, &serde_json::json!({ "claim": claim }))
                    .await?
            }
        };
        Ok(rows.into_iter().map(|row| row.claimed(claim)).collect())
    }

    async fn complete(&self, job: &ClaimedJob, now: Timestamp) -> Result<bool, StoreError> {
        self.settle(job, "done", None, None, now).await
    }

    async fn complete_all(&self, jobs: &[ClaimedJob], now: Timestamp) -> Result<u64, StoreError> {
        let Some(first) = jobs.first() else {
            return Ok(0);
        };
        // A batch comes from one claim; jobs of other claims go one by one.
        if jobs.iter().any(|j| j.claim != first.claim) {
            return wattline_actors::ports::complete_each(self, jobs, now).await;
        }
        let ids: Vec<&str> = jobs.iter().map(|j| j.id.as_str()).collect();
        let params = serde_json::json!({ "claim": first.claim, "ids": ids, "now": now });
        Ok(self.execute(&COMPLETE_JOBS, &params).await?)
    }

    async fn retry(
        &self,
        job: &ClaimedJob,
        run_at: Timestamp,
        error: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.settle(job, "queued", Some(run_at), Some(error), now)
            .await
    }

    async fn park(
        &self,
        job: &ClaimedJob,
        error: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.settle(job, "failed", None, Some(error), now).await
    }

    async fn counts(&self, queue: &str) -> Result<QueueCounts, StoreError> {
        let json = self
            .pool()
            .fetch_json(
                &QUEUE_COUNTS,
                &super::to_json(&serde_json::json!({ "queue": queue })),
            )
            .await?;
        let row: CountsRow = serde_json::from_str(json.as_deref().unwrap_or("{}"))
            .map_err(|e| StoreError::Rejected(format!("queue counts: {e}")))?;
        Ok(QueueCounts {
            queued: row.queued,
            running: row.running,
            failed: row.failed,
            oldest_queued: row.oldest_queued,
        })
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
