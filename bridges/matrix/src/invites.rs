//! Invitations (a sync's `rooms.invite`). An invitation to a direct chat
//! (the user's member event says `is_direct`) is accepted at once: the
//! room joins the direct chats (`direct.rs`) and is listed in `m.direct`,
//! so the person's messages arrive from their contact, as a message from
//! a stranger does on XMPP. Any other invitation is told to the core
//! (`Event::Invited`), once per room in a session: joining the room
//! accepts it (`POST /join`, the ordinary join), leaving it declines it
//! (`POST /rooms/{id}/leave`, the ordinary leave).

use std::collections::HashSet;

use reqwest::Method;
use serde_json::json;
use switchboard_bridge_api::{Event, RoomId, UserId};
use tracing::{debug, info};

use crate::api::{text_field, InvitedRoom, JoinResponse};
use crate::commands::TIMEOUT;
use crate::session::Session;

/// The most invitations remembered as told (beyond, the oldest are told
/// again if the server repeats them, which an incremental sync does not).
const TOLD_KEPT: usize = 256;

/// The invitations told to the core in this session.
#[derive(Debug, Default)]
pub(crate) struct Invites {
    told: HashSet<String>,
}

impl Invites {
    /// Whether an invitation to `room` is news (and from now on, is not).
    fn is_new(&mut self, room: &str) -> bool {
        if self.told.len() >= TOLD_KEPT {
            self.told.clear();
        }
        self.told.insert(room.to_owned())
    }
}

/// What an invitation's stripped state says.
#[derive(Debug, Default, PartialEq, Eq)]
struct Invitation {
    /// Who invited the user.
    by: Option<String>,
    /// The user's member event says `is_direct`.
    direct: bool,
    /// Their reason.
    reason: Option<String>,
    /// `m.room.name`, else the canonical alias.
    name: Option<String>,
}

/// Reads an invitation's stripped state for the user `own`.
fn read(invited: &InvitedRoom, own: &str) -> Invitation {
    let mut out = Invitation::default();
    let mut alias = None;
    for event in &invited.invite_state.events {
        let content = &event.content;
        match event.kind.as_str() {
            "m.room.member"
                if event.state_key.as_deref() == Some(own)
                    && text_field(content, "membership") == Some("invite") =>
            {
                out.by = Some(event.sender.clone()).filter(|s| !s.is_empty());
                out.direct = content.get("is_direct").and_then(|d| d.as_bool()) == Some(true);
                out.reason = text_field(content, "reason").map(str::to_owned);
            }
            "m.room.name" => out.name = text_field(content, "name").map(str::to_owned),
            "m.room.canonical_alias" => alias = text_field(content, "alias").map(str::to_owned),
            _ => {}
        }
    }
    out.name = out.name.filter(|n| !n.trim().is_empty()).or(alias);
    out
}

impl Session {
    /// An invitation a sync brought.
    pub(crate) async fn invite(&mut self, room_id: &str, invited: InvitedRoom) {
        let invitation = read(&invited, &self.own);
        let listed = self.direct.peer_of(room_id).map(str::to_owned);
        let direct_with = match (invitation.direct, &invitation.by, listed) {
            (_, _, Some(peer)) => Some(peer),
            (true, Some(by), None) => Some(by.clone()),
            _ => None,
        };
        if let Some(peer) = direct_with {
            return self.accept_direct(room_id, &peer).await;
        }
        if !self.invites.is_new(room_id) {
            return;
        }
        info!("Matrix invitation told");
        let name = invitation.name.unwrap_or_else(|| room_id.to_owned());
        self.emit(Event::Invited {
            room: RoomId::from(room_id),
            name,
            by: invitation.by.map(UserId::from),
            reason: invitation.reason,
        })
        .await;
    }

    /// Joins a direct chat the user was invited to and lists it in `m.direct`.
    async fn accept_direct(&mut self, room_id: &str, peer: &str) {
        let url = self.client.v3(&["join", room_id], &[]);
        let joined: Result<JoinResponse, _> = self
            .client
            .call(Method::POST, url, Some(&json!({})), TIMEOUT)
            .await;
        match joined {
            Ok(_) => {
                info!("Matrix direct chat invitation accepted");
                self.direct.note(room_id, peer);
                self.rooms.entry(room_id.to_owned()).or_default().invited = true;
                self.add_to_m_direct(peer, room_id).await;
            }
            Err(e) => debug!(error = %e, "cannot join a direct chat"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invited(events: serde_json::Value) -> InvitedRoom {
        serde_json::from_value(json!({"invite_state": {"events": events}})).unwrap()
    }

    #[test]
    fn an_invitation_says_who_whether_direct_and_the_room_name() {
        let room = invited(json!([
            {"type": "m.room.canonical_alias", "sender": "@bob:hs", "state_key": "",
             "content": {"alias": "#lounge:hs"}},
            {"type": "m.room.member", "sender": "@bob:hs", "state_key": "@bob:hs",
             "content": {"membership": "join"}},
            {"type": "m.room.member", "sender": "@bob:hs", "state_key": "@me:hs",
             "content": {"membership": "invite", "reason": "come"}},
        ]));
        assert_eq!(
            read(&room, "@me:hs"),
            Invitation {
                by: Some("@bob:hs".into()),
                direct: false,
                reason: Some("come".into()),
                name: Some("#lounge:hs".into()),
            }
        );
        let dm = invited(json!([
            {"type": "m.room.member", "sender": "@bob:hs", "state_key": "@me:hs",
             "content": {"membership": "invite", "is_direct": true}},
        ]));
        let read = read(&dm, "@me:hs");
        assert!(read.direct);
        assert_eq!(read.name, None);
    }

    #[test]
    fn each_invitation_is_told_once() {
        let mut invites = Invites::default();
        assert!(invites.is_new("!a:hs"));
        assert!(!invites.is_new("!a:hs"));
        assert!(invites.is_new("!b:hs"));
    }
}
