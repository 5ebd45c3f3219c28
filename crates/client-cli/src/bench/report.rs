//! The load generator's tallies and latency histogram, and the two lines it ends with: one for
//! people, and the `result ...` line that scripts parse.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use hdrhistogram::Histogram;

use crate::Mode;

/// Latencies are recorded in nanoseconds; anything slower than this is clamped to it (a reply
/// that slow was counted lost long before).
const MAX_RECORDED: Duration = Duration::from_secs(60);

/// What a run counted. `sent` and `received` cover the measured period only; wrong and late
/// datagrams are counted whenever they came.
#[derive(Debug)]
pub(crate) struct Tally {
    /// Requests sent during the measured period.
    pub(crate) sent: u64,
    /// Correct replies to those requests.
    pub(crate) received: u64,
    /// Datagrams that were not a correct reply (bad padding, error envelopes, garbage).
    pub(crate) wrong: u64,
    /// Correct replies that came after their request was answered or given up on.
    pub(crate) late: u64,
    latency: Histogram<u64>,
}

impl Tally {
    pub(crate) fn new() -> anyhow::Result<Self> {
        let max = u64::try_from(MAX_RECORDED.as_nanos()).unwrap_or(u64::MAX);
        Ok(Self {
            sent: 0,
            received: 0,
            wrong: 0,
            late: 0,
            latency: Histogram::new_with_bounds(1, max, 3)
                .context("creating the latency histogram")?,
        })
    }

    /// Counts a correct reply to a measured request.
    pub(crate) fn received(&mut self, rtt: Duration) {
        self.received += 1;
        let nanos = u64::try_from(rtt.as_nanos()).unwrap_or(u64::MAX);
        self.latency.saturating_record(nanos.max(1));
    }

    fn quantile_us(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1e3
    }
}

/// A finished run, ready to print.
#[derive(Debug)]
pub(crate) struct Report<'a> {
    pub(crate) server: SocketAddr,
    pub(crate) mode: Mode,
    pub(crate) window: usize,
    pub(crate) size: usize,
    /// How long the measured period actually lasted.
    pub(crate) measured: Duration,
    pub(crate) tally: &'a Tally,
}

impl Report<'_> {
    fn lost(&self) -> u64 {
        self.tally.sent.saturating_sub(self.tally.received)
    }

    /// Replies to measured requests per second of the measured period. Replies still in flight
    /// when the period ends are waited for, so that the last window counts as much as the
    /// first: the count and the period then describe the same requests.
    fn rps(&self) -> f64 {
        let secs = self.measured.as_secs_f64();
        if secs > 0.0 {
            self.tally.received as f64 / secs
        } else {
            0.0
        }
    }

    pub(crate) fn human_line(&self) -> String {
        let t = self.tally;
        format!(
            "bench echo {mode} against {server}: window {window}, {size}-byte datagrams, \
             {secs:.2} s measured: sent {sent}, received {received}, lost {lost} \
             (wrong replies {wrong}, late {late}); {rps:.1} replies/s; \
             latency p50 {p50:.1} µs, p99 {p99:.1} µs, p99.9 {p999:.1} µs",
            mode = self.mode.as_str(),
            server = self.server,
            window = self.window,
            size = self.size,
            secs = self.measured.as_secs_f64(),
            sent = t.sent,
            received = t.received,
            lost = self.lost(),
            wrong = t.wrong,
            late = t.late,
            rps = self.rps(),
            p50 = t.quantile_us(0.5),
            p99 = t.quantile_us(0.99),
            p999 = t.quantile_us(0.999),
        )
    }

    /// The machine-readable line; its fields and their order are an interface.
    pub(crate) fn result_line(&self) -> String {
        let t = self.tally;
        format!(
            "result mode={} window={} size={} sent={} received={} lost={} rps={:.1} \
             p50_us={:.1} p99_us={:.1} p999_us={:.1}",
            self.mode.as_str(),
            self.window,
            self.size,
            t.sent,
            t.received,
            self.lost(),
            self.rps(),
            t.quantile_us(0.5),
            t.quantile_us(0.99),
            t.quantile_us(0.999),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_line_has_the_documented_shape() {
        let mut tally = Tally::new().expect("valid bounds");
        tally.sent = 123;
        for us in [10, 12, 12, 13, 45] {
            tally.received(Duration::from_micros(us));
        }
        let report = Report {
            server: "127.0.0.1:8080".parse().expect("literal"),
            mode: Mode::Plain,
            window: 64,
            size: 32,
            measured: Duration::from_millis(500),
            tally: &tally,
        };
        let line = report.result_line();
        let fields: Vec<(&str, &str)> = line
            .strip_prefix("result ")
            .expect("prefix")
            .split(' ')
            .map(|kv| kv.split_once('=').expect("key=value"))
            .collect();
        let keys: Vec<&str> = fields.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            keys,
            [
                "mode", "window", "size", "sent", "received", "lost", "rps", "p50_us", "p99_us",
                "p999_us"
            ]
        );
        assert!(
            line.contains("mode=plain window=64 size=32 sent=123 received=5 lost=118 rps=10.0 ")
        );
        assert!(line.contains("p50_us=12.0 "), "{line}");
        assert!(line.ends_with("p999_us=45.0"), "{line}");
        assert!(report.human_line().contains("lost 118"));
    }

    #[test]
    fn an_empty_run_reports_zeros() {
        let tally = Tally::new().expect("valid bounds");
        let report = Report {
            server: "[::1]:8080".parse().expect("literal"),
            mode: Mode::Envelope,
            window: 1,
            size: 16,
            measured: Duration::ZERO,
            tally: &tally,
        };
        assert!(report
            .result_line()
            .ends_with("sent=0 received=0 lost=0 rps=0.0 p50_us=0.0 p99_us=0.0 p999_us=0.0"));
    }
}
