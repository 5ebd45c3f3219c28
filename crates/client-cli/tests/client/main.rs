//! Integration tests of the `client-cli` binary, and their fixtures: each test runs the built
//! binary against a fake echo server on 127.0.0.1 that answers through dgram-proto's
//! `EchoServer::answer` (upper-cased plain datagrams, echo reply envelopes) and can be told to
//! drop, delay or refuse, or against an address where nothing listens; the chat tests run
//! the real chat server in-process (see [`chat`]).

mod bench;
mod chat;
mod echo;
mod proxy;

use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dgram_proto::echo::{Answer, EchoServer};
use dgram_proto::{Body, Envelope, ErrorCode, ErrorReply, Name, MAX_DATAGRAM};

/// How the fake server misbehaves.
#[derive(Debug, Clone, Default)]
pub(crate) struct Behaviour {
    /// Ignore this many datagrams before answering any.
    pub(crate) drop_first: usize,
    /// Hold the answer to the n-th datagram (counting from 0, dropped ones included) this long.
    pub(crate) delays: Vec<Duration>,
    /// Answer every envelope with an Error envelope carrying this message.
    pub(crate) refuse_with: Option<String>,
}

/// A fake echo server, stopped when dropped.
pub(crate) struct FakeServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeServer {
    pub(crate) fn start(behaviour: Behaviour) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind the fake server");
        // Short, so that the thread notices it should stop and sends delayed answers on time.
        socket
            .set_read_timeout(Some(Duration::from_millis(5)))
            .expect("set a read timeout");
        let addr = socket.local_addr().expect("local address");
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let stop = Arc::clone(&stop);
            move || serve(&socket, &behaviour, &stop)
        });
        Self {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(socket: &UdpSocket, behaviour: &Behaviour, stop: &AtomicBool) {
    let local = socket.local_addr().expect("local address");
    let name = Name::new("fake").expect("valid name");
    let server = EchoServer::new(name.clone(), local);
    let mut buf = [0u8; MAX_DATAGRAM + 1];
    let mut out = [0u8; MAX_DATAGRAM];
    let mut held: Vec<(Instant, Vec<u8>, SocketAddr)> = Vec::new();
    let mut seen = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        held.retain(|(due, reply, peer)| {
            if *due > now {
                return true;
            }
            let _ = socket.send_to(reply, peer);
            false
        });
        let Ok((len, peer)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let index = seen;
        seen += 1;
        if index < behaviour.drop_first {
            continue;
        }
        let datagram = &buf[..len];
        let reply = match &behaviour.refuse_with {
            Some(message) => refusal(&name, datagram, message),
            None => match server.answer(peer, datagram, &mut out) {
                Answer::Reply { len, .. } => Some(out[..len].to_vec()),
                Answer::Drop(_) => None,
            },
        };
        let Some(reply) = reply else {
            continue;
        };
        match behaviour.delays.get(index) {
            Some(delay) if !delay.is_zero() => held.push((Instant::now() + *delay, reply, peer)),
            _ => {
                let _ = socket.send_to(&reply, peer);
            }
        }
    }
}

fn refusal(name: &Name, datagram: &[u8], message: &str) -> Option<Vec<u8>> {
    let request = Envelope::decode(datagram).ok()?;
    let reply = Envelope::new(
        name.clone(),
        Body::Error(ErrorReply {
            request_id: request.body.request_id(),
            code: ErrorCode::RATE_LIMITED,
            message: message.to_owned(),
        }),
    );
    reply.encode().ok()
}

/// A loopback address where (almost certainly) nothing listens: the port was free a moment ago.
pub(crate) fn unused_addr() -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a probe socket");
    socket.local_addr().expect("local address")
}

/// Runs the client with `args` and `stdin` piped in, in an environment that does not leak the
/// developer's settings into the test.
pub(crate) fn client(args: &[&str], stdin: &str) -> Output {
    client_with_env(args, stdin, &[("USER", "tester")])
}

/// Like [`client`], with extra environment variables (the login name variables are cleared).
pub(crate) fn client_with_env(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_client-cli"));
    command
        .args(args)
        .env_remove("ECHO_SERVER")
        .env_remove("DGRAM_NAME")
        .env_remove("USER")
        .env_remove("LOGNAME")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("start client-cli");
    let mut input = child.stdin.take().expect("piped stdin");
    let stdin = stdin.to_owned();
    // Written from a thread so that a large input cannot deadlock against a full stdout pipe.
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(stdin.as_bytes());
    });
    let output = child.wait_with_output().expect("wait for client-cli");
    writer.join().expect("stdin writer");
    output
}

pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("stdout is UTF-8")
}

pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("stderr is UTF-8")
}
