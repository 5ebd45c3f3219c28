//! Splitting a text that is over the server's limit into messages that are not. Nothing is
//! lost or added: the parts, joined, are the text. Cuts prefer a line break, then a space, in
//! the last quarter of a part, so that words and lines stay whole when they can; otherwise the
//! cut falls on a character boundary (never inside a UTF-8 sequence).

/// Splits `text` into parts of at most `max` bytes each (`max` must be at least 4, the
/// longest UTF-8 character).
pub fn split(text: &str, max: usize) -> Vec<String> {
    let max = max.max(4);
    let mut parts = Vec::new();
    let mut rest = text;
    while rest.len() > max {
        let cut = cut_point(rest, max);
        let (part, tail) = rest.split_at(cut);
        parts.push(part.to_owned());
        rest = tail;
    }
    if !rest.is_empty() || parts.is_empty() {
        parts.push(rest.to_owned());
    }
    parts
}

/// Where to end the next part of `rest` (longer than `max`): just after a line break or a
/// space near the limit, else at the last character boundary within it.
fn cut_point(rest: &str, max: usize) -> usize {
    let mut limit = max;
    while !rest.is_char_boundary(limit) {
        limit -= 1;
    }
    let window = &rest[..limit];
    let floor = limit - limit / 4;
    for sep in ['\n', ' '] {
        if let Some(at) = window.rfind(sep) {
            let end = at + sep.len_utf8();
            if end >= floor {
                return end;
            }
        }
    }
    limit
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, max: usize) -> Vec<String> {
        let parts = split(text, max);
        assert_eq!(parts.concat(), text);
        assert!(parts.iter().all(|p| p.len() <= max), "{parts:?}");
        assert!(parts.iter().all(|p| !p.is_empty()) || text.is_empty());
        parts
    }

    #[test]
    fn short_text_is_one_part() {
        assert_eq!(check("hello", 10), ["hello"]);
        assert_eq!(check("", 10), [""]);
        assert_eq!(check("exactly10!", 10), ["exactly10!"]);
    }

    #[test]
    fn cuts_prefer_spaces_and_line_breaks() {
        assert_eq!(check("aaaa bbbb cccc", 10), ["aaaa bbbb ", "cccc"]);
        assert_eq!(check("aaaaaa\nbb cc dd", 10), ["aaaaaa\nbb ", "cc dd"]);
        // A space too early would make a tiny part: cut the word instead.
        assert_eq!(check("a bbbbbbbbbbbbbbb", 8), ["a bbbbbb", "bbbbbbbb", "b"]);
    }

    #[test]
    fn never_cuts_inside_a_character() {
        let text = "黎诗".repeat(2000);
        let parts = check(&text, dgram_proto::chat::MAX_TEXT);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].len(), 4095);
        let emoji = "🙂".repeat(5);
        assert_eq!(check(&emoji, 6).len(), 5);
    }
}
