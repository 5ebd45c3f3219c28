//! Value parsers for the command line (durations, server addresses, names) and the default
//! name taken from the login name.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::bail;
use dgram_proto::Name;

/// The longest duration any option takes. Beyond it a typo is likelier than intent, and
/// keeping durations small means `Instant + duration` can never overflow.
const MAX_DURATION: Duration = Duration::from_secs(3600);

/// Parses `--timeout`: a bare number is milliseconds (`500`), or give a unit (`500ms`, `2s`).
pub(crate) fn timeout(s: &str) -> Result<Duration, String> {
    let d = duration(s, Unit::Millis)?;
    if d.is_zero() {
        return Err("the timeout must be longer than zero".into());
    }
    Ok(d)
}

/// Parses a link time (a delay, a queue): a bare number is milliseconds (`50`), or give a unit
/// (`50ms`, `0.2s`); zero is allowed.
pub(crate) fn millis(s: &str) -> Result<Duration, String> {
    duration(s, Unit::Millis)
}

/// Parses a bench period: a bare number is seconds (`5`, `0.5`), or give a unit (`500ms`).
pub(crate) fn seconds(s: &str) -> Result<Duration, String> {
    duration(s, Unit::Secs)
}

#[derive(Debug, Clone, Copy)]
enum Unit {
    Millis,
    Secs,
}

fn duration(s: &str, bare: Unit) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (try 500ms, 2s or 1m)"))?;
    let secs_per_unit = match (unit.trim(), bare) {
        ("", Unit::Millis) | ("ms", _) => 1e-3,
        ("", Unit::Secs) | ("s", _) => 1.0,
        ("us" | "µs", _) => 1e-6,
        ("m" | "min", _) => 60.0,
        (other, _) => {
            return Err(format!(
                "unknown unit {other:?} in {s:?} (use us, ms, s or m)"
            ))
        }
    };
    let secs = value * secs_per_unit;
    // The parse above admits no sign, but it does admit "inf"-free huge numbers.
    if !secs.is_finite() || secs > MAX_DURATION.as_secs_f64() {
        return Err(format!(
            "{s:?} is longer than the limit of {} s",
            MAX_DURATION.as_secs()
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Parses `--server`: an IP address and port, or a host name and port (resolved now). The
/// unspecified address and port 0 are refused
/// because replies would come from some other address and never match the server's.
pub(crate) fn server(s: &str) -> Result<SocketAddr, String> {
    let s = s.trim();
    let addr = match s.parse::<SocketAddr>() {
        Ok(addr) => addr,
        // A name (a compose service such as `chat:8081`, or a host name): resolved now,
        // preferring IPv4 as the services listen on IPv4 by default. The chat client looks it
        // up again while it has no session (chat::follow, which keeps to the same rule).
        Err(_) => {
            use std::net::ToSocketAddrs;
            let found: Vec<SocketAddr> = s
                .to_socket_addrs()
                .map_err(|e| format!("{s:?} is not IP:PORT, [IPv6]:PORT or HOST:PORT ({e})"))?
                .collect();
            found
                .iter()
                .find(|a| a.is_ipv4())
                .or(found.first())
                .copied()
                .ok_or_else(|| format!("{s:?} resolves to no address"))?
        }
    };
    if addr.ip().is_unspecified() {
        return Err(format!(
            "{addr} is not an address to send to; give the server's own (e.g. 127.0.0.1:{})",
            addr.port()
        ));
    }
    if addr.port() == 0 {
        return Err("port 0 is not a server port".into());
    }
    Ok(addr)
}

/// Where a chat server given by a name that cannot be looked up at start is tried meanwhile:
/// TEST-NET-1 (RFC 5737), which no network routes, so nothing there can ever answer. The chat
/// client looks the name up again every few seconds and moves to what it finds.
pub(crate) const UNRESOLVED: std::net::IpAddr =
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

/// Parses the chat client's `--server`, keeping the text as given beside the address it
/// resolved to. A `HOST:PORT` whose name cannot be looked up now is not an error: the client
/// starts anyway and keeps looking (see [`UNRESOLVED`]). A list (`a:8081,b:8081`, the
/// instances of one service) starts at the first of its servers that resolves; each must be
/// a server address of its own.
pub(crate) fn server_as_given(s: &str) -> Result<(String, SocketAddr), String> {
    let given = s.trim().to_owned();
    let parts = dgram_client::follow::servers(&given);
    if parts.is_empty() {
        return Err("no server given".into());
    }
    let mut first = None;
    for part in &parts {
        let addr = one_server(part)?;
        if first.is_none() && addr.ip() != UNRESOLVED {
            first = Some(addr);
        }
    }
    let addr = match first {
        Some(addr) => addr,
        None => one_server(parts[0])?,
    };
    Ok((given, addr))
}

/// One server of `--server`: its address now, or [`UNRESOLVED`] for a name not found yet.
fn one_server(given: &str) -> Result<SocketAddr, String> {
    match server(given) {
        Ok(addr) => Ok(addr),
        Err(why) => match host_port(given) {
            Some(port) if given.parse::<SocketAddr>().is_err() => {
                tracing::debug!(%given, %why, "the chat server's name cannot be looked up yet");
                Ok(SocketAddr::new(UNRESOLVED, port))
            }
            _ => Err(why),
        },
    }
}

/// The port of a `HOST:PORT` with a host that could be a name, if it is one.
fn host_port(s: &str) -> Option<u16> {
    let (host, port) = s.rsplit_once(':')?;
    let name_like = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
    let port: u16 = port.parse().ok().filter(|p| *p != 0)?;
    (name_like && host.parse::<std::net::IpAddr>().is_err()).then_some(port)
}

/// Parses `--name`.
pub(crate) fn name(s: &str) -> Result<Name, String> {
    Name::new(s).map_err(|e| format!("{s:?} is not a valid name: {e}"))
}

/// The name to sign requests with when none was given: the login name, or "guest".
pub(crate) fn default_name() -> anyhow::Result<Name> {
    let login = ["USER", "LOGNAME"]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()));
    let Some(login) = login else {
        return Ok(guest());
    };
    match Name::new(&login) {
        Ok(name) => Ok(name),
        Err(e) => bail!(
            "your login name {login:?} is not a valid dgram name ({e}); \
             choose one with --name NAME or DGRAM_NAME=NAME"
        ),
    }
}

fn guest() -> Name {
    // "guest" is ASCII letters only, so it is always valid; the fallback keeps this total.
    Name::new("guest").unwrap_or_else(|_| unreachable!("\"guest\" is a valid name"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_default_to_milliseconds() {
        assert_eq!(timeout("500"), Ok(Duration::from_millis(500)));
        assert_eq!(timeout("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(timeout("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(timeout("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(timeout("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(timeout("250us"), Ok(Duration::from_micros(250)));
    }

    #[test]
    fn bench_periods_default_to_seconds() {
        assert_eq!(seconds("5"), Ok(Duration::from_secs(5)));
        assert_eq!(seconds("0"), Ok(Duration::ZERO));
        assert_eq!(seconds("0.25"), Ok(Duration::from_millis(250)));
        assert_eq!(seconds("300ms"), Ok(Duration::from_millis(300)));
    }

    #[test]
    fn bad_durations_are_refused() {
        for bad in ["", "ms", "-1", "1h", "1e3", "nan", "inf", "1.2.3", "99999s"] {
            assert!(seconds(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(timeout("0").is_err());
        assert!(timeout("0ms").is_err());
    }

    #[test]
    fn servers_must_be_concrete() {
        assert!(server("127.0.0.1:8080").is_ok());
        assert!(server("[::1]:8080").is_ok());
        assert!(server("0.0.0.0:8080").is_err());
        assert!(server("[::]:8080").is_err());
        assert!(server("127.0.0.1:0").is_err());
        assert_eq!(
            server("localhost:8080").map(|a| (a.ip().is_loopback(), a.port())),
            Ok((true, 8080)),
            "names resolve (compose services are reached by name)"
        );
        assert!(server("no-such-host.invalid:8080").is_err());
        assert!(server("127.0.0.1").is_err());
    }

    #[test]
    fn a_list_starts_at_its_first_server_that_resolves() {
        let (given, addr) =
            server_as_given(" no-such-host.invalid:8081, 127.0.0.1:8082 ").expect("a list");
        assert_eq!(given, "no-such-host.invalid:8081, 127.0.0.1:8082");
        assert_eq!(addr, "127.0.0.1:8082".parse().expect("literal"));
        let (_, addr) = server_as_given("no-such-host.invalid:8081").expect("a name");
        assert_eq!(addr, SocketAddr::new(UNRESOLVED, 8081));
        assert!(server_as_given("127.0.0.1:8081,0.0.0.0:8082").is_err());
        assert!(server_as_given(" , ").is_err());
    }

    #[test]
    fn names_are_validated() {
        assert!(name("alex").is_ok());
        assert!(name("黎诗").is_ok());
        let err = name("two words").expect_err("a space is not a name character");
        assert!(err.contains("not a valid name"), "{err}");
        assert!(guest().as_str() == "guest");
    }
}
