//! The edge's key-value store, in-process and in Redis, held to the same contract: marks and
//! counters expire on their own, increments count from the first one of a window, removal
//! forgets. The Redis case runs when `TEST_REDIS_URL` is set (and must, under `CI`); each run
//! uses its own key prefix.

use std::future::Future;
use std::time::Duration;

use wattline::cache::{Keys, LocalKeyValue, RedisKeyValue, SharedKeyValue, connect};

async fn marks_expire(kv: SharedKeyValue) {
    assert!(!kv.is_marked("jti:a").await.unwrap());
    kv.mark("jti:a", Duration::from_millis(300)).await.unwrap();
    assert!(kv.is_marked("jti:a").await.unwrap());
    assert!(!kv.is_marked("jti:b").await.unwrap());
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert!(!kv.is_marked("jti:a").await.unwrap(), "the mark expired");
}

async fn counters_count_within_their_window(kv: SharedKeyValue) {
    let window = Duration::from_millis(400);
    for expected in 1..=3 {
        let count = kv.increment("fails:x@example.com", window).await.unwrap();
        assert_eq!(count.value, expected);
        assert!(count.resets_in <= window && count.resets_in > Duration::ZERO);
    }
    assert_eq!(kv.count("fails:x@example.com").await.unwrap().value, 3);
    assert_eq!(kv.count("fails:other").await.unwrap().value, 0);
    tokio::time::sleep(Duration::from_millis(550)).await;
    assert_eq!(kv.count("fails:x@example.com").await.unwrap().value, 0);
    assert_eq!(
        kv.increment("fails:x@example.com", window)
            .await
            .unwrap()
            .value,
        1,
        "a new window starts from one"
    );
    kv.remove("fails:x@example.com").await.unwrap();
    assert_eq!(kv.count("fails:x@example.com").await.unwrap().value, 0);
}

async fn concurrent_increments_are_all_counted(kv: SharedKeyValue) {
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let kv = kv.clone();
        tasks.push(tokio::spawn(async move {
            kv.increment("burst", Duration::from_secs(10))
                .await
                .unwrap()
        }));
    }
    let mut values: Vec<u64> = Vec::new();
    for task in tasks {
        values.push(task.await.unwrap().value);
    }
    values.sort_unstable();
    assert_eq!(
        values,
        (1..=50).collect::<Vec<_>>(),
        "each increment saw its own value"
    );
}

async fn local<F, Fut>(case: F)
where
    F: FnOnce(SharedKeyValue) -> Fut,
    Fut: Future<Output = ()>,
{
    case(LocalKeyValue::new()).await;
}

async fn redis<F, Fut>(case: F)
where
    F: FnOnce(SharedKeyValue) -> Fut,
    Fut: Future<Output = ()>,
{
    let Ok(url) = std::env::var("TEST_REDIS_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but TEST_REDIS_URL is not: Redis tests cannot run"
        );
        eprintln!("TEST_REDIS_URL not set; skipping the Redis case");
        return;
    };
    let client = connect(&url).await.expect("test Redis reachable");
    let keys = Keys::new(&format!("wattline_test_{}", uuid::Uuid::new_v4().simple()));
    case(RedisKeyValue::new(client, keys)).await;
}

macro_rules! contract {
    ($($case:ident),+ $(,)?) => {
        mod in_process {
            $(#[tokio::test(flavor = "multi_thread")] async fn $case() { super::local(super::$case).await })+
        }
        mod in_redis {
            $(#[tokio::test(flavor = "multi_thread")] async fn $case() { super::redis(super::$case).await })+
        }
    };
}

async fn rates_allow_a_burst_then_refuse_with_the_wait(kv: SharedKeyValue) {
    use wattline::cache::Rate;
    let rates = [
        Rate {
            limit: 5,
            period: Duration::from_secs(60),
        },
        Rate {
            limit: 100,
            period: Duration::from_secs(3600),
        },
    ];
    let mut remaining = Vec::new();
    for _ in 0..5 {
        let decision = kv.rate("client:a", &rates, None).await.unwrap();
        assert!(decision.allowed);
        assert_eq!(decision.limit, 5, "the tightest rate is reported");
        remaining.push(decision.remaining);
    }
    assert_eq!(remaining, vec![4, 3, 2, 1, 0]);
    let refused = kv.rate("client:a", &rates, None).await.unwrap();
    assert!(!refused.allowed);
    assert_eq!(refused.remaining, 0);
    // The next slot opens one interval (60 s / 5) after the first request.
    assert!(
        refused.retry_after > Duration::from_secs(10)
            && refused.retry_after <= Duration::from_secs(12),
        "{:?}",
        refused.retry_after
    );
    // Another client has its own budget.
    // The same call says whether another key is marked.
    assert!(!refused.marked);
    kv.mark("revoked:x", Duration::from_secs(60)).await.unwrap();
    let asked = kv
        .rate("client:c", &rates, Some("revoked:x"))
        .await
        .unwrap();
    assert!(asked.allowed && asked.marked);
    let clean = kv
        .rate("client:c", &rates, Some("revoked:y"))
        .await
        .unwrap();
    assert!(!clean.marked);
    let other = kv.rate("client:b", &rates, None).await.unwrap();
    assert!(other.allowed);
    assert_eq!(other.remaining, 4);
    // Large limits keep their precision (arrival times in microseconds survive storage).
    let fast = [Rate {
        limit: 1_000_000,
        period: Duration::from_secs(1_000_000),
    }];
    let mut last = 0;
    for _ in 0..3 {
        last = kv.rate("client:fast", &fast, None).await.unwrap().remaining;
    }
    // One a second at the steady rate: three calls within it leave 999 997.
    assert_eq!(last, 999_997);
}

contract!(
    rates_allow_a_burst_then_refuse_with_the_wait,
    marks_expire,
    counters_count_within_their_window,
    concurrent_increments_are_all_counted,
    values_are_taken_once_and_expire,
);

async fn values_are_taken_once_and_expire(kv: SharedKeyValue) {
    kv.put("ticket:a", "payload-a", Duration::from_secs(60))
        .await
        .unwrap();
    kv.put("ticket:b", "payload-b", Duration::from_millis(50))
        .await
        .unwrap();
    assert_eq!(
        kv.take("ticket:a").await.unwrap().as_deref(),
        Some("payload-a")
    );
    assert_eq!(
        kv.take("ticket:a").await.unwrap(),
        None,
        "a value is taken once"
    );
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(
        kv.take("ticket:b").await.unwrap(),
        None,
        "an expired value is gone"
    );
    assert_eq!(kv.take("ticket:never").await.unwrap(), None);
    // Of many concurrent takers, exactly one gets the value.
    kv.put("ticket:c", "payload-c", Duration::from_secs(60))
        .await
        .unwrap();
    let takers = (0..16).map(|_| {
        let kv = kv.clone();
        tokio::spawn(async move { kv.take("ticket:c").await.unwrap() })
    });
    let mut got = 0;
    for taker in takers {
        got += usize::from(taker.await.unwrap().is_some());
    }
    assert_eq!(got, 1);
}
