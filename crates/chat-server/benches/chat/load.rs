//! The chat phases: `load` (connect N sessions, DM throughput with a window per sender, DM
//! latency at a fixed offered rate, room fan-out) and `memory` (the server's resident memory
//! before and after N idle sessions joined). Each prints one `result phase=...` line.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dgram_net::session::Command;
use hdrhistogram::Histogram;
use tokio_util::sync::CancellationToken;

use crate::client::{self, BenchClient, Handle};
use crate::procfs::{status_kib, Watch};
use crate::shared::{Shared, DM, IDLE, ROOM};
use crate::Args;

/// How long joining may take in all, and draining after a phase.
pub(crate) const JOIN_LIMIT: Duration = Duration::from_secs(180);
const DRAIN_LIMIT: Duration = Duration::from_secs(15);

/// `p50_us=.. p99_us=.. p999_us=.. max_us=..` of a latency histogram (µs).
pub(crate) fn quantiles(h: Option<&Histogram<u64>>) -> String {
    match h.filter(|h| !h.is_empty()) {
        Some(h) => format!(
            "p50_us={} p99_us={} p999_us={} max_us={}",
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999),
            h.max()
        ),
        None => "p50_us=n/a p99_us=n/a p999_us=n/a max_us=n/a".to_owned(),
    }
}

/// What one measured stretch saw.
pub(crate) struct Sample {
    count: u64,
    secs: f64,
    cpu: String,
    latency: Option<Histogram<u64>>,
}

impl Sample {
    pub(crate) fn per_s(&self) -> f64 {
        self.count as f64 / self.secs.max(1e-9)
    }

    /// `secs=.. COUNTED=.. per_s=..`, the latency quantiles and the CPU figures.
    pub(crate) fn fields(&self, counted: &str) -> String {
        format!(
            "secs={:.2} {counted}={} per_s={:.0} {} {}",
            self.secs,
            self.count,
            self.per_s(),
            quantiles(self.latency.as_ref()),
            self.cpu
        )
    }
}

/// Waits out the warm-up, then counts what `counter` gains over the measured duration.
pub(crate) async fn measure(args: &Args, shared: &Shared, counter: &AtomicU64) -> Sample {
    tokio::time::sleep(args.warmup).await;
    shared.start_recording();
    let cpu = Watch::start(args.server_pid, args.server);
    let (c0, t0) = (counter.load(Relaxed), Instant::now());
    tokio::time::sleep(args.duration).await;
    let (c1, secs) = (counter.load(Relaxed), t0.elapsed().as_secs_f64());
    let cpu = cpu.report();
    let latency = shared.stop_recording();
    Sample {
        count: c1.saturating_sub(c0),
        secs,
        cpu,
        latency,
    }
}

/// Stops sending and waits (bounded) until every message sent has been settled; returns how
/// many were still unsettled.
pub(crate) async fn drain(shared: &Shared) -> u64 {
    shared.mode.store(IDLE, Relaxed);
    let deadline = Instant::now() + DRAIN_LIMIT;
    loop {
        let left = shared
            .sent
            .load(Relaxed)
            .saturating_sub(shared.completed.load(Relaxed));
        if left == 0 || Instant::now() > deadline {
            return left;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Error and failure counters since the start, for the result lines.
pub(crate) fn trouble(shared: &Shared) -> String {
    format!(
        "errors={} not_delivered={} session_failures={} send_refused={} sessions_closed={}",
        shared.errors.load(Relaxed),
        shared.not_delivered.load(Relaxed),
        shared.session_failures.load(Relaxed),
        shared.send_refused.load(Relaxed),
        shared.sessions_closed.load(Relaxed),
    )
}

/// The `load` subcommand.
pub(crate) async fn load(args: &Args) -> Result<(), String> {
    let n = args.sessions.max(2);
    let shared = Shared::new("u", n, args.size);
    let joined =
        client::connect_all(|_| args.server, &shared, n, args.concurrency, JOIN_LIMIT).await;
    let handles = joined.handles;
    if let Some(why) = joined.short {
        client::close_all(handles, Duration::from_secs(5)).await;
        return Err(format!("connecting {n} sessions failed: {why}"));
    }
    let took = joined.took.as_secs_f64();
    println!(
        "result phase=connect sessions={n} secs={took:.2} per_s={:.0}",
        n as f64 / took.max(1e-9)
    );

    let outcome = phases(args, &shared, &handles).await;
    client::close_all(handles, Duration::from_secs(10)).await;
    outcome
}

async fn phases(args: &Args, shared: &Arc<Shared>, handles: &[Handle]) -> Result<(), String> {
    let n = handles.len();

    // 1a. DMs between random pairs, every sender keeping `window` unreceipted.
    for &window in &args.windows {
        shared.window.store(window.max(1), Relaxed);
        shared.mode.store(DM, Relaxed);
        for h in handles {
            h.kick().await;
        }
        let s = measure(args, shared, &shared.dm_received).await;
        let left = drain(shared).await;
        println!(
            "result phase=dm_max sessions={n} window={window} size={} {} unsettled={left} {}",
            args.size,
            s.fields("received"),
            trouble(shared),
        );
    }

    // 1b. DMs at a fixed offered rate, from random senders to random peers.
    let stop = CancellationToken::new();
    let pacer = tokio::spawn(pace(
        handles.iter().map(|h| h.commands.clone()).collect(),
        args.rate,
        args.warmup + args.duration + Duration::from_secs(1),
        stop.clone(),
    ));
    let s = measure(args, shared, &shared.dm_received).await;
    stop.cancel();
    let skipped = pacer.await.unwrap_or(0);
    let left = drain(shared).await;
    println!(
        "result phase=dm_latency sessions={n} rate={} size={} {} skipped={skipped} \
         unsettled={left} {}",
        args.rate,
        args.size,
        s.fields("received"),
        trouble(shared),
    );

    // 2. Room fan-out: `members` join one room, `senders` of them post with a window each.
    let members = args.members.clamp(2, n);
    let senders = args.senders.clamp(1, members);
    let before = shared.joined.load(Relaxed);
    for h in &handles[..members] {
        let join: Command<BenchClient> = Box::new(|ep: &mut BenchClient, now| ep.join_room(now));
        h.run(join).await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while shared.joined.load(Relaxed) < before + members {
        if Instant::now() > deadline {
            return Err(format!(
                "only {} of {members} members joined the room in 30 s; last error: {}",
                shared.joined.load(Relaxed) - before,
                shared.last_error()
            ));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    shared.window.store(args.fanout_window, Relaxed);
    shared.room_senders.store(senders, Relaxed);
    shared.mode.store(ROOM, Relaxed);
    for h in &handles[..senders] {
        h.kick().await;
    }
    let s = measure(args, shared, &shared.room_received).await;
    let left = drain(shared).await;
    println!(
        "result phase=fanout members={members} senders={senders} window={} size={} {} \
         posts_per_s={:.0} unsettled={left} {}",
        args.fanout_window,
        args.size,
        s.fields("deliveries"),
        s.per_s() / (members - 1) as f64,
        trouble(shared),
    );
    Ok(())
}

/// Issues DMs at `rate` per second from random clients, for at most `limit`; returns how many
/// were skipped because a client's command queue was full.
async fn pace(
    senders: Vec<tokio::sync::mpsc::Sender<Command<BenchClient>>>,
    rate: u64,
    limit: Duration,
    stop: CancellationToken,
) -> u64 {
    let mut skipped = 0u64;
    pace_random(rate, limit, stop, senders.len(), |i| {
        let send: Command<BenchClient> = Box::new(|ep: &mut BenchClient, now| ep.post_random(now));
        if senders[i].try_send(send).is_err() {
            skipped += 1;
        }
    })
    .await;
    skipped
}

/// Calls `issue` with a random index below `n`, `rate` times a second (caught up each
/// millisecond), until `limit` passes or `stop`: the fixed-rate phase's clock, shared by the
/// dgram and IRC loads so that both see the same schedule.
pub(crate) async fn pace_random(
    rate: u64,
    limit: Duration,
    stop: CancellationToken,
    n: usize,
    mut issue: impl FnMut(usize),
) {
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    let start = Instant::now();
    let (mut issued, mut rng) = (0u64, 0x9E37_79B9_7F4A_7C15u64);
    while !stop.is_cancelled() && start.elapsed() < limit && n > 0 {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
        while issued < due {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            issue((rng % n as u64) as usize);
            issued += 1;
        }
    }
}

/// The `memory` subcommand: the server's VmRSS before and after `sessions` clients joined.
pub(crate) async fn memory(args: &Args) -> Result<(), String> {
    let pid = args
        .server_pid
        .ok_or("memory needs --server-pid (the chat server's pid)")?;
    let rss = |field| status_kib(pid, field).ok_or(format!("cannot read /proc/{pid}/status"));
    let before = rss("VmRSS")?;
    let shared = Shared::new("m", args.sessions.max(1), args.size);
    let joined = client::connect_all(
        |_| args.server,
        &shared,
        args.sessions.max(1),
        args.concurrency,
        JOIN_LIMIT,
    )
    .await;
    let count = shared.welcomed.load(Relaxed);
    // Let the server finish: welcomes acknowledged, nothing left to resend.
    tokio::time::sleep(args.settle).await;
    let (after, peak) = (rss("VmRSS")?, rss("VmHWM")?);
    let bench = status_kib(std::process::id(), "VmRSS").unwrap_or(0);
    let per = (after.saturating_sub(before) * 1024) as f64 / count.max(1) as f64;
    let note = match &joined.short {
        Some(why) => format!(" note=\"stopped at {count}: {why}\""),
        None => String::new(),
    };
    println!(
        "result phase=memory sessions={count} join_secs={:.2} rss_before_kib={before} \
         rss_after_kib={after} hwm_kib={peak} bytes_per_session={per:.0} bench_rss_kib={bench} {}{note}",
        joined.took.as_secs_f64(),
        trouble(&shared),
    );
    client::close_all(joined.handles, Duration::from_secs(10)).await;
    if count == 0 {
        return Err("no session joined".into());
    }
    Ok(())
}
