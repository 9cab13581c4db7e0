//! One module per resource; each exposes `router()`.

pub mod admin;
pub mod alerts;
pub mod analytics;
pub mod api_keys;
pub mod auth;
pub mod beta;
pub mod billing;
pub mod catalogue_admin;
pub mod compliance;
pub mod forecast;
pub mod health;
pub mod live;
pub mod magic_link;
pub mod meta;
pub mod oauth;
pub mod optimal_times;
pub mod preferences;
pub mod prices;
pub mod recommendations;
pub mod refresh;
pub mod schedule;
pub mod stream;
pub mod suppliers;
