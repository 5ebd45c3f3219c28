//! Following the log: at start the whole stream is replayed into the new core before any
//! session is accepted (an instance that restarts catches up first); then every entry another
//! instance publishes is applied as it comes, through the driver's command queue, so that the
//! core is only ever touched by the socket's task. An ordered consumer keeps entries in stream
//! order and recreates itself from the last one seen after a disconnection.

use async_nats::jetstream::consumer::pull::{Ordered, OrderedConfig};
use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::stream::Stream;
use futures_util::StreamExt;

use super::{decode, Commands, INSTANCE};
use crate::core::Op;
use crate::endpoint::ChatEndpoint;
use crate::requests::AnyChat;
use crate::server::Limits;

/// Replays the stream up to its last entry at start into `chat`; returns how many entries it
/// applied and the consumer, to follow on from there.
pub(super) async fn catch_up(
    stream: &Stream,
    chat: &mut AnyChat,
) -> Result<(u64, Ordered), String> {
    let info = stream.get_info().await.map_err(|e| e.to_string())?;
    let last = info.state.last_sequence;
    let consumer = stream
        .create_consumer(OrderedConfig {
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .map_err(|e| format!("cannot follow the chat log: {e}"))?;
    let mut messages = consumer
        .messages()
        .await
        .map_err(|e| format!("cannot follow the chat log: {e}"))?;
    let mut applied = 0;
    while applied < last {
        let Some(next) = messages.next().await else {
            return Err("the chat log ended during catch-up".into());
        };
        let msg = next.map_err(|e| format!("cannot read the chat log: {e}"))?;
        let seq = msg.info().map(|i| i.stream_sequence).unwrap_or(last);
        if let Some(ops) = entry(&msg) {
            // No session is open yet: there is nobody to tell.
            let _ = chat.replicate(ops);
        }
        applied += 1;
        if seq >= last {
            break;
        }
    }
    Ok((applied, messages))
}

/// Applies every entry that another instance publishes, until the server stops.
pub(super) async fn follow(mut messages: Ordered, instance: String, commands: Commands) {
    while let Some(next) = messages.next().await {
        let msg = match next {
            Ok(msg) => msg,
            Err(e) => {
                tracing::warn!(error = %e, "reading the chat log failed; going on");
                // Not in a tight loop: the consumer recovers on its own, given time.
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let own = msg
            .headers
            .as_ref()
            .and_then(|h| h.get(INSTANCE))
            .is_some_and(|v| v.as_str() == instance);
        if own {
            continue;
        }
        let Some(ops) = entry(&msg) else { continue };
        let command: dgram_net::session::Command<ChatEndpoint<Limits>> =
            Box::new(move |ep: &mut ChatEndpoint<Limits>, now| ep.replicated(now, ops));
        if commands.send(command).await.is_err() {
            break;
        }
    }
    tracing::warn!("stopped following the chat log");
}

/// One entry's ops; `None` (counted in the log) for one this build cannot read.
fn entry(msg: &async_nats::jetstream::Message) -> Option<Vec<Op>> {
    match decode(&msg.payload) {
        Ok(ops) => Some(ops),
        Err(e) => {
            tracing::warn!(error = %e, "an unreadable chat log entry; skipped");
            None
        }
    }
}
