//! `chat-server healthcheck`: a full session handshake with the server (Hello, cookie, Join,
//! welcome) within a deadline, then a goodbye so no ghost session is left behind. It runs
//! proto's session client over a blocking socket, so the probe checks what real clients need.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dgram_net::main_support::cli::Probe;
use dgram_proto::session::{Client, Config, Event, Keypair, ServerPin};
use dgram_proto::MAX_DATAGRAM;

/// What `chat-server healthcheck` runs, a session with the server, and the names its command
/// line gives it.
#[derive(Debug)]
pub struct SessionProbe;

impl Probe for SessionProbe {
    const ABOUT: &'static str = "Opens a session with the server and exits 0 once it is up, \
        1 otherwise, within 2 seconds. Container images have no shell; their health checks run \
        this";
    const SERVER_ENV: &'static str = "CHAT_HEALTHCHECK_SERVER";
    const DEFAULT_SERVER: &'static str = "127.0.0.1:8081";

    /// Probes `server`; `Ok(())` when a session was established within `deadline`.
    fn probe(server: SocketAddr, deadline: Duration) -> Result<(), String> {
        let socket = dgram_net::main_support::probe_socket(server)?;
        // The probe's secrets protect nothing, so a clock-derived seed is enough here.
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let seed = *blake3::hash(&nanos.to_le_bytes()).as_bytes();
        let start = Instant::now();
        let config = Config {
            handshake_retry: Duration::from_millis(250),
            ..Config::default()
        };
        // A probe trusts whatever key answers: it checks that sessions work, not who serves.
        let identity = Keypair::from_seed(*blake3::hash(&seed).as_bytes());
        let mut client = Client::new(config, seed, server, start, identity, ServerPin::Any);
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut inbox = vec![0u8; 65_536];
        loop {
            let now = Instant::now();
            if now >= start + deadline {
                return Err(format!("no session with {server} within {deadline:?}"));
            }
            while let Some(t) = client.poll_transmit(now, &mut buf) {
                let _ = socket.send_to(&buf[..t.len], t.destination);
            }
            while let Some(event) = client.poll_event() {
                if let Event::Connected { .. } = event {
                    client.close();
                    while let Some(t) = client.poll_transmit(Instant::now(), &mut buf) {
                        let _ = socket.send_to(&buf[..t.len], t.destination);
                    }
                    return Ok(());
                }
            }
            let wake = client
                .poll_timeout()
                .unwrap_or(start + deadline)
                .min(start + deadline);
            let wait = wake
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1));
            socket
                .set_read_timeout(Some(wait))
                .map_err(|e| e.to_string())?;
            match socket.recv_from(&mut inbox) {
                Ok((n, from)) => client.handle_datagram(Instant::now(), from, &inbox[..n]),
                // A timeout, or ICMP "port unreachable" reported on the socket: go on until the
                // deadline, as the server may be starting.
                Err(_) => client.handle_timeout(Instant::now()),
            }
        }
    }
}
