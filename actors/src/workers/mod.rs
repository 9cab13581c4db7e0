//! The durable workers: one OutboxWorker per queue of the outbox (email, webhooks, billing, gdpr),
//! each under the WorkerSupervisor, each with its job logic as plain functions beside it.

pub mod billing;
pub mod email;
pub mod gdpr;
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
