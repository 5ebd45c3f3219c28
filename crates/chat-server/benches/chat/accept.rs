//! The `accept` subcommand: how fast a chat server accepts messages, and how long a sender
//! waits for `Accepted`. `bench/chat` runs it against a server with an on-disk store (which
//! answers `Accepted` only once the message is committed) and one with `--data-dir :memory:`,
//! with the same load, to compare the two.
//!
//! `--sessions` clients join (`{prefix}0`, `{prefix}1`, ...), then each keeps `--window` DMs to
//! random peers not yet answered `Accepted` (an answer sends the next). Counted: `Accepted`
//! answers per second; timed: from the sender's `Client::send` to the `Accepted` with the same
//! request id (one clock, one process). Deliveries and receipts go on as usual beside it, so a
//! durable server also commits the recipients' acknowledgements.

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use crate::client;
use crate::load::{drain, quantiles, trouble, JOIN_LIMIT};
use crate::procfs::Watch;
use crate::shared::{Shared, ACCEPT};
use crate::Args;

pub(crate) async fn accept(args: &Args) -> Result<(), String> {
    let n = args.sessions.max(2);
    let window = args.windows.first().copied().unwrap_or(4).max(1);
    let shared = Shared::new(&args.prefix, n, args.size);
    let joined =
        client::connect_all(|_| args.server, &shared, n, args.concurrency, JOIN_LIMIT).await;
    let handles = joined.handles;
    if let Some(why) = joined.short {
        client::close_all(handles, Duration::from_secs(5)).await;
        return Err(format!("connecting {n} sessions failed: {why}"));
    }

    shared.window.store(window, Relaxed);
    shared.mode.store(ACCEPT, Relaxed);
    for h in &handles {
        h.kick().await;
    }
    tokio::time::sleep(args.warmup).await;
    shared.start_recording();
    let cpu = Watch::start(args.server_pid, args.server);
    let t0 = Instant::now();
    let (a0, d0) = (
        shared.accepted.load(Relaxed),
        shared.completed.load(Relaxed),
    );
    tokio::time::sleep(args.duration).await;
    let (a1, d1) = (
        shared.accepted.load(Relaxed),
        shared.completed.load(Relaxed),
    );
    let secs = t0.elapsed().as_secs_f64().max(1e-9);
    let cpu = cpu.report();
    let latency = shared.stop_recording();
    let left = drain(&shared).await;
    let accepted = a1.saturating_sub(a0);
    println!(
        "result phase=accept store={} sessions={n} window={window} size={} join_secs={:.2} \
         secs={secs:.2} accepted={accepted} per_s={:.0} settled_per_s={:.0} {} {cpu} \
         unsettled={left} {}",
        args.label,
        args.size,
        joined.took.as_secs_f64(),
        accepted as f64 / secs,
        d1.saturating_sub(d0) as f64 / secs,
        quantiles(latency.as_ref()),
        trouble(&shared),
    );
    client::close_all(handles, Duration::from_secs(10)).await;
    if accepted == 0 {
        return Err(format!(
            "no message was accepted; last error: {}",
            shared.last_error()
        ));
    }
    Ok(())
}
