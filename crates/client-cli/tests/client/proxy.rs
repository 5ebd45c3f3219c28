//! `client-cli proxy`: the echo client gets its answers through a clean proxy and none through
//! one that loses everything; a burst through `--rate` and `--queue` loses its tail at the
//! queue, told apart from random loss in the totals; the proxy prints its address and seed at
//! start and its totals when stopped; out-of-range settings are refused.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{client, stderr, stdout, Behaviour, FakeServer};

/// A running `client-cli proxy`, killed if a test fails before stopping it.
struct Proxy {
    child: Child,
    stderr: BufReader<ChildStderr>,
    /// Its first line: where it listens, where it forwards, and the seed.
    first_line: String,
    /// The address it listens on, read from its first line.
    addr: String,
}

impl Proxy {
    fn start(to: &str, extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_client-cli"))
            .args(["proxy", "--listen", "127.0.0.1:0", "--to", to])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start client-cli proxy");
        let mut stderr = BufReader::new(child.stderr.take().expect("piped stderr"));
        // Printed once the socket is bound: from then on datagrams wait in its buffer.
        let mut first_line = String::new();
        stderr
            .read_line(&mut first_line)
            .expect("read the first line");
        let addr = first_line
            .strip_prefix("proxy listening on ")
            .and_then(|rest| rest.split(',').next())
            .unwrap_or_else(|| panic!("unexpected first line {first_line:?}"))
            .to_owned();
        assert!(
            first_line.contains(&format!("forwarding to {to}")),
            "{first_line}"
        );
        Self {
            child,
            stderr,
            first_line,
            addr,
        }
    }

    /// Stops the proxy with SIGTERM, as a service manager would; its stdout and stderr.
    #[cfg(unix)]
    fn stop(mut self) -> (String, String) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(5);
        let exit = loop {
            if let Some(exit) = self.child.try_wait().expect("wait for the proxy") {
                break exit;
            }
            assert!(Instant::now() < deadline, "the proxy ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(10));
        };
        assert!(exit.success(), "{exit:?}");
        let mut out = String::new();
        let mut err = String::new();
        if let Some(mut stdout) = self.child.stdout.take() {
            stdout.read_to_string(&mut out).expect("read stdout");
        }
        self.stderr.read_to_string(&mut err).expect("read stderr");
        (out, err)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(unix)]
#[test]
fn echo_goes_through_a_clean_proxy() {
    let server = FakeServer::start(Behaviour::default());
    let proxy = Proxy::start(&server.addr().to_string(), &[]);
    let out = client(&["echo", "--server", &proxy.addr, "hello"], "");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout(&out), "HELLO\n");
    let (totals, _) = proxy.stop();
    assert!(
        totals.contains("to server: received 1, forwarded 1, dropped 0\n"),
        "{totals}"
    );
    assert!(
        totals.contains("to client: received 1, forwarded 1, dropped 0\n"),
        "{totals}"
    );
}

#[cfg(unix)]
#[test]
fn nothing_comes_back_through_total_loss() {
    let server = FakeServer::start(Behaviour::default());
    let proxy = Proxy::start(&server.addr().to_string(), &["--loss", "1"]);
    let out = client(
        &["echo", "--server", &proxy.addr, "--timeout", "100ms", "hi"],
        "",
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stderr(&out).contains("no reply"), "{}", stderr(&out));
    let (totals, _) = proxy.stop();
    assert!(
        totals.contains("to server: received 3, forwarded 0, dropped 3\n"),
        "{totals}"
    );
}

#[test]
fn the_seed_is_printed_for_replay() {
    let server = FakeServer::start(Behaviour::default());
    let given = Proxy::start(&server.addr().to_string(), &["--seed", "1234"]);
    assert!(
        given
            .first_line
            .ends_with("; seed 1234 (replay with --seed 1234)\n"),
        "{:?}",
        given.first_line
    );
    let drawn = Proxy::start(&server.addr().to_string(), &[]);
    let seed = drawn
        .first_line
        .split("; seed ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .map(str::parse::<u64>);
    assert!(matches!(seed, Some(Ok(_))), "{:?}", drawn.first_line);
}

#[test]
fn probabilities_out_of_range_are_refused() {
    let out = client(
        &[
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--to",
            "127.0.0.1:9",
            "--loss",
            "1.5",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        stderr(&out).contains("not a probability"),
        "{}",
        stderr(&out)
    );
}

/// A client socket that gives up waiting for an answer after 500 ms.
fn udp_client() -> std::net::UdpSocket {
    let client = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    client
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("set a read timeout");
    client
}

/// Every answer `client` gets until 500 ms pass without one, with when it came after `start`.
fn answers(client: &std::net::UdpSocket, start: Instant) -> Vec<(Vec<u8>, Duration)> {
    let mut buf = [0u8; 2048];
    let mut answers = Vec::new();
    while let Ok(len) = client.recv(&mut buf) {
        answers.push((buf[..len].to_vec(), start.elapsed()));
    }
    answers
}

/// The number after `name ` in a totals line, 0 when the line leaves it out.
fn counter(line: &str, name: &str) -> u64 {
    line.split(", ")
        .find_map(|part| part.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(unix)]
#[test]
fn a_burst_beyond_the_rate_loses_its_tail_at_the_queue() {
    let server = FakeServer::start(Behaviour::default());
    // 80 kbit/s: a 1000-byte datagram takes 100 ms; a 100 ms queue holds one behind it.
    let proxy = Proxy::start(
        &server.addr().to_string(),
        &["--rate", "80", "--queue", "100"],
    );
    assert!(
        proxy
            .first_line
            .contains("; at most 80 kbit/s each way, queue 100 ms; seed "),
        "{}",
        proxy.first_line
    );
    let client = udp_client();
    let start = Instant::now();
    for _ in 0..20 {
        client.send_to(&[b'a'; 1000], &proxy.addr).expect("send");
    }
    let answers = answers(&client, start);
    // The head of the burst, a datagram's time apart each way; never all of it.
    assert!(
        (2..=4).contains(&answers.len()),
        "{} answers",
        answers.len()
    );
    for (k, (answer, after)) in answers.iter().enumerate() {
        assert_eq!(answer[..], [b'A'; 1000][..]);
        let least = Duration::from_millis(100 * (k as u64 + 2));
        assert!(*after >= least, "answer {k} after {after:?}");
    }
    let (totals, _) = proxy.stop();
    let to_server = totals.lines().next().unwrap_or_default();
    assert!(
        to_server.starts_with("to server: received 20, "),
        "{totals}"
    );
    assert_eq!(
        counter(to_server, "dropped "),
        0,
        "no random loss: {totals}"
    );
    let forwarded = counter(to_server, "forwarded ");
    assert_eq!(forwarded, answers.len() as u64, "{totals}");
    assert_eq!(counter(to_server, "dropped at queue "), 20 - forwarded);
}

#[cfg(unix)]
#[test]
fn datagrams_over_the_mtu_are_dropped_and_counted() {
    let server = FakeServer::start(Behaviour::default());
    let proxy = Proxy::start(&server.addr().to_string(), &["--mtu", "500"]);
    assert!(
        proxy
            .first_line
            .contains("; datagrams over 500 bytes dropped; seed "),
        "{}",
        proxy.first_line
    );
    let client = udp_client();
    for size in [400, 600, 500] {
        client
            .send_to(&vec![b'a'; size], &proxy.addr)
            .expect("send");
    }
    let sizes: Vec<usize> = answers(&client, Instant::now())
        .iter()
        .map(|(a, _)| a.len())
        .collect();
    assert_eq!(sizes, [400, 500], "only what fits the MTU is answered");
    let (totals, _) = proxy.stop();
    let to_server = totals.lines().next().unwrap_or_default();
    assert_eq!(counter(to_server, "too large "), 1, "{totals}");
    assert_eq!(counter(to_server, "forwarded "), 2, "{totals}");
}

#[test]
fn a_queue_without_a_rate_is_refused() {
    let base = ["proxy", "--listen", "127.0.0.1:0", "--to", "127.0.0.1:9"];
    let queue_alone = client(&[&base[..], &["--queue", "50"]].concat(), "");
    assert_eq!(queue_alone.status.code(), Some(2), "{queue_alone:?}");
    assert!(
        stderr(&queue_alone).contains("--rate"),
        "{}",
        stderr(&queue_alone)
    );
    let no_rate = client(&[&base[..], &["--rate", "0"]].concat(), "");
    assert_eq!(no_rate.status.code(), Some(2), "{no_rate:?}");
    let no_mtu = client(&[&base[..], &["--mtu", "0"]].concat(), "");
    assert_eq!(no_mtu.status.code(), Some(2), "{no_mtu:?}");
}
