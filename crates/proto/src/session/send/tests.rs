//! Unit tests of the send half: what it keeps once everything is acknowledged.

use super::*;
use crate::MAX_DATAGRAM;

/// Sends whatever is queued, a packet at a time; returns the packet numbers used.
fn send_all(send: &mut SendState, now: Instant, config: &Config, pn: &mut u32) -> Vec<u32> {
    let mut numbers = Vec::new();
    loop {
        let mut buf = [0u8; MAX_DATAGRAM];
        let mut w = Writer::new(&mut buf);
        let Some(sent) = send.fill(&mut w, now, config, None) else {
            return numbers;
        };
        send.sent(*pn, sent, w.len(), None);
        numbers.push(*pn);
        *pn += 1;
    }
}

/// An ack for every packet in `numbers` (consecutive, at most 33).
fn ack_all(send: &mut SendState, now: Instant, config: &Config, numbers: &[u32]) -> AckOutcome {
    let largest = *numbers.last().expect("something was sent");
    let bits = (1u64 << (numbers.len() - 1)) as u32 - 1;
    let loss_delay = Duration::from_millis(100);
    send.on_ack(
        now,
        largest,
        bits,
        Duration::ZERO,
        config.max_ack_delay,
        (loss_delay, None),
    )
}

#[test]
fn an_acknowledged_burst_leaves_no_send_buffers_behind() {
    let config = Config::default();
    let now = Instant::now();
    let mut send = SendState::default();
    let mut pn = 1;
    // A long welcome: several fragments, several packets.
    let id = send
        .push(now, &config, 3, vec![7; 5 * MAX_FRAGMENT])
        .expect("fits");
    let numbers = send_all(&mut send, now, &config, &mut pn);
    assert_eq!(numbers.len(), 5);
    assert!(send.flight.is_some());

    let out = ack_all(&mut send, now, &config, &numbers);
    assert_eq!(out.delivered.as_slice(), [id]);
    assert!(
        send.flight.is_none(),
        "nothing unacknowledged, nothing held"
    );
    assert!(!send.has_pending());
    assert_eq!(send.rto_deadline(Duration::from_secs(1)), None);
    assert_eq!(send.next_deadline(), None);

    // What outlives the burst: message ids and the channel's sequence.
    assert!(
        send.next_seq.is_inline(),
        "one channel's sequence is kept inline"
    );
    let next = send.push(now, &config, 3, b"next".to_vec()).expect("fits");
    assert_eq!(next, id + 1);
    let flight = send.flight.as_ref().expect("busy again");
    assert_eq!(flight.messages.get(&next).map(|m| m.seq), Some(1));
}

#[test]
fn unreliable_messages_and_expired_ones_are_let_go_too() {
    let config = Config::default();
    let now = Instant::now();
    let mut send = SendState::default();
    let mut pn = 1;
    send.push_unreliable(&config, 0, b"typing".to_vec())
        .expect("fits");
    assert!(send.flight.is_some());
    assert!(send_all(&mut send, now, &config, &mut pn).is_empty());
    assert!(
        send.flight.is_none(),
        "unreliable messages are not waited for"
    );

    // A message that times out leaves a skip to deliver; once that is acknowledged the
    // send half is quiet again.
    let id = send.push(now, &config, 0, b"lost".to_vec()).expect("fits");
    let first = send_all(&mut send, now, &config, &mut pn);
    let later = now + config.message_timeout;
    assert_eq!(send.expire(later), vec![id]);
    send.resend_all(false);
    let skip = send_all(&mut send, later, &config, &mut pn);
    assert_eq!(first.len() + skip.len(), 2);
    assert!(send.flight.is_some(), "the skip is not yet acknowledged");
    let out = ack_all(&mut send, later, &config, &skip);
    assert!(out.delivered.is_empty());
    assert!(send.flight.is_none());
}
