//! Following the log: at start the whole stream is replayed into the new core before any
//! session is accepted (an instance that restarts catches up first); then every entry another
//! instance publishes is applied as it comes, through the driver's command queue, so that the
//! core is only ever touched by the socket's task. An ordered consumer keeps entries in stream
//! order and recreates itself from the last one seen after a disconnection.

use async_nats::jetstream::consumer::pull::{Ordered, OrderedConfig};
use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::stream::Stream;
use std::collections::HashSet;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};

use super::alive::WATCH;
use super::{decode, Commands, INSTANCE};
use crate::core::Op;
use crate::endpoint::ChatEndpoint;
use crate::requests::AnyChat;
use crate::server::Limits;

/// How often an idle follower asks whether the log has moved on without it (its consumer
/// lost when the NATS servers went away): then it starts again after the last entry it saw.
const CHECK_EVERY: Duration = Duration::from_secs(1);

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
        if let Some(ops) = entry(&msg) {
            // No session is open yet: there is nobody to tell.
            let _ = chat.replicate(&origin(&msg), ops, false);
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
    let mut known = HashSet::new();
    loop {
        let Some(messages) = f.messages.as_mut() else {
            tokio::time::sleep(CHECK_EVERY).await;
            match consumer(&f.stream, f.seen + 1).await {
                Ok(m) => f.messages = Some(m),
                Err(e) => tracing::debug!(error = %e, "cannot follow the chat log yet"),
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
        let from = origin(&next);
        if from != instance {
            if from != WATCH && known.insert(from.clone()) {
                let _ = origins.send(from.clone());
            }
            if let Some(command) = command(&next, from, &instance) {
                if commands.send(command).await.is_err() {
                    break;
                }
            }
        }
        // After the entry's command is queued: a fence's answer queued next comes after it.
        applied.send_replace(f.seen);
    }
}

/// The endpoint's command to apply another instance's entry; `None` for one unreadable.
fn command(
    msg: &async_nats::jetstream::Message,
    from: String,
    instance: &str,
) -> Option<dgram_net::session::Command<ChatEndpoint<Limits>>> {
    let ops = entry(msg)?;
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
    match stream.get_info().await {
        Ok(info) => info.state.last_sequence > seen,
        Err(_) => false,
    }
}

/// The instance that published an entry (empty if it says none).
fn origin(msg: &async_nats::jetstream::Message) -> String {
    msg.headers
        .as_ref()
        .and_then(|h| h.get(INSTANCE))
        .map(|v| v.as_str().to_owned())
        .unwrap_or_default()
}

/// One entry's ops; `None` (with a warning in the log) for one this build cannot read.
fn entry(msg: &async_nats::jetstream::Message) -> Option<Vec<Op>> {
    match decode(&msg.payload) {
        Ok(ops) => Some(ops),
        Err(e) => {
            tracing::warn!(error = %e, "an unreadable chat log entry; skipped");
            None
        }
    }
}
