//! Black-box HTTP tests: each starts the real server on a random port with its own SQLite file
//! and talks to it over HTTP.

mod alerts;
mod auth;
mod backfill;
mod bad_input;
mod beta;
mod billing;
mod cli;
mod cluster;
mod compat;
mod compliance;
mod connections;
mod credentials;
mod forecast;
mod health;
mod helpers;
#[path = "../common/leftovers.rs"]
mod leftovers;
mod lifecycle;
mod live;
mod magic_link;
mod oauth;
mod openapi;
mod outbox;
mod postgres;
mod prices;
mod rate_limit;
mod schedule;
mod sources;
mod stream;
#[path = "../common/stripe.rs"]
mod stripe;
mod suppliers;
