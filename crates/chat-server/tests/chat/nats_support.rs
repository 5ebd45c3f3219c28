//! A real NATS JetStream cluster for the cluster tests: `nats-server` (Debian's package;
//! `.ci/run` installs it) started as three nodes on loopback ports, each with its own store
//! directory under a temporary directory and routes to the others, waited for until JetStream
//! answers; a node can be killed and started again on its ports and store. And chat-server
//! instances that join it, and can be killed as a process is (no goodbyes).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;

use crate::support::{server_on, settings, Server};

/// How long a cluster may take to elect its JetStream leader.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// The `nats-server` binary: `$NATS_SERVER`, else on the path, else Debian's place for it.
fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("NATS_SERVER") {
        return p.into();
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("nats-server"))
        .find(|p| p.is_file());
    let found = on_path.unwrap_or_else(|| PathBuf::from("/usr/sbin/nats-server"));
    assert!(
        found.is_file(),
        "nats-server is not installed (apt-get install nats-server; .ci/run does it)"
    );
    found
}

/// A free loopback TCP port (routes need their ports before the servers start).
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a port");
    l.local_addr().expect("local addr").port()
}

struct Node {
    client_port: u16,
    conf: PathBuf,
    child: Option<Child>,
}

/// A JetStream cluster of nodes on loopback; killed when dropped.
pub(crate) struct NatsCluster {
    nodes: Vec<Node>,
    _dir: tempfile::TempDir,
    /// One cluster at a time: three servers and two instances per test are enough for the
    /// machine, and a test's timings should not depend on its neighbours'.
    _one_at_a_time: tokio::sync::MutexGuard<'static, ()>,
}

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl NatsCluster {
    /// Starts `n` nodes as one cluster and waits until JetStream answers.
    pub(crate) async fn start(n: usize) -> NatsCluster {
        let guard = ONE_AT_A_TIME.lock().await;
        let dir = tempfile::tempdir().expect("a temporary directory");
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let mut nodes = Vec::new();
        for (i, &(client_port, cluster_port)) in ports.iter().enumerate() {
            let routes: Vec<String> = ports
                .iter()
                .filter(|&&(_, c)| c != cluster_port)
                .map(|(_, c)| format!("nats-route://127.0.0.1:{c}"))
                .collect();
            let conf = write_conf(dir.path(), i, client_port, cluster_port, &routes);
            nodes.push(Node {
                client_port,
                conf,
                child: None,
            });
        }
        let mut cluster = NatsCluster {
            nodes,
            _dir: dir,
            _one_at_a_time: guard,
        };
        for i in 0..n {
            cluster.spawn(i);
        }
        cluster.ready().await;
        cluster
    }

    /// Every node's client URL, whether it runs or not.
    pub(crate) fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("nats://127.0.0.1:{}", n.client_port))
            .collect()
    }

    fn spawn(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        let child = Command::new(binary())
            .arg("-c")
            .arg(&node.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        node.child = Some(child);
    }

    /// Kills node `i` at once (no goodbye to its peers).
    pub(crate) fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts node `i` again, on its ports and store (then [`NatsCluster::ready`] waits for
    /// the cluster, which needs a majority of its nodes).
    pub(crate) fn restart(&mut self, i: usize) {
        self.spawn(i);
    }

    /// Waits until JetStream answers an account query through every running node (which needs
    /// the cluster's meta leader).
    pub(crate) async fn ready(&self) {
        let deadline = Instant::now() + READY_WITHIN;
        for node in self.nodes.iter().filter(|n| n.child.is_some()) {
            let url = format!("nats://127.0.0.1:{}", node.client_port);
            let replicas = self.nodes.len();
            loop {
                if js_answers(&url, replicas).await {
                    break;
                }
                assert!(Instant::now() < deadline, "the NATS cluster is not ready");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    /// The node that leads most of the chat log's consumers: the instances' followers, whose
    /// consumers are kept on one node each. Killing it leaves them waiting on a dead node.
    pub(crate) async fn followers_node(&self) -> usize {
        use futures_util::StreamExt;
        let client = async_nats::connect(self.urls()[0].as_str())
            .await
            .expect("connect to NATS");
        let js = async_nats::jetstream::new(client);
        let stream = js.get_stream("CHAT_OPS").await.expect("the chat log");
        let mut led = vec![0; self.nodes.len()];
        let mut consumers = stream.consumers();
        while let Some(info) = consumers.next().await {
            let leader = info.ok().and_then(|i| i.cluster).and_then(|c| c.leader);
            let node = leader.and_then(|l| l.strip_prefix('n')?.parse::<usize>().ok());
            if let Some(n) = node.filter(|&n| n < led.len()) {
                led[n] += 1;
            }
        }
        (0..led.len()).max_by_key(|&n| led[n]).unwrap_or(0)
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }
}

/// Whether a stream replicated to `replicas` nodes takes a write through `url`.
async fn js_answers(url: &str, replicas: usize) -> bool {
    let connect = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_millis(500))
        .connect(url);
    let Ok(Ok(client)) = tokio::time::timeout(Duration::from_secs(1), connect).await else {
        return false;
    };
    let js = async_nats::jetstream::new(client);
    let probe = async_nats::jetstream::stream::Config {
        name: "PROBE".into(),
        subjects: vec!["probe".into()],
        storage: async_nats::jetstream::stream::StorageType::Memory,
        num_replicas: replicas,
        ..Default::default()
    };
    let write = async {
        js.get_or_create_stream(probe).await.ok()?;
        js.publish("probe", "ready".into()).await.ok()?.await.ok()
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), write).await,
        Ok(Some(_))
    )
}

fn write_conf(dir: &Path, i: usize, port: u16, cluster_port: u16, routes: &[String]) -> PathBuf {
    let store = dir.join(format!("n{i}"));
    let conf = format!(
        "server_name: n{i}\nlisten: 127.0.0.1:{port}\n\
         jetstream {{ store_dir: \"{}\" }}\n\
         cluster {{ name: dgram, listen: 127.0.0.1:{cluster_port}, routes: [{}] }}\n",
        store.display(),
        routes.join(", ")
    );
    let path = dir.join(format!("n{i}.conf"));
    std::fs::write(&path, conf).expect("write the node's config");
    path
}

/// A three-node NATS cluster and two chat-server instances on it, each serving: the setting
/// of every cluster test.
pub(crate) async fn two_instances() -> (NatsCluster, Server, Server) {
    let nats = NatsCluster::start(3).await;
    let a = instance(&nats.urls(), 1).await;
    let b = instance(&nats.urls(), 2).await;
    (nats, a, b)
}

/// A chat-server instance that joins the cluster at `urls`, once it serves (it catches up
/// with the log first, and a new cluster's streams elect their leaders); `seed` tells
/// instances apart.
pub(crate) async fn instance(urls: &[String], seed: u8) -> Server {
    let srv = spawn_instance(urls, seed).await;
    until_serving(&srv).await;
    srv
}

/// Whether a session to `addr` opens within a second.
async fn serves(addr: std::net::SocketAddr) -> bool {
    use dgram_client::{Follow, Link, LinkEvent, ServerTarget, SessionEvent};
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let target = ServerTarget::new(&addr.to_string(), addr);
    let Ok(mut link) = Link::open_on(socket, target, Follow::system(), crate::support::identity())
    else {
        return false;
    };
    let connected = async {
        while let Some(event) = link.recv().await {
            if let LinkEvent::Session(SessionEvent::Connected { .. }) = event {
                return true;
            }
        }
        false
    };
    let up = tokio::time::timeout(Duration::from_secs(1), connected)
        .await
        .unwrap_or(false);
    link.leave();
    up
}

/// The settings of a test instance on the cluster at `urls`: limits off, its own seed.
pub(crate) fn instance_settings(urls: &[String], seed: u8) -> chat_server::Settings {
    chat_server::Settings {
        seed: Some([seed; 32]),
        nats: urls.to_vec(),
        rate: None,
        name_rate: None,
        network_rate: None,
        ..settings()
    }
}

async fn spawn_instance(urls: &[String], seed: u8) -> Server {
    instance_with(instance_settings(urls, seed)).await
}

/// An instance with settings of the test's own, started (not yet waited for).
pub(crate) async fn instance_with(settings: chat_server::Settings) -> Server {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    server_on(socket, settings)
}

/// Waits until `srv` serves (it joined the cluster and caught up), or panics.
pub(crate) async fn until_serving(srv: &Server) {
    let deadline = Instant::now() + READY_WITHIN;
    while !serves(srv.addr).await {
        assert!(Instant::now() < deadline, "the instance never served");
    }
}

/// Kills an instance as SIGKILL would a process: its task is dropped, so no session hears
/// a goodbye and no name is logged going offline.
pub(crate) async fn kill(srv: Server) {
    let task = srv.task;
    task.abort();
    let _ = task.await;
}
