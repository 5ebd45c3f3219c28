//! What /proc says: a process's resident memory and CPU time, and datagrams the kernel dropped
//! because a socket's receive buffer was full. Used to watch the chat server (a separate
//! process, by pid and port) and this bench itself.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A field of /proc/PID/status in KiB (`VmRSS`, `VmHWM`).
pub(crate) fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// User + system CPU time of a process so far (`None`: no such process).
pub(crate) fn cpu_time(pid: Option<u32>) -> Option<Duration> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    // Linux reports in USER_HZ, which is 100 on every mainstream configuration.
    Some(Duration::from_millis(ticks * 10))
}

/// Datagrams dropped so far by the IPv4 UDP socket bound to `addr` (the `drops` column of
/// /proc/net/udp).
pub(crate) fn socket_drops(addr: SocketAddr) -> Option<u64> {
    let SocketAddr::V4(v4) = addr else {
        return None;
    };
    // /proc/net/udp writes the address as the hex of its in-memory (network order) u32.
    let ip = u32::from_ne_bytes(v4.ip().octets());
    let local = format!("{ip:08X}:{:04X}", v4.port());
    let table = std::fs::read_to_string("/proc/net/udp").ok()?;
    table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.get(1) == Some(&local.as_str()))
        .and_then(|f| f.last()?.parse().ok())
}

/// The machine's UDP `RcvbufErrors` so far (every socket, every process), from /proc/net/snmp.
pub(crate) fn rcvbuf_errors() -> Option<u64> {
    let snmp = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (names, values) = (udp.next()?, udp.next()?);
    let at = names.split_whitespace().position(|n| n == "RcvbufErrors")?;
    values.split_whitespace().nth(at)?.parse().ok()
}

/// CPU use of the server and of this bench, and receive-buffer drops, over a stretch of time.
pub(crate) struct Watch {
    server: Option<u32>,
    addr: SocketAddr,
    start: Instant,
    server0: Option<Duration>,
    bench0: Option<Duration>,
    drops0: Option<u64>,
    errors0: Option<u64>,
}

impl Watch {
    pub(crate) fn start(server: Option<u32>, addr: SocketAddr) -> Self {
        Self {
            server,
            addr,
            start: Instant::now(),
            server0: server.and_then(|pid| cpu_time(Some(pid))),
            bench0: cpu_time(None),
            drops0: socket_drops(addr),
            errors0: rcvbuf_errors(),
        }
    }

    /// `server_cpu_pct=.. bench_cpu_pct=..` (100 = one core busy), `server_drops=..` (the
    /// server socket's) and `rcvbuf_errors=..` (the machine's), `n/a` where unknown.
    pub(crate) fn report(&self) -> String {
        let wall = self.start.elapsed().as_secs_f64().max(1e-9);
        let pct = |a: Option<Duration>, b: Option<Duration>| match (a, b) {
            (Some(a), Some(b)) => {
                format!("{:.0}", b.saturating_sub(a).as_secs_f64() / wall * 100.0)
            }
            _ => "n/a".to_owned(),
        };
        let server_now = self.server.and_then(|pid| cpu_time(Some(pid)));
        let delta = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => b.saturating_sub(a).to_string(),
            _ => "n/a".to_owned(),
        };
        format!(
            "server_cpu_pct={} bench_cpu_pct={} server_drops={} rcvbuf_errors={}",
            pct(self.server0, server_now),
            pct(self.bench0, cpu_time(None)),
            delta(self.drops0, socket_drops(self.addr)),
            delta(self.errors0, rcvbuf_errors()),
        )
    }
}
