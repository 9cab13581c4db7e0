//! One module per resource; each exposes `router()`.

pub mod analytics;
pub mod health;
pub mod meta;
pub mod prices;
pub mod refresh;
