//! Server JIDs (`irc.example.net@irc.example.org`), for networks made of
//! several servers: disco#items lists the server's rooms (XEP-0030 with
//! XEP-0059 paging), and the ad-hoc command `configure` holds the user's
//! settings for that server, sealed at rest like credentials.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use switchboard_bridge_api::{Command, Credentials, RoomId, RoomListing};
use tokio::sync::oneshot;
use xmpp_parsers::data_forms::DataFormType;
use xmpp_parsers::disco::{DiscoInfoResult, DiscoItemsResult, Identity, Item};
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::ns;
use xmpp_parsers::rsm::{First, SetQuery, SetResult};
use xmpp_parsers::stanza_error::DefinedCondition;

use super::session::{Unsent, QUEUE_FULL};
use super::Gateway;
use crate::xmpp::adhoc::{self, Command as AdHoc};
use crate::xmpp::{errors, forms};

/// The node prefix of a group of rooms (a Matrix space) in the
/// component's disco#items: `rooms/` + the group's id.
pub(super) const GROUP_NODE: &str = "rooms/";
/// Scope prefix of per-server settings in the store.
const SCOPE: &str = "server:";
/// How long a room list may take.
const LIST_TIMEOUT: Duration = Duration::from_secs(60);
/// Rooms per page when the client does not say.
const DEFAULT_PAGE: usize = 100;
/// The most any room-list answer takes, as XML, whatever the names (well
/// under what XMPP servers take from a component: Prosody ends the stream
/// past 512 KiB).
const STANZA_BUDGET: usize = 64 * 1024;
/// The most a room list's items may take, as XML: a page ends early rather
/// than pass it. The rest of [`STANZA_BUDGET`] is for the iq and the RSM
/// set (its first and last room ids).
const ITEMS_BUDGET: usize = STANZA_BUDGET - 4 * 1024;
/// The most of a room's name a list shows, in bytes.
const NAME_MAX: usize = 400;
/// An item's XML besides its JID and name (`<item xmlns='…' jid='' name=''/>`).
const ITEM_OVERHEAD: usize = 96;

/// Room-list requests waiting for their [`switchboard_bridge_api::Event::RoomList`].
pub(super) type PendingLists =
    BTreeMap<String, oneshot::Sender<(Vec<RoomListing>, Option<String>)>>;

type Reply = Result<Option<Element>, (DefinedCondition, String)>;

impl Gateway {
    /// The server a JID names, if it names one.
    pub(super) fn server_of(&self, to: &Jid) -> Option<String> {
        if to.resource().is_some() {
            return None;
        }
        let id = self.jid_id(to)?;
        self.bridge.is_server(&id).then_some(id)
    }

    /// A server's JID (`irc.example.net@irc.example.org`), if its name can be one.
    pub(super) fn server_jid(&self, server: &str) -> Option<Jid> {
        self.id_jid(server).map(Jid::from)
    }

    /// The user's settings for every server, opened.
    pub(super) async fn server_settings(&self, user: &BareJid) -> BTreeMap<String, Credentials> {
        let rows = self
            .store
            .settings_under(&user.to_string(), &self.network, SCOPE)
            .await
            .unwrap_or_default();
        rows.into_iter()
            .filter_map(|(scope, _, sealed)| {
                let server = scope.strip_prefix(SCOPE)?.to_owned();
                Some((server, self.open_credentials(&sealed).ok()?))
            })
            .collect()
    }

    /// An iq to a server JID. Room lists are answered from a task of their
    /// own, as the network may take a while.
    pub(super) async fn server_iq(self: &Arc<Self>, server: String, iq: Iq) {
        let (from, to, id, payload, is_set) = match iq {
            Iq::Get {
                from: Some(from),
                to: Some(to),
                id,
                payload,
            } => (from, to, id, payload, false),
            Iq::Set {
                from: Some(from),
                to: Some(to),
                id,
                payload,
            } => (from, to, id, payload, true),
            _ => return,
        };
        let lists_rooms =
            !is_set && payload.is("query", ns::DISCO_ITEMS) && payload.attr("node").is_none();
        if lists_rooms {
            let gateway = Arc::clone(self);
            tokio::spawn(async move {
                let reply = gateway.list_rooms(&from, &server, &payload).await;
                gateway.answer(from, to, id, reply).await;
            });
            return;
        }
        let reply = match (is_set, payload.name(), payload.ns().as_str()) {
            (false, "query", ns::DISCO_INFO) => {
                Ok(Some(self.server_info(&server, &payload).into()))
            }
            (false, "query", ns::DISCO_ITEMS) => Ok(Some(
                DiscoItemsResult {
                    node: Some(adhoc::NS.to_owned()),
                    items: vec![Item {
                        jid: to.clone(),
                        node: Some("configure".into()),
                        name: Some("Configure".into()),
                    }],
                    rsm: None,
                }
                .into(),
            )),
            (true, "command", adhoc::NS) => match AdHoc::try_from(payload.clone()) {
                Ok(cmd) => self
                    .configure(&from, &server, cmd)
                    .await
                    .map(|c| Some(c.into())),
                Err(e) => Err((DefinedCondition::BadRequest, format!("bad command: {e}"))),
            },
            _ => Err((
                DefinedCondition::ServiceUnavailable,
                "not served on servers".into(),
            )),
        };
        self.answer(from, to, id, reply).await;
    }

    async fn answer(&self, from: Jid, to: Jid, id: String, reply: Reply) {
        let stanza = match reply {
            Ok(payload) => Iq::Result {
                from: Some(to),
                to: Some(from),
                id,
                payload,
            },
            Err((condition, text)) => {
                errors::iq_error(Some(&from), Some(&to), &id, condition, &text)
            }
        };
        self.send(stanza).await;
    }

    fn server_info(&self, server: &str, payload: &Element) -> DiscoInfoResult {
        match payload.attr("node") {
            Some(adhoc::NS) => crate::xmpp::disco::command_list_info(),
            node => DiscoInfoResult {
                node: node.map(str::to_owned),
                identities: vec![Identity::new("conference", "text", "en", server)],
                features: [ns::DISCO_INFO, ns::DISCO_ITEMS, ns::RSM, adhoc::NS]
                    .map(str::to_owned)
                    .into(),
                extensions: vec![],
            },
        }
    }

    /// disco#items on a server: its rooms, a page at a time (XEP-0059).
    async fn list_rooms(self: &Arc<Self>, from: &Jid, server: &str, payload: &Element) -> Reply {
        let what = format!("{server} did not list its rooms in time");
        self.room_listing(from, Some(server), None, payload, what)
            .await
    }

    /// disco#items on the component for a network that groups rooms
    /// (`Capabilities::room_groups`): without a node, the user's groups,
    /// each an item with the node [`GROUP_NODE`] + its id; on such a node,
    /// that group's rooms (and groups). An unregistered user's list is empty.
    pub(super) async fn list_groups(self: &Arc<Self>, from: &Jid, payload: &Element) -> Reply {
        let node = payload.attr("node");
        let within = node
            .and_then(|n| n.strip_prefix(GROUP_NODE))
            .map(RoomId::from);
        if within.is_none() && !self.is_registered(&from.to_bare()).await {
            return Ok(Some(
                DiscoItemsResult {
                    node: None,
                    items: Vec::new(),
                    rsm: None,
                }
                .into(),
            ));
        }
        let what = "the network did not list the rooms in time".to_owned();
        self.room_listing(from, None, within, payload, what).await
    }

    /// A page of `Command::ListRooms` as disco items.
    async fn room_listing(
        self: &Arc<Self>,
        from: &Jid,
        server: Option<&str>,
        within: Option<RoomId>,
        payload: &Element,
        too_late: String,
    ) -> Reply {
        let user = from.to_bare();
        self.require_registered(&user).await?;
        let set = payload
            .get_child("set", ns::RSM)
            .and_then(|s| SetQuery::try_from(s.clone()).ok());
        let limit = set
            .as_ref()
            .and_then(|s| s.max)
            .unwrap_or(DEFAULT_PAGE)
            .clamp(1, 500);
        let after = set.as_ref().and_then(|s| s.after.clone());
        let token = format!("list-{}", self.archive.next_id());
        let (tx, rx) = oneshot::channel();
        self.pending_lists.lock().unwrap().insert(token.clone(), tx);
        let list = Command::ListRooms {
            token: token.clone(),
            server: server.map(str::to_owned),
            after,
            limit,
            within,
        };
        let sent = self.command(&user, list).await;
        let answer = match sent {
            Ok(()) => tokio::time::timeout(LIST_TIMEOUT, rx)
                .await
                .ok()
                .and_then(Result::ok),
            Err(Unsent::Full) => {
                self.pending_lists.lock().unwrap().remove(&token);
                return Err((DefinedCondition::ResourceConstraint, QUEUE_FULL.into()));
            }
            Err(_) => None,
        };
        self.pending_lists.lock().unwrap().remove(&token);
        let (rooms, next) = answer.ok_or((DefinedCondition::RemoteServerTimeout, too_late))?;
        let domain = Jid::from(self.domain.clone());
        let (items, taken) = fit_items(&rooms, ITEMS_BUDGET, |listing| {
            if listing.group {
                let node = format!("{GROUP_NODE}{}", listing.room);
                return Some((domain.clone(), Some(node)));
            }
            self.room_jid(&listing.room)
                .map(|jid| (Jid::from(jid), None))
        });
        // A page cut short by size ends at its last room: the client's next
        // page starts after it.
        let last = if taken < rooms.len() {
            Some(rooms[taken - 1].room.to_string())
        } else {
            next.or_else(|| rooms.last().map(|r| r.room.to_string()))
        };
        let rsm = (!rooms.is_empty()).then(|| SetResult {
            first: Some(First {
                index: None,
                item: rooms[0].room.to_string(),
            }),
            last,
            count: None,
        });
        Ok(Some(
            DiscoItemsResult {
                node: payload.attr("node").map(str::to_owned),
                items,
                rsm,
            }
            .into(),
        ))
    }

    /// A room list arrived from the session.
    pub(super) fn room_list(&self, token: &str, rooms: Vec<RoomListing>, next: Option<String>) {
        if let Some(tx) = self.pending_lists.lock().unwrap().remove(token) {
            let _ = tx.send((rooms, next));
        }
    }

    /// The `configure` command of a server JID.
    async fn configure(
        &self,
        from: &Jid,
        server: &str,
        cmd: AdHoc,
    ) -> Result<AdHoc, (DefinedCondition, String)> {
        if cmd.node != "configure" {
            return Err((DefinedCondition::ItemNotFound, "no such command".into()));
        }
        if cmd.action.as_deref() == Some("cancel") {
            return Ok(cmd.response("canceled"));
        }
        let user = from.to_bare();
        self.require_registered(&user).await?;
        let fields = &self.bridge.info().server_settings;
        let title = format!("Settings for {server}");
        let instructions = "Blank fields keep their defaults. They apply from the next connection.";
        let scope = format!("{SCOPE}{server}");
        let stored = self
            .store
            .settings(&user.to_string(), &self.network, &scope)
            .await
            .map_err(|e| (DefinedCondition::InternalServerError, e.to_string()))?;
        let current = stored
            .get("sealed")
            .and_then(|sealed| self.open_credentials(sealed).ok());
        let Some(submitted) = cmd
            .form
            .as_ref()
            .filter(|f| f.type_ == DataFormType::Submit)
        else {
            let form = forms::login_form(&title, instructions, fields, current.as_ref(), None);
            return Ok(cmd.ask(form));
        };
        let mut settings = forms::read_submission(submitted, fields);
        // Secrets left blank keep their stored value (they are never shown).
        if let Some(old) = &current {
            for f in fields
                .iter()
                .filter(|f| f.kind == switchboard_bridge_api::FieldKind::Password)
            {
                if settings.get(f.name).is_none() {
                    if let Some(v) = old.get(f.name) {
                        settings.set(f.name, v);
                    }
                }
            }
        }
        if let Err(e) = self.bridge.validate_server_settings(&settings) {
            let form = forms::login_form(
                &title,
                instructions,
                fields,
                Some(&settings),
                Some((&e.field, &e.reason)),
            );
            let mut again = cmd.ask(form);
            again.notes.push(adhoc::Note::new("error", e.to_string()));
            return Ok(again);
        }
        if stored.is_empty() {
            self.room_for_setting(&user).await?;
        }
        let sealed = self
            .vault
            .seal(super::registration::encode(&settings).as_bytes())
            .map_err(|e| (DefinedCondition::InternalServerError, e.to_string()))?;
        self.store
            .set_setting(&user.to_string(), &self.network, &scope, "sealed", &sealed)
            .await
            .map_err(|e| (DefinedCondition::InternalServerError, e.to_string()))?;
        // A session started later reads the settings from the store.
        let configure = Command::ConfigureServer {
            server: server.to_owned(),
            settings,
        };
        self.command_if_running(&user, configure).await;
        Ok(cmd.done(
            "info",
            format!("Saved. They apply from the next connection to {server}."),
        ))
    }
}

/// The disco items for as many of `rooms` as fit in `budget` bytes of XML
/// (one at least), and how many rooms they cover (rooms without an address,
/// a JID and maybe a node, are passed over). Long names are cut to [`NAME_MAX`].
fn fit_items(
    rooms: &[RoomListing],
    budget: usize,
    item_of: impl Fn(&RoomListing) -> Option<(Jid, Option<String>)>,
) -> (Vec<Item>, usize) {
    let mut items = Vec::new();
    let mut used = 0;
    let mut taken = 0;
    for r in rooms {
        let Some((jid, node)) = item_of(r) else {
            taken += 1;
            continue;
        };
        let name = cut(&r.name, NAME_MAX);
        let name = match r.members {
            Some(n) => format!("{name} ({n})"),
            None => name.to_owned(),
        };
        let node_len = node.as_deref().map_or(0, |n| xml_len(n) + 8);
        let cost = ITEM_OVERHEAD + xml_len(jid.as_str()) + xml_len(&name) + node_len;
        if !items.is_empty() && used + cost > budget {
            break;
        }
        used += cost;
        taken += 1;
        items.push(Item {
            jid,
            node,
            name: Some(name),
        });
    }
    (items, taken)
}

/// `text`, at most `max` bytes of it, cut at a character boundary.
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The length of `text` escaped as an XML attribute value.
fn xml_len(text: &str) -> usize {
    text.chars()
        .map(|c| match c {
            '&' => 5,
            '<' | '>' => 4,
            '\'' | '"' => 6,
            c => c.len_utf8(),
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(i: usize, name: &str) -> RoomListing {
        RoomListing {
            room: RoomId(format!("#{i:04}{name}%irc.example.net")),
            name: format!("#{i:04}{name}"),
            members: Some(7),
            topic: None,
            group: false,
        }
    }

    fn jid(listing: &RoomListing) -> Option<(Jid, Option<String>)> {
        let node = crate::xmpp::localpart::localpart(
            listing.room.as_str(),
            crate::xmpp::escape::Case::Insensitive,
        )
        .ok()?;
        let domain: xmpp_parsers::jid::DomainPart = "irc.example.org".parse().ok()?;
        Some((Jid::from(BareJid::from_parts(Some(&node), &domain)), None))
    }

    #[test]
    fn a_page_of_long_names_stays_within_the_budget_and_the_pages_cover_every_room() {
        // Names that escape to six times their length, as long as IRC allows.
        let name = "&'\"<>".repeat(38);
        let rooms: Vec<RoomListing> = (0..500).map(|i| listing(i, &name)).collect();
        let mut seen = 0;
        let mut pages = 0;
        while seen < rooms.len() {
            let (items, taken) = fit_items(&rooms[seen..], ITEMS_BUDGET, jid);
            assert!(taken >= 1 && items.len() == taken);
            let page: Element = DiscoItemsResult {
                node: None,
                items,
                rsm: Some(SetResult {
                    first: Some(First {
                        index: None,
                        item: rooms[seen].room.to_string(),
                    }),
                    last: Some(rooms[seen + taken - 1].room.to_string()),
                    count: None,
                }),
            }
            .into();
            let xml = String::from(&page);
            assert!(
                xml.len() <= STANZA_BUDGET - 512,
                "page of {taken} rooms is {} bytes",
                xml.len()
            );
            seen += taken;
            pages += 1;
        }
        assert_eq!(seen, 500);
        assert!(pages > 1, "500 long names fit no page of 64 KiB");
    }

    #[test]
    fn names_are_cut_at_a_character_boundary() {
        assert_eq!(cut("ééé", 3), "é");
        assert_eq!(cut("abc", 5), "abc");
        let long = RoomListing {
            name: "é".repeat(600),
            ..listing(1, "")
        };
        let (items, _) = fit_items(&[long], ITEMS_BUDGET, jid);
        assert!(items[0].name.as_ref().unwrap().len() <= NAME_MAX + " (7)".len());
    }
}
