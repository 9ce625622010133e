//! XEP-0461 message replies and their XEP-0428 fallback, on the wire
//! (xmpp-parsers 0.23 types neither):
//!
//! ```xml
//! <message type='groupchat' to='room@gw/anna' id='c2'>
//!   <body>&gt; the first line
//! yes</body>
//!   <reply xmlns='urn:xmpp:reply:0' to='room@gw/bob' id='1764000000000001'/>
//!   <fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'>
//!     <body start='0' end='17'/>
//!   </fallback>
//! </message>
//! ```
//!
//! Fallback ranges count Unicode code points (XEP-0426), not bytes.

use xmpp_parsers::minidom::Element;

/// XEP-0461's namespace (also its disco feature).
pub const NS_REPLY: &str = "urn:xmpp:reply:0";
/// XEP-0428's namespace (also its disco feature).
pub const NS_FALLBACK: &str = "urn:xmpp:fallback:0";

/// A `<reply/>` a client put on its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The id of the message replied to (in a room: its stanza-id).
    pub id: String,
    /// The author of the message replied to, if given.
    pub to: Option<String>,
}

/// The `<reply/>` among a message's payloads, if it has one with an id.
pub fn reply_of(payloads: &[Element]) -> Option<Reply> {
    let reply = payloads.iter().find(|p| p.is("reply", NS_REPLY))?;
    let id = reply.attr("id").filter(|id| !id.is_empty())?;
    Some(Reply {
        id: id.to_owned(),
        to: reply.attr("to").map(str::to_owned),
    })
}

/// The body with the reply's fallback (the quote) taken out, when the
/// message marks one with a valid range; `None` otherwise.
pub fn strip_fallback(payloads: &[Element], body: &str) -> Option<String> {
    let fallback = payloads
        .iter()
        .find(|p| p.is("fallback", NS_FALLBACK) && p.attr("for") == Some(NS_REPLY))?;
    let range = fallback.get_child("body", NS_FALLBACK)?;
    let len = body.chars().count();
    let number = |name: &str| range.attr(name).map(str::parse::<usize>);
    let (start, end) = match (number("start"), number("end")) {
        (None, None) => (0, len),
        (Some(Ok(start)), Some(Ok(end))) if start <= end && end <= len => (start, end),
        _ => return None,
    };
    Some(
        body.chars()
            .enumerate()
            .filter(|(i, _)| *i < start || *i >= end)
            .map(|(_, c)| c)
            .collect(),
    )
}

/// How many characters of a message a reply's quote keeps.
pub const EXCERPT_CHARS: usize = 200;

/// The start of a message as a reply quotes it: at most
/// [`EXCERPT_CHARS`] characters, `…` where it was cut.
pub fn excerpt(text: &str) -> String {
    match text.char_indices().nth(EXCERPT_CHARS) {
        None => text.to_owned(),
        Some((at, _)) => {
            let mut out = String::with_capacity(at + 3);
            out.push_str(&text[..at]);
            out.push('…');
            out
        }
    }
}

/// The quote a reply's body starts with: each line of the original
/// prefixed with `> ` (XEP-0393), ending with a newline.
pub fn quote(original: &str) -> String {
    let mut out = String::with_capacity(original.len() + 8);
    for line in original.lines() {
        out.push_str("> ");
        out.push_str(line);
        out.push('\n');
    }
    if out.is_empty() {
        out.push_str(">\n");
    }
    out
}

/// The `<reply/>` naming a message by `id`, written by `to` when known.
pub fn reply_element(id: &str, to: Option<&str>) -> Element {
    let mut reply = Element::builder("reply", NS_REPLY);
    if let Some(to) = to {
        reply = reply.attr(xmpp_parsers::minidom::rxml::xml_ncname!("to").into(), to);
    }
    reply
        .attr(xmpp_parsers::minidom::rxml::xml_ncname!("id").into(), id)
        .build()
}

/// The `<fallback/>` marking the body's first `quote_chars` code points as
/// the reply's fallback.
pub fn fallback_element(quote_chars: usize) -> Element {
    let body = Element::builder("body", NS_FALLBACK)
        .attr(
            xmpp_parsers::minidom::rxml::xml_ncname!("start").into(),
            "0",
        )
        .attr(
            xmpp_parsers::minidom::rxml::xml_ncname!("end").into(),
            quote_chars.to_string(),
        )
        .build();
    Element::builder("fallback", NS_FALLBACK)
        .attr(
            xmpp_parsers::minidom::rxml::xml_ncname!("for").into(),
            NS_REPLY,
        )
        .append(body)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payloads(xml: &str) -> Vec<Element> {
        let m: Element = format!("<message xmlns='jabber:client'>{xml}</message>")
            .parse()
            .unwrap();
        m.children().cloned().collect()
    }

    #[test]
    fn the_xeps_example_is_read_and_its_quote_stripped() {
        let body = "> Anna wrote:\n> We should bake a cake\nGreat idea!";
        let p = payloads(
            "<reply to='anna@example.com/laptop' id='message-id1' xmlns='urn:xmpp:reply:0'/>\
             <fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'>\
             <body start='0' end='38'/></fallback>",
        );
        assert_eq!(
            reply_of(&p),
            Some(Reply {
                id: "message-id1".into(),
                to: Some("anna@example.com/laptop".into())
            })
        );
        assert_eq!(strip_fallback(&p, body).as_deref(), Some("Great idea!"));
    }

    #[test]
    fn ranges_count_code_points_and_bad_ranges_strip_nothing() {
        let body = "> héllo 🎂\nyes";
        let quote_len = quote("héllo 🎂").chars().count();
        assert_eq!(quote_len, 10);
        let p = payloads(&format!(
            "<fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'>\
             <body start='0' end='{quote_len}'/></fallback>"
        ));
        assert_eq!(strip_fallback(&p, body).as_deref(), Some("yes"));
        let beyond = payloads(
            "<fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'>\
             <body start='0' end='99'/></fallback>",
        );
        assert_eq!(strip_fallback(&beyond, body), None);
        // A fallback for something else is not the reply's.
        let other = payloads(
            "<fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reactions:0'>\
             <body start='0' end='2'/></fallback>",
        );
        assert_eq!(strip_fallback(&other, body), None);
    }

    #[test]
    fn a_long_message_is_quoted_in_part() {
        let long = "é".repeat(EXCERPT_CHARS + 1);
        let cut = excerpt(&long);
        assert_eq!(cut.chars().count(), EXCERPT_CHARS + 1);
        assert!(cut.ends_with("é…"));
        assert_eq!(excerpt("short"), "short");
    }

    #[test]
    fn a_quote_prefixes_each_line() {
        assert_eq!(quote("one\ntwo"), "> one\n> two\n");
        let f = fallback_element(12);
        let b = f.get_child("body", NS_FALLBACK).unwrap();
        assert_eq!((b.attr("start"), b.attr("end")), (Some("0"), Some("12")));
        assert_eq!(f.attr("for"), Some(NS_REPLY));
    }
}
