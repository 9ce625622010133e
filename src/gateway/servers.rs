//! Server JIDs (`irc.example.net@irc.example.org`), for networks made of
//! several servers: disco#items lists the server's rooms (XEP-0030 with
//! XEP-0059 paging), and the ad-hoc command `configure` holds the user's
//! settings for that server, sealed at rest like credentials.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use switchboard_bridge_api::{Command, Credentials, RoomListing};
use tokio::sync::oneshot;
use xmpp_parsers::data_forms::DataFormType;
use xmpp_parsers::disco::{DiscoInfoResult, DiscoItemsResult, Identity, Item};
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::ns;
use xmpp_parsers::rsm::{First, SetQuery, SetResult};
use xmpp_parsers::stanza_error::DefinedCondition;

use super::Gateway;
use crate::xmpp::adhoc::{self, Command as AdHoc};
use crate::xmpp::{errors, escape, forms};

/// Scope prefix of per-server settings in the store.
const SCOPE: &str = "server:";
/// How long a room list may take.
const LIST_TIMEOUT: Duration = Duration::from_secs(60);
/// Rooms per page when the client does not say.
const DEFAULT_PAGE: usize = 100;

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
        let id = escape::unescape(to.node()?.as_str());
        self.bridge.is_server(&id).then_some(id)
    }

    /// A server's JID (`irc.example.net@irc.example.org`), if its name can be one.
    pub(super) fn server_jid(&self, server: &str) -> Option<Jid> {
        let jid: Jid = format!("{}@{}", escape::escape(server), self.domain)
            .parse()
            .ok()?;
        (jid.resource().is_none()).then_some(jid)
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
            server: Some(server.to_owned()),
            after,
            limit,
        };
        let sent = self.command(&user, list).await;
        let answer = match sent {
            Ok(()) => tokio::time::timeout(LIST_TIMEOUT, rx)
                .await
                .ok()
                .and_then(Result::ok),
            Err(_) => None,
        };
        self.pending_lists.lock().unwrap().remove(&token);
        let (rooms, next) = answer.ok_or((
            DefinedCondition::RemoteServerTimeout,
            format!("{server} did not list its rooms in time"),
        ))?;
        let items: Vec<Item> = rooms
            .iter()
            .filter_map(|r| {
                Some(Item {
                    jid: Jid::from(self.room_jid(&r.room)?),
                    node: None,
                    name: Some(match r.members {
                        Some(n) => format!("{} ({n})", r.name),
                        None => r.name.clone(),
                    }),
                })
            })
            .collect();
        let rsm = (!rooms.is_empty()).then(|| SetResult {
            first: Some(First {
                index: None,
                item: rooms[0].room.to_string(),
            }),
            last: next.or_else(|| rooms.last().map(|r| r.room.to_string())),
            count: None,
        });
        Ok(Some(
            DiscoItemsResult {
                node: None,
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
        let current = self.server_settings(&user).await.remove(server);
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
        let sealed = self
            .vault
            .seal(super::registration::encode(&settings).as_bytes())
            .map_err(|e| (DefinedCondition::InternalServerError, e.to_string()))?;
        self.store
            .set_setting(
                &user.to_string(),
                &self.network,
                &format!("{SCOPE}{server}"),
                "sealed",
                &sealed,
            )
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
