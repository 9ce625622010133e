//! XEP-0393 text as Matrix HTML, for the messages the user sends: blocks
//! (```` ``` ```` preformatted, `>` quotations, plain lines joined by
//! `<br>`) and spans (`*strong*`, `_emphasis_`, `~strike~`, `` `pre` ``)
//! by the XEP's rules: an opening directive starts a line, follows
//! whitespace or another opening directive, and is not followed by
//! whitespace; the first matching directive on the same line not preceded
//! by whitespace closes it; an empty span is plain text. Mentions found in
//! plain text become pills. A text with neither styling nor mentions has
//! no HTML: it goes as `body` only.

use serde_json::{json, Map, Value};

use crate::html::HTML_FORMAT;
use crate::mentions::{find_mentions, Mention};

/// The `format`, `formatted_body` and `m.mentions` fields of an outgoing
/// message: HTML only when the text has styling or mentions; `m.mentions`
/// always (empty when nobody is named), so that no keyword in the body
/// notifies anyone else, and never `room`.
pub(crate) fn rich_fields(text: &str, members: &[(String, String)]) -> Map<String, Value> {
    let mentions = find_mentions(text, members);
    let mut fields = Map::new();
    if let Some(html) = to_html(text, &mentions) {
        fields.insert("format".into(), json!(HTML_FORMAT));
        fields.insert("formatted_body".into(), json!(html));
    }
    let mut users: Vec<&str> = mentions.iter().map(|m| m.user.as_str()).collect();
    users.sort_unstable();
    users.dedup();
    let mentioned = if users.is_empty() {
        json!({})
    } else {
        json!({ "user_ids": users })
    };
    fields.insert("m.mentions".into(), mentioned);
    fields
}

/// The HTML of a XEP-0393 text with these mentions, or `None` when it
/// would say nothing the plain text does not.
pub(crate) fn to_html(text: &str, mentions: &[Mention]) -> Option<String> {
    let mut lines = Vec::new();
    let mut start = 0;
    for (at, _) in text.match_indices('\n') {
        lines.push((start, at));
        start = at + 1;
    }
    lines.push((start, text.len()));
    let mut html = Html {
        src: text,
        mentions,
        out: String::new(),
        styled: !mentions.is_empty(),
    };
    html.blocks(&lines);
    html.styled.then_some(html.out)
}

/// The HTML being written.
struct Html<'a> {
    src: &'a str,
    mentions: &'a [Mention],
    out: String,
    /// Whether anything was styled.
    styled: bool,
}

const DIRECTIVES: &[u8] = b"*_~`";

impl Html<'_> {
    /// Blocks from lines (byte ranges of the text, without their newline).
    fn blocks(&mut self, lines: &[(usize, usize)]) {
        let mut i = 0;
        let mut after_line = false;
        while i < lines.len() {
            let (start, end) = lines[i];
            let line = &self.src[start..end];
            if let Some(language) = line.strip_prefix("```") {
                let close = lines[i + 1..]
                    .iter()
                    .position(|&(s, e)| self.src[s..e].trim_end() == "```")
                    .map(|p| i + 1 + p);
                let inner = &lines[i + 1..close.unwrap_or(lines.len())];
                let body: Vec<&str> = inner.iter().map(|&(s, e)| &self.src[s..e]).collect();
                let language = language.trim();
                if language.is_empty() || language.contains(char::is_whitespace) {
                    self.out.push_str("<pre><code>");
                } else {
                    self.out.push_str(&format!(
                        "<pre><code class=\"language-{}\">",
                        escape(language)
                    ));
                }
                self.out.push_str(&escape(&body.join("\n")));
                self.out.push_str("</code></pre>");
                self.styled = true;
                after_line = false;
                i = close.map_or(lines.len(), |c| c + 1);
            } else if line.starts_with('>') {
                let mut quoted = Vec::new();
                while let Some(&(s, e)) = lines.get(i) {
                    let Some(rest) = self.src[s..e].strip_prefix('>') else {
                        break;
                    };
                    let skip = 1 + usize::from(rest.starts_with(' '));
                    quoted.push((s + skip.min(e - s), e));
                    i += 1;
                }
                self.out.push_str("<blockquote>");
                self.blocks(&quoted);
                self.out.push_str("</blockquote>");
                self.styled = true;
                after_line = false;
            } else {
                if after_line {
                    self.out.push_str("<br>");
                }
                self.spans(start, end);
                after_line = true;
                i += 1;
            }
        }
    }

    /// The spans of `src[start..end]` (within one line).
    fn spans(&mut self, start: usize, end: usize) {
        let bytes = self.src.as_bytes();
        let after_space = |k: usize| self.src[..k].ends_with(char::is_whitespace);
        // Where each directive may close (not after whitespace), found
        // once: an opening looks up its first closing after it.
        let closings: Vec<Vec<usize>> = DIRECTIVES
            .iter()
            .map(|&d| {
                (start..end)
                    .filter(|&k| bytes[k] == d && !after_space(k))
                    .collect()
            })
            .collect();
        let mut plain_from = start;
        let mut at = start;
        let mut after_opening = true;
        while at < end {
            let c = bytes[at];
            let directive = DIRECTIVES.iter().position(|&d| d == c);
            let opens = directive.is_some()
                && (after_opening || after_space(at))
                && self.src[at + 1..end]
                    .chars()
                    .next()
                    .is_some_and(|n| !n.is_whitespace());
            let close = directive.filter(|_| opens).and_then(|d| {
                let list = &closings[d];
                list.get(list.partition_point(|&k| k < at + 2)).copied()
            });
            let Some(close) = close else {
                after_opening = false;
                at += 1;
                continue;
            };
            self.plain(plain_from, at);
            let tag = match c {
                b'*' => "strong",
                b'_' => "em",
                b'~' => "del",
                _ => "code",
            };
            self.out.push_str(&format!("<{tag}>"));
            if c == b'`' {
                self.out.push_str(&escape(&self.src[at + 1..close]));
            } else {
                self.spans(at + 1, close);
            }
            self.out.push_str(&format!("</{tag}>"));
            self.styled = true;
            at = close + 1;
            plain_from = at;
            after_opening = false;
        }
        self.plain(plain_from, end);
    }

    /// Plain text, escaped, its mentions as pills.
    fn plain(&mut self, start: usize, end: usize) {
        let mut from = start;
        let first = self.mentions.partition_point(|m| m.start < start);
        for mention in &self.mentions[first..] {
            if mention.start >= end {
                break;
            }
            if mention.end > end {
                continue;
            }
            self.out.push_str(&escape(&self.src[from..mention.start]));
            self.out.push_str(&format!(
                "<a href=\"https://matrix.to/#/{}\">{}</a>",
                escape(&mention.user),
                escape(&mention.nick)
            ));
            from = mention.end;
        }
        self.out.push_str(&escape(&self.src[from..end]));
    }
}

/// Text as HTML text or attribute value.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::html::html_to_text;

    fn html(text: &str) -> Option<String> {
        to_html(text, &[])
    }

    #[test]
    fn plain_text_has_no_html() {
        assert_eq!(html("just words, 2 * 3 = 6 and a_b_c"), None);
        assert_eq!(html("** nothing __ here"), None);
        assert_eq!(html("*not closed"), None);
        assert_eq!(html("* spaced *"), None);
    }

    #[test]
    fn spans_become_tags() {
        assert_eq!(
            html("a *bold* _it_ ~gone~ `x < *y*`").as_deref(),
            Some("a <strong>bold</strong> <em>it</em> <del>gone</del> <code>x &lt; *y*</code>")
        );
        assert_eq!(
            html("*_both_* and *a *b*").as_deref(),
            Some("<strong><em>both</em></strong> and <strong>a *b</strong>")
        );
        // Spans end with their line.
        assert_eq!(html("*one\ntwo*"), None);
    }

    #[test]
    fn blocks_become_quotes_and_pre() {
        assert_eq!(
            html("> quoted *x*\n>> deeper\nanswer\nmore").as_deref(),
            Some(
                "<blockquote>quoted <strong>x</strong><blockquote>deeper</blockquote>\
                 </blockquote>answer<br>more"
            )
        );
        assert_eq!(
            html("look:\n```rust\nlet a = *b*;\n```\ndone").as_deref(),
            Some("look:<pre><code class=\"language-rust\">let a = *b*;</code></pre>done")
        );
    }

    #[test]
    fn unmatched_directives_cost_linear_time() {
        let text = "*a _b ~c `d ".repeat(20_000);
        let started = std::time::Instant::now();
        assert_eq!(html(&text), None);
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn mentions_become_pills() {
        let members = vec![("@bob:hs".to_owned(), "bob".to_owned())];
        let fields = rich_fields("bob: *look* <here>", &members);
        assert_eq!(fields["format"], "org.matrix.custom.html");
        assert_eq!(
            fields["formatted_body"],
            "<a href=\"https://matrix.to/#/@bob:hs\">bob</a>: <strong>look</strong> &lt;here&gt;"
        );
        assert_eq!(fields["m.mentions"], json!({"user_ids": ["@bob:hs"]}));
        let plain = rich_fields("hello @room", &members);
        assert!(!plain.contains_key("formatted_body"));
        assert_eq!(plain["m.mentions"], json!({}));
    }

    #[test]
    fn styling_survives_the_round_trip() {
        for text in [
            "a *bold* _it_ ~gone~ `code`",
            "> quoted\nanswer",
            "```\nfn main() {}\n```",
        ] {
            let html = to_html(text, &[]).unwrap();
            assert_eq!(html_to_text(&html, &|_| None), text, "{html}");
        }
    }
}
