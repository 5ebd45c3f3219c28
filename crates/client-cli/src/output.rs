//! How the echo client shows what happened to each request: plain lines for people, or one JSON
//! object per request for programs.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use dgram_proto::RequestId;
use serde::Serialize;

/// What became of one line of input.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// The server answered.
    Reply {
        request_id: RequestId,
        text: String,
        rtt: Duration,
        tries: u32,
    },
    /// Every try went unanswered.
    NoReply { request_id: RequestId, tries: u32 },
    /// The server answered with an error envelope.
    Refused {
        request_id: Option<RequestId>,
        code: u16,
        message: String,
    },
    /// The line could not be sent at all (too long, not UTF-8); nothing went out.
    BadInput { reason: String },
}

impl Outcome {
    /// Whether the line got its answer.
    pub(crate) fn is_reply(&self) -> bool {
        matches!(self, Outcome::Reply { .. })
    }
}

/// Writes outcomes to stdout (replies, and everything in JSON mode) and stderr (failures).
#[derive(Debug)]
pub(crate) struct Printer {
    server: SocketAddr,
    json: bool,
}

#[derive(Serialize)]
struct JsonReply<'a> {
    request_id: RequestId,
    reply: &'a str,
    rtt_ms: f64,
    tries: u32,
}

#[derive(Serialize)]
struct JsonFailure<'a> {
    request_id: Option<RequestId>,
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<u16>,
}

impl Printer {
    pub(crate) fn new(server: SocketAddr, json: bool) -> Self {
        Self { server, json }
    }

    /// Shows one outcome. Write errors are returned, never panicked on, so that
    /// `client-cli echo ... | head -1` ends cleanly.
    pub(crate) fn show(&self, outcome: &Outcome) -> anyhow::Result<()> {
        if self.json {
            let mut out = io::stdout().lock();
            self.write_json(&mut out, outcome)?;
            return out.flush().context("writing to stdout");
        }
        match outcome {
            Outcome::Reply { text, .. } => {
                let mut out = io::stdout().lock();
                writeln!(out, "{}", printable(text)).context("writing to stdout")?;
                out.flush().context("writing to stdout")
            }
            failure => writeln!(io::stderr().lock(), "{}", self.failure_text(failure))
                .context("writing to stderr"),
        }
    }

    /// Shows the interactive prompt.
    pub(crate) fn prompt(&self) -> anyhow::Result<()> {
        let mut out = io::stdout().lock();
        write!(out, ">>: ").context("writing to stdout")?;
        out.flush().context("writing to stdout")
    }

    /// Ends the prompt's line when the user leaves with Ctrl-D, which leaves the cursor after
    /// the prompt, so that the shell's own prompt starts on a line of its own.
    pub(crate) fn end_prompt(&self) -> anyhow::Result<()> {
        writeln!(io::stdout().lock()).context("writing to stdout")
    }

    fn write_json(&self, out: &mut impl Write, outcome: &Outcome) -> anyhow::Result<()> {
        match outcome {
            Outcome::Reply {
                request_id,
                text,
                rtt,
                tries,
            } => serde_json::to_writer(
                &mut *out,
                &JsonReply {
                    request_id: *request_id,
                    reply: text,
                    rtt_ms: rtt.as_secs_f64() * 1e3,
                    tries: *tries,
                },
            ),
            failure => serde_json::to_writer(
                &mut *out,
                &JsonFailure {
                    request_id: match failure {
                        Outcome::NoReply { request_id, .. } => Some(*request_id),
                        Outcome::Refused { request_id, .. } => *request_id,
                        _ => None,
                    },
                    error: &self.failure_text(failure),
                    code: match failure {
                        Outcome::Refused { code, .. } => Some(*code),
                        _ => None,
                    },
                },
            ),
        }
        .context("writing JSON to stdout")?;
        writeln!(out).context("writing to stdout")
    }

    fn failure_text(&self, outcome: &Outcome) -> String {
        match outcome {
            Outcome::Reply { .. } => String::new(),
            Outcome::NoReply { tries, .. } => format!(
                "no reply from {} after {tries} {}",
                self.server,
                if *tries == 1 { "try" } else { "tries" }
            ),
            Outcome::Refused { message, .. } => {
                format!("error from server: {}", printable(message))
            }
            Outcome::BadInput { reason } => format!("error: {reason}"),
        }
    }
}

/// The server's text with control characters escaped: a reply is whatever arrived on the port,
/// and raw escape sequences in it could rewrite the user's terminal.
pub(crate) fn printable(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_owned();
    }
    text.chars()
        .map(|c| match c {
            '\t' => c.to_string(),
            c if c.is_control() => c.escape_default().to_string(),
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printer(json: bool) -> Printer {
        Printer::new(SocketAddr::from(([127, 0, 0, 1], 8080)), json)
    }

    fn json_of(outcome: &Outcome) -> serde_json::Value {
        let mut buf = Vec::new();
        printer(true)
            .write_json(&mut buf, outcome)
            .expect("writing to a Vec");
        assert!(buf.ends_with(b"\n"));
        serde_json::from_slice(&buf).expect("one JSON object")
    }

    #[test]
    fn no_reply_names_server_and_tries() {
        let p = printer(false);
        let three = Outcome::NoReply {
            request_id: 7,
            tries: 3,
        };
        assert_eq!(
            p.failure_text(&three),
            "no reply from 127.0.0.1:8080 after 3 tries"
        );
        let one = Outcome::NoReply {
            request_id: 7,
            tries: 1,
        };
        assert_eq!(
            p.failure_text(&one),
            "no reply from 127.0.0.1:8080 after 1 try"
        );
    }

    #[test]
    fn json_reply_has_the_documented_fields() {
        let v = json_of(&Outcome::Reply {
            request_id: 42,
            text: "HI".into(),
            rtt: Duration::from_micros(1500),
            tries: 2,
        });
        assert_eq!(v["request_id"], 42);
        assert_eq!(v["reply"], "HI");
        assert_eq!(v["rtt_ms"], 1.5);
        assert_eq!(v["tries"], 2);
    }

    #[test]
    fn json_failures_carry_the_error_line() {
        let v = json_of(&Outcome::NoReply {
            request_id: 9,
            tries: 3,
        });
        assert_eq!(v["request_id"], 9);
        assert_eq!(v["error"], "no reply from 127.0.0.1:8080 after 3 tries");
        let v = json_of(&Outcome::Refused {
            request_id: None,
            code: 4,
            message: "unsupported".into(),
        });
        assert!(v["request_id"].is_null());
        assert_eq!(v["error"], "error from server: unsupported");
        assert_eq!(v["code"], 4);
    }

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(printable("PLAIN TEXT"), "PLAIN TEXT");
        assert_eq!(printable("A\u{1b}[2JB"), "A\\u{1b}[2JB");
        assert_eq!(printable("A\tB\n"), "A\tB\\n");
    }
}
