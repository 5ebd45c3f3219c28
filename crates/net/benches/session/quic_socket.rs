//! A wrapper around quinn's own UDP socket that does to QUIC what `dgram::Lossy` does to dgram:
//! drops the same seeded share of the datagrams the endpoint receives, and counts the
//! datagrams and bytes it sends.

use std::fmt;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};

use quinn::udp::{RecvMeta, Transmit};
use quinn::{AsyncUdpSocket, UdpPoller};

use crate::measure::{Drops, Wire};

/// quinn's tokio socket (GSO and GRO as quinn sets them up), lossy and counted.
pub(crate) struct LossySocket {
    inner: Arc<dyn AsyncUdpSocket>,
    loss: f64,
    /// Only the endpoint's driver receives; the lock is never contended.
    drops: Mutex<Drops>,
    wire: Arc<Wire>,
}

impl LossySocket {
    pub(crate) fn new(
        inner: Arc<dyn AsyncUdpSocket>,
        loss: f64,
        seed: u64,
        wire: Arc<Wire>,
    ) -> Self {
        Self {
            inner,
            loss,
            drops: Mutex::new(Drops::new(loss, seed)),
            wire,
        }
    }

    /// Drops datagrams from one received buffer. With GRO a buffer holds several datagrams of
    /// `stride` bytes (the last may be shorter); each is decided on alone, as dgram's driver
    /// hands its endpoint each one alone, and those kept move down to close the gaps.
    fn drop_some(&self, buf: &mut [u8], meta: &mut RecvMeta) {
        let Ok(mut drops) = self.drops.lock() else {
            return;
        };
        let len = meta.len.min(buf.len());
        let stride = if meta.stride == 0 { len } else { meta.stride };
        let (mut at, mut kept) = (0, 0);
        while at < len {
            let segment = stride.min(len - at);
            if drops.lose() {
                self.wire.dropped(1);
            } else {
                buf.copy_within(at..at + segment, kept);
                kept += segment;
            }
            at += segment;
        }
        // An empty buffer is skipped by quinn's receive loop.
        meta.len = kept;
    }
}

impl fmt::Debug for LossySocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LossySocket")
            .field("inner", &self.inner)
            .field("loss", &self.loss)
            .finish_non_exhaustive()
    }
}

impl AsyncUdpSocket for LossySocket {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        self.inner.clone().create_io_poller()
    }

    fn try_send(&self, transmit: &Transmit) -> io::Result<()> {
        self.inner.try_send(transmit)?;
        let len = transmit.contents.len();
        let datagrams = transmit
            .segment_size
            .map_or(1, |size| len.div_ceil(size.max(1)));
        self.wire.count(datagrams as u64, len as u64);
        Ok(())
    }

    fn poll_recv(
        &self,
        cx: &mut Context,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        let n = ready!(self.inner.poll_recv(cx, bufs, meta))?;
        if self.loss > 0.0 {
            for (buf, meta) in bufs.iter_mut().zip(meta.iter_mut()).take(n) {
                self.drop_some(buf, meta);
            }
        }
        Poll::Ready(Ok(n))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    fn max_transmit_segments(&self) -> usize {
        self.inner.max_transmit_segments()
    }

    fn max_receive_segments(&self) -> usize {
        self.inner.max_receive_segments()
    }

    fn may_fragment(&self) -> bool {
        self.inner.may_fragment()
    }
}
