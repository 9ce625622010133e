//! Iq requests to the component domain: XEP-0030 disco, XEP-0199 ping,
//! XEP-0092 version, XEP-0077 registration, XEP-0050 ad-hoc commands.
//! Anything else gets `service-unavailable`; results and errors are never answered.

use std::sync::Arc;
use xmpp_parsers::data_forms::{DataForm, DataFormType, Field, FieldType};
use xmpp_parsers::disco::{DiscoInfoQuery, DiscoInfoResult, DiscoItemsResult, Identity, Item};
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::ns;
use xmpp_parsers::stanza_error::DefinedCondition;
use xmpp_parsers::version::VersionResult;

use super::avatars::{PepAnswer, PUBSUB, VCARD};
use super::servers::GROUP_NODE;
use super::Gateway;
use crate::xmpp::adhoc::{self, Command};
use crate::xmpp::{disco, errors};

/// The ad-hoc commands: node, name, admins only.
const COMMANDS: &[(&str, &str, bool)] = &[
    ("register", "Register", false),
    ("unregister", "Unregister", false),
    ("status", "Status", false),
    ("settings", "Settings", false),
    ("list-users", "List users", true),
];

/// A reply to an iq request: a payload, or an error.
type Reply = Result<Option<Element>, (DefinedCondition, String)>;

fn fail<T>(
    condition: DefinedCondition,
    text: impl Into<String>,
) -> Result<T, (DefinedCondition, String)> {
    Err((condition, text.into()))
}

/// Whether an iq set to the domain registers (or unregisters): served off
/// the router, as it may wait for the network.
fn is_registration(payload: &Element) -> bool {
    (payload.is("query", ns::REGISTER) && payload.get_child("remove", ns::REGISTER).is_none())
        || (payload.is("command", adhoc::NS) && payload.attr("node") == Some("register"))
}

impl Gateway {
    pub(super) async fn handle_iq(self: &Arc<Self>, iq: Iq) {
        // An answer to the component's own question (XEP-0363, `files/`).
        let Some(iq) = self.files.answered(iq) else {
            return;
        };
        // An answer to a privileged iq of the bookmarks (`bookmarks.rs`).
        let Some(iq) = self.bookmarks.answered(iq) else {
            return;
        };
        if let Some(server) = iq.to().and_then(|to| self.server_of(to)) {
            return self.server_iq(server, iq).await;
        }
        let (from, to, id, payload, is_set) = match iq {
            Iq::Get {
                from,
                to,
                id,
                payload,
            } => (from, to, id, payload, false),
            Iq::Set {
                from,
                to,
                id,
                payload,
            } => (from, to, id, payload, true),
            Iq::Result { .. } | Iq::Error { .. } => return self.roster_answered(iq).await,
        };
        let Some(from) = from else { return };
        let to_domain = to.as_ref().is_none_or(|t| t.node().is_none());
        if to_domain && is_set && is_registration(&payload) {
            // It may talk to the network: off the router, which serves every user.
            let this = Arc::clone(self);
            tokio::spawn(async move {
                let reply = this.domain_iq(&from, &payload, true).await;
                this.answer_iq(from, to, id, reply).await;
            });
            return;
        }
        if to_domain && !is_set && self.lists_groups(&payload) {
            // The network lists the rooms: off the router too.
            let this = Arc::clone(self);
            tokio::spawn(async move {
                let reply = this.list_groups(&from, &payload).await;
                this.answer_iq(from, to, id, reply).await;
            });
            return;
        }
        if !to_domain && is_set && payload.is("query", ns::MAM) && self.archive.enabled() {
            // It waits for the archive's writer and reads the database:
            // off the router too. Its results and its answer stay in order.
            let this = Arc::clone(self);
            tokio::spawn(async move {
                let room = to.as_ref().unwrap();
                let reply = this.mam_query(&from, room, &payload).await;
                this.answer_iq(from, to, id, reply).await;
            });
            return;
        }
        let reply = if to_domain {
            self.domain_iq(&from, &payload, is_set).await
        } else if is_set && payload.is("command", adhoc::NS) {
            match Command::try_from(payload.clone()) {
                Ok(cmd) => {
                    let room = self.room_of(to.as_ref().unwrap());
                    self.room_command(&from, &room, cmd)
                        .await
                        .map(|c| Some(c.into()))
                }
                Err(e) => fail(DefinedCondition::BadRequest, format!("bad command: {e}")),
            }
        } else if !is_set
            && payload.is("query", ns::DISCO_ITEMS)
            && payload.attr("node") == Some(adhoc::NS)
        {
            Ok(Some(self.room_command_items(to.as_ref().unwrap()).into()))
        } else if is_set && payload.is("moderate", crate::xmpp::rich::MODERATE) {
            self.moderate(&from, to.as_ref().unwrap(), &id, &payload)
                .await
        } else if let Some(card) = (!is_set && payload.is("vCard", VCARD))
            .then(|| self.person_vcard(&from, to.as_ref().unwrap()))
            .flatten()
        {
            Ok(Some(card))
        } else if let Some(info) = (!is_set && payload.is("query", ns::DISCO_INFO))
            .then(|| self.contact_info(&from, to.as_ref().unwrap(), &payload))
            .flatten()
        {
            Ok(Some(info))
        } else if let Some(answer) = (!is_set && payload.is("pubsub", PUBSUB))
            .then(|| self.contact_avatar(&from, to.as_ref().unwrap(), &payload))
            .flatten()
        {
            match answer {
                PepAnswer::Items(items) => Ok(Some(items)),
                PepAnswer::NotFound => fail(DefinedCondition::ItemNotFound, "no such avatar"),
            }
        } else {
            self.room_iq(&from, to.as_ref().unwrap(), &payload)
        };
        self.answer_iq(from, to, id, reply).await;
    }

    async fn answer_iq(&self, from: Jid, to: Option<Jid>, id: String, reply: Reply) {
        let stanza = match reply {
            Ok(payload) => Iq::Result {
                from: to,
                to: Some(from),
                id,
                payload,
            },
            Err((condition, text)) => {
                errors::iq_error(Some(&from), to.as_ref(), &id, condition, &text)
            }
        };
        self.send(stanza).await;
    }

    async fn domain_iq(self: &Arc<Self>, from: &Jid, payload: &Element, is_set: bool) -> Reply {
        let name = payload.name();
        let ns_ = payload.ns();
        match (is_set, name, ns_.as_str()) {
            (false, "query", ns::DISCO_INFO) => self.disco_info(from, payload),
            (false, "query", ns::DISCO_ITEMS) => Ok(Some(self.disco_items(from, payload).into())),
            (false, "ping", ns::PING) => Ok(None),
            (false, "query", ns::VERSION) => Ok(Some(
                VersionResult {
                    name: "Switchboard".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    os: None,
                }
                .into(),
            )),
            (false, "query", ns::REGISTER) => self.register_form(from).await,
            (true, "query", ns::REGISTER) => self.register_submit(from, payload).await,
            (true, "command", adhoc::NS) => match Command::try_from(payload.clone()) {
                Ok(cmd) => self.adhoc(from, cmd).await.map(|c| Some(c.into())),
                Err(e) => fail(DefinedCondition::BadRequest, format!("bad command: {e}")),
            },
            (false, "query", disco::GATEWAY) if self.bridge.info().capabilities.direct_messages => {
                Ok(Some(
                    Element::builder("query", "jabber:iq:gateway")
                        .append(
                            Element::builder("desc", "jabber:iq:gateway").append(format!(
                                "Enter the {} id of a person to get their address.",
                                self.bridge.info().display_name
                            )),
                        )
                        .append(Element::builder("prompt", "jabber:iq:gateway").append("id"))
                        .build(),
                ))
            }
            _ => fail(
                DefinedCondition::ServiceUnavailable,
                format!("{{{ns_}}}{name} is not served here"),
            ),
        }
    }

    fn disco_info(&self, from: &Jid, payload: &Element) -> Reply {
        let node = DiscoInfoQuery::try_from(payload.clone())
            .ok()
            .and_then(|q| q.node);
        let info = self.bridge.info();
        let result = match node.as_deref() {
            None => disco::domain_info(info),
            // XEP-0115 §6.2: the caps node with its hash names the same info.
            Some(n) if disco::is_caps_node(n, info) => DiscoInfoResult {
                node: node.clone(),
                ..disco::domain_info(info)
            },
            Some(adhoc::NS) => disco::command_list_info(),
            // A group of rooms: a branch of the hierarchy (XEP-0030 §4's
            // `hierarchy` category) whose items are its rooms.
            Some(n) if info.capabilities.room_groups && n.starts_with(GROUP_NODE) => {
                DiscoInfoResult {
                    node: node.clone(),
                    identities: vec![Identity::new(
                        "hierarchy",
                        "branch",
                        "en",
                        &n[GROUP_NODE.len()..],
                    )],
                    features: [ns::DISCO_INFO, ns::DISCO_ITEMS, ns::RSM]
                        .map(str::to_owned)
                        .into(),
                    extensions: vec![],
                }
            }
            Some(n) if self.visible_commands(from).any(|(node, _)| node == n) => DiscoInfoResult {
                node: node.clone(),
                identities: vec![Identity::new("automation", "command-node", "en", n)],
                features: [adhoc::NS, ns::DATA_FORMS].map(str::to_owned).into(),
                extensions: vec![],
            },
            Some(_) => return fail(DefinedCondition::ItemNotFound, "no such node"),
        };
        Ok(Some(result.into()))
    }

    fn disco_items(&self, from: &Jid, payload: &Element) -> DiscoItemsResult {
        let node = payload.attr("node").map(str::to_owned);
        let items = if node.as_deref() == Some(adhoc::NS) {
            self.visible_commands(from)
                .map(|(node, name)| Item {
                    jid: Jid::from(self.domain.clone()),
                    node: Some(node.to_owned()),
                    name: Some(name.to_owned()),
                })
                .collect()
        } else {
            Vec::new()
        };
        DiscoItemsResult {
            node,
            items,
            rsm: None,
        }
    }

    /// Whether a disco#items query to the component is the network's to
    /// answer: its groups of rooms, or one group's rooms.
    fn lists_groups(&self, payload: &Element) -> bool {
        self.bridge.info().capabilities.room_groups
            && payload.is("query", ns::DISCO_ITEMS)
            && payload
                .attr("node")
                .is_none_or(|node| node.starts_with(GROUP_NODE))
    }

    fn visible_commands(&self, from: &Jid) -> impl Iterator<Item = (&'static str, &'static str)> {
        let admin = self.config.is_admin(&from.to_bare());
        COMMANDS
            .iter()
            .filter(move |(_, _, admin_only)| admin || !admin_only)
            .map(|(node, name, _)| (*node, *name))
    }

    /// XEP-0050: one step of a command.
    async fn adhoc(
        self: &Arc<Self>,
        from: &Jid,
        cmd: Command,
    ) -> Result<Command, (DefinedCondition, String)> {
        if !self
            .visible_commands(from)
            .any(|(node, _)| node == cmd.node)
        {
            return if COMMANDS.iter().any(|(n, _, _)| *n == cmd.node) {
                fail(DefinedCondition::Forbidden, "for administrators only")
            } else {
                fail(DefinedCondition::ItemNotFound, "no such command")
            };
        }
        if cmd.node == "register" {
            return self.register_command(from, cmd).await;
        }
        if cmd.action.as_deref() == Some("cancel") {
            return Ok(cmd.response("canceled"));
        }
        let user = from.to_bare();
        match cmd.node.as_str() {
            "unregister" => match self.unregister(&user).await {
                Ok(true) => Ok(cmd.done("info", "You are unregistered; your session has ended.")),
                Ok(false) => Ok(cmd.done("warn", "You were not registered.")),
                Err(e) => fail(DefinedCondition::InternalServerError, e.to_string()),
            },
            "status" => Ok(cmd.done("info", self.status_text(&user).await)),
            "settings" => {
                self.archive_setting(&user, "", "Keep an archive of my rooms", cmd)
                    .await
            }
            "list-users" => {
                let users = self
                    .users()
                    .await
                    .map_err(|e| (DefinedCondition::InternalServerError, e.to_string()))?;
                let mut field = Field::new("users", FieldType::JidMulti);
                field.label = Some("Registered users".into());
                field.values = users.clone();
                let mut form = DataForm::new(DataFormType::Result_, "", vec![field]);
                form.fields
                    .retain(|f| f.var.as_deref() != Some("FORM_TYPE"));
                form.title = Some("Registered users".into());
                let mut done = cmd.done("info", format!("{} registered users.", users.len()));
                done.form = Some(form);
                Ok(done)
            }
            _ => fail(DefinedCondition::ItemNotFound, "no such command"),
        }
    }
}

impl Gateway {
    /// A one-switch settings command: whether to archive (for the user, scope
    /// `""`, or one room, scope `room:<id>`).
    async fn archive_setting(
        &self,
        user: &xmpp_parsers::jid::BareJid,
        scope: &str,
        label: &str,
        cmd: Command,
    ) -> Result<Command, (DefinedCondition, String)> {
        if self.registered(user).await.is_none() {
            return fail(
                DefinedCondition::RegistrationRequired,
                super::session::REGISTER_FIRST,
            );
        }
        if cmd.action.as_deref() == Some("cancel") {
            return Ok(cmd.response("canceled"));
        }
        let user_s = user.to_string();
        let internal =
            |e: crate::store::StoreError| (DefinedCondition::InternalServerError, e.to_string());
        let Some(form) = cmd
            .form
            .as_ref()
            .filter(|f| f.type_ == DataFormType::Submit)
        else {
            let current = self
                .store
                .settings(&user_s, &self.network, scope)
                .await
                .map_err(internal)?;
            let on = current.get("archive").is_none_or(|v| v != "false");
            let mut field = Field::new("archive", FieldType::Boolean);
            field.label = Some(label.to_owned());
            field.values = vec![if on { "true" } else { "false" }.to_owned()];
            let mut form =
                DataForm::new(DataFormType::Form, "urn:switchboard:settings", vec![field]);
            form.title = Some("Settings".into());
            return Ok(cmd.ask(form));
        };
        let stored = self
            .store
            .settings(&user_s, &self.network, scope)
            .await
            .map_err(internal)?;
        if !stored.contains_key("archive") {
            self.room_for_setting(user).await?;
        }
        let value = form
            .fields
            .iter()
            .find(|f| f.var.as_deref() == Some("archive"))
            .and_then(|f| f.values.first())
            .map(|v| matches!(v.as_str(), "1" | "true"))
            .unwrap_or(true);
        self.store
            .set_setting(
                &user_s,
                &self.network,
                scope,
                "archive",
                if value { "true" } else { "false" },
            )
            .await
            .map_err(internal)?;
        self.refresh_archive_switch(user).await;
        Ok(cmd.done("info", if value { "Archive on." } else { "Archive off." }))
    }
}

impl Gateway {
    /// Refuses a new settings row once the user holds as many as
    /// `[limits] max_settings` (every room or server `configure` adds one).
    pub(super) async fn room_for_setting(
        &self,
        user: &xmpp_parsers::jid::BareJid,
    ) -> Result<(), (DefinedCondition, String)> {
        let max = self.config.limits.max_settings;
        let held = self
            .store
            .count_settings(&user.to_string(), &self.network)
            .await
            .map_err(|e| (DefinedCondition::InternalServerError, e.to_string()))?;
        if held >= max as i64 {
            return fail(
                DefinedCondition::PolicyViolation,
                format!(
                    "you have {held} stored settings, the most this gateway allows; nothing was saved"
                ),
            );
        }
        Ok(())
    }
}
