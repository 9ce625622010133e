//! Discord markdown to XEP-0393 message styling and back.
//!
//! Discord's markdown is CommonMark's inline syntax plus `~~strike~~` and
//! `__underline__`, with a line break at every newline. It is parsed with
//! pulldown-cmark (CommonMark with strikethrough) and written out as
//! XEP-0393: `**b**` → `*b*`, `*i*`/`_i_` → `_i_`, `~~s~~` → `~s~`, code
//! spans and blocks as they are, quotes as `> `. The other way, XEP-0393's
//! spans (§6.2: an opening directive before a non-space, a closing one
//! after a non-space, on one line) become Discord's, and every other
//! character Discord would read as markdown is escaped.

use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};

/// Discord markdown → XEP-0393 styled text.
pub fn to_styling(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len());
    let mut quote_depth = 0usize;
    let mut list_items: Vec<Option<u64>> = Vec::new();
    let mut at_line_start = true;
    // Open links: their address and where their text starts in `out`.
    let mut links: Vec<(String, usize)> = Vec::new();
    let parser = Parser::new_ext(markdown, Options::ENABLE_STRIKETHROUGH);
    for event in parser {
        // Every new line inside a quote starts with its `> `.
        let line_start = |out: &mut String, at: &mut bool| {
            if *at {
                for _ in 0..quote_depth {
                    out.push_str("> ");
                }
                *at = false;
            }
        };
        match event {
            Event::Start(Tag::Paragraph | Tag::Heading { .. }) => {
                line_start(&mut out, &mut at_line_start);
            }
            Event::End(TagEnd::Paragraph | TagEnd::Heading(_)) => {
                out.push('\n');
                at_line_start = true;
            }
            Event::Start(Tag::Strong) | Event::End(TagEnd::Strong) => {
                line_start(&mut out, &mut at_line_start);
                out.push('*');
            }
            Event::Start(Tag::Emphasis) | Event::End(TagEnd::Emphasis) => {
                line_start(&mut out, &mut at_line_start);
                out.push('_');
            }
            Event::Start(Tag::Strikethrough) | Event::End(TagEnd::Strikethrough) => {
                line_start(&mut out, &mut at_line_start);
                out.push('~');
            }
            Event::Start(Tag::BlockQuote(_)) => quote_depth += 1,
            Event::End(TagEnd::BlockQuote(_)) => quote_depth = quote_depth.saturating_sub(1),
            Event::Start(Tag::CodeBlock(kind)) => {
                line_start(&mut out, &mut at_line_start);
                out.push_str("```");
                if let CodeBlockKind::Fenced(lang) = kind {
                    out.push_str(&lang);
                }
                out.push('\n');
            }
            Event::End(TagEnd::CodeBlock) => {
                out.push_str("```\n");
                at_line_start = true;
            }
            Event::Start(Tag::List(first)) => list_items.push(first),
            Event::End(TagEnd::List(_)) => {
                list_items.pop();
            }
            Event::Start(Tag::Item) => {
                line_start(&mut out, &mut at_line_start);
                match list_items.last_mut() {
                    Some(Some(n)) => {
                        out.push_str(&format!("{n}. "));
                        *n += 1;
                    }
                    _ => out.push_str("- "),
                }
            }
            Event::End(TagEnd::Item) => {
                if !out.ends_with('\n') {
                    out.push('\n');
                }
                at_line_start = true;
            }
            Event::Start(Tag::Link { dest_url, .. }) => {
                line_start(&mut out, &mut at_line_start);
                // The text follows; the address after it, unless the same.
                links.push((dest_url.into_string(), out.len()));
            }
            Event::End(TagEnd::Link) => {
                let (url, start) = links.pop().unwrap_or_default();
                let text = out[start..].to_owned();
                out.truncate(start);
                if text == url || text.is_empty() {
                    out.push_str(&url);
                } else {
                    out.push_str(&format!("{text} ({url})"));
                }
            }
            Event::Code(code) => {
                line_start(&mut out, &mut at_line_start);
                out.push('`');
                out.push_str(&code);
                out.push('`');
            }
            Event::Text(text) | Event::Html(text) | Event::InlineHtml(text) => {
                line_start(&mut out, &mut at_line_start);
                out.push_str(&text);
            }
            Event::SoftBreak | Event::HardBreak => {
                out.push('\n');
                at_line_start = true;
            }
            Event::Rule => {
                line_start(&mut out, &mut at_line_start);
                out.push_str("---\n");
                at_line_start = true;
            }
            _ => {}
        }
    }
    let trimmed = out.trim_end_matches('\n').len();
    out.truncate(trimmed);
    out
}

/// The characters Discord reads as markdown when they are not ours.
const DISCORD_SPECIAL: &[char] = &['*', '_', '~', '`', '|', '\\', '<', '#', '[', ']', '>', '-'];

/// Plain text with every character Discord would read as markdown escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    for c in text.chars() {
        if DISCORD_SPECIAL.contains(&c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// XEP-0393 styled text → Discord markdown.
pub fn from_styling(styled: &str) -> String {
    let mut out = String::with_capacity(styled.len() + 8);
    let mut in_block = false;
    for (n, line) in styled.split('\n').enumerate() {
        if n > 0 {
            out.push('\n');
        }
        if line.starts_with("```") {
            in_block = !in_block;
            out.push_str(line);
            continue;
        }
        if in_block {
            out.push_str(line);
            continue;
        }
        let mut rest = line;
        // Quotes (§5.1.3) keep their `>`: Discord quotes the same way.
        while let Some(after) = rest.strip_prefix('>') {
            out.push('>');
            rest = after;
        }
        if out.ends_with('>') && !rest.starts_with(' ') {
            out.push(' ');
        }
        spans(rest, &mut out);
    }
    out
}

/// One line's spans (§6.2) written as Discord's, the rest escaped.
fn spans(line: &str, out: &mut String) {
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if let Some(end) = span_end(&chars, i) {
            let inner: String = chars[i + 1..end].iter().collect();
            match c {
                '`' => {
                    out.push('`');
                    out.push_str(&inner);
                    out.push('`');
                }
                '*' | '_' | '~' => {
                    let mark = match c {
                        '*' => "**",
                        '_' => "*",
                        _ => "~~",
                    };
                    out.push_str(mark);
                    spans(&inner, out);
                    out.push_str(mark);
                }
                _ => unreachable!(),
            }
            i = end + 1;
            continue;
        }
        if DISCORD_SPECIAL.contains(&c) {
            out.push('\\');
        }
        out.push(c);
        i += 1;
    }
}

/// Where the span opened at `i` closes, if it is one: an opening directive
/// (`*`, `_`, `~`, `` ` ``) at the start or after a space or another
/// directive, followed by a non-space, closed by the same character after
/// a non-space, with something in between.
fn span_end(chars: &[char], i: usize) -> Option<usize> {
    let c = chars[i];
    if !matches!(c, '*' | '_' | '~' | '`') {
        return None;
    }
    if i > 0
        && (chars[i - 1] == c
            || !(chars[i - 1].is_whitespace() || matches!(chars[i - 1], '*' | '_' | '~' | '`')))
    {
        return None;
    }
    let first = *chars.get(i + 1)?;
    if first.is_whitespace() || first == c {
        return None;
    }
    (i + 2..chars.len()).find(|&j| chars[j] == c && !chars[j - 1].is_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discord_styles_become_xep_0393() {
        assert_eq!(
            to_styling("**bold** and *it* and _it_"),
            "*bold* and _it_ and _it_"
        );
        assert_eq!(to_styling("~~gone~~ `a*b*c`"), "~gone~ `a*b*c`");
        assert_eq!(
            to_styling("```rust\nfn main() {}\n```"),
            "```rust\nfn main() {}\n```"
        );
        assert_eq!(to_styling("line one\nline two"), "line one\nline two");
        assert_eq!(to_styling("> quoted\n\nafter"), "> quoted\nafter");
        assert_eq!(
            to_styling("[docs](https://example.org)"),
            "docs (https://example.org)"
        );
        assert_eq!(to_styling("plain 2 * 3 = 6 <3"), "plain 2 * 3 = 6 <3");
    }

    #[test]
    fn xep_0393_becomes_discord_markdown() {
        assert_eq!(from_styling("*bold* _it_ ~gone~"), "**bold** *it* ~~gone~~");
        assert_eq!(from_styling("`a*b*c` ok"), "`a*b*c` ok");
        assert_eq!(from_styling("> quote"), "> quote");
        assert_eq!(from_styling("```\n**raw**\n```"), "```\n**raw**\n```");
    }

    #[test]
    fn text_discord_would_style_is_escaped() {
        assert_eq!(
            from_styling("__init__ and 2*3"),
            "\\_\\_init\\_\\_ and 2\\*3"
        );
        assert_eq!(from_styling("# not a heading"), "\\# not a heading");
        assert_eq!(from_styling("a * b *"), "a \\* b \\*");
    }

    #[test]
    fn round_trip_of_plain_styles() {
        for text in ["*bold* text", "_it_", "~gone~", "`code`", "plain words"] {
            assert_eq!(to_styling(&from_styling(text)), text, "{text}");
        }
    }
}
