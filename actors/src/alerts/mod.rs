//! The AlertEvaluator: holds every alert rule indexed by region and threshold, evaluates a
//! region's rules whenever the writer on this node has stored a new batch of its prices (so in
//! a cluster a rule fires on the node that stored the batch, once), and records what fired —
//! with its deliveries — through the [`AlertStore`](crate::ports::AlertStore).

mod actor;
mod handle;

pub use actor::{ALERT_FIRINGS_TOTAL, AlertConfig};
pub(crate) use actor::{AlertEvaluator, AlertEvaluatorArgs, AlertEvaluatorMsg};
pub use handle::AlertsHandle;
