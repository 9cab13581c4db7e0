//! The unit of work: several statements committed in one transaction, or none of them. A domain
//! change and the jobs it causes (an email, a webhook, a deletion) go in one unit, so a job is
//! queued exactly when its cause is stored.

use serde::Serialize;

use super::db::Pool;
use super::jobs::{INSERT_JOB, JobRow, NewJob};
use super::sql::Statement;
use super::{StorageError, to_json};

struct Step {
    stmt: &'static Statement,
    params: String,
    /// Rows the statement must change, else the unit is rolled back.
    expect: Option<u64>,
}

/// Statements to commit together.
#[derive(Default)]
pub struct UnitOfWork {
    steps: Vec<Step>,
}

impl UnitOfWork {
    /// An empty unit.
    pub fn new() -> Self {
        UnitOfWork::default()
    }

    /// Adds a statement with its parameters.
    pub fn push(&mut self, stmt: &'static Statement, params: &impl Serialize) -> &mut Self {
        self.steps.push(Step {
            stmt,
            params: to_json(params),
            expect: None,
        });
        self
    }

    /// Adds a statement that must change exactly `rows` rows; otherwise the whole unit is rolled
    /// back with [`StorageError::Conflict`] (a compare-and-set: someone changed the row first).
    pub fn push_expecting(
        &mut self,
        stmt: &'static Statement,
        params: &impl Serialize,
        rows: u64,
    ) -> &mut Self {
        self.steps.push(Step {
            stmt,
            params: to_json(params),
            expect: Some(rows),
        });
        self
    }

    /// Queues a job in the outbox, in the same transaction as the rest of the unit. A job whose
    /// idempotency key is already queued is not queued twice.
    pub fn enqueue(&mut self, job: NewJob) -> &mut Self {
        let row = JobRow::queued(job);
        self.push(&INSERT_JOB, &serde_json::json!({ "rows": [row] }))
    }

    /// True when nothing was added.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    pub(crate) async fn run(self, pool: &Pool) -> Result<Vec<u64>, StorageError> {
        let mut tx = pool.begin().await?;
        let mut changed = Vec::with_capacity(self.steps.len());
        for (i, step) in self.steps.iter().enumerate() {
            let rows = tx.execute(step.stmt, &step.params).await?;
            if let Some(expected) = step.expect
                && rows != expected
            {
                // Dropping the transaction rolls it back.
                return Err(StorageError::Conflict(format!(
                    "step {i} changed {rows} rows, expected {expected}"
                )));
            }
            changed.push(rows);
        }
        tx.commit().await?;
        Ok(changed)
    }
}
