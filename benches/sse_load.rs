//! SSE load generator (not a criterion bench): opens N subscribers to a running Wattline and
//! measures the server's resident memory per subscriber, its CPU time per delivered event and
//! the delivery latency (from the `emitted_at` stamp the producing node puts in every event to
//! the moment this client reads it). Driven by `benches/sse_load.sh`, which starts the server.
//!
//! cargo bench --bench sse_load -- --addr 127.0.0.1:18090 --server-pid PID --subscribers 1000 --mode idle

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use jiff::Timestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Mutex, Semaphore};

#[derive(Debug, Parser)]
struct Args {
    /// Server address.
    #[arg(long)]
    addr: SocketAddr,
    /// Server process id (its RSS and CPU time are read from /proc).
    #[arg(long)]
    server_pid: u32,
    #[arg(long, default_value_t = 1000)]
    subscribers: usize,
    #[arg(long, default_value = "japan")]
    region: String,
    /// `idle` (memory, heartbeats only) or `fanout` (events flowing).
    #[arg(long, default_value = "idle")]
    mode: String,
    /// Length of the measurement window.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    #[arg(long, default_value_t = 256)]
    connect_concurrency: usize,
    /// Ignored (cargo bench passes it).
    #[arg(long, hide = true)]
    bench: bool,
}

/// (resident KiB, user ticks, system ticks) of a process.
fn proc_stat(pid: u32) -> (u64, u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("server is running");
    let rss_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("server is running");
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..]
        .split_whitespace()
        .collect();
    (
        rss_kb,
        fields[11].parse().unwrap(),
        fields[12].parse().unwrap(),
    )
}

fn ticks_per_second() -> f64 {
    // sysconf(_SC_CLK_TCK) is 100 on every Linux this runs on.
    100.0
}

struct Shared {
    connected: AtomicU64,
    events: AtomicU64,
    latencies_us: Mutex<Vec<u64>>,
    failed: AtomicU64,
}

/// One subscriber: connects while holding a permit of `limiter` (bounding concurrent connection
/// set-ups), gives it back once its snapshot arrived, then reads until `deadline`.
async fn subscriber(
    args: Arc<Args>,
    shared: Arc<Shared>,
    limiter: Arc<Semaphore>,
    deadline: Instant,
) {
    let mut permit = Some(limiter.acquire_owned().await.expect("semaphore"));
    let Ok(mut stream) = TcpStream::connect(args.addr).await else {
        shared.failed.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let request = format!(
        "GET /api/v1/prices/stream?region={} HTTP/1.1\r\nHost: bench\r\n\r\n",
        args.region
    );
    if stream.write_all(request.as_bytes()).await.is_err() {
        shared.failed.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let mut buffer = vec![0u8; 16 * 1024];
    let mut pending = Vec::new();
    let mut snapshot_seen = false;
    let mut latencies = Vec::new();
    loop {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let read = match tokio::time::timeout(deadline - now, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                if !snapshot_seen {
                    shared.failed.fetch_add(1, Ordering::Relaxed);
                }
                break;
            }
            Ok(Ok(n)) => n,
            Err(_) => break,
        };
        let received = Timestamp::now();
        pending.extend_from_slice(&buffer[..read]);
        // Process whole frames only; keep the tail for the next read.
        let Some(end) = pending.windows(2).rposition(|w| w == b"\n\n") else {
            continue;
        };
        let frames = String::from_utf8_lossy(&pending[..end + 2]).into_owned();
        pending.drain(..end + 2);
        if !snapshot_seen && frames.contains("event: snapshot") {
            snapshot_seen = true;
            shared.connected.fetch_add(1, Ordering::Relaxed);
            permit = None;
        }
        for frame in frames.split("\n\n").filter(|f| f.contains("event: price")) {
            shared.events.fetch_add(1, Ordering::Relaxed);
            if let Some(at) = frame.find("\"emitted_at\":\"") {
                let rest = &frame[at + 14..];
                if let Some(emitted) = rest
                    .split('"')
                    .next()
                    .and_then(|t| t.parse::<Timestamp>().ok())
                {
                    latencies.push(received.duration_since(emitted).as_micros().max(0) as u64);
                }
            }
        }
        if pending.capacity() > 64 * 1024 {
            pending.shrink_to(16 * 1024);
        }
    }
    drop(permit);
    shared.latencies_us.lock().await.extend(latencies);
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index] as f64 / 1000.0
}

#[tokio::main]
async fn main() {
    let args = Arc::new(Args::parse());
    let shared = Arc::new(Shared {
        connected: AtomicU64::new(0),
        events: AtomicU64::new(0),
        latencies_us: Mutex::new(Vec::new()),
        failed: AtomicU64::new(0),
    });
    let (rss_before, _, _) = proc_stat(args.server_pid);
    let connect_window = Duration::from_secs(10 + args.subscribers as u64 / 500);
    let deadline = Instant::now() + connect_window + Duration::from_secs(5 + args.seconds);
    let limiter = Arc::new(Semaphore::new(args.connect_concurrency));
    let started = Instant::now();
    let tasks: Vec<_> = (0..args.subscribers)
        .map(|_| {
            tokio::spawn(subscriber(
                args.clone(),
                shared.clone(),
                limiter.clone(),
                deadline,
            ))
        })
        .collect();
    while (shared.connected.load(Ordering::Relaxed) + shared.failed.load(Ordering::Relaxed))
        < args.subscribers as u64
        && started.elapsed() < connect_window
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let connect_time = started.elapsed();
    // Let the server settle (snapshot buffers freed) before reading its memory.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let connected = shared.connected.load(Ordering::Relaxed);
    let (rss_after, user_start, system_start) = proc_stat(args.server_pid);
    let events_start = shared.events.load(Ordering::Relaxed);
    shared.latencies_us.lock().await.clear();
    let window = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let elapsed = window.elapsed().as_secs_f64();
    let (rss_end, user_end, system_end) = proc_stat(args.server_pid);
    let events = shared.events.load(Ordering::Relaxed) - events_start;
    for task in tasks {
        let _ = task.await;
    }
    let mut latencies = shared.latencies_us.lock().await.clone();
    latencies.sort_unstable();
    let user_seconds = (user_end - user_start) as f64 / ticks_per_second();
    let system_seconds = (system_end - system_start) as f64 / ticks_per_second();
    let cpu_seconds = user_seconds + system_seconds;
    let per_event = |seconds: f64| {
        if events > 0 {
            ((seconds * 1e6 / events as f64) * 100.0).round() / 100.0
        } else {
            f64::NAN
        }
    };
    let report = serde_json::json!({
        "mode": args.mode,
        "subscribers": args.subscribers,
        "connected": connected,
        "failed": shared.failed.load(Ordering::Relaxed),
        "connect_seconds": (connect_time.as_secs_f64() * 10.0).round() / 10.0,
        "rss_before_kb": rss_before,
        "rss_connected_kb": rss_after,
        "rss_end_kb": rss_end,
        "rss_per_subscriber_kb": ((rss_after as f64 - rss_before as f64) / connected.max(1) as f64 * 10.0).round() / 10.0,
        "window_seconds": (elapsed * 10.0).round() / 10.0,
        "server_cpu_seconds": cpu_seconds,
        "server_cpu_percent_of_one_core": (cpu_seconds / elapsed * 1000.0).round() / 10.0,
        "events_delivered": events,
        "events_per_second": (events as f64 / elapsed).round(),
        "server_cpu_us_per_event": per_event(cpu_seconds),
        "server_user_us_per_event": per_event(user_seconds),
        "server_kernel_us_per_event": per_event(system_seconds),
        "latency_ms_p50": percentile(&latencies, 0.50),
        "latency_ms_p99": percentile(&latencies, 0.99),
        "latency_ms_max": percentile(&latencies, 1.0),
    });
    println!("{}", serde_json::to_string(&report).expect("json"));
}
