//! The `echo` command: sends text to an echo server and shows the answers, driving
//! dgram-proto's sans-IO [`EchoClient`] with a tokio UDP socket and the clock.
//!
//! Requests go one at a time, so answers come out in the order of the input and a server error
//! that names no request can only be about the one in flight.

use std::hash::{BuildHasher, RandomState};
use std::io::{self, IsTerminal};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Instant, SystemTime};

use anyhow::{bail, Context};
use dgram_net::unspecified_like;
use dgram_proto::echo::{ClientConfig, EchoClient, Event};
use dgram_proto::{Name, RequestId, MAX_DATAGRAM};
use tokio::net::UdpSocket;
use tokio::runtime::Runtime;

use crate::lines::{intent, Intent, Line, LineReader};
use crate::output::{Outcome, Printer};

/// Everything `client-cli echo` was asked to do.
#[derive(Debug, Clone)]
pub(crate) struct EchoSettings {
    pub(crate) server: SocketAddr,
    pub(crate) name: Name,
    pub(crate) client: ClientConfig,
    pub(crate) json: bool,
    /// Words to send as one line; empty means "read standard input".
    pub(crate) text: Vec<String>,
}

/// Runs the command. Exits with failure when a line sent from the command line or from piped
/// input went unanswered; an interactive session ends successfully whatever was answered.
pub(crate) fn run(settings: EchoSettings) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let mut session = runtime.block_on(Session::open(&settings))?;
    let printer = Printer::new(settings.server, settings.json);

    if !settings.text.is_empty() {
        let outcome = runtime.block_on(session.exchange(&settings.text.join(" ")))?;
        printer.show(&outcome)?;
        return Ok(exit_code(outcome.is_reply()));
    }

    let stdin = io::stdin();
    let interactive = stdin.is_terminal();
    let mut reader = LineReader::new(stdin.lock());
    let all_answered = read_loop(&runtime, &mut session, &printer, &mut reader, interactive)?;
    Ok(exit_code(interactive || all_answered))
}

fn exit_code(success: bool) -> ExitCode {
    if success {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Sends each line of input and shows its outcome; true if every line sent got its reply.
fn read_loop(
    runtime: &Runtime,
    session: &mut Session,
    printer: &Printer,
    reader: &mut LineReader<impl io::BufRead>,
    interactive: bool,
) -> anyhow::Result<bool> {
    let mut all_answered = true;
    loop {
        if interactive {
            printer.prompt()?;
        }
        let Some(line) = reader.next_line().context("reading standard input")? else {
            if interactive {
                printer.end_prompt()?;
            }
            return Ok(all_answered);
        };
        let outcome = match line {
            Line::Unusable(reason) => Outcome::BadInput { reason },
            Line::Text(text) => match intent(&text, interactive) {
                Intent::Skip => continue,
                Intent::Quit => return Ok(all_answered),
                Intent::Send => runtime.block_on(session.exchange(&text))?,
            },
        };
        all_answered &= outcome.is_reply();
        printer.show(&outcome)?;
    }
}

/// A socket facing one server, and the id the next request gets.
#[derive(Debug)]
struct Session {
    socket: UdpSocket,
    server: SocketAddr,
    name: Name,
    config: ClientConfig,
    next_id: RequestId,
    /// One byte more than any valid datagram, so that an oversized one is seen as such
    /// instead of being silently cut to a valid-looking size.
    buf: Vec<u8>,
}

impl Session {
    async fn open(settings: &EchoSettings) -> anyhow::Result<Self> {
        let local = unspecified_like(settings.server);
        let socket = UdpSocket::bind(local)
            .await
            .with_context(|| format!("binding a UDP socket on {local}"))?;
        Ok(Self {
            socket,
            server: settings.server,
            name: settings.name.clone(),
            config: settings.client,
            next_id: first_request_id(),
            buf: vec![0; MAX_DATAGRAM + 1],
        })
    }

    /// Sends `text` and waits for its answer, resending on timeout as the protocol says.
    ///
    /// Each request gets a state machine of its own, seeded with the next id: when it is done
    /// (answered, refused, given up) its retries stop with it, and a late reply to it reaches
    /// the next request's state machine, which knows no such id and drops it.
    async fn exchange(&mut self, text: &str) -> anyhow::Result<Outcome> {
        let mut client = EchoClient::new(self.name.clone(), self.config, self.next_id);
        let request_id = match client.request(Instant::now(), text) {
            Ok(id) => id,
            Err(e) => {
                return Ok(Outcome::BadInput {
                    reason: e.to_string(),
                })
            }
        };
        self.next_id = request_id.wrapping_add(1);
        loop {
            while let Some(datagram) = client.poll_transmit() {
                self.socket
                    .send_to(&datagram, self.server)
                    .await
                    .with_context(|| format!("sending to {}", self.server))?;
            }
            if let Some(event) = client.poll_event() {
                return Ok(outcome(event));
            }
            let Some(deadline) = client.poll_timeout() else {
                bail!("request {request_id} is neither pending nor finished");
            };
            tokio::select! {
                received = self.socket.recv_from(&mut self.buf) => match received {
                    // Only the server's datagrams are its answers; anyone can send to our port.
                    // (Address and port only: IPv6 flow labels may differ from the request's.)
                    Ok((len, from))
                        if from.ip() == self.server.ip() && from.port() == self.server.port() =>
                    {
                        client.handle_datagram(Instant::now(), &self.buf[..len]);
                    }
                    Ok(_) => {}
                    // Some systems report an earlier datagram's ICMP "port unreachable" on
                    // the next receive. With no server up that is simply no reply yet: the
                    // retries and the timeout decide when to give up.
                    Err(e) if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset
                    ) => {}
                    Err(e) => {
                        return Err(e).with_context(|| format!("receiving from {}", self.server))
                    }
                },
                () = tokio::time::sleep_until(deadline.into()) => {
                    client.handle_timeout(Instant::now());
                }
            }
        }
    }
}

/// The one event a single-request state machine ends with.
fn outcome(event: Event) -> Outcome {
    match event {
        Event::Reply {
            request_id,
            text,
            rtt,
            tries,
        } => Outcome::Reply {
            request_id,
            text,
            rtt,
            tries,
        },
        Event::GaveUp { request_id, tries } => Outcome::NoReply { request_id, tries },
        Event::Refused {
            request_id,
            code,
            message,
        } => Outcome::Refused {
            request_id,
            code: code.0,
            message,
        },
    }
}

/// A random first request id, so that replies meant for an earlier run on the same port do not
/// match. std's hasher keys are random per process; mixing in the time and pid covers a platform
/// whose keys are not. Ids stay below 2^53 so that JSON readers that hold numbers as doubles
/// (JavaScript, jq) see them exactly.
fn first_request_id() -> RequestId {
    let seed = (SystemTime::now(), std::process::id());
    RandomState::new().hash_one(seed) & ((1 << 53) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_ids_vary_and_fit_in_a_double() {
        let a = first_request_id();
        let b = first_request_id();
        assert_ne!(a, b);
        assert!(a < 1 << 53 && b < 1 << 53);
    }
}
