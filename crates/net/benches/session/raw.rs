//! The baseline: raw UDP datagrams over loopback sockets, one per message, no acks, no resends.

use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::measure::{cpu_time, Outcome, SIZE, WINDOW};

/// `count` datagrams of SIZE bytes, sent and received as fast as the receiver drains them, no
/// acks. The sender keeps WINDOW ahead of the receiver so the socket buffer never overflows
/// (which would make it a test of the kernel's drops).
pub(crate) async fn raw_udp(count: usize, limit: Duration) -> Outcome {
    let rx = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let tx = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let to = rx.local_addr().expect("addr");
    let (progress_tx, mut progress) = mpsc::unbounded_channel::<usize>();
    let start = Instant::now();
    let cpu0 = cpu_time();
    let receiver = tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        let mut got = 0;
        while got < count {
            match tokio::time::timeout(Duration::from_secs(1), rx.recv_from(&mut buf)).await {
                Ok(Ok(_)) => {
                    got += 1;
                    if got % 64 == 0 {
                        let _ = progress_tx.send(got);
                    }
                }
                _ => break,
            }
        }
        got
    });
    let payload = vec![b'x'; SIZE];
    let mut acked = 0;
    for sent in 0..count {
        while sent >= acked + WINDOW {
            match tokio::time::timeout(Duration::from_secs(1), progress.recv()).await {
                Ok(Some(n)) => acked = n,
                _ => break,
            }
        }
        let _ = tx.send_to(&payload, to).await;
        if start.elapsed() > limit {
            break;
        }
    }
    let messages = receiver.await.unwrap_or(0);
    Outcome {
        messages,
        wall: start.elapsed(),
        cpu: cpu_time().saturating_sub(cpu0),
        ..Outcome::default()
    }
}
