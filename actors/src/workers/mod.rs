//! The durable workers: one OutboxWorker per queue of the outbox (email, webhooks; billing and
//! GDPR join them), each under the WorkerSupervisor, each with its job logic as plain functions
//! beside it.

pub mod email;
mod handle;
pub mod retention;
pub mod retry;
pub mod stats;
pub mod webhook;
pub(crate) mod worker;

pub use handle::WorkersHandle;
pub use retry::{AfterFailure, JobFailure, RetryPolicy};
pub use stats::{WorkerSnapshot, WorkerStats};
pub use worker::WorkerConfig;
