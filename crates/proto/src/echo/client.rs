//! The echo client's protocol state: request ids, timeouts, retries and the matching of replies.
//!
//! UDP promises nothing, so the client resends a request that got no reply within the timeout,
//! keeping its request id, and gives up after the configured retries. A reply is matched to its
//! request by id alone: a late reply to a request already answered or given up is counted and
//! dropped, never shown as the answer to a later one.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::{Body, Echo, Envelope, Error, ErrorCode, Name, RequestId};

/// How patient the client is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientConfig {
    /// How long to wait for each try's reply.
    pub timeout: Duration,
    /// How many times to resend after the first try.
    pub retries: u32,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(1),
            retries: 2,
        }
    }
}

/// Something the caller should show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A request was answered.
    Reply {
        /// The request it answers.
        request_id: RequestId,
        /// The upper-cased text.
        text: String,
        /// Time from the first try to the reply.
        rtt: Duration,
        /// How many tries it took.
        tries: u32,
    },
    /// A request got no reply after every try.
    GaveUp {
        /// The request.
        request_id: RequestId,
        /// How many tries were made.
        tries: u32,
    },
    /// The server refused a request, or a datagram we sent.
    Refused {
        /// The request, when the server could tell which.
        request_id: Option<RequestId>,
        /// The server's reason.
        code: ErrorCode,
        /// The server's explanation.
        message: String,
    },
}

#[derive(Debug)]
struct Pending {
    datagram: Vec<u8>,
    first_sent: Instant,
    deadline: Instant,
    tries: u32,
}

/// An echo client's state machine. Feed it requests, datagrams and timeouts; drain what it
/// wants sent with [`EchoClient::poll_transmit`] and what happened with
/// [`EchoClient::poll_event`].
#[derive(Debug)]
pub struct EchoClient {
    sender: Name,
    config: ClientConfig,
    next_id: RequestId,
    pending: BTreeMap<RequestId, Pending>,
    transmits: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    stray: u64,
}

impl EchoClient {
    /// A client signing with `sender`. `first_id` should be random (the caller's RNG), so that
    /// replies meant for an earlier run of the client on the same port do not match.
    pub fn new(sender: Name, config: ClientConfig, first_id: RequestId) -> Self {
        Self {
            sender,
            config,
            next_id: first_id,
            pending: BTreeMap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stray: 0,
        }
    }

    /// Starts a request for `text`; its datagram is queued for [`EchoClient::poll_transmit`].
    /// Fails, sending nothing, if the text is over [`crate::MAX_PAYLOAD`].
    pub fn request(&mut self, now: Instant, text: &str) -> Result<RequestId, Error> {
        let request_id = self.next_id;
        let env = Envelope::new(
            self.sender.clone(),
            Body::EchoRequest(Echo {
                request_id,
                text: text.to_owned(),
            }),
        );
        let datagram = env.encode()?;
        self.next_id = self.next_id.wrapping_add(1);
        self.transmits.push_back(datagram.clone());
        self.pending.insert(
            request_id,
            Pending {
                datagram,
                first_sent: now,
                deadline: now + self.config.timeout,
                tries: 1,
            },
        );
        Ok(request_id)
    }

    /// Takes in a datagram that arrived.
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) {
        let Ok(env) = Envelope::decode(datagram) else {
            self.stray += 1;
            return;
        };
        match env.body {
            Body::EchoReply(reply) => match self.pending.remove(&reply.request_id) {
                Some(p) => self.events.push_back(Event::Reply {
                    request_id: reply.request_id,
                    text: reply.text,
                    rtt: now.saturating_duration_since(p.first_sent),
                    tries: p.tries,
                }),
                None => self.stray += 1,
            },
            Body::Error(err) => {
                if let Some(id) = err.request_id {
                    if self.pending.remove(&id).is_none() {
                        self.stray += 1;
                        return;
                    }
                }
                self.events.push_back(Event::Refused {
                    request_id: err.request_id,
                    code: err.code,
                    message: err.message,
                });
            }
            Body::EchoRequest(_) => self.stray += 1,
        }
    }

    /// Resends what timed out and gives up on what has had every try.
    pub fn handle_timeout(&mut self, now: Instant) {
        let max_tries = self.config.retries.saturating_add(1);
        let mut gave_up = Vec::new();
        for (&id, p) in self.pending.iter_mut().filter(|(_, p)| p.deadline <= now) {
            if p.tries >= max_tries {
                gave_up.push(id);
                continue;
            }
            p.tries += 1;
            p.deadline = now + self.config.timeout;
            self.transmits.push_back(p.datagram.clone());
        }
        for id in gave_up {
            if let Some(p) = self.pending.remove(&id) {
                self.events.push_back(Event::GaveUp {
                    request_id: id,
                    tries: p.tries,
                });
            }
        }
    }

    /// When [`EchoClient::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.pending.values().map(|p| p.deadline).min()
    }

    /// The next datagram to send to the server.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmits.pop_front()
    }

    /// The next thing that happened.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// How many requests await a reply.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// How many datagrams matched no pending request (late replies, strangers' packets).
    pub fn stray(&self) -> u64 {
        self.stray
    }
}
