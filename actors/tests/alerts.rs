//! The AlertEvaluator in the tree: a stored batch fires a rule once, a rule stored later is
//! evaluated at once, a `us_ct` rule ignores `uk` prices, and a crashed evaluator is restarted,
//! reloads its rules with their state and fires nothing twice.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use rust_decimal::Decimal;
use wattline_actors::domain::alert::{AlertCondition, AlertRule, Firing};
use wattline_actors::domain::{Region, Source};
use wattline_actors::ports::{AlertStore, SoleNode, StoreError};
use wattline_actors::testing::{ManualClock, MemoryStore, ScriptedSource, Step, wait_until};
use wattline_actors::{Ports, Tree, TreeConfig, TreeHandles};

/// Rules and recorded firings in memory; recording updates the rules' state like storage does.
#[derive(Default)]
struct MemoryAlerts {
    rules: Mutex<Vec<AlertRule>>,
    firings: Mutex<Vec<Firing>>,
}

#[async_trait]
impl AlertStore for MemoryAlerts {
    async fn alert_rules(&self) -> Result<Vec<AlertRule>, StoreError> {
        Ok(self.rules.lock().unwrap().clone())
    }

    async fn record_firings(&self, firings: &[Firing], now: Timestamp) -> Result<u64, StoreError> {
        let mut recorded = self.firings.lock().unwrap();
        let mut rules = self.rules.lock().unwrap();
        let mut new = 0;
        for firing in firings {
            if recorded
                .iter()
                .any(|f| f.rule_id == firing.rule_id && f.occurrence == firing.occurrence)
            {
                continue;
            }
            new += 1;
            recorded.push(firing.clone());
            if let Some(rule) = rules.iter_mut().find(|r| r.id == firing.rule_id) {
                rule.last_fired_at = Some(now);
                rule.last_occurrence = Some(firing.occurrence.clone());
            }
        }
        Ok(new)
    }
}

fn rule(id: &str, region: Region, threshold: &str) -> AlertRule {
    AlertRule {
        id: id.into(),
        user_id: "u".into(),
        region,
        condition: AlertCondition::PriceBelow {
            threshold: threshold.parse().unwrap(),
        },
        quiet_hours: None,
        cooldown: SignedDuration::from_hours(1),
        enabled: true,
        last_fired_at: None,
        last_occurrence: None,
    }
}

async fn spawn(alerts: Arc<MemoryAlerts>) -> TreeHandles {
    let mut config = TreeConfig::default();
    config.writer.flush_interval = Duration::from_millis(20);
    config.supervision.backoff.initial = Duration::from_millis(10);
    let price: Decimal = "0.18".parse().unwrap();
    Tree::spawn(
        Ports {
            store: MemoryStore::new(),
            sources: vec![
                (
                    Region::Uk,
                    vec![ScriptedSource::new(
                        Source::Simulated,
                        [Step::Deliver(price)],
                    )],
                ),
                (
                    Region::UsCt,
                    vec![ScriptedSource::new(
                        Source::Simulated,
                        [Step::Deliver(Decimal::TEN)],
                    )],
                ),
            ],
            clock: ManualClock::new("2026-01-15T09:00:00Z".parse().unwrap()),
            fanout: None,
            node_id: "test".into(),
            lease: Arc::new(SoleNode),
            forecasts: None,
            weather: None,
            workers: None,
            alerts: Some(alerts),
        },
        config,
    )
    .await
    .expect("tree starts")
}

#[tokio::test]
async fn a_stored_batch_fires_each_matching_rule_once_and_a_restart_fires_nothing_twice() {
    let alerts = Arc::new(MemoryAlerts::default());
    *alerts.rules.lock().unwrap() = vec![
        rule("below", Region::Uk, "0.20"),
        rule("too-low", Region::Uk, "0.10"),
        rule("us", Region::UsCt, "0.20"),
    ];
    let tree = spawn(alerts.clone()).await;
    assert!(
        wait_until(Duration::from_secs(10), || !alerts
            .firings
            .lock()
            .unwrap()
            .is_empty())
        .await,
        "the uk batch fires the rule"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let fired: Vec<String> = alerts
        .firings
        .lock()
        .unwrap()
        .iter()
        .map(|f| f.rule_id.clone())
        .collect();
    assert_eq!(
        fired,
        vec!["below"],
        "0.18 < 0.20 only; us_ct's 10 is not below 0.20"
    );
    let firing = alerts.firings.lock().unwrap()[0].clone();
    assert_eq!(firing.price, Some("0.18".parse().unwrap()));

    // A rule stored now is evaluated at once against the known prices.
    let handle = tree.alerts.clone().unwrap();
    let late = rule("late", Region::Uk, "0.19");
    alerts.rules.lock().unwrap().push(late.clone());
    handle.upsert(late);
    assert!(
        wait_until(Duration::from_secs(5), || alerts
            .firings
            .lock()
            .unwrap()
            .len()
            == 2)
        .await
    );

    // Crash: the evaluator is restarted, reloads the rules with their state and, on the next
    // batch of the same prices, fires nothing again.
    handle.crash();
    let restarted = async {
        loop {
            let children = tree.root.children().await.unwrap();
            let evaluator = children
                .iter()
                .find(|c| c.name == "alert-evaluator")
                .unwrap();
            if evaluator.restarts == 1 && evaluator.state.to_string() == "running" {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), restarted)
        .await
        .expect("the evaluator is restarted");
    handle.upsert(rule("late", Region::Uk, "0.19"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(alerts.firings.lock().unwrap().len(), 2);
    tree.shutdown(Duration::from_secs(5)).await;
}
