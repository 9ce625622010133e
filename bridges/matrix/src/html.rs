//! Matrix HTML (`format: org.matrix.custom.html`, `formatted_body`) as
//! XEP-0393 text: `<b>`/`<strong>` → `*x*`, `<i>`/`<em>` → `_x_`,
//! `<s>`/`<del>` → `~x~`, `<code>` → `` `x` ``, `<pre>` → a ```` ``` ````
//! block, `<blockquote>` → `> ` lines, list items → lines (`• x`, `1. x`),
//! a link → its text and its address where they differ, a user pill
//! (`matrix.to` link to a user) → the member's nick. A reply's fallback
//! (`<mx-reply>`) is dropped. The HTML is read by html5gum's tokenizer;
//! whitespace collapses as a browser would, outside `<pre>`.

use html5gum::{Token, Tokenizer};
use serde_json::Value;

use crate::api::text_field;
use crate::mentions::pill_target;
use crate::rooms::Room;

/// The `format` of Matrix HTML.
pub(crate) const HTML_FORMAT: &str = "org.matrix.custom.html";

/// A message content's text read from its HTML, when it has some: pills
/// name the room's members by their nick.
pub(crate) fn formatted_text(content: &Value, room: &Room) -> Option<String> {
    if text_field(content, "format") != Some(HTML_FORMAT) {
        return None;
    }
    let html = text_field(content, "formatted_body")?;
    let text = html_to_text(html, &|user| room.members.get(user).cloned());
    (!text.is_empty()).then_some(text)
}

/// What an open element does to the text.
#[derive(Debug)]
enum Kind {
    /// Nothing of its own (a span, or any element inside a skipped one).
    Plain,
    /// Its content is not shown (`mx-reply`, `script`, `style`, a pill's text).
    Skip,
    /// A styling span; whether its opening directive was written yet.
    Style { marker: char, written: bool },
    /// A block that ends the line before and after it; a paragraph (`p`,
    /// headings) leaves a blank line after it.
    Block { paragraph: bool },
    /// `<pre>`: its text as it is.
    Pre,
    /// `<blockquote>`.
    Quote,
    /// `<ul>` (no number) or `<ol>` (the next item's number).
    List { next: Option<u64> },
    /// A link to `href`; the text written so far started at `start`.
    Link { href: String, start: usize },
}

/// An open element.
#[derive(Debug)]
struct Frame {
    tag: String,
    kind: Kind,
}

/// The text being written.
struct Writer<'a> {
    out: String,
    stack: Vec<Frame>,
    /// Line breaks asked for and not written yet (written before the next
    /// text, so none trail or lead).
    breaks: usize,
    /// A space is due before the next text (collapsed whitespace).
    space: bool,
    /// Whether the current line has its quote prefix yet.
    line_open: bool,
    /// `Style` frames whose directive waits for their first text.
    pending: Vec<usize>,
    /// The nick of a user a pill names.
    nick_of: &'a dyn Fn(&str) -> Option<String>,
}

/// The most elements open at once that are followed; deeper ones are
/// read as text only (a hostile event cannot make the work quadratic).
const MAX_DEPTH: usize = 64;
/// The most quote levels written as `>`.
const MAX_QUOTE: usize = 8;

/// Elements without content or end tag.
fn is_void(tag: &str) -> bool {
    matches!(
        tag,
        "br" | "img" | "hr" | "wbr" | "input" | "meta" | "link" | "source" | "area" | "col"
    )
}

/// The XEP-0393 text of a Matrix HTML body; `nick_of` names the user of a
/// pill (`@user:hs`) as the room knows them, or `None` to keep its text.
pub(crate) fn html_to_text(html: &str, nick_of: &dyn Fn(&str) -> Option<String>) -> String {
    let mut w = Writer {
        out: String::new(),
        stack: Vec::new(),
        breaks: 0,
        space: false,
        line_open: false,
        pending: Vec::new(),
        nick_of,
    };
    for token in Tokenizer::new(html).flatten() {
        match token {
            Token::StartTag(tag) => {
                let name = String::from_utf8_lossy(&tag.name).into_owned();
                let attr = |key: &str| {
                    tag.attributes
                        .get(key.as_bytes())
                        .map(|v| String::from_utf8_lossy(&v.value).into_owned())
                };
                w.start(name, &attr, tag.self_closing);
            }
            Token::EndTag(tag) => w.end(&String::from_utf8_lossy(&tag.name)),
            Token::String(text) => w.text(&String::from_utf8_lossy(&text.value)),
            _ => {}
        }
    }
    while !w.stack.is_empty() {
        w.close_top();
    }
    let end = w.out.trim_end().len();
    w.out.truncate(end);
    w.out
}

impl Writer<'_> {
    fn skipping(&self) -> bool {
        self.stack.iter().any(|f| matches!(f.kind, Kind::Skip))
    }

    fn in_kind(&self, pick: impl Fn(&Kind) -> bool) -> bool {
        self.stack.iter().any(|f| pick(&f.kind))
    }

    fn quote_depth(&self) -> usize {
        let depth = self.stack.iter().filter(|f| matches!(f.kind, Kind::Quote));
        depth.count().min(MAX_QUOTE)
    }

    /// Asks for at least `n` line breaks before the next text.
    fn break_lines(&mut self, n: usize) {
        self.breaks = self.breaks.max(n);
    }

    /// Writes the breaks due and the line's quote prefix.
    fn open_line(&mut self) {
        let depth = self.quote_depth();
        if !self.out.is_empty() && self.breaks > 0 {
            for i in 0..self.breaks {
                self.out.push('\n');
                // A blank line inside a quote keeps the quote going.
                if i + 1 < self.breaks && depth > 0 {
                    self.out.push_str(&">".repeat(depth));
                }
            }
            self.line_open = false;
            self.space = false;
        }
        self.breaks = 0;
        if !self.line_open {
            if depth > 0 {
                self.out.push_str(&"> ".repeat(depth));
            }
            self.line_open = true;
            self.space = false;
        }
    }

    /// Writes text that is not collapsed or styled (a bullet, a nick, `pre`).
    fn raw(&mut self, text: &str) {
        self.open_line();
        if self.space {
            self.out.push(' ');
            self.space = false;
        }
        self.out.push_str(text);
    }

    /// Writes the styling directives waiting for text.
    fn flush_pending(&mut self) {
        for index in std::mem::take(&mut self.pending) {
            if let Some(Frame {
                kind: Kind::Style { marker, written },
                ..
            }) = self.stack.get_mut(index)
            {
                self.out.push(*marker);
                *written = true;
            }
        }
    }

    /// Writes a word as it is, styled by the spans open.
    fn word(&mut self, word: &str) {
        self.open_line();
        if self.space {
            self.out.push(' ');
            self.space = false;
        }
        self.flush_pending();
        self.out.push_str(word);
    }

    fn text(&mut self, text: &str) {
        if self.skipping() {
            return;
        }
        if self.in_kind(|k| matches!(k, Kind::Pre)) {
            return self.pre_text(text);
        }
        for c in text.chars() {
            if c.is_whitespace() {
                if self.line_open || self.breaks == 0 && !self.out.is_empty() {
                    self.space = true;
                }
                continue;
            }
            self.open_line();
            if self.space {
                self.out.push(' ');
                self.space = false;
            }
            self.flush_pending();
            self.out.push(c);
        }
    }

    /// Text inside `<pre>`: as it is, each line behind the quote prefix.
    fn pre_text(&mut self, text: &str) {
        // The newline right after `<pre>` is not content (as in HTML).
        let text = if self.out.ends_with("```\n") {
            text.strip_prefix('\n').unwrap_or(text)
        } else {
            text
        };
        for (i, line) in text.split('\n').enumerate() {
            if i > 0 {
                self.out.push('\n');
                self.line_open = false;
            }
            if !line.is_empty() {
                self.open_line();
                self.out.push_str(line);
            }
        }
    }

    fn start(&mut self, tag: String, attr: &dyn Fn(&str) -> Option<String>, closed: bool) {
        if self.stack.len() >= MAX_DEPTH && !is_void(&tag) {
            return;
        }
        if self.skipping() {
            if !is_void(&tag) && !closed {
                self.stack.push(Frame {
                    tag,
                    kind: Kind::Plain,
                });
            }
            return;
        }
        let in_code = self.in_kind(|k| matches!(k, Kind::Pre | Kind::Style { marker: '`', .. }));
        let kind = match tag.as_str() {
            "br" => {
                if self.in_kind(|k| matches!(k, Kind::Pre)) {
                    self.pre_text("\n");
                } else {
                    // A break is written at once; the blank lines of
                    // several breaks count.
                    self.breaks += 1;
                }
                return;
            }
            "hr" => {
                self.break_lines(1);
                self.raw("―――");
                self.break_lines(1);
                return;
            }
            "img" => {
                if let Some(alt) = attr("alt").or_else(|| attr("title")) {
                    self.text(&alt);
                }
                return;
            }
            _ if is_void(&tag) => return,
            "mx-reply" | "script" | "style" | "head" | "title" => Kind::Skip,
            "b" | "strong" if !in_code => style('*'),
            "i" | "em" if !in_code => style('_'),
            "s" | "del" | "strike" if !in_code => style('~'),
            "code" if !in_code => style('`'),
            "pre" => {
                self.break_lines(1);
                self.raw("```");
                self.out.push('\n');
                self.line_open = false;
                Kind::Pre
            }
            "blockquote" => {
                self.break_lines(1);
                Kind::Quote
            }
            "ul" | "ol" => {
                self.break_lines(1);
                let start = attr("start").and_then(|s| s.parse().ok()).unwrap_or(1);
                Kind::List {
                    next: (tag == "ol").then_some(start),
                }
            }
            "li" => {
                self.break_lines(1);
                let mut depth = 0;
                let mut bullet = "• ".to_owned();
                for frame in self.stack.iter_mut().rev() {
                    if let Kind::List { next } = &mut frame.kind {
                        if depth == 0 {
                            if let Some(n) = next {
                                bullet = format!("{n}. ");
                                *n += 1;
                            }
                        }
                        depth += 1;
                    }
                }
                let indent = "  ".repeat(depth.max(1) - 1);
                self.raw(&format!("{indent}{bullet}"));
                Kind::Block { paragraph: false }
            }
            "p" | "div" | "tr" | "table" | "details" | "summary" => {
                self.break_lines(1);
                Kind::Block {
                    paragraph: tag == "p",
                }
            }
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                self.break_lines(1);
                self.stack.push(Frame {
                    tag: tag.clone(),
                    kind: Kind::Block { paragraph: true },
                });
                self.stack.push(Frame {
                    tag: String::new(),
                    kind: style('*'),
                });
                self.pending.push(self.stack.len() - 1);
                return self.close_if(closed);
            }
            "a" => {
                let href = attr("href").unwrap_or_default();
                match pill_target(&href) {
                    Some(user) if user.starts_with('@') => match (self.nick_of)(&user) {
                        Some(nick) => {
                            self.word(&nick);
                            Kind::Skip
                        }
                        None => Kind::Plain,
                    },
                    // A room or event link: its text says enough.
                    Some(_) => Kind::Plain,
                    None => Kind::Link {
                        href,
                        start: self.out.len(),
                    },
                }
            }
            _ => Kind::Plain,
        };
        let pending = matches!(kind, Kind::Style { .. });
        self.stack.push(Frame { tag, kind });
        if pending {
            self.pending.push(self.stack.len() - 1);
        }
        self.close_if(closed);
    }

    /// Closes a self-closing element at once.
    fn close_if(&mut self, closed: bool) {
        if closed {
            self.close_top();
        }
    }

    fn end(&mut self, tag: &str) {
        let Some(at) = self.stack.iter().rposition(|f| f.tag == tag) else {
            return;
        };
        while self.stack.len() > at {
            self.close_top();
        }
    }

    fn close_top(&mut self) {
        let index = self.stack.len().saturating_sub(1);
        let Some(frame) = self.stack.pop() else {
            return;
        };
        match frame.kind {
            Kind::Style { marker, written } => {
                if written {
                    self.out.push(marker);
                } else {
                    self.pending.retain(|&i| i != index);
                }
            }
            Kind::Block { paragraph } => self.break_lines(if paragraph { 2 } else { 1 }),
            Kind::Quote | Kind::List { .. } => self.break_lines(1),
            Kind::Pre => {
                while self.out.ends_with('\n') {
                    self.out.pop();
                }
                self.out.push('\n');
                self.line_open = false;
                self.raw("```");
                self.break_lines(1);
            }
            Kind::Link { href, start } => {
                let shown = self.out.get(start..).unwrap_or_default().trim().to_owned();
                let bare = href
                    .strip_prefix("mailto:")
                    .or_else(|| href.strip_prefix("https://"))
                    .or_else(|| href.strip_prefix("http://"))
                    .unwrap_or(&href);
                if shown.is_empty() {
                    self.text(&href);
                } else if !href.is_empty() && shown != href && shown != bare {
                    self.text(&format!(" ({href})"));
                }
            }
            Kind::Plain | Kind::Skip => {}
        }
    }
}

fn style(marker: char) -> Kind {
    Kind::Style {
        marker,
        written: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(html: &str) -> String {
        html_to_text(html, &|user| {
            (user == "@alice:hs").then(|| "Alice (XMPP)".to_owned())
        })
    }

    #[test]
    fn spans_become_styling_directives() {
        assert_eq!(
            text("<strong>bold</strong>, <em>it</em>, <del>gone</del> and <code>a &lt; b</code>"),
            "*bold*, _it_, ~gone~ and `a < b`"
        );
        // Whitespace stays outside the directives, empty spans vanish.
        assert_eq!(text("a<b> bold </b>b<i></i>"), "a *bold* b");
        assert_eq!(text("<b><i>both</i></b>"), "*_both_*");
        // No styling inside code.
        assert_eq!(text("<code><b>x</b></code>"), "`x`");
    }

    #[test]
    fn blocks_become_lines() {
        assert_eq!(text("<p>one</p>\n<p>two<br>three</p>"), "one\n\ntwo\nthree");
        assert_eq!(
            text("<blockquote>\n<p>quoted</p>\n</blockquote>\n<p>answer</p>"),
            "> quoted\n\nanswer"
        );
        assert_eq!(
            text("<pre><code class=\"language-rust\">fn main() {\n    x &lt; y\n}\n</code></pre>after"),
            "```\nfn main() {\n    x < y\n}\n```\nafter"
        );
        assert_eq!(
            text("<ul>\n<li>a</li>\n<li>b<ol start=\"3\"><li>c</li><li>d</li></ol></li>\n</ul>"),
            "• a\n• b\n  3. c\n  4. d"
        );
        assert_eq!(text("<h1>Title</h1>body"), "*Title*\n\nbody");
    }

    #[test]
    fn links_keep_their_address_and_pills_become_nicks() {
        assert_eq!(
            text("see <a href=\"https://example.org/x\">the docs</a>."),
            "see the docs (https://example.org/x)."
        );
        assert_eq!(
            text("<a href=\"https://example.org\">example.org</a>"),
            "example.org"
        );
        assert_eq!(
            text("<a href=\"https://matrix.to/#/@alice:hs\">alice</a>: hi"),
            "Alice (XMPP): hi"
        );
        assert_eq!(
            text("hi <a href=\"https://matrix.to/#/%40carol%3Ahs\">Carol</a>!"),
            "hi Carol!"
        );
        assert_eq!(
            text("<a href=\"https://matrix.to/#/#rust:hs?via=hs\">#rust:hs</a>"),
            "#rust:hs"
        );
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let html = "<blockquote><b>".repeat(5_000) + "deep" + &"<br>x".repeat(5_000);
        let started = std::time::Instant::now();
        let out = text(&html);
        assert!(out.starts_with(&"> ".repeat(MAX_QUOTE)), "{}", &out[..40]);
        assert!(out.len() < 200_000, "{}", out.len());
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn reply_fallbacks_and_scripts_are_dropped() {
        assert_eq!(
            text(
                "<mx-reply><blockquote><a href=\"https://matrix.to/#/!r/$e\">In reply to</a> \
                 <a href=\"https://matrix.to/#/@bob:hs\">@bob:hs</a><br>question</blockquote>\
                 </mx-reply>the <b>answer</b>"
            ),
            "the *answer*"
        );
        assert_eq!(text("<script>alert(1)</script>ok"), "ok");
        assert_eq!(text("unclosed <b>bold"), "unclosed *bold*");
        assert_eq!(
            text("<img alt=\":cat:\" src=\"mxc://hs/x\"> meow"),
            ":cat: meow"
        );
    }
}
