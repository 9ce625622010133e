//! The XMPP side of corrections (XEP-0308), retractions (XEP-0424, in its
//! current namespace `urn:xmpp:message-retract:1`) and reactions (XEP-0444):
//! reading a client's request from its message, the features a network's
//! capabilities allow, the elements xmpp-parsers 0.23 has no type for
//! (retraction, tombstone, fallback and store hints), and the archive's
//! `extra` column that keeps them for join history and MAM.
//!
//! ```xml
//! <message type='groupchat' id='c2'><body>hello</body><replace xmlns='urn:xmpp:message-correct:0' id='c1'/></message>
//! <message type='groupchat' id='r1'><retract xmlns='urn:xmpp:message-retract:1' id='1733140000000001'/>…</message>
//! <message type='groupchat' id='x1'><reactions xmlns='urn:xmpp:reactions:0' id='1733140000000001'><reaction>👍</reaction></reactions></message>
//! ```

use switchboard_bridge_api::{Attachment, Capabilities};
use xmpp_parsers::message::Message;
use xmpp_parsers::message_correct::Replace;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::ns;
use xmpp_parsers::reactions::{Reaction, Reactions};

/// XEP-0424's namespace (version 1), which xmpp-parsers 0.23 does not define.
pub const RETRACT: &str = "urn:xmpp:message-retract:1";
/// XEP-0425 moderated message retraction (version 1).
pub const MODERATE: &str = "urn:xmpp:message-moderate:1";
/// XEP-0428 fallback indication.
pub const FALLBACK: &str = "urn:xmpp:fallback:0";
/// XEP-0334 message processing hints.
pub const HINTS: &str = "urn:xmpp:hints";

/// The body a client that does not know XEP-0424 shows for a retraction.
pub const RETRACT_FALLBACK: &str =
    "This person attempted to retract a previous message, but it's unsupported by your client.";

/// What a client asks of an earlier message, naming it by the id it saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// XEP-0308: replace its text.
    Edit {
        /// The id of the message corrected.
        id: String,
        /// The new body.
        body: String,
    },
    /// XEP-0424: retract it.
    Retract {
        /// The id of the message retracted.
        id: String,
    },
    /// XEP-0444: the user's reactions to it, the full set.
    React {
        /// The id of the message reacted to.
        id: String,
        /// The reactions (empty: none any more).
        reactions: Vec<String>,
    },
}

impl Request {
    /// The id of the message the request is about.
    pub fn id(&self) -> &str {
        match self {
            Request::Edit { id, .. } | Request::Retract { id } | Request::React { id, .. } => id,
        }
    }

    /// The verb, for error texts ("this network cannot edit messages").
    pub fn verb(&self) -> &'static str {
        match self {
            Request::Edit { .. } => "edit",
            Request::Retract { .. } => "retract",
            Request::React { .. } => "react to",
        }
    }

    /// Whether the network's capabilities allow it.
    pub fn allowed(&self, caps: &Capabilities) -> bool {
        match self {
            Request::Edit { .. } => caps.edits,
            Request::Retract { .. } => caps.retractions,
            Request::React { .. } => caps.reactions,
        }
    }
}

/// The correction, retraction or reactions a client's message carries, if
/// any (a retraction first: its fallback body is not a new text).
pub fn request_of(message: &Message) -> Option<Request> {
    let payload = |name: &str, ns_: &str| message.payloads.iter().find(|p| p.is(name, ns_));
    if let Some(id) = payload("retract", RETRACT).and_then(|r| r.attr("id")) {
        return Some(Request::Retract { id: id.to_owned() });
    }
    if let Some(r) = payload("reactions", ns::REACTIONS) {
        let r = Reactions::try_from(r.clone()).ok()?;
        return Some(Request::React {
            id: r.id,
            reactions: r.reactions.into_iter().map(|r| r.emoji).collect(),
        });
    }
    if let Some(r) = payload("replace", ns::MESSAGE_CORRECT) {
        let r = Replace::try_from(r.clone()).ok()?;
        let body = message.get_best_body(vec![]).map(|(_, b)| b.clone())?;
        return Some(Request::Edit { id: r.id.0, body });
    }
    None
}

/// The disco#info features that the network's capabilities allow, for the
/// component, its rooms and its contacts.
pub fn features(caps: &Capabilities) -> impl Iterator<Item = &'static str> {
    [
        (caps.edits, ns::MESSAGE_CORRECT),
        (caps.retractions, RETRACT),
        (caps.reactions, ns::REACTIONS),
    ]
    .into_iter()
    .filter(|(on, _)| *on)
    .map(|(_, f)| f)
}

/// The features of a room: [`features`], and XEP-0425 moderation where
/// the network can retract (whether the user may is the network's call).
pub fn room_features(caps: &Capabilities) -> impl Iterator<Item = &'static str> {
    features(caps).chain(caps.retractions.then_some(MODERATE))
}

/// The message id an XEP-0425 `<moderate/>` request (an iq payload to a
/// room) asks to retract, with the moderator's reason.
pub fn moderation_of(payload: &Element) -> Option<(String, Option<String>)> {
    if !payload.is("moderate", MODERATE) || !payload.has_child("retract", RETRACT) {
        return None;
    }
    let id = payload.attr("id")?.to_owned();
    let reason = payload.get_child("reason", MODERATE).map(Element::text);
    Some((id, reason))
}

/// XEP-0425: the room's `<retract id='…'>` with `<moderated by='…'/>` (the
/// moderator's occupant JID and occupant-id), fallback and store hint.
pub fn moderated(id: &str, by: &str, occupant_id: Option<&str>) -> [Element; 3] {
    let mut moderated = Element::builder("moderated", MODERATE).attr(an("by"), by);
    if let Some(oid) = occupant_id {
        moderated = moderated.append(
            Element::builder("occupant-id", ns::OID)
                .attr(an("id"), oid)
                .build(),
        );
    }
    [
        Element::builder("retract", RETRACT)
            .attr(an("id"), id)
            .append(moderated.build())
            .build(),
        Element::builder("fallback", FALLBACK)
            .attr(an("for"), MODERATE)
            .build(),
        store_hint(),
    ]
}

/// `<replace id='…'/>` (XEP-0308).
pub fn replace(id: &str) -> Element {
    Replace {
        id: xmpp_parsers::message::Id(id.to_owned()),
    }
    .into()
}

/// `<retract id='…'/>` (XEP-0424).
pub fn retract(id: &str) -> Element {
    Element::builder("retract", RETRACT)
        .attr(an("id"), id)
        .build()
}

/// `<reactions id='…'>` with one `<reaction/>` each (XEP-0444).
pub fn reactions(id: &str, list: &[String]) -> Element {
    Reactions {
        id: id.to_owned(),
        reactions: list
            .iter()
            .map(|emoji| Reaction {
                emoji: emoji.clone(),
            })
            .collect(),
    }
    .into()
}

/// The body a client that does not know XEP-0444 shows for someone's
/// reactions: an XEP-0245 `/me` line, which such clients show as
/// "* bob reacted 👍 🎉" (the whole body is the fallback, [`reactions_extras`]).
pub fn reactions_fallback(list: &[String]) -> String {
    if list.is_empty() {
        "/me removed their reactions".to_owned()
    } else {
        format!("/me reacted {}", list.join(" "))
    }
}

/// The payloads reactions go with: XEP-0428 says the whole body is a
/// fallback for XEP-0444, XEP-0334 asks archives to keep it.
pub fn reactions_extras() -> [Element; 2] {
    [
        Element::builder("fallback", FALLBACK)
            .attr(an("for"), ns::REACTIONS)
            .build(),
        store_hint(),
    ]
}

/// The payloads a retraction goes with: XEP-0428 says the body is a
/// fallback for XEP-0424, XEP-0334 asks archives to keep it.
pub fn retract_extras() -> [Element; 2] {
    [
        Element::builder("fallback", FALLBACK)
            .attr(an("for"), RETRACT)
            .build(),
        store_hint(),
    ]
}

/// XEP-0334 `<store/>`: archive this message, which may have no body.
pub fn store_hint() -> Element {
    Element::builder("store", HINTS).build()
}

/// The XEP-0424 tombstone an archive keeps in place of a retracted message.
pub fn tombstone(stamp: &str) -> Element {
    Element::builder("retracted", RETRACT)
        .attr(an("stamp"), stamp)
        .build()
}

fn an(name: &str) -> xmpp_parsers::minidom::rxml::NcName {
    xmpp_parsers::minidom::rxml::NcName::try_from(name).expect("a valid attribute name")
}

/// The `extra` kind of a message's files with their metadata.
const FILES: &str = "files-meta";

/// What an archive row holds besides its body (the `extra` column), as
/// plain lines: the kind, the id it refers to, then any values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extra {
    /// A correction of the message with this XMPP id.
    Replace(String),
    /// A retraction of the message with this id (its stanza-id in a room).
    Retract(String),
    /// A moderator's retraction (XEP-0425) of the message with this
    /// stanza-id, by the moderator's occupant JID.
    Moderated(String, String),
    /// Someone's reactions to the message with this id.
    Reactions(String, Vec<String>),
    /// This message was retracted at this time (µs): a tombstone.
    Retracted(i64),
    /// This message's files, in order: URL, name, type, size and hash,
    /// replayed as XEP-0066 and XEP-0447 (`sfs.rs`). No `needs_credentials`:
    /// the URLs are those the user was given.
    Files(Vec<Attachment>),
}

impl Extra {
    /// The column's text; `None` for an id or value no line can hold.
    pub fn encode(&self) -> Option<String> {
        let line = |s: &str| (!s.contains(['\n', '\r'])).then(|| s.to_owned());
        Some(match self {
            Extra::Replace(id) => format!("replace\n{}", line(id)?),
            Extra::Retract(id) => format!("retract\n{}", line(id)?),
            Extra::Moderated(id, by) => format!("moderated\n{}\n{}", line(id)?, line(by)?),
            Extra::Reactions(id, list) => {
                let mut s = format!("reactions\n{}", line(id)?);
                for r in list {
                    s.push('\n');
                    s.push_str(&line(r)?);
                }
                s
            }
            Extra::Retracted(ts) => format!("retracted\n{ts}"),
            // Five lines a file: URL, name, media type, size, SHA-256
            // (empty for none). `files`, of two lines (URL, name), is the
            // earlier form, still read.
            Extra::Files(files) => {
                let mut s = String::from(FILES);
                for f in files {
                    let size = f.size.map(|n| n.to_string());
                    for value in [
                        Some(&f.url),
                        f.name.as_ref(),
                        f.media_type.as_ref(),
                        size.as_ref(),
                        f.sha256.as_ref(),
                    ] {
                        s.push('\n');
                        s.push_str(&line(value.map_or("", String::as_str))?);
                    }
                }
                s
            }
        })
    }

    /// Reads the column back; `None` for a row without one (or unknown).
    pub fn decode(text: &str) -> Option<Self> {
        let mut lines = text.split('\n');
        let kind = lines.next()?;
        let id = lines.next()?.to_owned();
        Some(match kind {
            "replace" => Extra::Replace(id),
            "retract" => Extra::Retract(id),
            "moderated" => Extra::Moderated(id, lines.next()?.to_owned()),
            "reactions" => Extra::Reactions(id, lines.map(str::to_owned).collect()),
            "retracted" => Extra::Retracted(id.parse().ok()?),
            "files" | FILES => {
                let metadata = kind == FILES;
                let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
                let mut files = Vec::new();
                let mut url = Some(id);
                while let Some(u) = url {
                    let name = some(lines.next()?);
                    let (media_type, size, sha256) = if metadata {
                        let media_type = some(lines.next()?);
                        let size = lines.next()?;
                        let size = some(size).map(|s| s.parse().ok()).unwrap_or(None);
                        (media_type, size, some(lines.next()?))
                    } else {
                        (None, None, None)
                    };
                    files.push(Attachment {
                        url: u,
                        name,
                        media_type,
                        size,
                        needs_credentials: false,
                        sha256,
                    });
                    url = lines.next().map(str::to_owned);
                }
                Extra::Files(files)
            }
            _ => return None,
        })
    }

    /// The payloads an archived message is replayed with (`stamp` turns
    /// µs into an XEP-0082 time).
    pub fn payloads(&self, stamp: impl Fn(i64) -> String) -> Vec<Element> {
        match self {
            Extra::Replace(id) => vec![replace(id)],
            Extra::Retract(id) => {
                let [fallback, store] = retract_extras();
                vec![retract(id), fallback, store]
            }
            Extra::Moderated(id, by) => moderated(id, by, None).into(),
            Extra::Reactions(id, list) => {
                let [fallback, store] = reactions_extras();
                vec![reactions(id, list), fallback, store]
            }
            Extra::Retracted(ts) => vec![tombstone(&stamp(*ts))],
            Extra::Files(files) => super::sfs::file_payloads(files),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xmpp_parsers::message::Lang;

    #[test]
    fn requests_are_read_from_the_payloads() {
        let mut m = Message::groupchat(None).with_body(Lang::new(), "fixed".to_owned());
        m.payloads.push(replace("c1"));
        assert_eq!(
            request_of(&m),
            Some(Request::Edit {
                id: "c1".into(),
                body: "fixed".into()
            })
        );
        let mut r = Message::groupchat(None).with_body(Lang::new(), RETRACT_FALLBACK.into());
        r.payloads.push(retract("42"));
        r.payloads.extend(retract_extras());
        assert_eq!(request_of(&r), Some(Request::Retract { id: "42".into() }));
        let mut x = Message::groupchat(None);
        x.payloads
            .push(reactions("42", &["👍".into(), "🎉".into()]));
        assert_eq!(
            request_of(&x),
            Some(Request::React {
                id: "42".into(),
                reactions: vec!["👍".into(), "🎉".into()]
            })
        );
        assert_eq!(request_of(&Message::groupchat(None)), None);
    }

    #[test]
    fn a_moderation_request_names_the_message_and_the_reason() {
        let request: Element = format!(
            "<moderate xmlns='{MODERATE}' id='42'><retract xmlns='{RETRACT}'/>\
             <reason>spam</reason></moderate>"
        )
        .parse()
        .unwrap();
        assert_eq!(
            moderation_of(&request),
            Some(("42".into(), Some("spam".into())))
        );
        let no_retract: Element = format!("<moderate xmlns='{MODERATE}' id='42'/>")
            .parse()
            .unwrap();
        assert_eq!(moderation_of(&no_retract), None);
    }

    #[test]
    fn features_follow_the_capabilities() {
        let none = Capabilities::default();
        assert_eq!(features(&none).count(), 0);
        let all = Capabilities {
            edits: true,
            retractions: true,
            reactions: true,
            ..none
        };
        assert_eq!(
            features(&all).collect::<Vec<_>>(),
            [ns::MESSAGE_CORRECT, RETRACT, ns::REACTIONS]
        );
        assert_eq!(room_features(&none).count(), 0);
        assert_eq!(room_features(&all).last(), Some(MODERATE));
    }

    #[test]
    fn extra_round_trips_and_refuses_line_breaks() {
        for e in [
            Extra::Replace("c1".into()),
            Extra::Retract("17".into()),
            Extra::Moderated("17".into(), "room@x/mod".into()),
            Extra::Reactions("17".into(), vec!["👍".into(), "a b".into()]),
            Extra::Reactions("17".into(), vec![]),
            Extra::Retracted(1_733_000_000_000_000),
        ] {
            assert_eq!(Extra::decode(&e.encode().unwrap()), Some(e));
        }
        assert_eq!(Extra::Replace("a\nb".into()).encode(), None);
        // Files keep their metadata; a row of the earlier form still reads.
        let file = |url: &str, name: Option<&str>, size: Option<u64>| Attachment {
            url: url.into(),
            name: name.map(Into::into),
            media_type: size.map(|_| "image/png".into()),
            size,
            needs_credentials: false,
            sha256: size.map(|_| "aGFzaA==".into()),
        };
        let files = Extra::Files(vec![
            file("https://up/a.png", Some("a.png"), Some(2_097_152)),
            file("https://cdn/b", None, None),
        ]);
        assert_eq!(Extra::decode(&files.encode().unwrap()), Some(files));
        assert_eq!(
            Extra::decode("files\nhttps://h/a\na.png\nhttps://h/b\n"),
            Some(Extra::Files(vec![
                file("https://h/a", Some("a.png"), None),
                file("https://h/b", None, None)
            ]))
        );
        assert_eq!(Extra::decode("something\nelse"), None);
    }
}
