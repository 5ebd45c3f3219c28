//! The cluster's [`ChangeStore`]: one event's ops become one message on the log's stream, and
//! the ticket is reported committed only once JetStream acknowledged it (stored on a majority
//! of the stream's replicas). Two tasks keep order without waiting a round trip per event: the
//! publisher sends each entry as it comes (first claiming new names in the names bucket,
//! create-only, so that a name another instance holds fails the event as taken), and the
//! acknowledgements are awaited in the same order and reported, each ticket in turn. Nothing
//! is published while the client is not connected: the event fails at once as "cluster
//! unavailable", and its requester hears that it was not sent.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_nats::connection::State;
use async_nats::jetstream::context::PublishAckFuture;
use async_nats::jetstream::{kv, Context};
use async_nats::HeaderMap;
use tokio::sync::mpsc;

use super::{encode, name_key, Commands, INSTANCE, SUBJECT};
use crate::core::{ChangeStore, Fence, Op, Submitted, Ticket, NAME_TAKEN};
use crate::endpoint::ChatEndpoint;
use crate::server::Limits;
use crate::store::writer::Report;

/// Why an event failed when NATS could not take it.
pub(crate) const UNAVAILABLE: &str = "cluster unavailable";
/// How long an acknowledgement may take before the event counts as failed.
const ACK_WAIT: Duration = Duration::from_secs(5);

/// The socket task's end: hands each event's ops to the publisher.
#[derive(Debug)]
pub(crate) struct ClusterStore {
    tx: mpsc::UnboundedSender<(Ticket, Vec<Op>)>,
    backlog: Arc<AtomicUsize>,
    /// Requests to answer once this replica has caught up with the log ([`super::fence`]).
    fences: mpsc::UnboundedSender<Fence>,
}

/// An entry on its way: waiting for its acknowledgement, or failed already.
enum Flight {
    Acking(Ticket, usize, PublishAckFuture, Option<Again>),
    Failed(Ticket, usize, String),
}

/// An entry that only keeps books (a recipient's acknowledgement, a name's use, who is on):
/// nobody is waiting for its answer, and the others need it (a `Dequeue` is the sender's
/// receipt), so an acknowledgement that does not come is not a failure at once; it is sent
/// again, under the same message id, which JetStream stores once.
struct Again {
    headers: HeaderMap,
    payload: bytes::Bytes,
}

/// Times a bookkeeping entry is sent again before it counts as failed.
const AGAIN: usize = 3;

/// Whether an event's ops only keep books (see [`Again`]).
fn bookkeeping(ops: &[Op]) -> bool {
    ops.iter().all(|op| {
        matches!(
            op,
            Op::Dequeue { .. }
                | Op::Touch { .. }
                | Op::Presence { .. }
                | Op::Established { .. }
                | Op::Gone { .. }
                | Op::Received { .. }
        )
    })
}

/// Starts the publisher and the acknowledgement tasks; both end once the store is dropped and
/// what it was given is reported.
pub(super) fn start(
    js: Context,
    client: async_nats::Client,
    names: kv::Store,
    (instance, commands, fences): (String, Commands, mpsc::UnboundedSender<Fence>),
) -> (
    ClusterStore,
    tokio::task::JoinHandle<()>,
    tokio::task::JoinHandle<()>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (flights, landed) = mpsc::unbounded_channel();
    let backlog = Arc::new(AtomicUsize::new(0));
    let js_again = js.clone();
    let publisher = Publisher {
        js,
        client,
        names,
        instance,
    };
    let publisher = tokio::spawn(publisher.run(rx, flights));
    let acks = tokio::spawn(acknowledged(landed, commands, backlog.clone(), js_again));
    let store = ClusterStore {
        tx,
        backlog,
        fences,
    };
    (store, publisher, acks)
}

impl ChangeStore for ClusterStore {
    fn keeps(&self) -> bool {
        true
    }

    fn submit(&mut self, ticket: Ticket, ops: Vec<Op>) -> Submitted {
        self.backlog.fetch_add(ops.len(), Ordering::Relaxed);
        match self.tx.send((ticket, ops)) {
            Ok(()) => Submitted::Pending,
            Err(_) => Submitted::Refused(UNAVAILABLE.to_owned()),
        }
    }

    fn backlog(&self) -> usize {
        self.backlog.load(Ordering::Relaxed)
    }

    fn fence(&mut self, fence: Fence) -> Result<(), Fence> {
        self.fences.send(fence).map_err(|e| e.0)
    }
}

struct Publisher {
    js: Context,
    client: async_nats::Client,
    names: kv::Store,
    instance: String,
}

impl Publisher {
    async fn run(
        self,
        mut rx: mpsc::UnboundedReceiver<(Ticket, Vec<Op>)>,
        flights: mpsc::UnboundedSender<Flight>,
    ) {
        while let Some((ticket, ops)) = rx.recv().await {
            let n = ops.len();
            let flight = match self.publish(ticket, &ops).await {
                Ok((ack, again)) => Flight::Acking(ticket, n, ack, again),
                Err(why) => Flight::Failed(ticket, n, why),
            };
            if flights.send(flight).is_err() {
                break;
            }
        }
    }

    /// Claims the event's new names, then publishes its ops; the acknowledgement is awaited
    /// elsewhere.
    async fn publish(
        &self,
        ticket: Ticket,
        ops: &[Op],
    ) -> Result<(PublishAckFuture, Option<Again>), String> {
        if self.client.connection_state() != State::Connected {
            return Err(UNAVAILABLE.to_owned());
        }
        let claimed = self.claim(ops).await?;
        for op in ops {
            if let Op::Lapse { user } = op {
                // Free for anyone again; a failure leaves the name held in the bucket until a
                // later lapse frees it (never two holders).
                if let Err(e) = self.names.delete(name_key(user.key())).await {
                    tracing::warn!(user = %user, error = %e, "cannot free a lapsed name");
                }
            }
        }
        let sent = match encode(ops) {
            Ok(payload) => {
                let mut headers = HeaderMap::new();
                headers.insert(INSTANCE, self.instance.as_str());
                let payload = bytes::Bytes::from(payload);
                let again = bookkeeping(ops).then(|| {
                    let id = format!("{}-{ticket}", self.instance);
                    headers.insert("Nats-Msg-Id", id.as_str());
                    Again {
                        headers: headers.clone(),
                        payload: payload.clone(),
                    }
                });
                self.js
                    .publish_with_headers(SUBJECT, headers, payload)
                    .await
                    .map(|ack| (ack, again))
                    .map_err(|e| {
                        tracing::warn!(error = %e, "cannot publish to the chat log");
                        UNAVAILABLE.to_owned()
                    })
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot encode chat changes");
                Err(format!("cannot encode the change: {e}"))
            }
        };
        if sent.is_err() {
            self.unclaim(&claimed).await;
        }
        sent
    }

    /// Claims each name the event claims, create-only; returns the bucket keys it took.
    async fn claim(&self, ops: &[Op]) -> Result<Vec<String>, String> {
        let mut taken = Vec::new();
        for op in ops {
            let Op::Claim { name, owner, .. } = op else {
                continue;
            };
            let key = name_key(name.key());
            match self.names.create(&key, owner.to_vec().into()).await {
                Ok(_) => taken.push(key),
                Err(e) => {
                    self.unclaim(&taken).await;
                    if e.kind() == kv::CreateErrorKind::AlreadyExists {
                        tracing::info!(name = %name, "name claimed through another instance");
                        return Err(NAME_TAKEN.to_owned());
                    }
                    tracing::warn!(name = %name, error = %e, "cannot claim a name");
                    return Err(UNAVAILABLE.to_owned());
                }
            }
        }
        Ok(taken)
    }

    /// Gives back names whose event failed after all (best effort).
    async fn unclaim(&self, keys: &[String]) {
        for key in keys {
            if let Err(e) = self.names.delete(key).await {
                tracing::warn!(key, error = %e, "cannot give back a claimed name");
            }
        }
    }
}

/// Awaits each entry's acknowledgement in publishing order and reports its ticket.
async fn acknowledged(
    mut landed: mpsc::UnboundedReceiver<Flight>,
    commands: Commands,
    backlog: Arc<AtomicUsize>,
    js: Context,
) {
    while let Some(flight) = landed.recv().await {
        let (report, n) = match flight {
            Flight::Acking(ticket, n, ack, again) => {
                let stored = landed_in_time(&js, ticket, ack, again).await;
                match stored {
                    true => (Report::Committed(ticket), n),
                    false => (Report::Failed(ticket, UNAVAILABLE.to_owned()), n),
                }
            }
            Flight::Failed(ticket, n, why) => (Report::Failed(ticket, why), n),
        };
        backlog.fetch_sub(n, Ordering::Relaxed);
        let command: dgram_net::session::Command<ChatEndpoint<Limits>> =
            Box::new(move |ep: &mut ChatEndpoint<Limits>, now| ep.report(now, report));
        if commands.send(command).await.is_err() {
            // The server is stopping.
            break;
        }
    }
}

/// Whether an entry was acknowledged: in time, or (a bookkeeping entry) after being sent
/// again a few times.
async fn landed_in_time(
    js: &Context,
    ticket: Ticket,
    ack: PublishAckFuture,
    again: Option<Again>,
) -> bool {
    let mut ack = ack;
    for attempt in 0..=AGAIN {
        match tokio::time::timeout(ACK_WAIT, ack).await {
            Ok(Ok(_)) => return true,
            Ok(Err(e)) => tracing::warn!(ticket, error = %e, "the chat log refused a change"),
            Err(_) => tracing::warn!(ticket, "no acknowledgement from the chat log in time"),
        }
        let Some(again) = again.as_ref().filter(|_| attempt < AGAIN) else {
            return false;
        };
        match js
            .publish_with_headers(SUBJECT, again.headers.clone(), again.payload.clone())
            .await
        {
            Ok(next) => ack = next,
            Err(e) => {
                tracing::warn!(ticket, error = %e, "cannot send a change again");
                tokio::time::sleep(Duration::from_millis(500)).await;
                return false;
            }
        }
    }
    false
}
