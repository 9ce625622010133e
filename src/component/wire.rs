//! Stanzas written as bytes for the component stream.
//!
//! The xmpp-rs serializer walks each stanza as a chain of event iterators and
//! moves its state at every event; a profile of the message bursts showed
//! two fifths of the gateway's instructions there. Messages and presences are
//! the bulk of what a gateway sends, so they are written here directly from
//! their fields, and their payloads from the element tree. The rare iq goes
//! through its element form. The output is plain XML in the stream's default
//! namespace (`jabber:component:accept`), with `xmlns` wherever a child's
//! namespace differs from its parent's.

use std::fmt::Write;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Message, MessageType};
use xmpp_parsers::minidom::{rxml, Element, Node};
use xmpp_parsers::ns;
use xmpp_parsers::presence::{Presence, Show, Type};
use xmpp_parsers::stanza::Stanza;

/// A stanza on its way out, with what the writer adds to it itself.
#[derive(Debug)]
pub struct Outgoing {
    /// The stanza.
    pub stanza: Stanza,
    /// For a message: the gateway's XEP-0359 stanza-id, written after its
    /// payloads as `<stanza-id xmlns='urn:xmpp:sid:0' id='N' by='B'/>`,
    /// `B` being the bare JID the message is from (the room, or the
    /// contact). A number rather than an element: building, cloning and
    /// walking an element for every message was a measurable part of its
    /// cost.
    pub stanza_id: Option<i64>,
    /// For a room message: its author's XEP-0421 occupant-id (8 base64url
    /// characters), written after the payloads, before the stanza-id, as
    /// `<occupant-id xmlns='urn:xmpp:occupant-id:0' id='…'/>` (as the
    /// stanza-id, an element per delivery was a measurable cost).
    pub occupant_id: Option<[u8; 8]>,
}

impl Outgoing {
    /// A message that carries the gateway's stanza-id `id`.
    pub fn with_stanza_id(message: xmpp_parsers::message::Message, id: i64) -> Self {
        Self {
            stanza: message.into(),
            stanza_id: Some(id),
            occupant_id: None,
        }
    }

    /// The same, with the author's occupant-id (8 base64url characters).
    pub fn with_occupant_id(mut self, id: [u8; 8]) -> Self {
        self.occupant_id = Some(id);
        self
    }
}

impl From<Stanza> for Outgoing {
    fn from(stanza: Stanza) -> Self {
        Self {
            stanza,
            stanza_id: None,
            occupant_id: None,
        }
    }
}

impl From<Message> for Outgoing {
    fn from(m: Message) -> Self {
        Stanza::Message(m).into()
    }
}

impl From<Presence> for Outgoing {
    fn from(p: Presence) -> Self {
        Stanza::Presence(p).into()
    }
}

impl From<xmpp_parsers::iq::Iq> for Outgoing {
    fn from(iq: xmpp_parsers::iq::Iq) -> Self {
        Stanza::Iq(iq).into()
    }
}

/// Appends `outgoing` to `out` as XML.
pub fn write_outgoing(out: &mut String, outgoing: &Outgoing) {
    match &outgoing.stanza {
        Stanza::Message(m) => write_message(out, m, outgoing.stanza_id, outgoing.occupant_id),
        other => write_stanza(out, other),
    }
}

/// Appends `stanza` to `out` as XML.
pub fn write_stanza(out: &mut String, stanza: &Stanza) {
    match stanza {
        Stanza::Message(m) => write_message(out, m, None, None),
        Stanza::Presence(p) => write_presence(out, p),
        Stanza::Iq(iq) => write_element(out, &Element::from(iq.clone()), ns::COMPONENT),
    }
}

/// The stanza as a string of XML (for tests and the occasional one-off).
pub fn stanza_to_string(stanza: &Stanza) -> String {
    let mut out = String::new();
    write_stanza(&mut out, stanza);
    out
}

/// A message's `type` attribute; `None` for `normal`, which goes unsaid.
pub(super) fn message_type(t: &MessageType) -> Option<&'static str> {
    match t {
        MessageType::Chat => Some("chat"),
        MessageType::Error => Some("error"),
        MessageType::Groupchat => Some("groupchat"),
        MessageType::Headline => Some("headline"),
        MessageType::Normal => None,
    }
}

/// A presence's `type` attribute; `None` for an available presence.
pub(super) fn presence_type(t: &Type) -> Option<&'static str> {
    match t {
        Type::None => None,
        Type::Error => Some("error"),
        Type::Probe => Some("probe"),
        Type::Subscribe => Some("subscribe"),
        Type::Subscribed => Some("subscribed"),
        Type::Unavailable => Some("unavailable"),
        Type::Unsubscribe => Some("unsubscribe"),
        Type::Unsubscribed => Some("unsubscribed"),
    }
}

fn write_message(
    out: &mut String,
    m: &Message,
    stanza_id: Option<i64>,
    occupant_id: Option<[u8; 8]>,
) {
    out.push_str("<message");
    header(
        out,
        m.from.as_ref(),
        m.to.as_ref(),
        m.id.as_ref().map(|i| i.0.as_str()),
    );
    if let Some(t) = message_type(&m.type_) {
        attribute(out, "type", t);
    }
    out.push('>');
    for (lang, body) in &m.bodies {
        text_child(out, "body", lang, body);
    }
    for (lang, subject) in &m.subjects {
        text_child(out, "subject", lang, subject);
    }
    if let Some(thread) = &m.thread {
        out.push_str("<thread");
        if let Some(parent) = &thread.parent {
            attribute(out, "parent", parent);
        }
        out.push('>');
        text(out, &thread.id);
        out.push_str("</thread>");
    }
    for payload in &m.payloads {
        write_element(out, payload, ns::COMPONENT);
    }
    if let Some(id) = occupant_id {
        // base64url characters need no escaping.
        out.push_str("<occupant-id xmlns='");
        out.push_str(ns::OID);
        out.push_str("' id='");
        out.push_str(std::str::from_utf8(&id).unwrap_or_default());
        out.push_str("'/>");
    }
    if let (Some(id), Some(from)) = (stanza_id, &m.from) {
        let from = from.as_str();
        // No `/` in a localpart or a domain: the bare JID ends at the first.
        let by = from.split_once('/').map_or(from, |(bare, _)| bare);
        // The bytes the element form gave (`by` first).
        out.push_str("<stanza-id xmlns='");
        out.push_str(ns::SID);
        out.push('\'');
        attribute(out, "by", by);
        let _ = write!(out, " id='{id}'/>");
    }
    out.push_str("</message>");
}

fn write_presence(out: &mut String, p: &Presence) {
    out.push_str("<presence");
    header(out, p.from.as_ref(), p.to.as_ref(), p.id.as_deref());
    if let Some(t) = presence_type(&p.type_) {
        attribute(out, "type", t);
    }
    out.push('>');
    if let Some(show) = &p.show {
        out.push_str("<show>");
        out.push_str(match show {
            Show::Away => "away",
            Show::Chat => "chat",
            Show::Dnd => "dnd",
            Show::Xa => "xa",
        });
        out.push_str("</show>");
    }
    for (lang, status) in &p.statuses {
        text_child(out, "status", lang, status);
    }
    if p.priority.0 != 0 {
        let _ = write!(out, "<priority>{}</priority>", p.priority.0);
    }
    for payload in &p.payloads {
        write_element(out, payload, ns::COMPONENT);
    }
    out.push_str("</presence>");
}

fn header(out: &mut String, from: Option<&Jid>, to: Option<&Jid>, id: Option<&str>) {
    if let Some(from) = from {
        attribute(out, "from", from.as_str());
    }
    if let Some(to) = to {
        attribute(out, "to", to.as_str());
    }
    if let Some(id) = id {
        attribute(out, "id", id);
    }
}

fn text_child(out: &mut String, name: &str, lang: &str, value: &str) {
    out.push('<');
    out.push_str(name);
    if !lang.is_empty() {
        attribute(out, "xml:lang", lang);
    }
    out.push('>');
    text(out, value);
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// Appends `element` and its children; `parent_ns` is the namespace in scope.
pub fn write_element(out: &mut String, element: &Element, parent_ns: &str) {
    out.push('<');
    out.push_str(element.name());
    let own_ns;
    let scope = if element.has_ns(parent_ns) {
        parent_ns
    } else {
        own_ns = element.ns();
        attribute(out, "xmlns", &own_ns);
        own_ns.as_str()
    };
    for ((namespace, name), value) in element.attrs() {
        if namespace.is_none() {
            attribute(out, name, value);
        } else if namespace.as_str() == rxml::Namespace::XML.as_str() {
            out.push_str(" xml:");
            out.push_str(name);
            out.push_str("='");
            attribute_value(out, value);
            out.push('\'');
        } else {
            // An attribute in another namespace: declare a prefix for it here.
            out.push_str(" xmlns:a='");
            attribute_value(out, namespace.as_str());
            out.push_str("' a:");
            out.push_str(name);
            out.push_str("='");
            attribute_value(out, value);
            out.push('\'');
        }
    }
    let mut nodes = element.nodes().peekable();
    if nodes.peek().is_none() {
        out.push_str("/>");
        return;
    }
    out.push('>');
    for node in nodes {
        match node {
            Node::Element(child) => write_element(out, child, scope),
            Node::Text(t) => text(out, t),
        }
    }
    out.push_str("</");
    out.push_str(element.name());
    out.push('>');
}

fn attribute(out: &mut String, name: &str, value: &str) {
    out.push(' ');
    out.push_str(name);
    out.push_str("='");
    attribute_value(out, value);
    out.push('\'');
}

/// Character data: markup escaped; characters XML 1.0 forbids (§2.2: C0
/// controls but tab, CR and LF; U+FFFE and U+FFFF) become U+FFFD, so that
/// one bad character never breaks the stream.
fn text(out: &mut String, s: &str) {
    escape(out, s, false)
}

fn attribute_value(out: &mut String, s: &str) {
    escape(out, s, true)
}

/// Works on bytes: every byte it replaces is ASCII or starts the three-byte
/// form of U+FFFE/U+FFFF, so the slices between them stay on char boundaries.
fn escape(out: &mut String, s: &str, in_attribute: bool) {
    let bytes = s.as_bytes();
    let mut plain = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let (replacement, len) = match b {
            b'&' => ("&amp;", 1),
            b'<' => ("&lt;", 1),
            b'>' => ("&gt;", 1),
            b'\r' => ("&#xD;", 1),
            b'\'' if in_attribute => ("&apos;", 1),
            b'"' if in_attribute => ("&quot;", 1),
            b'\n' if in_attribute => ("&#xA;", 1),
            b'\t' if in_attribute => ("&#x9;", 1),
            b'\n' | b'\t' => {
                i += 1;
                continue;
            }
            0..=0x1f => ("\u{FFFD}", 1),
            0xef if bytes.get(i + 1) == Some(&0xbf)
                && matches!(bytes.get(i + 2), Some(0xbe | 0xbf)) =>
            {
                ("\u{FFFD}", 3)
            }
            _ => {
                i += 1;
                continue;
            }
        };
        out.push_str(&s[plain..i]);
        out.push_str(replacement);
        i += len;
        plain = i;
    }
    out.push_str(&s[plain..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use xmpp_parsers::delay::Delay;
    use xmpp_parsers::iq::Iq;
    use xmpp_parsers::message::{Id, Lang, Thread};
    use xmpp_parsers::presence::Priority;

    /// Parses what the writer wrote, inside a component stream's namespace.
    fn reparse(xml: &str) -> Element {
        // The stanza is in the stream's default namespace; give it one to parse alone.
        let open = xml.find(['>', ' ', '/']).unwrap();
        let with_ns = format!("{} xmlns='{}'{}", &xml[..open], ns::COMPONENT, &xml[open..]);
        with_ns.parse().unwrap_or_else(|e| panic!("{e}: {with_ns}"))
    }

    fn roundtrip(stanza: Stanza) {
        let xml = stanza_to_string(&stanza);
        let element = reparse(&xml);
        let back = match &stanza {
            Stanza::Message(_) => Stanza::Message(Message::try_from(element).unwrap()),
            Stanza::Presence(_) => Stanza::Presence(Presence::try_from(element).unwrap()),
            Stanza::Iq(_) => Stanza::Iq(Iq::try_from(element).unwrap()),
        };
        assert_eq!(
            without_prefixes(&format!("{back:?}")),
            without_prefixes(&format!("{stanza:?}")),
            "through {xml}"
        );
    }

    /// A parsed element remembers the `xmlns` it was declared with; a built one
    /// does not. Either way it is the same element.
    fn without_prefixes(debug: &str) -> String {
        let mut out = String::new();
        let mut rest = debug;
        while let Some(i) = rest.find("Prefixes(") {
            out.push_str(&rest[..i]);
            let after = &rest[i..];
            rest = &after[after.find(')').unwrap() + 1..];
        }
        out.push_str(rest);
        out
    }

    #[test]
    fn a_groupchat_message_reads_back_the_same() {
        let mut m = Message::groupchat(Some("u@localhost/res".parse().unwrap())).with_body(
            Lang::new(),
            "a < b & c > d \"q\" 'a' ]]> ünï 🎉\r\nnext".into(),
        );
        m.from = Some("#chan%irc.localhost@irc.localhost/ni'ck".parse().unwrap());
        m.id = Some(Id("id&'\"<>".into()));
        m.bodies.insert(Lang::from("fr"), "bonjour".into());
        m.subjects.insert(Lang::new(), "topic".into());
        m.thread = Some(Thread {
            parent: Some("p".into()),
            id: "t".into(),
        });
        m.payloads.push(
            xmpp_parsers::stanza_id::StanzaId {
                id: "42".into(),
                by: "#chan%irc.localhost@irc.localhost".parse().unwrap(),
            }
            .into(),
        );
        m.payloads.push(
            Delay {
                from: None,
                stamp: "2026-11-25T10:00:00Z".parse().unwrap(),
                data: Some("why\tnot".into()),
            }
            .into(),
        );
        // A payload with a nested child in its parent's namespace and one in another.
        m.payloads.push(
            "<x xmlns='urn:a'><y k='v'/><z xmlns='urn:b'>t</z></x>"
                .parse()
                .unwrap(),
        );
        roundtrip(m.into());
    }

    #[test]
    fn a_typed_stanza_id_is_written_as_the_element_with_the_bare_sender_as_by() {
        let mut m = Message::groupchat(Some("u@localhost/res".parse().unwrap()))
            .with_body(Lang::new(), "hi".into());
        m.from = Some("#c%irc.localhost@irc.localhost/nick".parse().unwrap());
        let typed = Outgoing::with_stanza_id(m.clone(), 1_764_000_000_000_001);
        let mut built = m;
        built.payloads.push(
            xmpp_parsers::stanza_id::StanzaId {
                id: "1764000000000001".into(),
                by: "#c%irc.localhost@irc.localhost".parse().unwrap(),
            }
            .into(),
        );
        let mut xml = String::new();
        write_outgoing(&mut xml, &typed);
        assert_eq!(xml, stanza_to_string(&built.into()));
    }

    #[test]
    fn a_typed_occupant_id_is_written_as_the_element_before_the_stanza_id() {
        let mut m = Message::groupchat(Some("u@localhost/res".parse().unwrap()))
            .with_body(Lang::new(), "hi".into());
        m.from = Some("#c%irc.localhost@irc.localhost/nick".parse().unwrap());
        let typed = Outgoing::with_stanza_id(m.clone(), 7).with_occupant_id(*b"AbC-_x12");
        let mut built = m;
        built.payloads.push(
            xmpp_parsers::occupant_id::OccupantId {
                id: "AbC-_x12".into(),
            }
            .into(),
        );
        built.payloads.push(
            xmpp_parsers::stanza_id::StanzaId {
                id: "7".into(),
                by: "#c%irc.localhost@irc.localhost".parse().unwrap(),
            }
            .into(),
        );
        let mut xml = String::new();
        write_outgoing(&mut xml, &typed);
        assert_eq!(xml, stanza_to_string(&built.into()));
    }

    #[test]
    fn presences_read_back_the_same() {
        let mut p = Presence::available()
            .with_from(Jid::new("room@irc.localhost/nick").unwrap())
            .with_to(Jid::new("u@localhost/r").unwrap());
        p.show = Some(Show::Dnd);
        p.statuses.insert(Lang::new(), "busy & away".into());
        p.priority = Priority(-5);
        p.payloads.push(
            "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='participant'/><status code='110'/></x>"
                .parse()
                .unwrap(),
        );
        roundtrip(p.into());
        let mut gone = Presence::unavailable().with_to(Jid::new("u@localhost/r").unwrap());
        gone.id = Some("x".into());
        roundtrip(gone.into());
    }

    #[test]
    fn an_iq_reads_back_the_same() {
        let iq = Iq::Get {
            from: Some(Jid::new("irc.localhost").unwrap()),
            to: Some(Jid::new("u@localhost/r").unwrap()),
            id: "ping-1".into(),
            payload: Element::from(xmpp_parsers::ping::Ping),
        };
        roundtrip(iq.into());
    }

    #[test]
    fn characters_xml_forbids_never_reach_the_stream() {
        let m = Message::groupchat(Some("u@localhost".parse().unwrap()))
            .with_body(Lang::new(), "bell\u{7} nul\u{0} fffe\u{FFFE} ok".into());
        let xml = stanza_to_string(&m.into());
        assert!(
            xml.contains("bell\u{FFFD} nul\u{FFFD} fffe\u{FFFD} ok"),
            "{xml}"
        );
        reparse(&xml);
    }
}
