//! The `echo` subcommand: raw request/response datagrams against the echo-server in the chat
//! load's shape (as many sockets as chat sessions, each one task keeping `window` datagrams in
//! flight), on this bench's runtime. It shows what the same clients and runtime reach when the
//! server only turns datagrams around: no sessions, no acks, no chat.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use crate::procfs::Watch;
use crate::Args;

/// A socket that has heard nothing this long assumes its window was lost and sends it again.
const STALL: Duration = Duration::from_millis(200);

async fn one(
    socket: UdpSocket,
    window: usize,
    size: usize,
    replies: Arc<AtomicU64>,
    stop: CancellationToken,
) {
    let payload = vec![b'x'; size.max(1)];
    let mut buf = [0u8; 2048];
    let mut in_flight = 0usize;
    while !stop.is_cancelled() {
        while in_flight < window {
            if socket.send(&payload).await.is_err() {
                break;
            }
            in_flight += 1;
        }
        tokio::select! {
            () = stop.cancelled() => break,
            got = tokio::time::timeout(STALL, socket.recv(&mut buf)) => match got {
                Ok(Ok(_)) => {
                    replies.fetch_add(1, Relaxed);
                    in_flight = in_flight.saturating_sub(1);
                }
                Ok(Err(_)) => in_flight = in_flight.saturating_sub(1),
                Err(_) => in_flight = 0,
            },
        }
    }
}

pub(crate) async fn echo(args: &Args) -> Result<(), String> {
    let replies = Arc::new(AtomicU64::new(0));
    let stop = CancellationToken::new();
    let mut tasks = Vec::with_capacity(args.sessions);
    for i in 0..args.sessions.max(1) {
        let socket = UdpSocket::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("socket {i}: {e}"))?;
        socket
            .connect(args.server)
            .await
            .map_err(|e| format!("socket {i}: {e}"))?;
        tasks.push(tokio::spawn(one(
            socket,
            args.windows.first().copied().unwrap_or(8),
            args.size,
            Arc::clone(&replies),
            stop.clone(),
        )));
    }
    tokio::time::sleep(args.warmup).await;
    let cpu = Watch::start(args.server_pid, args.server);
    let (r0, t0) = (replies.load(Relaxed), Instant::now());
    tokio::time::sleep(args.duration).await;
    let (r1, secs) = (replies.load(Relaxed), t0.elapsed().as_secs_f64());
    let cpu = cpu.report();
    stop.cancel();
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(2), t).await;
    }
    let count = r1.saturating_sub(r0);
    println!(
        "result phase=echo sockets={} window={} size={} secs={secs:.2} received={count} \
         per_s={:.0} {cpu}",
        args.sessions,
        args.windows.first().copied().unwrap_or(8),
        args.size,
        count as f64 / secs.max(1e-9),
    );
    if count == 0 {
        return Err("no echo reply came back".into());
    }
    Ok(())
}
