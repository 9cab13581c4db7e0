//! Restart policy pieces every supervisor shares. ractor has no built-in backoff, restart
//! intensity or child specs, so these are ours: the pure pieces (backoff, budget, per-child
//! restart bookkeeping) and the one-for-one [`Supervisor`] built from [`ChildSpec`]s.

pub mod backoff;
pub mod budget;
pub mod child;
pub mod supervisor;

pub use crate::meter::ActorMeter;
pub use backoff::{Backoff, BackoffPolicy};
pub use budget::RestartBudget;
pub use child::{ChildRestarts, ChildState, Decision, Restart, RestartPolicy};
pub use supervisor::{ACTOR_DEGRADED, ACTOR_RESTARTS_TOTAL, ChildStatus, SupervisorHandle};
pub(crate) use supervisor::{ChildSpec, Supervisor, SupervisorArgs, SupervisorMsg};
