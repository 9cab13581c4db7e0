//! The storage backends a bench runs against: a fresh SQLite file, and PostgreSQL in a schema of
//! its own (emptied at the start of each run) when `TEST_DATABASE_URL` is set.

use std::sync::Arc;
use std::time::Duration;

use wattline::storage::{Storage, StorageOptions};

/// `(backend name, storage, the SQLite file's directory to keep alive)`, SQLite first.
pub fn stores(
    runtime: &tokio::runtime::Runtime,
    schema: &str,
) -> Vec<(&'static str, Arc<Storage>, Option<tempfile::TempDir>)> {
    let options = StorageOptions {
        max_connections: 4,
        acquire_timeout: Duration::from_secs(10),
    };
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/{schema}.sqlite3", dir.path().display());
    let sqlite = Arc::new(
        runtime
            .block_on(Storage::open_sqlite(&url, &options))
            .unwrap(),
    );
    let mut out = vec![("sqlite", sqlite, Some(dir))];
    if let Ok(url) = std::env::var("TEST_DATABASE_URL") {
        let stale = runtime
            .block_on(Storage::open_postgres(&url, &options, Some(schema)))
            .unwrap();
        runtime.block_on(stale.drop_schema(schema)).unwrap();
        runtime.block_on(stale.close());
        let pg = runtime
            .block_on(Storage::open_postgres(&url, &options, Some(schema)))
            .unwrap();
        out.push(("postgres", Arc::new(pg), None));
    }
    out
}
