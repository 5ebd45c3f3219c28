//! Several chat-server instances as one chat service, over NATS JetStream (`--nats`). The chat
//! core's [`Op`]s are the replicated log: every event's ops are published as one message on
//! one stream (replicated to three nodes when the cluster has three), and an event counts as
//! committed, so that its answers (a message's `Accepted`) go out, only once JetStream
//! acknowledged the publish ([`log`]). Every instance follows the stream from its start and
//! applies the other instances' ops to its own memory ([`follow`]), which is thus a replica of
//! one state; deliveries to the sessions an instance holds come from applying the log there,
//! so no instance routes to another. Names are claimed in a key-value bucket with create-only
//! (compare-and-set), so that of two instances claiming one name at once exactly one wins.
//! When NATS cannot be reached, new messages are refused ("cluster unavailable"), never
//! accepted and then lost. The instances share one server key ([`key`]), so that a client
//! can go from one to another, and hear each other's heartbeats ([`alive`]), so that one that
//! dies takes its names offline everywhere.

mod alive;
mod fence;
mod follow;
mod key;
mod log;

use std::path::Path;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, kv, stream};
use dgram_net::session::Command;
use dgram_proto::session::Keypair;
use tokio::sync::{mpsc, watch};

use crate::core::{Chat, ChatConfig, Op};
use crate::endpoint::ChatEndpoint;
use crate::requests::AnyChat;
use crate::server::Limits;
use crate::Error;

/// The stream every instance publishes its ops to and follows.
const STREAM: &str = "CHAT_OPS";
/// Its one subject.
const SUBJECT: &str = "chat.ops";
/// Claimed names, by key (hex, as bucket keys allow no other letters).
const NAMES: &str = "chat_names";
/// Each joining instance announces itself here; the announcement's sequence is its number
/// (and so its own id residue).
const INSTANCES: &str = "CHAT_INSTANCES";
const INSTANCES_SUBJECT: &str = "chat.instances";
/// The header naming the instance that published a log entry.
const INSTANCE: &str = "Chat-Instance";
/// Ids go up by this much; each instance has its own residue below it.
const ID_STEP: u64 = 1024;
/// How long joining may wait for the cluster (a fresh cluster elects its leaders first).
const JOIN_WAIT: Duration = Duration::from_secs(30);
/// The stream's size cap; past it the oldest entries go (as history's caps drop the oldest).
const MAX_STREAM_BYTES: i64 = 1 << 30;

/// Commands to the endpoint the session driver runs.
pub(crate) type Commands = mpsc::Sender<Command<ChatEndpoint<Limits>>>;

/// The running cluster link, to stop with the server.
#[derive(Debug)]
pub(crate) struct ClusterTasks {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl ClusterTasks {
    /// Lets what was handed to the publisher go out (briefly: nobody is left to hear its
    /// acknowledgement, and what JetStream took stays in the log), then stops following.
    pub(crate) async fn stop(self) {
        let mut tasks = self.tasks.into_iter();
        // The publisher ends once the store is dropped and its queue is empty.
        if let Some(publisher) = tasks.next() {
            let _ = tokio::time::timeout(Duration::from_millis(500), publisher).await;
        }
        for t in tasks {
            t.abort();
        }
    }
}

/// What an instance joins with besides the servers: its chat caps, its seed, the server key
/// it was given (`None`: the service's, [`key`]) and its data directory (where that key is
/// kept too).
pub(crate) struct Joining<'a> {
    pub(crate) config: &'a ChatConfig,
    pub(crate) seed: [u8; 32],
    pub(crate) key: Option<&'a Keypair>,
    pub(crate) data_dir: Option<&'a Path>,
}

/// Joins the cluster at `urls`: connects, makes the stream and buckets if they are new,
/// agrees on the service's server key, replays the whole log into a new chat core (catching
/// up before any session is accepted), and starts publishing and following.
pub(crate) async fn join(
    urls: &[String],
    joining: Joining<'_>,
    commands: Commands,
) -> Result<(AnyChat, ClusterTasks, Keypair), Error> {
    let Joining {
        config,
        seed,
        key,
        data_dir,
    } = joining;
    let fail = |why: String| Error::Cluster {
        urls: urls.join(","),
        why,
    };
    let client = connect(urls).await.map_err(fail)?;
    let js = jetstream::new(client.clone());
    let replicas = replicas(&client, urls.len());
    let deadline = Instant::now() + JOIN_WAIT;
    let stream = retry(deadline, || {
        js.get_or_create_stream(stream_config(config, replicas))
    })
    .await
    .map_err(|e| fail(format!("cannot make the stream {STREAM}: {e}")))?;
    let names = retry(deadline, || bucket(&js, NAMES, replicas))
        .await
        .map_err(|e| fail(format!("cannot make the bucket {NAMES}: {e}")))?;
    let key = match key {
        Some(key) => key.clone(),
        None => key::service_key(&js, replicas, data_dir, deadline)
            .await
            .map_err(fail)?,
    };
    let number = retry(deadline, || instance_number(&js, replicas))
        .await
        .map_err(fail)?;
    let instance = format!("{number}-{}", hex(&seed[..4]));
    // A new stream elects its own leader after it is made: wait until both take writes, so
    // that the first sessions are not refused for a cluster still settling.
    retry(deadline, || writable(&js, &names, &instance))
        .await
        .map_err(fail)?;
    let (origins, heard_of) = mpsc::unbounded_channel();
    let alive = tokio::spawn(alive::run(
        client.clone(),
        js.clone(),
        instance.clone(),
        commands.clone(),
        heard_of,
    ));
    let (fences, fenced) = mpsc::unbounded_channel();
    let (store, publisher, acks) = log::start(
        js.clone(),
        client,
        names,
        (instance.clone(), commands.clone(), fences),
    );
    let store: Box<dyn crate::core::ChangeStore + Send> = Box::new(store);
    let mut chat = Chat::new(config.clone(), store);
    let (replayed, following) = follow::catch_up(stream, &mut chat).await.map_err(fail)?;
    chat.id_space(ID_STEP, number % ID_STEP);
    tracing::info!(%instance, replicas, replayed, "joined the chat cluster");
    let (applied, seen) = watch::channel(following.seen());
    let fence = tokio::spawn(fence::run(fenced, js, seen, commands.clone()));
    let follower = tokio::spawn(follow::follow(
        following,
        instance,
        commands,
        (origins, applied),
    ));
    let tasks = vec![publisher, acks, follower, alive, fence];
    Ok((chat, ClusterTasks { tasks }, key))
}

/// Whether the log and the names bucket take writes: an empty entry on the log (which
/// changes nothing where it is applied), and this instance's mark in the bucket (a key no
/// name has: names' keys are hex).
async fn writable(
    js: &jetstream::Context,
    names: &kv::Store,
    instance: &str,
) -> Result<(), String> {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(INSTANCE, instance);
    let empty = encode(&[])?;
    js.publish_with_headers(SUBJECT, headers, empty.into())
        .await
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    names
        .put(format!("instance.{instance}"), "joined".into())
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Connects to a server of `urls` that answers (the client then learns the others, and
/// reconnects on its own for as long as the server runs).
async fn connect(urls: &[String]) -> Result<async_nats::Client, String> {
    let deadline = Instant::now() + JOIN_WAIT;
    loop {
        let options = async_nats::ConnectOptions::new()
            .name("chat-server")
            .connection_timeout(Duration::from_secs(2))
            // Back soon after the servers are: at most a second between tries, not the
            // client's default of up to several.
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis((attempts as u64 * 100).min(1000))
            });
        match options.connect(urls).await {
            Ok(client) => return Ok(client),
            Err(e) if Instant::now() > deadline => return Err(e.to_string()),
            Err(e) => tracing::debug!(error = %e, "no NATS server answered yet"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Three replicas when the cluster has three servers or more, else one.
fn replicas(client: &async_nats::Client, given: usize) -> usize {
    let known = client.server_info().connect_urls.len().max(given);
    if known >= 3 {
        3
    } else {
        1
    }
}

/// Retries `make` until it succeeds or `deadline` passes (a new cluster has no JetStream
/// leader for its first seconds).
async fn retry<T, E: std::fmt::Display, F: std::future::Future<Output = Result<T, E>>>(
    deadline: Instant,
    mut make: impl FnMut() -> F,
) -> Result<T, E> {
    loop {
        match make().await {
            Ok(v) => return Ok(v),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(e) => {
                tracing::debug!(error = %e, "cluster not ready yet");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
    }
}

/// The log's stream: kept as long as a claim may live unused (history and queues expire
/// sooner in the core), and capped in size, oldest first.
fn stream_config(config: &ChatConfig, replicas: usize) -> stream::Config {
    stream::Config {
        name: STREAM.into(),
        subjects: vec![SUBJECT.into()],
        num_replicas: replicas,
        max_age: Duration::from_millis(config.claim_ttl_ms.max(config.expiry_ms)),
        max_bytes: MAX_STREAM_BYTES,
        discard: stream::DiscardPolicy::Old,
        storage: stream::StorageType::File,
        // Bookkeeping entries sent again carry a message id; JetStream stores each once
        // within this window.
        duplicate_window: Duration::from_secs(60),
        ..Default::default()
    }
}

/// A key-value bucket, made as its stream directly: the client's own `create_key_value`
/// first reads account fields that nats-server 2.9 (Debian's) does not send.
async fn bucket(js: &jetstream::Context, name: &str, replicas: usize) -> Result<kv::Store, String> {
    let config = stream::Config {
        name: format!("KV_{name}"),
        subjects: vec![format!("$KV.{name}.>")],
        max_messages_per_subject: 1,
        num_replicas: replicas,
        storage: stream::StorageType::File,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: stream::DiscardPolicy::New,
        ..Default::default()
    };
    js.get_or_create_stream(config)
        .await
        .map_err(|e| e.to_string())?;
    js.get_key_value(name).await.map_err(|e| e.to_string())
}

/// This instance's number: the sequence of its announcement on the instances stream, which
/// JetStream hands out once each.
async fn instance_number(js: &jetstream::Context, replicas: usize) -> Result<u64, String> {
    let config = stream::Config {
        name: INSTANCES.into(),
        subjects: vec![INSTANCES_SUBJECT.into()],
        num_replicas: replicas,
        max_messages: 64,
        discard: stream::DiscardPolicy::Old,
        storage: stream::StorageType::File,
        ..Default::default()
    };
    js.get_or_create_stream(config)
        .await
        .map_err(|e| format!("cannot make the stream {INSTANCES}: {e}"))?;
    let ack = js
        .publish(INSTANCES_SUBJECT, "joined".into())
        .await
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    Ok(ack.sequence)
}

/// A name's key in the names bucket: hex, which bucket keys allow whatever the script.
fn name_key(key: &str) -> String {
    hex(key.as_bytes())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One log entry: one event's ops.
fn encode(ops: &[Op]) -> Result<Vec<u8>, String> {
    bincode::serde::encode_to_vec(ops, bincode::config::standard()).map_err(|e| e.to_string())
}

fn decode(bytes: &[u8]) -> Result<Vec<Op>, String> {
    bincode::serde::decode_from_slice(bytes, bincode::config::standard())
        .map(|(ops, _)| ops)
        .map_err(|e| e.to_string())
}
