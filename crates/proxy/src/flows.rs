//! The flow table: one upstream socket per client, as in Docker's userland UDP proxy, so that the
//! target sees each client as a distinct source and its replies can be told apart. Bounded in
//! size, and idle flows are forgotten, so a scan of many source addresses costs bounded memory.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::rng::Rng;
use crate::{is_transient, MAX_UDP};

/// A datagram the target sent back to a client's upstream socket.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) client: SocketAddr,
    pub(crate) datagram: Vec<u8>,
}

/// One client's flow.
#[derive(Debug)]
pub(crate) struct Flow {
    /// Connected to the target, so that it receives from the target alone.
    pub(crate) upstream: Arc<UdpSocket>,
    pub(crate) to_target: Rng,
    pub(crate) to_client: Rng,
    /// The last datagram either way; the flow expires this long plus the idle timeout later.
    pub(crate) last_active: Instant,
    _reader: Reader,
}

/// The task reading the target's replies from one upstream socket, stopped when its flow goes.
#[derive(Debug)]
struct Reader(JoinHandle<()>);

impl Drop for Reader {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Every client's flow, by the client's address.
#[derive(Debug)]
pub(crate) struct Flows {
    map: HashMap<SocketAddr, Flow>,
    target: SocketAddr,
    seed: u64,
    max: usize,
    idle_timeout: Duration,
    replies: mpsc::Sender<Reply>,
    /// Flows opened so far; also the number the next flow's random streams are derived from.
    pub(crate) opened: u64,
    pub(crate) expired: u64,
    /// Whether a full table was reported since it last had room, so that a flood of new
    /// clients makes one warning, not one per datagram.
    warned_full: bool,
    warned_open_failed: bool,
}

impl Flows {
    pub(crate) fn new(
        target: SocketAddr,
        seed: u64,
        max: usize,
        idle_timeout: Duration,
        replies: mpsc::Sender<Reply>,
    ) -> Self {
        Self {
            map: HashMap::new(),
            target,
            seed,
            max,
            idle_timeout,
            replies,
            opened: 0,
            expired: 0,
            warned_full: false,
            warned_open_failed: false,
        }
    }

    pub(crate) fn get_mut(&mut self, client: SocketAddr) -> Option<&mut Flow> {
        self.map.get_mut(&client)
    }

    /// The client's flow, opened if the client is new. None, and the datagram is to be
    /// dropped, if the table is full or no upstream socket could be opened.
    pub(crate) async fn get_or_open(&mut self, client: SocketAddr) -> Option<&mut Flow> {
        if !self.map.contains_key(&client) {
            if self.map.len() >= self.max {
                if !std::mem::replace(&mut self.warned_full, true) {
                    tracing::warn!(
                        max_flows = self.max,
                        %client,
                        "flow table full: dropping datagrams from new clients until a flow expires"
                    );
                }
                return None;
            }
            match self.open(client).await {
                Ok(flow) => {
                    self.warned_open_failed = false;
                    self.map.insert(client, flow);
                }
                Err(err) => {
                    if !std::mem::replace(&mut self.warned_open_failed, true) {
                        tracing::warn!(%err, %client, "cannot open an upstream socket; dropping");
                    }
                    return None;
                }
            }
        }
        self.map.get_mut(&client)
    }

    async fn open(&mut self, client: SocketAddr) -> io::Result<Flow> {
        let socket = UdpSocket::bind(upstream_local(self.target)).await?;
        socket.connect(self.target).await?;
        let upstream = Arc::new(socket);
        let number = self.opened;
        self.opened += 1;
        tracing::debug!(%client, upstream = ?upstream.local_addr().ok(), number, "flow opened");
        let reader = tokio::spawn(read_replies(
            Arc::clone(&upstream),
            client,
            self.replies.clone(),
        ));
        Ok(Flow {
            upstream,
            to_target: Rng::stream(self.seed, number, 0),
            to_client: Rng::stream(self.seed, number, 1),
            last_active: Instant::now(),
            _reader: Reader(reader),
        })
    }

    /// Forgets the flows idle for the idle timeout or longer, closing their sockets.
    pub(crate) fn expire(&mut self, now: Instant) {
        let before = self.map.len();
        let idle_timeout = self.idle_timeout;
        self.map.retain(|client, flow| {
            let keep = now.saturating_duration_since(flow.last_active) < idle_timeout;
            if !keep {
                tracing::debug!(%client, "flow expired");
            }
            keep
        });
        let gone = before - self.map.len();
        if gone > 0 {
            self.expired += gone as u64;
            self.warned_full = false;
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

/// Where a flow's upstream socket binds: the loopback address of the target's family when the
/// target is on loopback (so nothing listens on outside interfaces), else the wildcard; port 0
/// either way, so that the system picks a fresh port per client.
fn upstream_local(target: SocketAddr) -> SocketAddr {
    let ip = match (target.ip(), target.ip().is_loopback()) {
        (IpAddr::V4(_), true) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        (IpAddr::V4(_), false) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        (IpAddr::V6(_), true) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        (IpAddr::V6(_), false) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    SocketAddr::new(ip, 0)
}

/// Passes what the target sends to `upstream` on to the proxy's loop, until the flow is dropped
/// (which aborts this task) or the loop has gone.
async fn read_replies(upstream: Arc<UdpSocket>, client: SocketAddr, replies: mpsc::Sender<Reply>) {
    // Pages of a buffer this size that a datagram never touches are never made resident, so a
    // full table of small flows costs far less than flows × 64 KiB.
    let mut buf = vec![0u8; MAX_UDP];
    loop {
        match upstream.recv(&mut buf).await {
            Ok(len) => {
                let datagram = buf[..len].to_vec();
                // Waiting here when the loop is busy leaves replies in the socket's buffer,
                // where the system bounds them, rather than in ours.
                if replies.send(Reply { client, datagram }).await.is_err() {
                    return;
                }
            }
            // The target's port is closed (an ICMP error on the connected socket): nothing to
            // read, but the target may come up later.
            Err(err) if is_transient(&err) => {
                tracing::debug!(%err, %client, "upstream socket reported an error");
            }
            Err(err) => {
                tracing::warn!(%err, %client, "upstream socket failed; replies to this client stop");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_binds_match_the_target() {
        let local = |s: &str| upstream_local(s.parse().expect("an address"));
        assert_eq!(local("127.0.0.1:53"), "127.0.0.1:0".parse().expect("addr"));
        assert_eq!(local("192.0.2.1:53"), "0.0.0.0:0".parse().expect("addr"));
        assert_eq!(local("[::1]:53"), "[::1]:0".parse().expect("addr"));
        assert_eq!(local("[2001:db8::1]:53"), "[::]:0".parse().expect("addr"));
    }
}
