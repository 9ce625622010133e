//! Ad-hoc commands (XEP-0050) on a room JID, and the chat command `leave`:
//! `configure` holds the room's switches (its archive, and `persistent`
//! where the network's rooms are not), `leave` leaves the network room.
//!
//! ```xml
//! <iq type='set' to='#rust%irc.example.net@irc.example.org' id='c1'>
//!   <command xmlns='http://jabber.org/protocol/commands' node='leave' action='execute'/>
//! </iq>
//! ```

use switchboard_bridge_api::{Credentials, FieldKind, LoginField, RoomId};
use xmpp_parsers::data_forms::DataFormType;
use xmpp_parsers::disco::{DiscoItemsResult, Item};
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::stanza_error::DefinedCondition;

use super::lifetime::{room_scope, PERSISTENT};
use crate::gateway::Gateway;
use crate::xmpp::adhoc::{self, Command as AdHoc};
use crate::xmpp::forms;

/// The commands of a room JID: node and name.
const ROOM_COMMANDS: &[(&str, &str)] = &[("configure", "Configure"), ("leave", "Leave")];

/// The room switch that keeps its archive.
const ARCHIVE: &str = "archive";

/// The `FORM_TYPE` of the gateway's settings forms.
const SETTINGS_FORM_TYPE: &str = "urn:switchboard:settings";

type Failure = (DefinedCondition, String);

impl Gateway {
    /// disco#items on a room JID's command node.
    pub(in crate::gateway) fn room_command_items(&self, room: &Jid) -> DiscoItemsResult {
        DiscoItemsResult {
            node: Some(adhoc::NS.to_owned()),
            items: ROOM_COMMANDS
                .iter()
                .map(|(node, name)| Item {
                    jid: room.clone(),
                    node: Some((*node).to_owned()),
                    name: Some((*name).to_owned()),
                })
                .collect(),
            rsm: None,
        }
    }

    /// One step of a command on a room JID.
    pub(in crate::gateway) async fn room_command(
        &self,
        from: &Jid,
        room: &RoomId,
        cmd: AdHoc,
    ) -> Result<AdHoc, Failure> {
        if !ROOM_COMMANDS.iter().any(|(node, _)| *node == cmd.node) {
            return Err((DefinedCondition::ItemNotFound, "no such command".into()));
        }
        let user = from.to_bare();
        self.require_registered(&user).await?;
        if cmd.action.as_deref() == Some("cancel") {
            return Ok(cmd.response("canceled"));
        }
        if cmd.node == "leave" {
            let jid = self.room_jid(room).map(|j| j.to_string());
            let name = jid.unwrap_or_else(|| room.to_string());
            return Ok(if self.leave_room(&user, room).await {
                cmd.done("info", format!("You left {name}."))
            } else {
                cmd.done("warn", format!("You are not in {name}."))
            });
        }
        self.configure_room(&user, room, cmd).await
    }

    /// The room's switches as a form; a submitted one stores the fields it
    /// carries (each a settings row, within `max_settings`).
    async fn configure_room(
        &self,
        user: &BareJid,
        room: &RoomId,
        cmd: AdHoc,
    ) -> Result<AdHoc, Failure> {
        let internal =
            |e: crate::store::StoreError| (DefinedCondition::InternalServerError, e.to_string());
        let fields = self.room_fields();
        let user_s = user.to_string();
        let scope = room_scope(room);
        let stored = self
            .store
            .settings(&user_s, &self.network, &scope)
            .await
            .map_err(internal)?;
        let Some(submitted) = cmd
            .form
            .as_ref()
            .filter(|f| f.type_ == DataFormType::Submit)
        else {
            let mut current = Credentials::new();
            let archive = stored.get(ARCHIVE).is_none_or(|v| v != "false");
            current.set(ARCHIVE, if archive { "true" } else { "false" });
            let persistent = stored.get(PERSISTENT).is_some_and(|v| v == "true");
            current.set(PERSISTENT, if persistent { "true" } else { "false" });
            let mut form = forms::login_form(
                "Settings",
                "This room's settings on the gateway.",
                &fields,
                Some(&current),
                None,
            );
            form.set_form_type(SETTINGS_FORM_TYPE.to_owned());
            return Ok(cmd.ask(form));
        };
        let submitted = forms::read_submission(submitted, &fields);
        let mut said = Vec::new();
        for (name, value) in submitted.iter() {
            let on = matches!(value, "true" | "1");
            if !stored.contains_key(name) {
                self.room_for_setting(user).await?;
            }
            let value = if on { "true" } else { "false" };
            self.store
                .set_setting(&user_s, &self.network, &scope, name, value)
                .await
                .map_err(internal)?;
            said.push(match (name, on) {
                (ARCHIVE, true) => "Archive on.",
                (ARCHIVE, false) => "Archive off.",
                (_, true) => "Persistent: you stay in the room when no client is in it.",
                (_, false) => "Not persistent: the last client to leave leaves the room.",
            });
        }
        if submitted.get(ARCHIVE).is_some() {
            self.refresh_archive_switch(user).await;
        }
        if let Some(value) = submitted.get(PERSISTENT) {
            self.persistence_changed(user, room, value == "true").await;
        }
        if said.is_empty() {
            said.push("Nothing changed.");
        }
        Ok(cmd.done("info", said.join(" ")))
    }

    /// The room form's fields: the archive, and `persistent` where the
    /// network's rooms are not persistent already.
    fn room_fields(&self) -> Vec<LoginField> {
        let mut fields = vec![LoginField {
            name: ARCHIVE,
            label: "Keep an archive of this room",
            description: "",
            kind: FieldKind::Boolean,
            required: false,
            default: Some("true"),
        }];
        if !self.bridge.info().capabilities.persistent_rooms {
            fields.push(LoginField {
                name: PERSISTENT,
                label: "Stay in this room when no client is in it",
                description: "The gateway stays in the room and keeps its archive; \
                              leave it with the Leave command",
                kind: FieldKind::Boolean,
                required: false,
                default: Some("false"),
            });
        }
        fields
    }

    /// The chat command `leave ROOM-JID`.
    pub(in crate::gateway) async fn chat_leave(&self, user: &BareJid, arg: Option<&str>) -> String {
        let Some(arg) = arg else {
            return "Say which room: leave ROOM-JID".to_owned();
        };
        let room = arg
            .parse::<Jid>()
            .ok()
            .filter(|j| j.node().is_some() && j.domain() == self.domain.domain())
            .map(|j| self.room_of(&j));
        let Some(room) = room else {
            return format!("\"{arg}\" is not a room of this gateway.");
        };
        if self.leave_room(user, &room).await {
            format!("You left {arg}.")
        } else {
            format!("You are not in {arg}.")
        }
    }
}
