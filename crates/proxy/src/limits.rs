//! The bounds on what the proxy holds ([`Limits`]), so that no traffic makes it use unbounded
//! memory, and their validation.

use std::time::Duration;

use crate::Error;

/// Bounds on what the proxy holds, so that no traffic makes it use unbounded memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A flow with no datagram either way for this long is forgotten and its upstream socket
    /// closed; the client's next datagram opens a new one. Default 90 s, as Docker's.
    pub idle_timeout: Duration,
    /// At most this many flows at once; datagrams from further clients are dropped (with one
    /// warning) until a flow expires. Default 1024.
    pub max_flows: usize,
    /// At most this many delayed datagrams held at once; beyond, they are dropped and counted
    /// as overflowed. Default 10 000.
    pub max_held: usize,
    /// At most this many bytes of delayed datagrams held at once. Default 64 MiB.
    pub max_held_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(90),
            max_flows: 1024,
            max_held: 10_000,
            max_held_bytes: 64 << 20,
        }
    }
}

impl Limits {
    /// The longest idle timeout accepted; it keeps `now + timeout` from ever overflowing.
    pub const MAX_IDLE_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

    /// Checks that every limit allows something.
    pub fn validate(&self) -> Result<(), Error> {
        if self.idle_timeout.is_zero() || self.idle_timeout > Self::MAX_IDLE_TIMEOUT {
            return Err(Error::Setting(format!(
                "the idle timeout must be longer than zero and at most {:?}, not {:?}",
                Self::MAX_IDLE_TIMEOUT,
                self.idle_timeout
            )));
        }
        if self.max_flows == 0 {
            return Err(Error::Setting("max_flows must be at least 1".into()));
        }
        Ok(())
    }

    /// How often idle flows are looked for: often enough that a flow outlives its timeout by at
    /// most a quarter of it (or a second), rarely enough to cost nothing.
    pub(crate) fn sweep_every(&self) -> Duration {
        (self.idle_timeout / 4).clamp(Duration::from_millis(5), Duration::from_secs(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_limit_must_allow_something() {
        assert!(Limits::default().validate().is_ok());
        for idle_timeout in [
            Duration::ZERO,
            Limits::MAX_IDLE_TIMEOUT + Duration::from_secs(1),
        ] {
            let err = Limits {
                idle_timeout,
                ..Limits::default()
            }
            .validate()
            .expect_err("out of range");
            assert!(err.to_string().contains("idle timeout"), "{err}");
        }
        let no_flows = Limits {
            max_flows: 0,
            ..Limits::default()
        };
        assert!(no_flows.validate().is_err());
    }

    #[test]
    fn sweeps_follow_the_timeout_within_bounds() {
        let sweep = |secs: f64| {
            Limits {
                idle_timeout: Duration::from_secs_f64(secs),
                ..Limits::default()
            }
            .sweep_every()
        };
        assert_eq!(sweep(2.0), Duration::from_millis(500));
        assert_eq!(sweep(0.001), Duration::from_millis(5));
        assert_eq!(sweep(90.0), Duration::from_secs(1));
    }
}
