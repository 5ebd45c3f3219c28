//! Reading the user's input one line at a time, without trusting it: a line may be endless, or
//! not be UTF-8, and neither may cost more than a bounded buffer or stop the session.

use std::io::{self, BufRead};

use dgram_proto::MAX_PAYLOAD;

/// Lines longer than this are not kept, only measured: they cannot be sent anyway, and an
/// endless line (`yes | tr -d '\n'`) must not fill memory.
const KEEP: usize = 64 * 1024;

/// One line of input, without its line ending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Line {
    /// A line that fits in memory and is UTF-8 (it may still be too long to send).
    Text(String),
    /// A line that cannot be sent, and why.
    Unusable(String),
}

/// Reads lines from `input`, bounded in memory per line.
#[derive(Debug)]
pub(crate) struct LineReader<R> {
    input: R,
    buf: Vec<u8>,
}

impl<R: BufRead> LineReader<R> {
    pub(crate) fn new(input: R) -> Self {
        Self {
            input,
            buf: Vec::new(),
        }
    }

    /// The next line, or `None` at the end of the input.
    pub(crate) fn next_line(&mut self) -> io::Result<Option<Line>> {
        self.buf.clear();
        let mut size = 0usize;
        let mut saw_any = false;
        loop {
            let chunk = match self.input.fill_buf() {
                Ok(chunk) => chunk,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                if !saw_any {
                    return Ok(None);
                }
                break;
            }
            saw_any = true;
            let (part, used, ends) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (&chunk[..i], i + 1, true),
                None => (chunk, chunk.len(), false),
            };
            size = size.saturating_add(part.len());
            let room = KEEP.saturating_sub(self.buf.len());
            self.buf.extend_from_slice(&part[..part.len().min(room)]);
            self.input.consume(used);
            if ends {
                break;
            }
        }
        // Only a line kept whole ends in its own last byte.
        if size == self.buf.len() && self.buf.last() == Some(&b'\r') {
            self.buf.pop();
            size -= 1;
        }
        if size > KEEP {
            // Named the way the protocol names an oversized payload, so that every too-long
            // line reads the same whatever its length.
            let err = dgram_proto::Error::PayloadTooLarge {
                size,
                limit: MAX_PAYLOAD,
            };
            return Ok(Some(Line::Unusable(err.to_string())));
        }
        match String::from_utf8(std::mem::take(&mut self.buf)) {
            Ok(text) => Ok(Some(Line::Text(text))),
            Err(e) => Ok(Some(Line::Unusable(format!(
                "the line is not valid UTF-8 (bad byte at offset {})",
                e.utf8_error().valid_up_to()
            )))),
        }
    }
}

/// What an interactive user meant by a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Intent {
    /// Nothing to send.
    Skip,
    /// Leave the prompt.
    Quit,
    /// Send it.
    Send,
}

/// Empty (or blank) lines are skipped everywhere; `q` and `quit` only end an interactive
/// session, since in piped input they are just text.
pub(crate) fn intent(line: &str, interactive: bool) -> Intent {
    let trimmed = line.trim();
    if trimmed.is_empty() {
        Intent::Skip
    } else if interactive && matches!(trimmed, "q" | "quit") {
        Intent::Quit
    } else {
        Intent::Send
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8]) -> Vec<Line> {
        let mut reader = LineReader::new(io::BufReader::with_capacity(7, input));
        let mut out = Vec::new();
        while let Some(line) = reader.next_line().expect("reading a slice") {
            out.push(line);
        }
        out
    }

    fn text(s: &str) -> Line {
        Line::Text(s.to_owned())
    }

    #[test]
    fn splits_lines_across_buffer_refills() {
        assert_eq!(
            lines(b"hello world\r\n\nlast without newline"),
            vec![text("hello world"), text(""), text("last without newline")]
        );
        assert_eq!(lines(b""), vec![]);
        assert_eq!(lines(b"\n"), vec![text("")]);
    }

    #[test]
    fn endless_lines_are_measured_not_kept() {
        let mut input = vec![b'a'; KEEP + 10];
        input.extend_from_slice(b"\nnext\n");
        let got = lines(&input);
        assert_eq!(got.len(), 2);
        let Line::Unusable(reason) = &got[0] else {
            panic!("kept an oversized line");
        };
        assert!(reason.contains(&format!("{} bytes", KEEP + 10)), "{reason}");
        assert!(reason.contains(&format!("limit of {MAX_PAYLOAD} bytes")));
        assert_eq!(got[1], text("next"));
    }

    #[test]
    fn invalid_utf8_is_reported_and_reading_goes_on() {
        let got = lines(b"ok\n\xff\xfe\nafter\n");
        assert_eq!(got[0], text("ok"));
        assert!(matches!(&got[1], Line::Unusable(r) if r.contains("UTF-8")));
        assert_eq!(got[2], text("after"));
    }

    #[test]
    fn quitting_is_only_interactive() {
        assert_eq!(intent("  ", true), Intent::Skip);
        assert_eq!(intent("", false), Intent::Skip);
        assert_eq!(intent("q", true), Intent::Quit);
        assert_eq!(intent(" quit ", true), Intent::Quit);
        assert_eq!(intent("quit", false), Intent::Send);
        assert_eq!(intent("quitter", true), Intent::Send);
    }
}
