//! The IRC baseline: the `load` phases against an IRC server (InspIRCd, ngIRCd) instead of
//! the chat server, on the same work, with the same counters, histogram, CPU watch and result
//! lines (`bench/chat.d/irc` starts the servers and compares).
//!
//! - `irc`: connects `--sessions` clients (NICK/USER, counted at `001`), then DMs between
//!   random pairs with `--window` unsettled per sender, once plain and once with receipts
//!   (`receipts=0|1`); DMs at `--rate` per second with receipts, once with `TCP_NODELAY` only
//!   and once with `TCP_QUICKACK` too (`quickack=0|1`); and a room (`#bench`) of `--members`
//!   with `--senders` posting, plain and with receipts. See `conn` for what settles a message.
//! - `irc-memory`: the server's VmRSS before and after `--sessions` idle clients registered.

mod conn;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::load::{drain, measure, pace_random, trouble, JOIN_LIMIT};
use crate::procfs::status_kib;
use crate::shared::{Shared, DM, ROOM};
use crate::Args;
use conn::Irc;

/// The `irc` subcommand.
pub(crate) async fn load(args: &Args) -> Result<(), String> {
    let n = args.sessions.max(2);
    let irc = Irc::new(Shared::new("u", n, args.size), "u");
    let (tasks, took) = match connect_all(args, &irc, n).await {
        Ok(joined) => joined,
        Err((tasks, why)) => {
            close_all(&irc, tasks).await;
            return Err(format!("connecting {n} IRC clients failed: {why}"));
        }
    };
    let took = took.as_secs_f64();
    println!(
        "result phase=connect sessions={n} secs={took:.2} per_s={:.0}",
        n as f64 / took.max(1e-9)
    );
    let outcome = phases(args, &irc).await;
    close_all(&irc, tasks).await;
    outcome
}

async fn phases(args: &Args, irc: &Arc<Irc>) -> Result<(), String> {
    let (shared, n) = (&irc.shared, irc.slots.len());
    for receipts in [false, true] {
        irc.receipts.store(receipts, Relaxed);
        for &window in &args.windows {
            shared.window.store(window.max(1), Relaxed);
            shared.mode.store(DM, Relaxed);
            irc.kick(0..n);
            let s = measure(args, shared, &shared.dm_received).await;
            let left = drain(shared).await;
            println!(
                "result phase=dm_max sessions={n} window={window} size={} receipts={} {} \
                 unsettled={left} {}",
                args.size,
                u8::from(receipts),
                s.fields("received"),
                trouble(shared),
            );
        }
    }

    // Fixed rate, with receipts (dgram's DMs always have their `Delivered`).
    irc.receipts.store(true, Relaxed);
    for quickack in [false, true] {
        irc.quickack.store(quickack, Relaxed);
        let stop = CancellationToken::new();
        let pacer = tokio::spawn(pace(
            Arc::clone(irc),
            args.rate,
            args.warmup + args.duration + Duration::from_secs(1),
            stop.clone(),
        ));
        let s = measure(args, shared, &shared.dm_received).await;
        stop.cancel();
        let _ = pacer.await;
        let left = drain(shared).await;
        println!(
            "result phase=dm_latency sessions={n} rate={} size={} receipts=1 quickack={} {} \
             skipped=0 unsettled={left} {}",
            args.rate,
            args.size,
            u8::from(quickack),
            s.fields("received"),
            trouble(shared),
        );
    }
    irc.quickack.store(false, Relaxed);

    let members = args.members.clamp(2, n);
    let senders = args.senders.clamp(1, members);
    join_room(irc, members).await?;
    irc.members.store(members, Relaxed);
    shared.window.store(args.fanout_window.max(1), Relaxed);
    shared.room_senders.store(senders, Relaxed);
    for receipts in [false, true] {
        irc.receipts.store(receipts, Relaxed);
        shared.mode.store(ROOM, Relaxed);
        irc.kick(0..senders);
        let s = measure(args, shared, &shared.room_received).await;
        let left = drain(shared).await;
        println!(
            "result phase=fanout members={members} senders={senders} window={} size={} \
             receipts={} {} posts_per_s={:.0} unsettled={left} {}",
            args.fanout_window,
            args.size,
            u8::from(receipts),
            s.fields("deliveries"),
            s.per_s() / (members - 1) as f64,
            trouble(shared),
        );
    }
    Ok(())
}

/// The first `members` clients join `#bench`; waits (bounded) for their end of NAMES.
async fn join_room(irc: &Arc<Irc>, members: usize) -> Result<(), String> {
    let shared = &irc.shared;
    let before = shared.joined.load(Relaxed);
    for slot in &irc.slots[..members] {
        slot.join.store(true, Relaxed);
    }
    irc.kick(0..members);
    let deadline = Instant::now() + Duration::from_secs(30);
    while shared.joined.load(Relaxed) < before + members {
        if Instant::now() > deadline {
            return Err(format!(
                "only {} of {members} members joined {} in 30 s; last error: {}",
                shared.joined.load(Relaxed) - before,
                conn::CHANNEL,
                shared.last_error()
            ));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// Hands out DMs at `rate` per second to random clients, for at most `limit`, on the same
/// clock as the dgram load's pacer.
async fn pace(irc: Arc<Irc>, rate: u64, limit: Duration, stop: CancellationToken) {
    pace_random(rate, limit, stop, irc.slots.len(), |i| {
        let slot = &irc.slots[i];
        slot.credits.fetch_add(1, Relaxed);
        slot.notify.notify_one();
    })
    .await;
}

type Tasks = Vec<JoinHandle<()>>;

/// Starts `count` clients with at most `--concurrency` registrations under way at once, until
/// all are registered, one is refused or fails, or the join limit passes.
async fn connect_all(
    args: &Args,
    irc: &Arc<Irc>,
    count: usize,
) -> Result<(Tasks, Duration), (Tasks, String)> {
    let shared = &irc.shared;
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(count);
    loop {
        let welcomed = shared.welcomed.load(Relaxed);
        if welcomed >= count {
            return Ok((tasks, start.elapsed()));
        }
        if shared.refused.load(Relaxed) > 0 || shared.sessions_closed.load(Relaxed) > 0 {
            let why = format!(
                "{} registered; last error: {}",
                welcomed,
                shared.last_error()
            );
            return Err((tasks, why));
        }
        if start.elapsed() > JOIN_LIMIT {
            let why = format!("only {welcomed} of {count} registered within {JOIN_LIMIT:?}");
            return Err((tasks, why));
        }
        while tasks.len() < count && tasks.len() < welcomed + args.concurrency.max(1) {
            let (irc, idx, server) = (Arc::clone(irc), tasks.len(), args.server);
            tasks.push(tokio::spawn(async move {
                if let Err(err) = conn::run(Arc::clone(&irc), idx, server).await {
                    // A client that cannot go on is a closed session to the result lines.
                    irc.shared.sessions_closed.fetch_add(1, Relaxed);
                    if let Ok(mut last) = irc.shared.last_error.lock() {
                        *last = Some(format!("client {idx}: {err}"));
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Tells every client to quit and waits (bounded) for their tasks.
async fn close_all(irc: &Irc, tasks: Tasks) {
    irc.shutdown.cancel();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    for task in tasks {
        if tokio::time::timeout_at(deadline, task).await.is_err() {
            return;
        }
    }
}

/// The `irc-memory` subcommand: the server's VmRSS before and after `sessions` idle clients
/// registered.
pub(crate) async fn memory(args: &Args) -> Result<(), String> {
    let pid = args
        .server_pid
        .ok_or("irc-memory needs --server-pid (the IRC server's pid)")?;
    let rss = |field| status_kib(pid, field).ok_or(format!("cannot read /proc/{pid}/status"));
    let before = rss("VmRSS")?;
    let count = args.sessions.max(1);
    let irc = Irc::new(Shared::new("m", count, args.size), "m");
    let started = Instant::now();
    let joined = connect_all(args, &irc, count).await;
    let took = started.elapsed().as_secs_f64();
    let welcomed = irc.shared.welcomed.load(Relaxed);
    let (tasks, note) = match joined {
        Ok((tasks, _)) => (tasks, String::new()),
        Err((tasks, why)) => (tasks, format!(" note=\"stopped at {welcomed}: {why}\"")),
    };
    tokio::time::sleep(args.settle).await;
    let (after, peak) = (rss("VmRSS")?, rss("VmHWM")?);
    let bench = status_kib(std::process::id(), "VmRSS").unwrap_or(0);
    let per = (after.saturating_sub(before) * 1024) as f64 / welcomed.max(1) as f64;
    println!(
        "result phase=memory sessions={welcomed} join_secs={took:.2} rss_before_kib={before} \
         rss_after_kib={after} hwm_kib={peak} bytes_per_session={per:.0} bench_rss_kib={bench} {}{note}",
        trouble(&irc.shared),
    );
    close_all(&irc, tasks).await;
    if welcomed == 0 {
        return Err("no IRC client registered".into());
    }
    Ok(())
}
