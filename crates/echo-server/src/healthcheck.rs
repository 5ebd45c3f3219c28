//! `echo-server healthcheck`: one echo request to the server, retried within a deadline, and an
//! exit status a container runtime understands. It runs proto's echo client state machine over
//! a blocking socket, so the probe checks exactly what real clients rely on.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dgram_net::main_support::cli::Probe;
use dgram_proto::echo::{ClientConfig, EchoClient, Event};
use dgram_proto::{Name, MAX_DATAGRAM};

const PROBE: &str = "healthcheck";

/// What `echo-server healthcheck` runs, one echo request, and the names its command line
/// gives it.
#[derive(Debug)]
pub struct EchoProbe;

impl Probe for EchoProbe {
    const ABOUT: &'static str = "Sends one probe and exits 0 on a correct reply, 1 otherwise, \
        within 2 seconds. Container images have no shell; their health checks run this";
    const SERVER_ENV: &'static str = "ECHO_HEALTHCHECK_SERVER";
    const DEFAULT_SERVER: &'static str = "127.0.0.1:8080";

    /// Probes `server`; `Ok(())` when it answered correctly within `deadline`.
    fn probe(server: SocketAddr, deadline: Duration) -> Result<(), String> {
        let socket = dgram_net::main_support::probe_socket(server)?;
        let name = Name::new(PROBE).map_err(|e| e.to_string())?;
        let tries = 4;
        let config = ClientConfig {
            timeout: deadline / tries,
            retries: tries - 1,
        };
        // Distinct ids per probe keep a slow reply to an earlier probe from passing this one.
        let first_id = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        let mut client = EchoClient::new(name, config, first_id);
        let start = Instant::now();
        client.request(start, PROBE).map_err(|e| e.to_string())?;
        let mut buf = [0u8; MAX_DATAGRAM + 1];
        loop {
            while let Some(datagram) = client.poll_transmit() {
                socket
                    .send_to(&datagram, server)
                    .map_err(|e| format!("cannot send to {server}: {e}"))?;
            }
            match client.poll_event() {
                Some(Event::Reply { text, .. }) if text == PROBE.to_ascii_uppercase() => {
                    return Ok(())
                }
                Some(Event::Reply { text, .. }) => return Err(format!("wrong reply {text:?}")),
                Some(Event::GaveUp { tries, .. }) => {
                    return Err(format!("no reply from {server} after {tries} tries"))
                }
                Some(Event::Refused { message, .. }) => return Err(format!("refused: {message}")),
                None => {}
            }
            let now = Instant::now();
            let Some(wake) = client.poll_timeout() else {
                return Err("probe ended without an answer".into());
            };
            let wait = wake
                .saturating_duration_since(now)
                .max(Duration::from_millis(1));
            socket
                .set_read_timeout(Some(wait))
                .map_err(|e| e.to_string())?;
            match socket.recv_from(&mut buf) {
                Ok((n, from)) if from == server => {
                    client.handle_datagram(Instant::now(), &buf[..n])
                }
                Ok(_) => {}
                // A timeout, or ICMP "port unreachable" reported on the socket: retry on schedule.
                Err(_) => client.handle_timeout(Instant::now()),
            }
        }
    }
}
