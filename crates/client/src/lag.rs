//! The link's lag, as IRC clients show it: the session's smoothed round-trip time, and how
//! long an answer from the server has been awaited. An answer overdue by much more than the
//! round trip is a stale link (the server or the path may be gone) well before the session
//! gives up on it.

use std::time::{Duration, Instant};

use dgram_net::session::Command;
use tokio::sync::oneshot;

use crate::link::Link;
use crate::wire::ChatSession;

/// An answer awaited this long is overdue whatever the round trip.
const OVERDUE_FLOOR: Duration = Duration::from_secs(1);

/// How the link to the server is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Lag {
    /// The smoothed round-trip time, once measured on this session.
    pub rtt: Option<Duration>,
    /// How long the oldest unanswered packet has waited (`None`: nothing outstanding).
    pub waiting: Option<Duration>,
}

impl Lag {
    /// Whether an answer is overdue: awaited more than twice the round trip, and at least a
    /// second (so that a quick, jittery path does not look stale).
    pub fn stale(&self) -> bool {
        let Some(waiting) = self.waiting else {
            return false;
        };
        let rtt = self.rtt.unwrap_or_default();
        waiting > (rtt * 2).max(OVERDUE_FLOOR)
    }
}

impl ChatSession {
    /// The lag at `now`.
    pub fn lag(&self, now: Instant) -> Lag {
        Lag {
            rtt: self.client.rtt(),
            waiting: self
                .client
                .unanswered_since()
                .map(|since| now.saturating_duration_since(since)),
        }
    }
}

impl Link {
    /// The lag now, asked of the session's driver; `None` once the driver has stopped.
    pub async fn lag(&self) -> Option<Lag> {
        let (tx, rx) = oneshot::channel();
        let command: Command<ChatSession> = Box::new(move |session, now| {
            let _ = tx.send(session.lag(now));
        });
        self.commands.send(command).await.ok()?;
        rx.await.ok()
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;
    use crate::event::{LinkEvent, SessionEvent};
    use crate::follow::{Follow, ServerTarget};

    #[test]
    fn an_answer_overdue_past_twice_the_round_trip_and_a_second_is_stale() {
        let ms = Duration::from_millis;
        let lag = |rtt, waiting| Lag { rtt, waiting }.stale();
        assert!(!lag(Some(ms(20)), None), "nothing outstanding");
        assert!(!lag(Some(ms(20)), Some(ms(900))), "under a second");
        assert!(lag(Some(ms(20)), Some(ms(1100))));
        assert!(
            !lag(Some(ms(800)), Some(ms(1500))),
            "within two round trips"
        );
        assert!(lag(Some(ms(800)), Some(ms(1700))));
        assert!(lag(None, Some(ms(1100))), "no round trip measured yet");
    }

    #[tokio::test]
    async fn a_link_to_a_live_server_has_a_round_trip_and_nothing_overdue() {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr: SocketAddr = socket.local_addr().expect("addr");
        let stop = tokio_util::sync::CancellationToken::new();
        let server = tokio::spawn(chat_server::run(
            socket,
            stop.clone(),
            chat_server::Settings::default(),
        ));
        let target = ServerTarget::new(&addr.to_string(), addr);
        let mut link = Link::open(target, Follow::system(), crate::process_identity())
            .await
            .expect("open");
        let within = Duration::from_secs(10);
        let up = tokio::time::timeout(within, async {
            while let Some(event) = link.recv().await {
                if let LinkEvent::Session(SessionEvent::Connected { .. }) = event {
                    return true;
                }
            }
            false
        });
        assert!(up.await.expect("connected in time"));
        // An answer (here: that a hello must come first) measures the round trip.
        let rooms = dgram_proto::chat::ClientMsg::Rooms { req: 1 };
        link.transmit(&rooms, Some(1)).await.expect("transmit");
        let answered = tokio::time::timeout(within, async {
            while let Some(event) = link.recv().await {
                if let LinkEvent::Session(SessionEvent::Message(_)) = event {
                    return true;
                }
            }
            false
        });
        assert!(answered.await.expect("answered in time"));
        let lag = link.lag().await.expect("the driver answers");
        assert!(lag.rtt.is_some_and(|r| r < within), "{lag:?}");
        assert!(!lag.stale(), "{lag:?}");
        link.close().await.expect("close");
        stop.cancel();
        let _ = server.await;
    }
}
