//! The Redis fan-out: a Lua script hands out the event id and publishes in one atomic step, so
//! every node receives events in id order; the event feed hands each received event to the
//! tree's fan-out subscriber actor.

use async_trait::async_trait;
use fred::clients::SubscriberClient;
use fred::prelude::{Client, EventInterface, LuaInterface, PubsubInterface};
use wattline_actors::broadcast::{EventKind, IncomingEvent, OutgoingEvent};
use wattline_actors::domain::Region;
use wattline_actors::ports::{EventFeed, EventSubscription, FanOut, FanOutError};

use super::Keys;

/// Id = max(Redis time in µs, last id + 1, publisher's floor + 1); then publish
/// `"<id>\n<region>\n<kind>\n<origin>\n<payload>"`. Lua numbers are doubles: exact below 2^53,
/// and microseconds since 1970 stay below that until the year 2255.
const PUBLISH: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
local id = math.max(now, last + 1, tonumber(ARGV[2]) + 1)
local text = string.format('%.0f', id)
redis.call('SET', KEYS[1], text)
redis.call('PUBLISH', ARGV[1], text .. '\n' .. ARGV[3])
return text
"#;

/// [`FanOut`] over Redis pub/sub.
pub struct RedisFanOut {
    client: Client,
    keys: Keys,
}

impl RedisFanOut {
    /// A fan-out publishing through `client`.
    pub fn new(client: Client, keys: Keys) -> Self {
        RedisFanOut { client, keys }
    }
}

#[async_trait]
impl FanOut for RedisFanOut {
    async fn publish(&self, event: &OutgoingEvent) -> Result<u64, FanOutError> {
        let body = format!(
            "{}\n{}\n{}\n{}",
            event.region.code(),
            event.kind.name(),
            event.origin,
            event.payload
        );
        let args = vec![self.keys.events_channel(), event.after_id.to_string(), body];
        let id: String = self
            .client
            .eval(PUBLISH, vec![self.keys.event_id()], args)
            .await
            .map_err(|e| FanOutError::Unavailable(e.to_string()))?;
        id.parse()
            .map_err(|_| FanOutError::Unavailable(format!("bad id from redis: {id}")))
    }
}

/// Parses a message published by [`PUBLISH`].
fn parse(message: &str) -> Option<IncomingEvent> {
    let mut parts = message.splitn(5, '\n');
    let id = parts.next()?.parse().ok()?;
    let region = Region::parse(parts.next()?).ok()?;
    let kind = match parts.next()? {
        "price" => EventKind::Price,
        "forecast" => EventKind::Forecast,
        _ => return None,
    };
    let origin = parts.next()?.to_string();
    let payload = parts.next()?.to_string();
    Some(IncomingEvent {
        id,
        region,
        kind,
        origin,
        payload,
    })
}

/// The receiving side of the Redis fan-out: one subscriber connection (fred re-subscribes it
/// after reconnects) feeding every event of the deployment into the subscription's channel.
pub struct RedisEventFeed {
    subscriber: SubscriberClient,
    keys: Keys,
}

impl RedisEventFeed {
    /// A feed over `subscriber` for the channel under `keys`.
    pub fn new(subscriber: SubscriberClient, keys: Keys) -> Self {
        RedisEventFeed { subscriber, keys }
    }
}

/// Aborts the pump task when the subscription is dropped.
struct AbortOnDrop(Vec<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

#[async_trait]
impl EventFeed for RedisEventFeed {
    async fn subscribe(&self) -> Result<EventSubscription, FanOutError> {
        let resubscriber = self.subscriber.manage_subscriptions();
        let mut errors = self.subscriber.error_rx();
        let mut reconnects = self.subscriber.reconnect_rx();
        let mut messages = self.subscriber.message_rx();
        if let Err(error) = self.subscriber.subscribe(self.keys.events_channel()).await {
            // Redis is down: fred subscribes when it reconnects; until then, local delivery.
            tracing::warn!(%error, "Could not subscribe to the event channel yet; will retry on reconnect.");
        }
        let (tx, events) = tokio::sync::mpsc::channel(1024);
        let pump = tokio::spawn(async move {
            loop {
                tokio::select! {
                    received = messages.recv() => match received {
                        Ok(message) => {
                            let Some(text) = message.value.as_str() else { continue };
                            match parse(&text) {
                                Some(event) => {
                                    if tx.send(event).await.is_err() {
                                        return;
                                    }
                                }
                                None => tracing::warn!(channel = %message.channel, "Ignored a malformed fan-out message."),
                            }
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                            tracing::error!(missed = n, "Fan-out subscriber fell behind; events were missed.");
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    },
                    Ok(error) = errors.recv() => tracing::warn!(error = %error.0, "Redis connection error; local delivery continues."),
                    Ok(server) = reconnects.recv() => tracing::info!(%server, "Reconnected to Redis."),
                }
            }
        });
        Ok(EventSubscription {
            events,
            guard: Box::new(AbortOnDrop(vec![pump, resubscriber])),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_garbage_is_refused() {
        let event = parse("1700000000000001\ngermany\nprice\nnode-a\n{\"x\":1}").unwrap();
        assert_eq!(event.id, 1_700_000_000_000_001);
        assert_eq!(event.region, Region::Germany);
        assert_eq!(event.origin, "node-a");
        assert_eq!(event.payload, "{\"x\":1}");
        for bad in [
            "",
            "x\ngermany\nprice\na\n{}",
            "1\nmars\nprice\na\n{}",
            "1\nuk\nsnow\na\n{}",
            "1\nuk\nprice",
        ] {
            assert!(parse(bad).is_none(), "{bad:?}");
        }
    }
}
