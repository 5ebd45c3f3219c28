//! quinn's rows: the same work over QUIC, which encrypts every packet (TLS 1.3 keys, AES-GCM
//! from rustls' ring provider) and has congestion control (quinn's default, CUBIC).
//!
//! The mapping: one unidirectional stream from the client to the server carries every message
//! as a frame, a 2-byte length and the payload. dgram's reliable messages are delivered exactly
//! once and in order on their channel; one QUIC stream is exactly that. QUIC DATAGRAM frames are
//! unreliable, so they would measure less work; a stream per message would be reliable but
//! unordered (less than dgram promises) and pay a stream's opening and credit per message. The
//! window: quinn's `send_window` is set to WINDOW frames, so the transport itself refuses more
//! than 512 messages' bytes not yet acknowledged, as dgram's sender keeps at most 512 messages
//! not yet reported delivered. (QUIC keeps acked bytes after a lost one counted until the gap is
//! filled; that is how a QUIC stream works, and it is part of what is measured. At 10 % loss a
//! send window of 10 MB measured the same as this one: there, congestion control is what
//! bounds quinn, not the window.)

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use quinn::rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use quinn::rustls::RootCertStore;
use quinn::{ClientConfig, Connection, Endpoint, EndpointConfig, ServerConfig, TransportConfig};
use tokio::sync::oneshot;

use crate::measure::{cpu_time, Outcome, Wire, SIZE, WINDOW};
use crate::quic_socket::LossySocket;
use crate::run::Run;

/// The length prefix of every frame on the stream.
pub(crate) const PREFIX: usize = 2;

/// The same socket buffers as dgram's driver asks for.
const SOCKET_BUFFER: usize = 4 << 20;

/// The name in the self-signed certificate, which the client checks.
const SERVER_NAME: &str = "localhost";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A server config with a fresh self-signed certificate, and a client config that trusts it
/// (as a root) and nothing else: the certificate is checked for real, as in production.
fn configs() -> (ServerConfig, ClientConfig) {
    let certified = rcgen::generate_simple_self_signed(vec![SERVER_NAME.to_string()])
        .expect("self-signed certificate");
    let cert: CertificateDer<'static> = certified.cert.der().clone();
    let key = PrivatePkcs8KeyDer::from(certified.signing_key.serialize_der());
    let mut transport = TransportConfig::default();
    transport.send_window((WINDOW * (PREFIX + SIZE)) as u64);
    let transport = Arc::new(transport);
    let mut server =
        ServerConfig::with_single_cert(vec![cert.clone()], key.into()).expect("server config");
    server.transport_config(transport.clone());
    let mut roots = RootCertStore::empty();
    roots.add(cert).expect("root certificate");
    let mut client = ClientConfig::with_root_certificates(Arc::new(roots)).expect("client config");
    client.transport_config(transport);
    (server, client)
}

/// A quinn endpoint on its own loopback socket, wrapped to drop and count.
fn endpoint(server: Option<ServerConfig>, loss: f64, seed: u64, wire: Arc<Wire>) -> Endpoint {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    if let Ok(state) = quinn::udp::UdpSocketState::new((&socket).into()) {
        let _ = state.set_recv_buffer_size((&socket).into(), SOCKET_BUFFER);
        let _ = state.set_send_buffer_size((&socket).into(), SOCKET_BUFFER);
    }
    let runtime: Arc<dyn quinn::Runtime> = Arc::new(quinn::TokioRuntime);
    let inner = runtime.wrap_udp_socket(socket).expect("quinn socket");
    let socket = Arc::new(LossySocket::new(inner, loss, seed, wire));
    Endpoint::new_with_abstract_socket(EndpointConfig::default(), server, socket, runtime)
        .expect("quinn endpoint")
}

/// Runs `run` over one QUIC connection. The clock starts before the handshake, as dgram's
/// does, and stops when the server has read every message (a little before the sender could
/// know; dgram's `wall` waits for the last ack, so its rates favour quinn slightly, while
/// goodput stops both clocks at the receiver), or at the limit.
pub(crate) async fn quinn(run: Run) -> Outcome {
    let (server_config, client_config) = configs();
    let (client_wire, server_wire) = (Arc::new(Wire::default()), Arc::new(Wire::default()));
    let server = endpoint(Some(server_config), run.loss, 0x5EED, server_wire.clone());
    let mut client = endpoint(None, run.loss, 0xFACE, client_wire.clone());
    client.set_default_client_config(client_config);
    let route = run
        .path
        .open(server.local_addr().expect("server addr"))
        .await;
    let received = Arc::new(AtomicUsize::new(0));
    let (done_tx, done) = oneshot::channel::<()>();
    let (conn_tx, conn_rx) = oneshot::channel::<Connection>();
    let connected = Arc::new(OnceLock::<Instant>::new());
    let cpu0 = cpu_time();
    let start = Instant::now();
    let server_task = tokio::spawn(report(
        "server",
        receive(server.clone(), run.count, received.clone(), done_tx),
    ));
    let client_task = tokio::spawn(report(
        "client",
        send(
            client.clone(),
            route.addr,
            run.count,
            conn_tx,
            connected.clone(),
        ),
    ));
    let _ = tokio::time::timeout(run.limit, done).await;
    let wall = start.elapsed();
    let cpu = cpu_time().saturating_sub(cpu0);
    for task in [server_task, client_task] {
        task.abort();
        let _ = task.await;
    }
    let mut note = None;
    // The client's task is gone, so this returns at once, with its connection if it had one.
    if let Ok(conn) = conn_rx.await {
        note = Some(stats_note(&conn));
        conn.close(0u32.into(), b"done");
    }
    client.close(0u32.into(), b"done");
    server.close(0u32.into(), b"done");
    let _ = tokio::time::timeout(Duration::from_secs(1), client.wait_idle()).await;
    Outcome {
        messages: received.load(Ordering::Relaxed),
        wall,
        received_all: None,
        connected: connected
            .get()
            .map(|&at| at.saturating_duration_since(start)),
        cpu,
        sent: client_wire.snapshot(),
        acks: server_wire.snapshot(),
        proxy: route.close().await,
        note,
    }
}

/// Runs one end, and says on stderr why it stopped early, if it did: a run that fails shows its
/// reason beside its short count rather than only the count.
async fn report(end: &str, work: impl std::future::Future<Output = Result<(), BoxError>>) {
    if let Err(err) = work.await {
        eprintln!("quinn {end}: {err}");
    }
}

/// What quinn's congestion control did on the client's side, for the reader of the numbers.
fn stats_note(conn: &Connection) -> String {
    let stats = conn.stats();
    format!(
        "lost_packets={} congestion_events={} cwnd_at_end={} rtt_us={} mtu={}",
        stats.path.lost_packets,
        stats.path.congestion_events,
        stats.path.cwnd,
        stats.path.rtt.as_micros(),
        stats.path.current_mtu
    )
}

/// The client: connects, hands the connection out (to close it at the end), and writes every
/// message as its own frame, as an application would, waiting whenever the window is full.
async fn send(
    endpoint: Endpoint,
    to: SocketAddr,
    count: usize,
    conn_tx: oneshot::Sender<Connection>,
    connected: Arc<OnceLock<Instant>>,
) -> Result<(), BoxError> {
    let conn = endpoint.connect(to, SERVER_NAME)?.await?;
    let _ = connected.set(Instant::now());
    let _ = conn_tx.send(conn.clone());
    let mut stream = conn.open_uni().await?;
    let mut frame = Vec::with_capacity(PREFIX + SIZE);
    frame.extend_from_slice(&(SIZE as u16).to_be_bytes());
    frame.resize(PREFIX + SIZE, b'x');
    for _ in 0..count {
        stream.write_all(&frame).await?;
    }
    stream.finish()?;
    conn.closed().await;
    Ok(())
}

/// The server: accepts the connection and its stream, reads it, counts whole frames, and says
/// so once all `count` are in. Holds the connection open until the bench closes it.
async fn receive(
    endpoint: Endpoint,
    count: usize,
    received: Arc<AtomicUsize>,
    done_tx: oneshot::Sender<()>,
) -> Result<(), BoxError> {
    let conn = endpoint.accept().await.ok_or("endpoint closed")?.await?;
    let mut stream = conn.accept_uni().await?;
    let mut frames = Frames::default();
    let mut buf = vec![0u8; 64 << 10];
    let mut done_tx = Some(done_tx);
    while let Some(n) = stream.read(&mut buf).await? {
        let whole = frames.feed(&buf[..n]);
        if received.fetch_add(whole, Ordering::Relaxed) + whole >= count {
            if let Some(tx) = done_tx.take() {
                let _ = tx.send(());
            }
        }
    }
    conn.closed().await;
    Ok(())
}

/// Splits the stream back into frames, across reads of any size.
#[derive(Debug, Default)]
struct Frames {
    /// Bytes of the current frame's payload still to come.
    body_left: usize,
    /// The length prefix read so far.
    prefix: [u8; PREFIX],
    prefix_len: usize,
}

impl Frames {
    /// Takes in the next bytes of the stream; how many frames they completed.
    fn feed(&mut self, mut data: &[u8]) -> usize {
        let mut whole = 0;
        while let Some((&first, rest)) = data.split_first() {
            if self.body_left > 0 {
                let take = self.body_left.min(data.len());
                data = &data[take..];
                self.body_left -= take;
                whole += usize::from(self.body_left == 0);
                continue;
            }
            self.prefix[self.prefix_len] = first;
            self.prefix_len += 1;
            data = rest;
            if self.prefix_len == PREFIX {
                self.prefix_len = 0;
                self.body_left = usize::from(u16::from_be_bytes(self.prefix));
                whole += usize::from(self.body_left == 0);
            }
        }
        whole
    }
}
