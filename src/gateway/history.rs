//! Room history from the archive: XEP-0045 join history (`<history/>` limits,
//! XEP-0203 delay stamps) and XEP-0313 MAM queries on the room JID with
//! XEP-0059 paging. Live room messages carry their archive id as an
//! XEP-0359 `<stanza-id/>`.
//!
//! ```xml
//! <iq type='set' to='#rust%irc.example.net@irc.example.org' id='q1'>
//!   <query xmlns='urn:xmpp:mam:2' queryid='f27'>
//!     <set xmlns='http://jabber.org/protocol/rsm'><max>10</max></set>
//!   </query>
//! </iq>
//! ```

use switchboard_bridge_api::{RoomId, UserId};
use xmpp_parsers::jid::{BareJid, FullJid, Jid};
use xmpp_parsers::mam::{Fin, Query};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::muc::muc::History;
use xmpp_parsers::ns;
use xmpp_parsers::rsm::{First, SetResult};
use xmpp_parsers::stanza_error::DefinedCondition;

use super::Gateway;
use crate::store::{ArchiveRange, ArchivedMessage};
use crate::xmpp::rich::Extra;

/// History sent on join when the client does not say how much.
const DEFAULT_JOIN_HISTORY: i64 = 20;
/// The largest MAM page.
const MAX_PAGE: usize = 250;
/// The MAM page when the client does not say.
const DEFAULT_PAGE: usize = 50;

/// An attribute name.
fn an(name: &str) -> xmpp_parsers::minidom::rxml::NcName {
    xmpp_parsers::minidom::rxml::NcName::try_from(name).expect("a valid attribute name")
}

/// An XEP-0082 timestamp of µs since the epoch.
fn stamp(ts: i64) -> String {
    chrono::DateTime::from_timestamp_micros(ts)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn parse_stamp(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|d| d.timestamp_micros())
}

/// An archived `<message type='groupchat'>` with an XEP-0203 delay and the
/// ids it had live: its `id`, its stanza-id and, for the user's own, the
/// client's origin-id (XEP-0359), and the author's XEP-0421 occupant-id
/// when the archive knows the author; `jabber:client` inside a MAM
/// `<forwarded/>`, the stream's namespace as join history.
fn archived_message(
    m: &ArchivedMessage,
    from: &Jid,
    room: &BareJid,
    to: Option<&Jid>,
    occupant_id: Option<String>,
    stanza_ns: &str,
) -> Element {
    let mut b = Element::builder("message", stanza_ns)
        .attr(an("type"), "groupchat")
        .attr(an("from"), from.to_string())
        .attr(
            an("id"),
            m.xmpp_id.clone().unwrap_or_else(|| m.seq.to_string()),
        );
    if let Some(to) = to {
        b = b.attr(an("to"), to.to_string());
    }
    if let Some(origin) = &m.origin_id {
        b = b.append(Element::builder("origin-id", ns::SID).attr(an("id"), origin.as_str()));
    }
    // Corrections, retractions, reactions, tombstones and files
    // (`xmpp/rich.rs`): a tombstone (or a reaction archived before
    // reactions had a fallback body) has no body.
    let rich = m.extra.as_deref().and_then(Extra::decode);
    if !m.body.is_empty() || rich.is_none() {
        b = b.append(Element::builder("body", stanza_ns).append(m.body.as_str()));
    }
    b.append_all(rich.map(|r| r.payloads(stamp)).unwrap_or_default())
        .append(
            Element::builder("delay", ns::DELAY)
                .attr(an("from"), room.to_string())
                .attr(an("stamp"), stamp(m.ts)),
        )
        .append(
            Element::builder("stanza-id", ns::SID)
                .attr(an("id"), m.seq.to_string())
                .attr(an("by"), room.to_string()),
        )
        .append_all(
            occupant_id.map(|id| Element::builder("occupant-id", ns::OID).attr(an("id"), id)),
        )
        .build()
}

impl Gateway {
    /// The occupant-id of an archived message's author, when the archive
    /// knows who wrote it (rows before migration 0005 do not).
    fn archived_author(&self, room: &RoomId, m: &ArchivedMessage) -> Option<String> {
        let author = m.author_id.as_deref()?;
        Some(self.occupant_id(room, &UserId::from(author)))
    }

    /// Who an archived message is from: its author's occupant JID, or the
    /// room's for a row without a nick (a moderation, `xmpp/rich.rs`).
    fn archived_sender(
        &self,
        room: &RoomId,
        room_jid: &BareJid,
        m: &ArchivedMessage,
    ) -> Option<Jid> {
        if m.nick.is_empty() {
            return Some(Jid::from(room_jid.clone()));
        }
        self.occupant_jid(room, &m.nick)
    }

    /// Sends the join history the `<history/>` element asks for.
    pub(super) async fn send_join_history(
        &self,
        user: &BareJid,
        room: &RoomId,
        to: &FullJid,
        history: Option<&History>,
    ) {
        if !self.archive.enabled() {
            return;
        }
        let Some(room_jid) = self.room_jid(room) else {
            return;
        };
        let limit = match history.and_then(|h| h.maxstanzas) {
            Some(n) => i64::from(n),
            None if history.and_then(|h| h.maxchars) == Some(0) => 0,
            None => DEFAULT_JOIN_HISTORY,
        };
        if limit == 0 {
            return;
        }
        // What the other resources saw live is written before it is read.
        self.archive.flush().await;
        let mut range = ArchiveRange {
            newest: true,
            ..Default::default()
        };
        if let Some(seconds) = history.and_then(|h| h.seconds) {
            range.since = Some(crate::archive::now_micros() - i64::from(seconds) * 1_000_000);
        }
        if let Some(since) = history.and_then(|h| h.since.as_ref()) {
            range.since = Some(since.0.timestamp_micros());
        }
        let messages = match self
            .store
            .archived(
                &user.to_string(),
                &self.network,
                room.as_str(),
                &range,
                limit,
            )
            .await
        {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read join history");
                return;
            }
        };
        let to = Jid::from(to.clone());
        for m in &messages {
            let Some(from) = self.archived_sender(room, &room_jid, m) else {
                continue;
            };
            let occupant_id = self.archived_author(room, m);
            let el = archived_message(m, &from, &room_jid, Some(&to), occupant_id, ns::COMPONENT);
            self.send_element(el).await;
        }
    }

    /// XEP-0313 query on a room's archive: the results as messages, then the `<fin/>`.
    pub(super) async fn mam_query(
        &self,
        from: &Jid,
        to: &Jid,
        payload: &Element,
    ) -> Result<Option<Element>, (DefinedCondition, String)> {
        let room = self.room_of(to);
        let Some(room_jid) = self.room_jid(&room) else {
            return Err((DefinedCondition::ItemNotFound, "no such room".into()));
        };
        let query = Query::try_from(payload.clone())
            .map_err(|e| (DefinedCondition::BadRequest, format!("bad MAM query: {e}")))?;
        let mut range = ArchiveRange::default();
        if let Some(form) = &query.form {
            for field in &form.fields {
                let value = field.values.first().map(String::as_str).unwrap_or_default();
                match field.var.as_deref() {
                    Some("start") => range.since = parse_stamp(value),
                    Some("end") => range.until = parse_stamp(value),
                    Some("with") | Some("FORM_TYPE") | None => {}
                    Some(other) => {
                        return Err((
                            DefinedCondition::FeatureNotImplemented,
                            format!("filter {other} is not supported"),
                        ))
                    }
                }
            }
        }
        let max = query
            .set
            .as_ref()
            .and_then(|s| s.max)
            .unwrap_or(DEFAULT_PAGE)
            .min(MAX_PAGE);
        let parse_id = |s: &str| {
            s.parse::<i64>()
                .map_err(|_| (DefinedCondition::ItemNotFound, format!("no archive id {s}")))
        };
        if let Some(set) = &query.set {
            if let Some(after) = &set.after {
                range.after = Some(parse_id(after)?);
            }
            match set.before.as_deref() {
                Some("") => range.newest = true,
                Some(before) => {
                    range.before = Some(parse_id(before)?);
                    range.newest = true;
                }
                None => {}
            }
        }
        let user = from.to_bare();
        self.archive.flush().await;
        let mut messages = self
            .store
            .archived(
                &user.to_string(),
                &self.network,
                room.as_str(),
                &range,
                max as i64 + 1,
            )
            .await
            .map_err(|e| (DefinedCondition::InternalServerError, e.to_string()))?;
        let complete = messages.len() <= max;
        if !complete {
            if range.newest {
                messages.remove(0);
            } else {
                messages.pop();
            }
        }
        for m in &messages {
            let Some(occupant) = self.archived_sender(&room, &room_jid, m) else {
                continue;
            };
            let occupant_id = self.archived_author(&room, m);
            let inner = archived_message(
                m,
                &occupant,
                &room_jid,
                None,
                occupant_id,
                ns::JABBER_CLIENT,
            );
            let mut result = Element::builder("result", ns::MAM).attr(an("id"), m.seq.to_string());
            if let Some(q) = &query.queryid {
                result = result.attr(an("queryid"), q.0.clone());
            }
            let forwarded = Element::builder("forwarded", ns::FORWARD)
                .append(Element::builder("delay", ns::DELAY).attr(an("stamp"), stamp(m.ts)))
                .append(inner);
            let message = Element::builder("message", ns::COMPONENT)
                .attr(an("from"), room_jid.to_string())
                .attr(an("to"), from.to_string())
                .append(result.append(forwarded))
                .build();
            self.send_element(message).await;
        }
        let fin = Fin {
            complete,
            set: SetResult {
                first: messages.first().map(|m| First {
                    index: None,
                    item: m.seq.to_string(),
                }),
                last: messages.last().map(|m| m.seq.to_string()),
                count: None,
            },
        };
        Ok(Some(fin.into()))
    }
}
