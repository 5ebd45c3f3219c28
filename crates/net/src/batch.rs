//! Batched datagram I/O through quinn-udp: `recvmmsg` (with GRO where the kernel offers it)
//! in, GSO out. One system call moves many datagrams, which is what lets a single socket on a
//! single thread keep up with the machine's ceiling. The echo server and the session driver
//! both use it.

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;

use dgram_proto::MAX_DATAGRAM;
use quinn_udp::{RecvMeta, Transmit, UdpSocketState, BATCH_SIZE};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Large enough for any UDP datagram, so an oversized one is seen whole and never truncated.
const MIN_SLOT: usize = 65_536;

/// Receive buffers for one `recvmmsg` call.
#[derive(Debug)]
pub struct Receiver {
    buf: Vec<u8>,
    slot: usize,
    meta: Vec<RecvMeta>,
}

impl Receiver {
    /// Buffers sized for `state`'s socket.
    pub fn new(state: &UdpSocketState) -> Self {
        // With GRO one slot holds a train of coalesced datagrams.
        let slot = (state.gro_segments().max(1) * 1500).max(MIN_SLOT);
        Self {
            buf: vec![0; slot * BATCH_SIZE],
            slot,
            meta: vec![RecvMeta::default(); BATCH_SIZE],
        }
    }

    /// Receives what is waiting, without blocking; returns how many slots were filled.
    pub fn try_recv(&mut self, socket: &UdpSocket, state: &UdpSocketState) -> io::Result<usize> {
        let mut slices: Vec<IoSliceMut<'_>> = self
            .buf
            .chunks_mut(self.slot)
            .map(IoSliceMut::new)
            .collect();
        socket.try_io(Interest::READABLE, || {
            state.recv(socket.into(), &mut slices, &mut self.meta)
        })
    }

    /// The datagrams in the first `filled` slots, with their senders.
    pub fn datagrams(&self, filled: usize) -> impl Iterator<Item = (SocketAddr, &[u8])> {
        self.meta[..filled]
            .iter()
            .zip(self.buf.chunks(self.slot))
            .flat_map(|(meta, slot)| {
                let stride = meta.stride.max(1);
                slot[..meta.len.min(slot.len())]
                    .chunks(stride)
                    .map(move |d| (meta.addr, d))
            })
    }
}

/// Replies gathered from one receive batch, sent together.
#[derive(Debug)]
pub struct Sender {
    out: Vec<u8>,
    replies: Vec<(SocketAddr, usize)>,
}

/// What a flush achieved.
#[derive(Debug, Default, Clone, Copy)]
pub struct Flushed {
    /// Datagrams sent.
    pub sent: u64,
    /// Datagrams the system refused.
    pub failed: u64,
}

impl Sender {
    /// An empty batch.
    pub fn new() -> Self {
        Self {
            out: Vec::with_capacity(BATCH_SIZE * MAX_DATAGRAM),
            replies: Vec::with_capacity(BATCH_SIZE),
        }
    }

    /// Space for the next reply; [`Sender::commit`] keeps what was written.
    pub fn slot(&mut self) -> &mut [u8] {
        let start = self.out.len();
        self.out.resize(start + MAX_DATAGRAM, 0);
        &mut self.out[start..]
    }

    /// Keeps the first `len` bytes of the last [`Sender::slot`] as a reply to `to`, or drops
    /// them when `len` is `None`.
    pub fn commit(&mut self, to: SocketAddr, len: Option<usize>) {
        let start = self.out.len() - MAX_DATAGRAM;
        let len = len.unwrap_or(0).min(MAX_DATAGRAM);
        self.out.truncate(start + len);
        if len > 0 {
            self.replies.push((to, len));
        }
    }

    /// Sends every gathered reply. Runs of equal-sized replies to one peer go out as one GSO
    /// send. A full socket buffer is waited out, never dropped; other send errors (an
    /// unreachable peer) are counted and the rest still go out.
    pub async fn flush(&mut self, socket: &UdpSocket, state: &UdpSocketState) -> Flushed {
        let mut done = Flushed::default();
        let mut offset = 0;
        let mut i = 0;
        while i < self.replies.len() {
            let (to, size) = self.replies[i];
            let mut run = 1;
            while i + run < self.replies.len()
                && self.replies[i + run] == (to, size)
                && run < state.max_gso_segments()
            {
                run += 1;
            }
            let contents = &self.out[offset..offset + size * run];
            let transmit = Transmit {
                destination: to,
                ecn: None,
                contents,
                segment_size: (run > 1).then_some(size),
                src_ip: None,
            };
            match send(socket, state, &transmit).await {
                Ok(()) => done.sent += run as u64,
                Err(err) => {
                    tracing::debug!(peer = %to, %err, datagrams = run, "send failed");
                    done.failed += run as u64;
                }
            }
            offset += size * run;
            i += run;
        }
        self.out.clear();
        self.replies.clear();
        done
    }
}

async fn send(socket: &UdpSocket, state: &UdpSocketState, t: &Transmit<'_>) -> io::Result<()> {
    loop {
        match socket.try_io(Interest::WRITABLE, || state.try_send(socket.into(), t)) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => socket.writable().await?,
            other => return other,
        }
    }
}

impl Default for Sender {
    fn default() -> Self {
        Self::new()
    }
}

/// Asks for `bytes` of kernel buffer each way on `socket`. A burst from many peers must not
/// overflow the default (about 200 KiB) before the task drains it; the kernel caps the request
/// at its configured maximum (`net.core.rmem_max`, `net.core.wmem_max` on Linux), and a refusal
/// only leaves the default. A cap below the request is logged once per socket, with the limit
/// to raise: datagrams lost to a full buffer come back only after a retransmission timeout.
pub fn grow_buffers(socket: &UdpSocket, state: &UdpSocketState, bytes: usize) {
    for (what, result) in [
        ("receive", state.set_recv_buffer_size(socket.into(), bytes)),
        ("send", state.set_send_buffer_size(socket.into(), bytes)),
    ] {
        if let Err(err) = result {
            tracing::debug!(%err, what, "cannot grow the socket buffer");
        }
    }
    let granted = [
        (
            "receive",
            "net.core.rmem_max",
            state.recv_buffer_size(socket.into()),
        ),
        (
            "send",
            "net.core.wmem_max",
            state.send_buffer_size(socket.into()),
        ),
    ];
    for (what, sysctl, got) in granted {
        // Linux reports twice what it grants (the doubling covers its bookkeeping).
        let got = got.map(|b| if cfg!(target_os = "linux") { b / 2 } else { b });
        if let Some(got) = got.ok().filter(|got| *got < bytes) {
            tracing::info!(
                what,
                asked = bytes,
                got,
                sysctl,
                "the kernel capped the socket buffer; raise the sysctl for a busy server"
            );
        }
    }
}
