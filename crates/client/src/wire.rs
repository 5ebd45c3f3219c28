//! One chat session without I/O: a session [`Client`] that speaks chat. It encodes requests
//! into reliable session messages on channel 0 and decodes what the server sends, so that a
//! driver's callback sees [`SessionEvent`]s. The [`crate::Link`] runs one on a tokio task; a
//! load generator that keeps its logic in the driver's callback (the chat bench, 1000+
//! sessions) runs one inside its own endpoint, with nothing between a receipt and its next
//! send.

use std::hash::{BuildHasher, RandomState};
use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

use dgram_net::session::Endpoint;
use dgram_proto::chat::{ClientMsg, ServerMsg};
use dgram_proto::session::{
    Client, Config, Delivery, Event, Keypair, MessageId, ServerPin, Transmit, KEY_LEN,
};

use crate::event::{SessionEvent, SubmitError};

/// A session client for chat.
#[derive(Debug)]
pub struct ChatSession {
    pub(crate) client: Client,
}

impl ChatSession {
    /// A session client that will handshake with `server`; `seed` is its randomness (its
    /// handshake nonces: [`seed`] gives a fresh one), `identity` its long-term key, and `pin`
    /// the server keys it accepts.
    pub fn new(
        seed: [u8; 32],
        server: SocketAddr,
        now: Instant,
        identity: Keypair,
        pin: ServerPin,
    ) -> Self {
        Self {
            client: Client::new(Config::default(), seed, server, now, identity, pin),
        }
    }

    /// The server's key, once a handshake proved it (what a first use records).
    pub fn server_key(&self) -> Option<[u8; KEY_LEN]> {
        self.client.server_key()
    }

    /// Hands `msg` to the session as one reliable message: its session message id, which a
    /// later [`SessionEvent::Failed`] names if it is never acknowledged.
    pub fn submit(&mut self, now: Instant, msg: &ClientMsg) -> Result<MessageId, SubmitError> {
        let bytes = msg.encode().map_err(SubmitError::Refused)?;
        self.submit_bytes(now, bytes)
    }

    /// [`ChatSession::submit`] for a message already encoded (or, in a server's tests, bytes
    /// that are not chat at all).
    pub fn submit_bytes(&mut self, now: Instant, bytes: Vec<u8>) -> Result<MessageId, SubmitError> {
        match self.client.send(now, 0, bytes, Delivery::Reliable) {
            Ok(Some(id)) => Ok(id),
            Ok(None) => Err(SubmitError::NoId),
            Err(dgram_proto::Error::NotConnected) => Err(SubmitError::NotConnected),
            Err(e) => Err(SubmitError::Refused(e)),
        }
    }

    /// Where the session client is pointed.
    pub fn server(&self) -> SocketAddr {
        self.client.server()
    }

    /// Points the session client at `to` (only while there is no session); whether it moved.
    pub fn set_server(&mut self, now: Instant, to: SocketAddr) -> bool {
        self.client.set_server(now, to)
    }
}

impl Endpoint for ChatSession {
    type Event = SessionEvent;
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        self.client.handle_datagram(now, from, datagram);
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.client.handle_timeout(now);
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.client.poll_transmit(now, buf)
    }
    fn poll_timeout(&mut self) -> Option<Instant> {
        self.client.poll_timeout()
    }
    fn poll_event(&mut self) -> Option<SessionEvent> {
        loop {
            let event = self.client.poll_event()?;
            if let Some(event) = translate(event) {
                return Some(event);
            }
        }
    }
    fn close_all(&mut self) {
        self.client.close();
    }
}

/// The session's event in chat's terms; `None` for what a chat client has no use for.
fn translate(event: Event) -> Option<SessionEvent> {
    Some(match event {
        Event::Connected { resumed, .. } => SessionEvent::Connected { resumed },
        Event::Closed { reason } => SessionEvent::Closed {
            reason: reason.to_string(),
        },
        Event::Message { data, .. } => match ServerMsg::decode(&data) {
            Ok(msg) => SessionEvent::Message(msg),
            Err(e) => SessionEvent::Undecodable(e.to_string()),
        },
        Event::Failed { id, reason } => SessionEvent::Failed {
            id,
            reason: reason.to_string(),
        },
        // Our messages' transport acks say only that the server has them; what matters is its
        // answer. Accepted and Migrated are server-side events.
        Event::HandshakeFailed { error } => SessionEvent::Refused {
            reason: error.to_string(),
        },
        Event::Delivered { .. } | Event::Accepted { .. } | Event::Migrated { .. } => return None,
    })
}

/// A key made once per process, for clients that keep no identity file (benches, probes, the
/// health check): one key may hold many names, so each name a bench claims is its own.
pub fn process_identity() -> Keypair {
    static KEY: std::sync::OnceLock<Keypair> = std::sync::OnceLock::new();
    KEY.get_or_init(|| Keypair::from_seed(seed())).clone()
}

/// Fresh randomness for a session client: std's per-process random hasher keys, mixed with the
/// time and the pid in case a platform's keys are not random.
pub fn seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    let base = (SystemTime::now(), std::process::id());
    for (i, chunk) in seed.chunks_mut(8).enumerate() {
        let word = RandomState::new().hash_one((base, i));
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    seed
}

#[cfg(test)]
mod tests {
    use dgram_proto::chat::Target;
    use dgram_proto::session::MAX_MESSAGE;
    use dgram_proto::Name;

    use super::*;

    fn session() -> (ChatSession, Instant) {
        let now = Instant::now();
        let server: SocketAddr = "127.0.0.1:8081".parse().expect("literal");
        (
            ChatSession::new(seed(), server, now, process_identity(), ServerPin::Any),
            now,
        )
    }

    #[test]
    fn nothing_is_taken_before_the_session_is_up() {
        let (mut session, now) = session();
        let rooms = ClientMsg::Rooms { req: 1 };
        assert_eq!(session.submit(now, &rooms), Err(SubmitError::NotConnected));
        // The handshake is what it sends meanwhile, and there is nothing to report yet.
        let mut buf = vec![0; dgram_proto::MAX_DATAGRAM];
        assert!(session.poll_transmit(now, &mut buf).is_some());
        assert_eq!(session.poll_event(), None);
    }

    #[test]
    fn a_message_too_large_to_encode_is_refused_with_the_sessions_reason() {
        let (mut session, now) = session();
        let send = ClientMsg::Send {
            req: 1,
            txn: 1,
            to: Target::User(Name::new("egon").expect("valid name")),
            text: "x".repeat(MAX_MESSAGE + 1),
        };
        let refused = session.submit(now, &send).expect_err("too large");
        assert!(
            matches!(
                &refused,
                SubmitError::Refused(dgram_proto::Error::MessageTooLarge { .. })
            ),
            "{refused:?}"
        );
        assert!(
            refused.to_string().contains(&MAX_MESSAGE.to_string()),
            "{refused}"
        );
    }

    #[test]
    fn seeds_differ() {
        assert_ne!(seed(), seed());
    }
}
