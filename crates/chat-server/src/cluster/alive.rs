//! Instances' heartbeats: an instance that dies without closing its sessions (killed, its
//! machine gone) never logs its names going offline, so the others would show them online
//! for ever. Every instance says it is alive on a plain NATS subject every second and hears
//! the others; one not heard for [`GONE_AFTER`] is declared gone with one [`Op::Gone`] on the
//! log, which every replica applies alike (its names go offline there). An instance whose
//! entries the log brings (live, not replayed) counts as heard then too, so that one killed
//! before its first beat reached us is watched all the same. Several instances may notice at
//! once: the entry's message id (the instance and its last beat heard) makes JetStream store
//! it once, and applying it twice changes nothing. While this instance is cut off from NATS
//! itself it hears nobody, which says nothing about them: it declares no one gone until it
//! has heard again for as long.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_nats::connection::State;
use async_nats::jetstream::Context;
use async_nats::HeaderMap;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::{encode, Commands, INSTANCE, SUBJECT};
use crate::core::Op;

/// Where instances say they are alive (not a stream: only the present matters).
const ALIVE: &str = "chat.alive";
/// How often.
const BEAT: Duration = Duration::from_secs(1);
/// How long an instance may be silent before it counts as gone: several beats, so that a
/// busy moment or a NATS node failing over is not a death.
const GONE_AFTER: Duration = Duration::from_secs(5);
/// Who a gone entry says made it: nobody's instance, so that every follower applies it,
/// the one that logged it too.
pub(super) const WATCH: &str = "watch";
/// How long the log may take to acknowledge a gone entry.
const ACK_WAIT: Duration = Duration::from_secs(5);

/// Beats and watches until the server is gone (its command queue closed: stopped, or its
/// task dropped as a killed process's would be). `origins` names the instances whose entries
/// the follower applies.
pub(super) async fn run(
    client: async_nats::Client,
    js: Context,
    instance: String,
    commands: Commands,
    mut origins: mpsc::UnboundedReceiver<String>,
) {
    let mut beats = match client.subscribe(ALIVE).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot hear the other instances; a dead one's names stay online");
            return;
        }
    };
    // Each instance's last word: when, and the number of its beat (0: heard of by the log).
    let mut heard: HashMap<String, (Instant, u64)> = HashMap::new();
    let mut beat_no: u64 = 0;
    let mut tick = tokio::time::interval(BEAT);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if commands.is_closed() {
                    return;
                }
                if client.connection_state() != State::Connected {
                    let now = Instant::now();
                    heard.values_mut().for_each(|(t, _)| *t = now);
                    continue;
                }
                beat_no += 1;
                let beat = format!("{instance} {beat_no}");
                if let Err(e) = client.publish(ALIVE, beat.into()).await {
                    tracing::debug!(error = %e, "cannot say this instance is alive");
                }
                let silent: Vec<(String, u64)> = heard
                    .iter()
                    .filter(|(_, (at, _))| at.elapsed() > GONE_AFTER)
                    .map(|(who, &(_, last))| (who.clone(), last))
                    .collect();
                for (who, last) in silent {
                    if declare(&js, &who, last).await {
                        heard.remove(&who);
                    }
                }
            }
            Some(who) = origins.recv() => {
                heard.entry(who).or_insert_with(|| (Instant::now(), 0));
            }
            beat = beats.next() => {
                let Some(beat) = beat else { return };
                let text = std::str::from_utf8(&beat.payload).unwrap_or_default();
                let (who, no) = text.split_once(' ').unwrap_or((text, "0"));
                if !who.is_empty() && who != instance {
                    let no = no.parse().unwrap_or(0);
                    heard.insert(who.to_owned(), (Instant::now(), no));
                }
            }
        }
    }
}

/// Logs that `instance` is gone after its beat `last`; whether the log took it (else it is
/// tried at the next beat). The message id names the last beat, so that the instances that
/// noticed the same silence store one entry, and a later death (after a return) is new.
async fn declare(js: &Context, instance: &str, last: u64) -> bool {
    let op = Op::Gone {
        instance: instance.to_owned(),
    };
    let Ok(payload) = encode(&[op]) else {
        return false;
    };
    let mut headers = HeaderMap::new();
    headers.insert(INSTANCE, WATCH);
    headers.insert("Nats-Msg-Id", format!("gone-{instance}-{last}").as_str());
    let acked = match js
        .publish_with_headers(SUBJECT, headers, payload.into())
        .await
    {
        Ok(ack) => matches!(tokio::time::timeout(ACK_WAIT, ack).await, Ok(Ok(_))),
        Err(_) => false,
    };
    if acked {
        tracing::info!(%instance, silent_for = ?GONE_AFTER, "an instance stopped beating; its names are offline");
    } else {
        tracing::warn!(%instance, "cannot log that an instance is gone; trying again");
    }
    acked
}
