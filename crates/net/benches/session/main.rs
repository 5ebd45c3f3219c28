//! `cargo bench -p dgram-net --bench session`: reliable messages per second and CPU time per
//! message through real loopback sockets, at 0 % and 10 % loss, for dgram's sessions and for
//! the same work over QUIC (quinn), beside raw UDP datagrams (no acks, no resends) over the same
//! sockets as the baseline; what each put on the wire per datagram; and a bulk transfer of each
//! through dgram-proxy with a bottleneck (goodput, and loss at the bottleneck's queue). Prints
//! one line per run and the ratios. Every run is bounded in messages and in time; the knobs are
//! environment variables (see `bench/README.md`).
#![forbid(unsafe_code)]

mod bottleneck;
mod dgram;
mod measure;
mod path;
mod quic;
mod quic_socket;
mod raw;
mod run;

use std::str::FromStr;
use std::time::Duration;

use dgram_proto::session::packet;

use bottleneck::Bulk;
use measure::{Outcome, SIZE, WINDOW};
use path::Path;
use run::Run;

/// Which rows to run (`BENCH_SESSION_ROWS`, comma-separated; all by default).
#[derive(Debug, Clone, Copy)]
struct Rows {
    raw: bool,
    dgram: bool,
    quinn: bool,
    bottleneck: bool,
}

impl FromStr for Rows {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut rows = Rows {
            raw: false,
            dgram: false,
            quinn: false,
            bottleneck: false,
        };
        for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "raw" => rows.raw = true,
                "dgram" => rows.dgram = true,
                "quinn" => rows.quinn = true,
                "bottleneck" => rows.bottleneck = true,
                other => {
                    return Err(format!(
                        "unknown row {other:?}: expected raw, dgram, quinn, bottleneck"
                    ))
                }
            }
        }
        Ok(rows)
    }
}

/// A knob from the environment, or its default; a value that does not parse is an error.
fn knob<T: FromStr>(name: &str, default: T) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .map_err(|err| format!("{name}={v:?} is not a valid value: {err}")),
        Err(_) => Ok(default),
    }
}

struct Knobs {
    messages: usize,
    rows: Rows,
    limit: Duration,
    bulk: Bulk,
}

fn knobs() -> Result<Knobs, String> {
    let ms = |name, default| knob(name, default).map(Duration::from_millis);
    let s = |name, default| knob(name, default).map(Duration::from_secs);
    Ok(Knobs {
        messages: knob("BENCH_MESSAGES", 200_000)?,
        rows: knob("BENCH_SESSION_ROWS", "raw,dgram,quinn,bottleneck".parse()?)?,
        limit: s("BENCH_LIMIT_S", 60)?,
        bulk: Bulk {
            rate_kbit: knob("BENCH_RATE_KBIT", 2000)?,
            queue: ms("BENCH_QUEUE_MS", 50)?,
            delay: ms("BENCH_DELAY_MS", 25)?,
            bytes: knob("BENCH_BULK_BYTES", 2_000_000)?,
            limit: s("BENCH_BULK_S", 10)?,
        },
    })
}

fn print_row(name: &str, o: &Outcome) {
    println!(
        "{name:<16} messages={:<8} msgs_per_s={:>10.0} cpu_us_per_msg={:>6.2} wall_s={:.2}",
        o.messages,
        o.rate(),
        o.cpu_per_message().as_secs_f64() * 1e6,
        o.wall.as_secs_f64()
    );
}

/// What crossed the wire. Each end counts what it sends and what it drops on receipt: the
/// client's datagrams are dropped by the server (`o.acks.dropped`), the server's by the client
/// (`o.sent.dropped`). The overhead per datagram is measured (bytes sent less payload
/// delivered, over datagrams sent); `per_packet` takes out each protocol's known framing per
/// message (`framing` bytes), leaving header, tag and frame headers, plus resends and acks.
fn print_wire(name: &str, framing: usize, o: &Outcome) {
    let per_datagram = o.messages as f64 / o.sent.datagrams.max(1) as f64;
    let overhead = o.overhead_per_datagram();
    println!(
        "{name:<16} datagrams={:<7} bytes_per_datagram={:>6.1} msgs_per_datagram={:>5.2} \
         overhead_per_datagram={overhead:>5.1} (per_packet={:>5.1} + {framing} per message) \
         dropped={:<5} acks={:<6} ack_bytes={:<8} acks_dropped={:<5} wire_per_payload={:.3}",
        o.sent.datagrams,
        o.sent.bytes as f64 / o.sent.datagrams.max(1) as f64,
        per_datagram,
        overhead - per_datagram * framing as f64,
        o.acks.dropped,
        o.acks.datagrams,
        o.acks.bytes,
        o.sent.dropped,
        o.wire_per_payload()
    );
}

/// The loopback rows: each protocol at 0 % and 10 % loss (the lossy runs send half as many).
async fn loopback(k: &Knobs) {
    let run = |count, loss| Run {
        count,
        loss,
        limit: k.limit,
        path: Path::Direct,
    };
    let raw = match k.rows.raw {
        true => Some(raw::raw_udp(k.messages, k.limit).await),
        false => None,
    };
    let mut rows: Vec<(&str, usize, Outcome)> = Vec::new();
    let framing = packet::frame_overhead_reliable();
    if k.rows.dgram {
        let lossless = dgram::sessions(run(k.messages, 0.0)).await;
        rows.push(("dgram 0% loss", framing, lossless));
        let lossy = dgram::sessions(run(k.messages / 2, 0.1)).await;
        rows.push(("dgram 10% loss", framing, lossy));
    }
    if k.rows.quinn {
        let lossless = quic::quinn(run(k.messages, 0.0)).await;
        rows.push(("quinn 0% loss", quic::PREFIX, lossless));
        let lossy = quic::quinn(run(k.messages / 2, 0.1)).await;
        rows.push(("quinn 10% loss", quic::PREFIX, lossy));
    }
    if let Some(raw) = &raw {
        print_row("raw udp", raw);
    }
    for (name, _, o) in &rows {
        print_row(name, o);
    }
    if !rows.is_empty() {
        println!(
            "wire: what the client sent (acks: the server), UDP payload bytes; dropped: \
             of those, what the other end dropped"
        );
    }
    for (name, framing, o) in &rows {
        print_wire(name, *framing, o);
    }
    for (name, _, o) in &rows {
        if let Some(note) = &o.note {
            println!("{name:<16} {note}");
        }
    }
    let find = |name: &str| {
        rows.iter()
            .find(|(n, ..)| *n == name)
            .map(|(.., o)| o.rate())
    };
    let pair = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| a / b);
    let (d0, d10) = (find("dgram 0% loss"), find("dgram 10% loss"));
    let raw_rate = raw.as_ref().map(Outcome::rate);
    if let (Some(r0), Some(r10)) = (pair(d0, raw_rate), pair(d10, raw_rate)) {
        println!("ratio reliable/raw: 0%={r0:.2} 10%={r10:.2}");
    }
    let (q0, q10) = (find("quinn 0% loss"), find("quinn 10% loss"));
    if let (Some(r0), Some(r10)) = (pair(d0, q0), pair(d10, q10)) {
        println!("ratio dgram/quinn: 0%={r0:.2} 10%={r10:.2}");
    }
}

fn main() {
    let k = match knobs() {
        Ok(k) => k,
        Err(err) => {
            eprintln!("session bench: {err}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        println!(
            "session bench: {} messages of {SIZE} bytes, window {WINDOW}, loopback",
            k.messages
        );
        println!(
            "header overhead: {} bytes per packet + {} per reliable fragment",
            packet::HEADER_LEN,
            packet::frame_overhead_reliable()
        );
        if k.rows.raw || k.rows.dgram || k.rows.quinn {
            loopback(&k).await;
        }
        if k.rows.bottleneck {
            bottleneck::rows(k.bulk).await;
        }
    });
}
