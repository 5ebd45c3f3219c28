//! `client-cli bench echo`: short runs against the fake server in both modes, read the way a
//! bench script reads them (the last line, `result key=value ...`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::{client, stderr, stdout, unused_addr, Behaviour, FakeServer};

const KEYS: [&str; 10] = [
    "mode", "window", "size", "sent", "received", "lost", "rps", "p50_us", "p99_us", "p999_us",
];

/// The fields of the `result` line, which must be the last line of stdout.
fn result_fields(stdout: &str) -> HashMap<String, String> {
    let last = stdout.lines().last().expect("some output");
    let rest = last
        .strip_prefix("result ")
        .unwrap_or_else(|| panic!("last line is not the result: {stdout}"));
    let pairs: Vec<(String, String)> = rest
        .split(' ')
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("key=value");
            (k.to_owned(), v.to_owned())
        })
        .collect();
    let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, KEYS, "{last}");
    pairs.into_iter().collect()
}

fn number(fields: &HashMap<String, String>, key: &str) -> f64 {
    fields[key]
        .parse()
        .unwrap_or_else(|e| panic!("{key}={}: {e}", fields[key]))
}

fn bench(mode: &str, size: &str) {
    let server = FakeServer::start(Behaviour::default());
    let addr = server.addr().to_string();
    let started = Instant::now();
    let out = client(
        &[
            "bench",
            "echo",
            "--server",
            &addr,
            "--window",
            "8",
            "--duration",
            "1",
            "--warmup",
            "0",
            "--size",
            size,
            "--mode",
            mode,
        ],
        "",
    );
    let took = started.elapsed();
    assert!(out.status.success(), "{out:?}");
    assert!(took < Duration::from_secs(10), "ran {took:?}");
    let fields = result_fields(&stdout(&out));
    assert_eq!(fields["mode"], mode);
    assert_eq!(fields["window"], "8");
    assert_eq!(fields["size"], size);
    let (sent, received, lost) = (
        number(&fields, "sent"),
        number(&fields, "received"),
        number(&fields, "lost"),
    );
    assert!(received > 0.0, "{fields:?}");
    assert_eq!(sent, received + lost, "{fields:?}");
    assert!(number(&fields, "rps") > 0.0);
    let (p50, p99, p999) = (
        number(&fields, "p50_us"),
        number(&fields, "p99_us"),
        number(&fields, "p999_us"),
    );
    assert!(0.0 < p50 && p50 <= p99 && p99 <= p999, "{fields:?}");
}

#[test]
fn plain_mode_measures_the_fake_server() {
    bench("plain", "32");
}

#[test]
fn envelope_mode_measures_the_fake_server() {
    bench("envelope", "100");
}

#[test]
fn no_server_reports_zero_and_fails() {
    let addr = unused_addr().to_string();
    let out = client(
        &[
            "bench",
            "echo",
            "--server",
            &addr,
            "--window",
            "4",
            "--duration",
            "200ms",
            "--warmup",
            "0",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stderr(&out).contains("no replies from"), "{out:?}");
    let fields = result_fields(&stdout(&out));
    assert_eq!(fields["received"], "0");
    assert_eq!(fields["sent"], fields["lost"]);
}

#[test]
fn sizes_that_cannot_work_are_refused() {
    for args in [
        &["bench", "echo", "--size", "15"][..],
        &["bench", "echo", "--size", "1201"],
        &["bench", "echo", "--window", "0"],
    ] {
        let out = client(args, "");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
    }
    let out = client(
        &[
            "bench",
            "echo",
            "--mode",
            "envelope",
            "--size",
            "1200",
            "--duration",
            "1",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stderr(&out).contains("--mode plain"), "{out:?}");
}
