//! One network's gateway: routes the stanzas of its component domain to the
//! right handler or user session, and turns session events into stanzas.

mod action;
mod avatars;
mod bookmarks;
mod chat_commands;
mod chat_states;
mod command_errors;
mod contact_disco;
mod contacts_kept;
mod direct;
mod files;
mod history;
mod ids;
mod invites;
mod iq;
mod markers;
mod message_ids;
mod muc;
mod occupant_id;
mod occupants;
mod presence;
mod recent;
mod registration;
mod replies;
mod rich;
mod roster;
mod servers;
mod session;
mod session_link;
mod session_state;
mod shared_files;
mod signals;
mod unbridged;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use switchboard_bridge_api::Bridge;
use tokio::sync::mpsc;
use tracing::{debug, warn};
use xmpp_parsers::jid::{BareJid, FullJid, Jid};
use xmpp_parsers::message::{Message, MessageType};
use xmpp_parsers::presence::Presence;
use xmpp_parsers::stanza::Stanza;
use xmpp_parsers::stanza_error::DefinedCondition;

use crate::component::{InvalidStanza, LinkEvent, Outgoing, StanzaHeader};
use crate::config::Config;
use crate::crypto::Vault;
use crate::store::Store;
use crate::xmpp::errors;

pub use registration::RegisterError;
pub use session::SessionStatus;

/// The gateway of one network.
pub struct Gateway {
    /// The network's name (`irc`).
    network: String,
    /// The component domain.
    domain: BareJid,
    bridge: Arc<dyn Bridge>,
    config: Arc<Config>,
    archive: crate::archive::Archive,
    store: Store,
    vault: Arc<Vault>,
    out: mpsc::Sender<Outgoing>,
    sessions: Mutex<HashMap<BareJid, session::UserSession>>,
    /// The user resources known to be online (from presence).
    /// (A short vector: a set would allocate a node of eleven JIDs for a
    /// user's first resource.)
    online: Mutex<HashMap<BareJid, Vec<FullJid>>>,
    /// Bridged rooms, per user.
    rooms: Mutex<muc::Rooms>,
    /// Direct chats' capabilities where the network told them (`muc/caps.rs`).
    contact_caps: Mutex<muc::ContactCaps>,
    /// Leaves sent to sessions and not yet answered by the network.
    leaving: Mutex<muc::LeavesInFlight>,
    /// Room-list requests under way.
    pending_lists: Mutex<servers::PendingLists>,
    /// The JIDs of recent rooms (see [`Gateway::room_jid`]).
    room_jids: Mutex<HashMap<switchboard_bridge_api::RoomId, BareJid>>,
    /// Makes XEP-0421 occupant-ids.
    occupant_ids: occupant_id::OccupantIds,
    /// Registrations under way (steps running or waiting for the user).
    pending: Mutex<registration::pending::Pending>,
    /// Client ids of corrections, retractions and reactions on their way.
    rich_pending: Mutex<rich::Pending>,
    /// Recent messages, for replies and markers to refer to.
    recent: Mutex<recent::Recent>,
    /// The typing states the network was told.
    typing: Mutex<chat_states::SentTyping>,
    /// Where the user's commands came from, for their errors.
    command_senders: Mutex<command_errors::Senders>,
    /// Files from the network: the HTTP client and the upload service.
    files: files::Files,
    /// Users' contacts and the servers' XEP-0356 privileges.
    contacts: Mutex<roster::Contacts>,
    /// The XEP-0402 bookmark task and its iqs.
    bookmarks: bookmarks::Bookmarks,
    /// People's pictures (XEP-0153).
    avatars: avatars::Avatars,
    /// The users' own pictures, published for the network (`avatars/own.rs`).
    own_avatars: avatars::OwnAvatars,
}

/// What every gateway of the process shares.
#[derive(Clone)]
pub struct Shared {
    /// The configuration.
    pub config: Arc<Config>,
    /// The room archive's writer.
    pub archive: crate::archive::Archive,
    /// The database.
    pub store: Store,
    /// Seals credentials.
    pub vault: Arc<Vault>,
}

impl Gateway {
    /// A gateway for `network` on `domain`, writing stanzas to `out`.
    pub fn new(
        network: &str,
        domain: BareJid,
        bridge: Arc<dyn Bridge>,
        shared: Shared,
        out: mpsc::Sender<Outgoing>,
    ) -> Arc<Self> {
        Arc::new(Self {
            files: files::Files::new(&shared.config, network),
            network: network.to_owned(),
            domain,
            bridge,
            config: shared.config,
            archive: shared.archive,
            store: shared.store,
            occupant_ids: occupant_id::OccupantIds::new(&shared.vault, network),
            vault: shared.vault,
            out,
            sessions: Mutex::new(HashMap::new()),
            online: Mutex::new(HashMap::new()),
            rooms: Mutex::new(HashMap::new()),
            contact_caps: Mutex::default(),
            leaving: Mutex::default(),
            pending_lists: Mutex::new(Default::default()),
            room_jids: Mutex::new(HashMap::new()),
            pending: Mutex::default(),
            rich_pending: Mutex::default(),
            recent: Mutex::default(),
            typing: Mutex::default(),
            command_senders: Mutex::default(),
            contacts: Mutex::default(),
            bookmarks: bookmarks::Bookmarks::default(),
            avatars: avatars::Avatars::default(),
            own_avatars: avatars::OwnAvatars::default(),
        })
    }

    /// The component domain.
    pub fn domain(&self) -> &BareJid {
        &self.domain
    }

    /// Starts a session for every stored registration.
    pub async fn start_sessions(self: &Arc<Self>) -> anyhow::Result<usize> {
        let registrations = self.store.registrations(&self.network).await?;
        let mut started = 0;
        for r in registrations {
            match r.user.parse::<BareJid>() {
                Ok(user) => match self.open_credentials(&r.sealed_credentials) {
                    Ok(creds) => {
                        self.restore_contacts(&user).await;
                        self.restore_own_avatar(&user).await;
                        self.start_session(&user, creds).await;
                        started += 1;
                    }
                    Err(e) => warn!(user = %user, error = %e, "cannot open stored credentials"),
                },
                Err(e) => warn!(user = %r.user, error = %e, "stored registration has a bad JID"),
            }
        }
        Ok(started)
    }

    /// Serves the link's events until it closes.
    pub async fn run(self: Arc<Self>, mut inbound: mpsc::Receiver<LinkEvent>) {
        while let Some(event) = inbound.recv().await {
            match event {
                LinkEvent::Connected => {
                    self.forget_privileges();
                    self.announce().await
                }
                LinkEvent::Disconnected => {}
                LinkEvent::Stanza(stanza) => self.handle(stanza).await,
                LinkEvent::Invalid { header, error } => self.answer_invalid(header, &error).await,
            }
        }
    }

    /// Ends every session (a clean shutdown); joined clients are told first.
    pub async fn stop_sessions(&self) {
        self.announce_shutdown().await;
        let sessions: Vec<_> = self.sessions.lock().unwrap().drain().collect();
        for (_, s) in sessions {
            s.stop().await;
        }
    }

    async fn handle(self: &Arc<Self>, stanza: Stanza) {
        match stanza {
            Stanza::Iq(iq) => self.handle_iq(iq).await,
            Stanza::Message(m) => self.handle_message(m).await,
            Stanza::Presence(p) => self.handle_presence(p).await,
        }
    }

    async fn handle_message(self: &Arc<Self>, message: Message) {
        if message.type_ == MessageType::Error {
            return;
        }
        if message.from.is_none() {
            return;
        }
        let Some(to) = &message.to else { return };
        if to.node().is_none() {
            // A user's XEP-0084 notification (`avatars/own.rs`).
            if self.own_avatar_event(&message) {
                return;
            }
            if !self.note_privileges(&message).await {
                self.handle_chat_command(message).await;
            }
        } else if message.type_ == MessageType::Groupchat || to.resource().is_some() {
            self.handle_room_message(message).await;
        } else if let Some(reason) = invites::decline_of(&message) {
            if let Some(from) = &message.from {
                self.decline(&from.to_bare(), to, reason).await;
            }
        } else if !self.bridge.info().capabilities.direct_messages {
            self.refuse_direct(&message).await;
        } else {
            self.route_to_session(message).await;
        }
    }

    /// Sends a stanza built as an element (it must be a valid stanza).
    async fn send_element(&self, element: xmpp_parsers::minidom::Element) {
        match Message::try_from(element) {
            Ok(m) => self.send(m).await,
            Err(e) => tracing::error!(error = %e, "built an invalid stanza"),
        }
    }

    /// Sends a stanza to the server; waits if the outbox is full.
    async fn send(&self, stanza: impl Into<Outgoing>) {
        if self.out.send(stanza.into()).await.is_err() {
            debug!("outbox closed; dropping a stanza at shutdown");
        }
    }

    /// Tells the sender of a stanza that was unparseable or too large that
    /// it was not delivered: an error of the stanza's own kind, never to an
    /// error or an iq result.
    async fn answer_invalid(&self, header: StanzaHeader, error: &InvalidStanza) {
        let type_ = header.type_.as_deref();
        if matches!(type_, Some("error")) || (header.kind == "iq" && type_ == Some("result")) {
            return;
        }
        let Some(sender) = header.from.as_deref().and_then(|f| f.parse::<Jid>().ok()) else {
            return;
        };
        let ours = header
            .to
            .as_deref()
            .and_then(|t| t.parse::<Jid>().ok())
            .filter(|t| t.domain() == self.domain.domain())
            .unwrap_or_else(|| Jid::from(self.domain.clone()));
        let condition = match error {
            InvalidStanza::Unparseable(_) => DefinedCondition::BadRequest,
            InvalidStanza::Oversized { .. } => DefinedCondition::PolicyViolation,
        };
        let text = error.to_string();
        let id = header.id.unwrap_or_default();
        match header.kind {
            "iq" => {
                self.send(errors::iq_error(
                    Some(&sender),
                    Some(&ours),
                    &id,
                    condition,
                    &text,
                ))
                .await
            }
            "message" => {
                let mut original = Message::new(Some(ours));
                original.from = Some(sender);
                original.id = (!id.is_empty()).then_some(xmpp_parsers::message::Id(id));
                self.send(errors::message_error(&original, condition, &text))
                    .await
            }
            _ => {
                let mut reply = Presence::error()
                    .with_from(ours)
                    .with_to(sender)
                    .with_payloads(vec![errors::stanza_error(condition, &text).into()]);
                reply.id = (!id.is_empty()).then_some(id);
                self.send(reply).await
            }
        }
    }
}
