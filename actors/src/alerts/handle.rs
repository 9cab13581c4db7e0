//! How the edge tells the evaluator about rules it changed.

use super::actor::AlertEvaluatorMsg;
use crate::domain::alert::AlertRule;
use crate::mailbox::Mailbox;

/// Typed access to the AlertEvaluator.
#[derive(Clone)]
pub struct AlertsHandle {
    mailbox: Mailbox<AlertEvaluatorMsg>,
}

impl AlertsHandle {
    pub(crate) fn new(mailbox: Mailbox<AlertEvaluatorMsg>) -> Self {
        AlertsHandle { mailbox }
    }

    /// A rule was stored (created or edited): evaluate it from now on. Best effort: a restarting
    /// evaluator reads it from storage anyway.
    pub fn upsert(&self, rule: AlertRule) {
        let _ = self.mailbox.cast(AlertEvaluatorMsg::Upsert(rule));
    }

    /// A rule was deleted.
    pub fn remove(&self, id: &str) {
        let _ = self.mailbox.cast(AlertEvaluatorMsg::Remove(id.to_string()));
    }

    /// Makes the evaluator fail (tests of the supervision).
    #[cfg(any(test, feature = "testing"))]
    pub fn crash(&self) {
        let _ = self.mailbox.cast(AlertEvaluatorMsg::Crash);
    }
}
