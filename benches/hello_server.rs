//! The ceiling of the HTTP edge: a minimal axum server answering `hello` on the same runtime
//! shape as Wattline (multi-threaded tokio, TCP_NODELAY), so `benches/load.sh` can measure its
//! CPU per request beside Wattline's and record the ratio. Not a criterion bench: it serves
//! until killed. `HELLO_BIND` (default 127.0.0.1:18081) sets the address.

use axum::Router;
use axum::routing::get;

fn main() {
    let bind = std::env::var("HELLO_BIND").unwrap_or_else(|_| "127.0.0.1:18081".into());
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async move {
            let app = Router::new().route("/", get(|| async { "hello" }));
            let listener = tokio::net::TcpListener::bind(&bind).await.expect("bind");
            eprintln!("hello server on {bind}");
            axum::serve(listener, app).await.expect("serve");
        });
}
