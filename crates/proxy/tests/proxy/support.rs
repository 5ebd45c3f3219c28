//! Shared helpers: a proxy on this test's runtime, a target that reports (and can echo) what it
//! receives, numbered datagrams, and bounds on how long anything may take.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use dgram_proxy::{Impairment, Limits, ProxyStats};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};
use tokio_util::sync::CancellationToken;

/// No test may take longer than this, whatever goes wrong.
pub(crate) const BUDGET: Duration = Duration::from_secs(30);

/// How long without a datagram counts as "nothing more is coming" on loopback.
pub(crate) const QUIET: Duration = Duration::from_millis(300);

pub(crate) async fn within<F: Future>(test: F) -> F::Output {
    let outcome = timeout(BUDGET, test).await;
    outcome.expect("the test ran out of time")
}

pub(crate) async fn bind() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").await;
    socket.expect("bind on loopback")
}

pub(crate) fn addr(socket: &UdpSocket) -> SocketAddr {
    socket.local_addr().expect("local address")
}

/// A proxy running on this test's runtime.
pub(crate) struct Running {
    pub(crate) addr: SocketAddr,
    pub(crate) shutdown: CancellationToken,
    pub(crate) task: JoinHandle<Result<ProxyStats, dgram_proxy::Error>>,
}

impl Running {
    pub(crate) async fn start(to: SocketAddr, impairment: Impairment, limits: Limits) -> Self {
        let listen = bind().await;
        let addr = addr(&listen);
        let shutdown = CancellationToken::new();
        let run = dgram_proxy::run_with(listen, to, impairment, limits, shutdown.clone());
        let task = tokio::spawn(run);
        Self {
            addr,
            shutdown,
            task,
        }
    }

    pub(crate) async fn stop(self) -> ProxyStats {
        self.shutdown.cancel();
        timeout(Duration::from_secs(5), self.task)
            .await
            .expect("the proxy stops when cancelled")
            .expect("the proxy does not panic")
            .expect("the proxy does not fail")
    }
}

/// What the target received: from whom, what, and when.
pub(crate) type Seen = (SocketAddr, Vec<u8>, Instant);

/// A target that reports every datagram and, if `echo`, sends it back to its sender.
pub(crate) async fn target(echo: bool) -> (SocketAddr, mpsc::UnboundedReceiver<Seen>) {
    let socket = bind().await;
    let addr = addr(&socket);
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        while let Ok((len, from)) = socket.recv_from(&mut buf).await {
            if echo {
                let _ = socket.send_to(&buf[..len], from).await;
            }
            let seen = (from, buf[..len].to_vec(), Instant::now());
            if tx.send(seen).is_err() {
                return;
            }
        }
    });
    (addr, rx)
}

/// Everything the target reports until it has been quiet for [`QUIET`].
pub(crate) async fn drain(seen: &mut mpsc::UnboundedReceiver<Seen>) -> Vec<Seen> {
    let mut all = Vec::new();
    while let Ok(Some(one)) = timeout(QUIET, seen.recv()).await {
        all.push(one);
    }
    all
}

/// The sequence numbers the target reports until it has been quiet, in the order it got them.
pub(crate) async fn seqs(seen: &mut mpsc::UnboundedReceiver<Seen>) -> Vec<u32> {
    drain(seen).await.iter().map(|s| seq_of(&s.1)).collect()
}

/// The next datagram `socket` receives within `wait`.
pub(crate) async fn recv(socket: &UdpSocket, wait: Duration) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 65_536];
    let (len, _) = timeout(wait, socket.recv_from(&mut buf)).await.ok()?.ok()?;
    Some(buf[..len].to_vec())
}

/// Sends `count` datagrams carrying their sequence number, in small bursts with pauses, so that
/// no socket buffer on the way overflows and only the proxy decides what is lost.
pub(crate) async fn send_numbered(client: &UdpSocket, to: SocketAddr, count: u32) {
    for seq in 0..count {
        client.send_to(&seq.to_be_bytes(), to).await.expect("send");
        if seq % 20 == 19 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

pub(crate) fn seq_of(datagram: &[u8]) -> u32 {
    let bytes: [u8; 4] = datagram.try_into().expect("a 4-byte sequence number");
    u32::from_be_bytes(bytes)
}

pub(crate) fn lossy(loss: f64, seed: u64) -> Impairment {
    Impairment {
        loss,
        seed,
        ..Impairment::default()
    }
}
