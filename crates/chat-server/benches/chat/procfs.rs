//! What /proc says: a process's resident memory and CPU time, datagrams the kernel dropped
//! because a socket's receive buffer was full, and UDP datagrams sent. Used to watch the chat
//! server (a separate process, by pid and port) and this bench itself. With
//! `BENCH_PERF_SYSCALLS=1` in the environment a [`Watch`] also counts the server's system calls
//! with `perf stat -e raw_syscalls:sys_enter` (off by default: the tracepoint costs the server
//! a little per call).

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
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

/// The machine's UDP `OutDatagrams` so far (every socket, every process), from /proc/net/snmp:
/// on loopback every datagram that crosses is sent once.
pub(crate) fn udp_out_datagrams() -> Option<u64> {
    let snmp = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (names, values) = (udp.next()?, udp.next()?);
    let at = names.split_whitespace().position(|n| n == "OutDatagrams")?;
    values.split_whitespace().nth(at)?.parse().ok()
}

/// A `perf stat` counting a process's system calls until [`Syscalls::stop`].
struct Syscalls(Child);

impl Syscalls {
    /// Starts counting when `BENCH_PERF_SYSCALLS=1` and perf can be started.
    fn start(pid: Option<u32>) -> Option<Self> {
        let pid = pid?;
        if std::env::var("BENCH_PERF_SYSCALLS").ok().as_deref() != Some("1") {
            return None;
        }
        let child = Command::new("perf")
            .args(["stat", "-x,", "-e", "raw_syscalls:sys_enter", "-p"])
            .arg(pid.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .ok()?;
        Some(Self(child))
    }

    /// Stops perf (SIGINT makes it print its counts) and reads the count.
    fn stop(mut self) -> Option<u64> {
        let interrupted = Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        if !interrupted {
            let _ = self.0.kill();
        }
        let out = self.0.wait_with_output().ok()?;
        // CSV: `count,unit,event,...`; the count is the first field of the event's line.
        String::from_utf8_lossy(&out.stderr)
            .lines()
            .find(|l| l.contains("raw_syscalls:sys_enter"))
            .and_then(|l| l.split(',').next()?.trim().parse().ok())
    }
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
    udp_out0: Option<u64>,
    syscalls: Mutex<Option<Syscalls>>,
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
            udp_out0: udp_out_datagrams(),
            syscalls: Mutex::new(Syscalls::start(server)),
        }
    }

    /// `server_cpu_pct=.. bench_cpu_pct=..` (100 = one core busy), `server_cpu_ms=..` (its
    /// CPU time in all), `server_drops=..` (the server socket's), `rcvbuf_errors=..` and
    /// `udp_out=..` (the machine's), `server_syscalls=..` (with `BENCH_PERF_SYSCALLS=1`), `n/a`
    /// where unknown.
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
        let server_ms = match (self.server0, server_now) {
            (Some(a), Some(b)) => b.saturating_sub(a).as_millis().to_string(),
            _ => "n/a".to_owned(),
        };
        let syscalls = self.syscalls.lock().ok().and_then(|mut s| s.take());
        let syscalls = syscalls.and_then(Syscalls::stop);
        format!(
            "server_cpu_pct={} bench_cpu_pct={} server_cpu_ms={server_ms} server_drops={} \
             rcvbuf_errors={} udp_out={} server_syscalls={}",
            pct(self.server0, server_now),
            pct(self.bench0, cpu_time(None)),
            delta(self.drops0, socket_drops(self.addr)),
            delta(self.errors0, rcvbuf_errors()),
            delta(self.udp_out0, udp_out_datagrams()),
            syscalls.map_or_else(|| "n/a".to_owned(), |n| n.to_string()),
        )
    }
}
