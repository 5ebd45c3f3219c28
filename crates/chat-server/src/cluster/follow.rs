//! Following the log: at start the whole stream is replayed into the new core before any
//! session is accepted (an instance that restarts catches up first); then every entry another
//! instance publishes is applied as it comes, through the driver's command queue, so that the
//! core is only ever touched by the socket's task. An ordered consumer keeps entries in stream
//! order and recreates itself from the last one seen after a disconnection. Without one (its
//! node died) the follower reads the entries it lacks from the stream itself, one by one,
//! until the cluster gives it a consumer again.

use async_nats::jetstream::consumer::pull::{Ordered, OrderedConfig};
use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::stream::{RawMessageErrorKind, Stream};
use async_nats::HeaderMap;
use std::collections::HashSet;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};

use super::alive::WATCH;
use super::{decode, Commands, INSTANCE, SUBJECT};
use crate::core::Op;
use crate::endpoint::ChatEndpoint;
use crate::requests::AnyChat;
use crate::server::Limits;

/// How often an idle follower asks whether the log has moved on without it (its consumer
/// lost when the NATS servers went away): then it starts again after the last entry it saw.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// How long the follower waits for NATS to answer one request (the log's state, one entry, a
/// new consumer) before it asks again. The client's default, 10 s, is the whole time a user
/// would wait for a DM after a NATS node dies: for some seconds after, the cluster may place
/// a new consumer on the dead node, which never answers, while asking again soon lands on a
/// live one.
const ASK_WITHIN: Duration = Duration::from_secs(2);

/// Entries read one by one in a turn without a consumer, before asking for one again.
const FETCH_BATCH: usize = 1000;

/// An ordered consumer of the log from stream sequence `from` on.
async fn consumer(stream: &Stream, from: u64) -> Result<Ordered, String> {
    let deliver_policy = match from {
        0 | 1 => DeliverPolicy::All,
        seq => DeliverPolicy::ByStartSequence {
            start_sequence: seq,
        },
    };
    stream
        .create_consumer(OrderedConfig {
            deliver_policy,
            ..Default::default()
        })
        .await
        .map_err(|e| format!("cannot follow the chat log: {e}"))?
        .messages()
        .await
        .map_err(|e| format!("cannot follow the chat log: {e}"))
}

/// Where following the log stands: the consumer and the last stream sequence applied.
pub(super) struct Following {
    stream: Stream,
    messages: Option<Ordered>,
    seen: u64,
}

impl Following {
    /// The last stream sequence applied.
    pub(super) fn seen(&self) -> u64 {
        self.seen
    }
}

/// Replays the stream up to its last entry at start into `chat`; returns how many entries it
/// applied and where following stands, to go on from there.
pub(super) async fn catch_up(
    stream: Stream,
    chat: &mut AnyChat,
) -> Result<(u64, Following), String> {
    let last = stream
        .get_info()
        .await
        .map_err(|e| e.to_string())?
        .state
        .last_sequence;
    let mut messages = consumer(&stream, 0).await?;
    let mut seen = 0;
    let mut applied = 0;
    while seen < last {
        let Some(next) = messages.next().await else {
            return Err("the chat log ended during catch-up".into());
        };
        let msg = next.map_err(|e| format!("cannot read the chat log: {e}"))?;
        seen = msg.info().map(|i| i.stream_sequence).unwrap_or(last);
        if let Some(ops) = entry(&msg.payload) {
            // No session is open yet: there is nobody to tell.
            let _ = chat.replicate(&origin(msg.headers.as_ref()), ops, false);
        }
        applied += 1;
    }
    let messages = Some(messages);
    Ok((
        applied,
        Following {
            stream,
            messages,
            seen,
        },
    ))
}

/// Applies every entry that another instance publishes, until the server stops; names each
/// instance it applies entries of to `origins` (once), for the heartbeat watch, and tells
/// `applied` the last sequence handed to the endpoint (its own entries count: this replica
/// has them already), for [`super::fence`].
pub(super) async fn follow(
    mut f: Following,
    instance: String,
    commands: Commands,
    (origins, applied): (mpsc::UnboundedSender<String>, watch::Sender<u64>),
) {
    let mut to = Applier {
        instance,
        commands,
        origins,
        applied,
        known: HashSet::new(),
    };
    loop {
        let Some(messages) = f.messages.as_mut() else {
            tokio::time::sleep(CHECK_EVERY).await;
            if !fetch_missing(&mut f, &mut to).await {
                break;
            }
            match tokio::time::timeout(ASK_WITHIN, consumer(&f.stream, f.seen + 1)).await {
                Ok(Ok(m)) => f.messages = Some(m),
                Ok(Err(e)) => tracing::debug!(error = %e, "cannot follow the chat log yet"),
                Err(_) => tracing::debug!("no new consumer of the chat log yet; asking again"),
            }
            continue;
        };
        let next = match tokio::time::timeout(CHECK_EVERY, messages.next()).await {
            Ok(Some(Ok(msg))) => msg,
            Ok(Some(Err(e))) => {
                tracing::warn!(error = %e, "reading the chat log failed; following again");
                f.messages = None;
                continue;
            }
            Ok(None) => {
                f.messages = None;
                continue;
            }
            Err(_) => {
                if behind(&f.stream, f.seen).await {
                    tracing::info!(seen = f.seen, "the chat log moved on; following again");
                    f.messages = None;
                }
                continue;
            }
        };
        let seq = next.info().map(|i| i.stream_sequence).unwrap_or(f.seen + 1);
        if seq <= f.seen {
            continue;
        }
        f.seen = seq;
        if !to.apply(seq, next.headers.as_ref(), &next.payload).await {
            break;
        }
    }
}

/// Reads what the log holds past the last entry seen straight from the stream (its leader
/// answers as soon as it has one: the stream takes new entries then), for a follower without
/// a consumer. False once the server stopped.
async fn fetch_missing(f: &mut Following, to: &mut Applier) -> bool {
    for _ in 0..FETCH_BATCH {
        let get = f
            .stream
            .get_first_raw_message_by_subject(SUBJECT, f.seen + 1);
        let msg = match tokio::time::timeout(ASK_WITHIN, get).await {
            Ok(Ok(msg)) => msg,
            Ok(Err(e)) if e.kind() == RawMessageErrorKind::NoMessageFound => return true,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "cannot read the chat log's next entry yet");
                return true;
            }
            Err(_) => {
                tracing::debug!("no answer for the chat log's next entry yet");
                return true;
            }
        };
        if msg.sequence <= f.seen {
            return true;
        }
        f.seen = msg.sequence;
        tracing::debug!(seq = f.seen, "read a chat log entry without a consumer");
        if !to
            .apply(msg.sequence, Some(&msg.headers), &msg.payload)
            .await
        {
            return false;
        }
    }
    true
}

/// Hands log entries to the endpoint in order, and says which have been handed over.
struct Applier {
    instance: String,
    commands: Commands,
    origins: mpsc::UnboundedSender<String>,
    applied: watch::Sender<u64>,
    known: HashSet<String>,
}

impl Applier {
    /// Queues entry `seq`'s command unless this instance published it; false once the server
    /// stopped.
    async fn apply(&mut self, seq: u64, headers: Option<&HeaderMap>, payload: &[u8]) -> bool {
        let from = origin(headers);
        if from != self.instance {
            if from != WATCH && self.known.insert(from.clone()) {
                let _ = self.origins.send(from.clone());
            }
            if let Some(command) = command(payload, from, &self.instance) {
                if self.commands.send(command).await.is_err() {
                    return false;
                }
            }
        }
        // After the entry's command is queued: a fence's answer queued next comes after it.
        self.applied.send_replace(seq);
        true
    }
}

/// The endpoint's command to apply another instance's entry; `None` for one unreadable.
fn command(
    payload: &[u8],
    from: String,
    instance: &str,
) -> Option<dgram_net::session::Command<ChatEndpoint<Limits>>> {
    let ops = entry(payload)?;
    // Declared gone while alive (cut off for a while): the others forgot who is here.
    let me_gone = ops
        .iter()
        .any(|op| matches!(op, Op::Gone { instance: i } if *i == instance));
    Some(Box::new(move |ep: &mut ChatEndpoint<Limits>, now| {
        ep.replicated(now, &from, ops);
        if me_gone {
            ep.reannounce(now);
        }
    }))
}

/// Whether the log holds entries past the last one seen (while none came).
async fn behind(stream: &Stream, seen: u64) -> bool {
    match tokio::time::timeout(ASK_WITHIN, stream.get_info()).await {
        Ok(Ok(info)) => info.state.last_sequence > seen,
        _ => false,
    }
}

/// The instance that published an entry (empty if it says none).
fn origin(headers: Option<&HeaderMap>) -> String {
    headers
        .and_then(|h| h.get(INSTANCE))
        .map(|v| v.as_str().to_owned())
        .unwrap_or_default()
}

/// One entry's ops; `None` (with a warning in the log) for one this build cannot read.
fn entry(payload: &[u8]) -> Option<Vec<Op>> {
    match decode(payload) {
        Ok(ops) => Some(ops),
        Err(e) => {
            tracing::warn!(error = %e, "an unreadable chat log entry; skipped");
            None
        }
    }
}
