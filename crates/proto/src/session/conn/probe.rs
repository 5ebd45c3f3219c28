//! Path MTU probes (see `session::mtu`): the one kind of packet a connection writes whose
//! loss says nothing about congestion.

use std::time::Instant;

use super::super::packet::{frame, Writer};
use super::super::{Config, TAG_LEN};
use super::{Connection, Written};

impl Connection {
    /// A path MTU probe (`mtu`) if one is due and the congestion window has room for it: a
    /// PING padded to the size, in flight like data, though its loss is no congestion.
    /// Nothing else rides on it, since nothing else should be lost with it.
    pub(super) fn poll_probe(
        &mut self,
        now: Instant,
        config: &Config,
        buf: &mut [u8],
    ) -> Option<Written> {
        if self.closed.is_some() || !self.mtu.may_probe() {
            return None;
        }
        let size = self
            .mtu
            .poll_probe(self.stamp(now), self.rtt.timeout(config))?;
        let len = usize::from(size) - TAG_LEN;
        let room = self.send.window();
        if buf.len() < len || room.in_flight + u32::from(size) > room.window {
            return None;
        }
        let mut w = Writer::new(&mut buf[..len]);
        let (number, header_len) = self.start_packet(&mut w);
        w.put(&[frame::PING]);
        w.pad_to(len);
        self.mtu.probe_sent(number, size, self.stamp(now));
        self.send
            .sent_mtu_probe(number, size, now, self.rtt.pacing());
        self.next_number();
        Some(Written {
            len: w.len(),
            header_len,
            number,
        })
    }
}
