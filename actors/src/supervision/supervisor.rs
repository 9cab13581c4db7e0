//! A one-for-one supervisor built from a list of [`ChildSpec`]s: it starts the children in
//! order, restarts each one that exits by its own [`RestartPolicy`] (backoff, budget, degraded
//! probing), reports every child's state and counters, and stops them in reverse order.
//! ractor has no restart strategies of its own; this is ours, shared by the whole tree.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use ractor::{
    Actor, ActorCell, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SpawnErr,
    SupervisionEvent,
};
use serde::Serialize;
use tokio::time::Instant;

use super::child::{ChildRestarts, ChildState, Decision, Restart, RestartPolicy};
use crate::mailbox::{CallError, Mailbox, Timer};
use crate::meter::ActorMeter;

/// Metric: restarts of a supervised actor, by actor name.
pub const ACTOR_RESTARTS_TOTAL: &str = "wattline_actor_restarts_total";
/// Metric: 1 while a supervised actor is degraded (spent its restart budget), by actor name.
pub const ACTOR_DEGRADED: &str = "wattline_actor_degraded";

type StartFuture = Pin<Box<dyn Future<Output = Result<ActorCell, SpawnErr>> + Send>>;
type StartFn = Arc<dyn Fn(ActorCell) -> StartFuture + Send + Sync>;

/// How to start (and restart) one child, and by which rules.
#[derive(Clone)]
pub(crate) struct ChildSpec {
    name: String,
    kind: &'static str,
    restart: Restart,
    policy: RestartPolicy,
    meter: ActorMeter,
    start: StartFn,
}

impl ChildSpec {
    /// A child running `actor` with the arguments `args()` builds for each incarnation; every
    /// incarnation is bound to `mailbox`, so its holders reach the new one after a restart.
    pub fn new<A>(
        kind: &'static str,
        restart: Restart,
        policy: RestartPolicy,
        actor: A,
        args: impl Fn() -> A::Arguments + Send + Sync + 'static,
        mailbox: Mailbox<A::Msg>,
    ) -> Self
    where
        A: Actor + Clone,
    {
        let meter = mailbox.meter().clone();
        let start: StartFn = Arc::new(move |supervisor: ActorCell| {
            let actor = actor.clone();
            let args = args();
            let mailbox = mailbox.clone();
            Box::pin(async move {
                let (actor, _) = A::spawn_linked(None, actor, args, supervisor).await?;
                mailbox.bind(actor.clone());
                Ok(actor.get_cell())
            })
        });
        ChildSpec {
            name: meter.name().to_string(),
            kind,
            restart,
            policy,
            meter,
            start,
        }
    }
}

/// One child as operators see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChildStatus {
    pub name: String,
    pub kind: &'static str,
    pub state: ChildState,
    pub restarts: u64,
    pub last_error: Option<String>,
    pub mailbox_length: u64,
    pub messages_handled: u64,
}

/// Everything a supervisor starts with.
#[derive(Clone)]
pub(crate) struct SupervisorArgs {
    pub children: Vec<ChildSpec>,
    pub meter: ActorMeter,
}

/// Messages a supervisor takes.
pub(crate) enum SupervisorMsg {
    /// Backoff elapsed: start child `index` again.
    Restart(usize),
    /// Child `index` has run `healthy_after` since its start `incarnation`: a degraded spell ends.
    Settled { index: usize, incarnation: u64 },
    /// Every child's state and counters.
    Status(RpcReplyPort<Vec<ChildStatus>>),
    /// Stop every child, the last started first; answers when they stopped.
    StopChildren(RpcReplyPort<()>),
}

/// The supervisor actor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Supervisor;

struct Slot {
    spec: ChildSpec,
    restarts: ChildRestarts,
    cell: Option<ActorCell>,
    incarnation: u64,
    timer: Option<Timer>,
}

/// The supervisor's own data.
pub(crate) struct SupervisorState {
    slots: Vec<Slot>,
    by_id: HashMap<ActorId, usize>,
    mailbox: Mailbox<SupervisorMsg>,
    stopping: bool,
}

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mut state = SupervisorState {
            slots: Vec::with_capacity(args.children.len()),
            by_id: HashMap::new(),
            mailbox: Mailbox::new(myself.clone(), args.meter),
            stopping: false,
        };
        for (i, spec) in args.children.into_iter().enumerate() {
            metrics::gauge!(ACTOR_DEGRADED, "actor" => spec.name.clone()).set(0.0);
            // Series exist from the start, so dashboards see zero before the first restart.
            metrics::counter!(ACTOR_RESTARTS_TOTAL, "actor" => spec.name.clone()).increment(0);
            let restarts = ChildRestarts::new(spec.policy.clone(), spec.restart, 0x5eed + i as u64);
            state.slots.push(Slot {
                spec,
                restarts,
                cell: None,
                incarnation: 0,
                timer: None,
            });
            // A child that cannot start at all fails the start of the tree.
            state.start(&myself, i).await?;
        }
        Ok(state)
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.mailbox.meter().handled();
        match msg {
            SupervisorMsg::Restart(index) => {
                if !state.stopping
                    && let Err(error) = state.start(&myself, index).await
                {
                    state.on_exit(index, true, format!("restart failed: {error}"));
                }
            }
            SupervisorMsg::Settled { index, incarnation } => {
                if let Some(slot) = state.slots.get_mut(index)
                    && slot.incarnation == incarnation
                    && slot.cell.is_some()
                    && slot.restarts.healthy()
                {
                    tracing::info!(actor = %slot.spec.name, "Actor recovered from degraded.");
                    metrics::gauge!(ACTOR_DEGRADED, "actor" => slot.spec.name.clone()).set(0.0);
                }
            }
            SupervisorMsg::Status(reply) => {
                let _ = reply.send(state.statuses());
            }
            SupervisorMsg::StopChildren(reply) => {
                state.stop_children().await;
                let _ = reply.send(());
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // A nested supervisor (the WorkerSupervisor) stopped by its parent lets its children
        // finish what they hold, as the root does at shutdown.
        if !state.stopping {
            state.stop_children().await;
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, failed, why) = match event {
            SupervisionEvent::ActorFailed(cell, error) => (cell, true, error.to_string()),
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                (cell, false, reason.unwrap_or_else(|| "stopped".to_string()))
            }
            _ => return Ok(()),
        };
        if let Some(index) = state.by_id.remove(&cell.get_id()) {
            state.slots[index].cell = None;
            if !state.stopping {
                state.on_exit(index, failed, why);
            }
        }
        Ok(())
    }
}

impl SupervisorState {
    async fn start(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        index: usize,
    ) -> Result<(), SpawnErr> {
        let Some(slot) = self.slots.get_mut(index) else {
            return Ok(());
        };
        slot.timer = None;
        let cell = (slot.spec.start)(myself.get_cell()).await?;
        self.by_id.insert(cell.get_id(), index);
        slot.cell = Some(cell);
        slot.incarnation += 1;
        slot.restarts.started(Instant::now());
        if slot.restarts.state() == ChildState::Degraded {
            let incarnation = slot.incarnation;
            slot.timer = Some(
                self.mailbox
                    .send_after(slot.spec.policy.healthy_after, move || {
                        SupervisorMsg::Settled { index, incarnation }
                    }),
            );
        } else {
            slot.restarts.set_state(ChildState::Running);
        }
        Ok(())
    }

    fn on_exit(&mut self, index: usize, failed: bool, why: String) {
        let slot = &mut self.slots[index];
        let name = slot.spec.name.clone();
        let decision = slot.restarts.exited(Instant::now(), failed, why.clone());
        let delay = match decision {
            Decision::Finish => {
                tracing::info!(actor = %name, "Actor finished its work.");
                return;
            }
            Decision::Restart { after } => {
                tracing::warn!(actor = %name, error = %why, restart_in = ?rounded(after), "Actor failed; restarting after backoff.");
                after
            }
            Decision::Degrade { after, newly } => {
                if newly {
                    tracing::error!(actor = %name, error = %why, retry_in = ?rounded(after), "Actor exhausted its restart budget; degraded.");
                    metrics::gauge!(ACTOR_DEGRADED, "actor" => name.clone()).set(1.0);
                } else {
                    tracing::warn!(actor = %name, error = %why, "Degraded actor failed again.");
                }
                after
            }
        };
        metrics::counter!(ACTOR_RESTARTS_TOTAL, "actor" => name).increment(1);
        // Restart through a timer, never inline: the delay is the backoff, and the dead actor
        // gets to leave ractor's registry first.
        slot.timer = Some(
            self.mailbox
                .send_after(delay, move || SupervisorMsg::Restart(index)),
        );
    }

    fn statuses(&self) -> Vec<ChildStatus> {
        self.slots
            .iter()
            .map(|slot| ChildStatus {
                name: slot.spec.name.clone(),
                kind: slot.spec.kind,
                state: slot.restarts.state(),
                restarts: slot.restarts.restarts(),
                last_error: slot.restarts.last_error().map(str::to_string),
                mailbox_length: slot.spec.meter.mailbox_length(),
                messages_handled: slot.spec.meter.messages_handled(),
            })
            .collect()
    }

    async fn stop_children(&mut self) {
        self.stopping = true;
        for slot in self.slots.iter_mut().rev() {
            slot.timer = None;
            if let Some(cell) = slot.cell.take() {
                let _ = cell
                    .stop_and_wait(Some("shutdown".into()), Some(Duration::from_secs(5)))
                    .await;
            }
            if slot.restarts.state() != ChildState::Finished {
                slot.restarts.stopped();
            }
        }
    }
}

/// Durations in logs, to the millisecond.
pub(crate) fn rounded(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis().min(u128::from(u64::MAX)) as u64)
}

/// Typed access to a supervisor.
#[derive(Clone)]
pub struct SupervisorHandle {
    mailbox: Mailbox<SupervisorMsg>,
    call_timeout: Duration,
}

impl SupervisorHandle {
    pub(crate) fn new(mailbox: Mailbox<SupervisorMsg>, call_timeout: Duration) -> Self {
        SupervisorHandle {
            mailbox,
            call_timeout,
        }
    }

    /// Every child's state and counters.
    pub async fn children(&self) -> Result<Vec<ChildStatus>, CallError> {
        self.mailbox
            .call(SupervisorMsg::Status, self.call_timeout)
            .await
    }

    /// Stops every child in reverse start order.
    pub async fn stop_children(&self, timeout: Duration) -> Result<(), CallError> {
        self.mailbox
            .call(SupervisorMsg::StopChildren, timeout)
            .await
    }

    /// The supervisor's own mailbox counters.
    pub fn meter(&self) -> &ActorMeter {
        self.mailbox.meter()
    }
}
