//! The `cluster` subcommand: DMs through two instances of a chat cluster against one.
//! `bench/chat` (phase `cluster`) runs it with the same load on a single durable server, on one
//! cluster instance, and on two, alternating, to price replication and the hop between
//! instances.
//!
//! `--sessions` clients join (`{prefix}0`, ...): the first half are senders, each keeping
//! `--window` DMs to random clients of the second half (the recipients) not yet reported
//! `Delivered`. Only where they join changes, by `--placement`: `one` (everyone on `--server`),
//! `split` (senders on `--server`, recipients on `--server2`: every DM crosses instances) or
//! `mixed` (both halves spread over the two, by index parity: half the DMs cross). Counted: DMs
//! received per second; timed: from the sender's `Client::send` to the recipient's event (one
//! clock, one process; the send time is in the text), as in `load`'s DM phases.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use crate::client;
use crate::load::{drain, measure, trouble, JOIN_LIMIT};
use crate::shared::{Shared, DM};
use crate::Args;

/// Where client `idx` of `n` joins.
fn server_of(placement: &str, a: SocketAddr, b: SocketAddr, n: usize, idx: usize) -> SocketAddr {
    match placement {
        "split" if idx >= n / 2 => b,
        "mixed" if idx % 2 == 1 => b,
        _ => a,
    }
}

pub(crate) async fn cluster(args: &Args) -> Result<(), String> {
    let placement = args.placement.as_str();
    if !matches!(placement, "one" | "split" | "mixed") {
        return Err(format!(
            "--placement must be one, split or mixed, not {placement:?}"
        ));
    }
    let n = args.sessions.max(2);
    let window = args.windows.first().copied().unwrap_or(4).max(1);
    let (a, b) = (args.server, args.server2.unwrap_or(args.server));
    let shared = Shared::new(&args.prefix, n, args.size);
    shared.dm_senders.store(n / 2, Relaxed);
    shared.peers_from.store(n / 2, Relaxed);
    let joined = client::connect_all(
        |idx| server_of(placement, a, b, n, idx),
        &shared,
        n,
        args.concurrency,
        JOIN_LIMIT,
    )
    .await;
    let handles = joined.handles;
    if let Some(why) = joined.short {
        client::close_all(handles, Duration::from_secs(5)).await;
        return Err(format!("connecting {n} sessions failed: {why}"));
    }

    shared.window.store(window, Relaxed);
    shared.mode.store(DM, Relaxed);
    for h in &handles[..n / 2] {
        h.kick().await;
    }
    let s = measure(args, &shared, &shared.dm_received).await;
    let left = drain(&shared).await;
    println!(
        "result phase=cluster arm={} placement={placement} sessions={n} senders={} window={window} \
         size={} join_secs={:.2} {} unsettled={left} {}",
        args.label,
        n / 2,
        args.size,
        joined.took.as_secs_f64(),
        s.fields("received"),
        trouble(&shared),
    );
    let errors = shared.errors.load(Relaxed);
    if errors > 0 {
        // The result line has the count; what the server said goes to the log (stderr).
        eprintln!(
            "cluster bench ({}): {errors} errors from the server, the last: {}",
            args.label,
            shared.last_error()
        );
    }
    client::close_all(handles, Duration::from_secs(10)).await;
    if s.per_s() == 0.0 {
        return Err(format!(
            "no DM was received; last error: {}",
            shared.last_error()
        ));
    }
    Ok(())
}
