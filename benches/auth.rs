//! The cost of accounts' cryptography: one argon2id hash (sign-up) and one verification
//! (sign-in, on a blocking thread), and issuing and verifying an access token (every protected
//! request). Run: `cargo bench --bench auth`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use wattline::auth::{passwords, tokens::TokenIssuer};

fn auth(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let stored = runtime
        .block_on(passwords::hash("ValidPassword123!".into()))
        .expect("hash");
    let mut group = c.benchmark_group("password");
    group.sample_size(20);
    group.bench_function("argon2id hash", |b| {
        b.iter(|| runtime.block_on(passwords::hash(black_box("ValidPassword123!".into()))))
    });
    group.bench_function("argon2id verify", |b| {
        b.iter(|| {
            runtime.block_on(passwords::verify(
                black_box("ValidPassword123!".into()),
                Some(stored.clone()),
            ))
        })
    });
    group.finish();
    let issuer = TokenIssuer::new(
        b"bench-signing-key-of-at-least-32-bytes",
        "wattline",
        None,
        Duration::from_secs(900),
    );
    let now: jiff::Timestamp = "2026-01-15T12:00:00Z".parse().unwrap();
    let token = issuer.issue("user-1", "ada@example.com", &["read"], Some("family"), now);
    c.bench_function("access token issue", |b| {
        b.iter(|| issuer.issue("user-1", "ada@example.com", &["read"], Some("family"), now))
    });
    c.bench_function("access token verify", |b| {
        b.iter(|| issuer.verify(black_box(&token), now))
    });
}

criterion_group!(benches, auth);
criterion_main!(benches);
