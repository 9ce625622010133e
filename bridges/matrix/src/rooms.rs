//! What a session knows of each Matrix room: the name's sources, the
//! topic, the members seen so far (lazily: the senders and the members the
//! sync loaded for them), and the id the core knows the room by (the alias
//! it was joined by, or the room id).

use std::collections::HashMap;

use serde_json::Value;
use switchboard_bridge_api::{LeaveReason, Member, Role, RoomId, UserId};

use crate::api::{text_field, RoomEvent};
use crate::power::Powers;

/// One room as the session knows it.
#[derive(Debug, Default)]
pub struct Room {
    /// The id the core knows it by.
    pub core_id: Option<RoomId>,
    /// `m.room.name`.
    pub name: Option<String>,
    /// `m.room.canonical_alias`.
    pub alias: Option<String>,
    /// The summary's heroes.
    pub heroes: Vec<String>,
    /// `m.room.topic`.
    pub topic: Option<String>,
    /// Joined members seen so far: id → display name.
    pub members: HashMap<String, String>,
    /// The core was told of it (`RoomJoined`) in this session.
    pub announced: bool,
    /// Joined by the core's command and not yet in a sync: the timeline
    /// that first brings it is history up to the user's own join.
    pub joining: bool,
    /// Joined by accepting an invitation (a direct chat) and not yet in
    /// a sync: what its first timeline holds after the invitation is news.
    pub invited: bool,
    /// The nick the core asked for when it joined the room, until the
    /// room is announced (the join's own sync may announce it).
    pub asked_nick: Option<String>,
    /// The room is encrypted (its messages cannot be read here).
    pub encrypted: bool,
    /// Who else is typing now (the last `m.typing`).
    pub typing: Vec<String>,
    /// Power levels and creators: the members' roles.
    pub powers: Powers,
    /// A space (`spaces.rs`): a group of rooms, not a group chat.
    pub space: bool,
    /// The space is saved as state (`spaces.rs`).
    pub saved_space: bool,
}

/// What a member event did.
#[derive(Debug, PartialEq, Eq)]
pub enum MemberChange {
    /// Nothing the core needs.
    None,
    /// A new member (or one first seen).
    Joined(String),
    /// A member changed their display name.
    Renamed(String),
    /// A member left: on their own, kicked (by someone else) or banned.
    Left(LeaveReason),
    /// Power levels changed these members' roles (as they are now).
    Roles(Vec<Member>),
}

/// The localpart of a user id (`@bob:hs` → `bob`): the name of a member
/// without a display name.
pub fn localpart(user: &str) -> &str {
    let user = user.strip_prefix('@').unwrap_or(user);
    user.split(':').next().unwrap_or(user)
}

impl Room {
    /// Applies a state event; says what a member event changed.
    pub fn apply_state(&mut self, event: &RoomEvent) -> MemberChange {
        let content = &event.content;
        match event.kind.as_str() {
            "m.room.name" => self.name = non_empty(text_field(content, "name")),
            "m.room.canonical_alias" => self.alias = non_empty(text_field(content, "alias")),
            "m.room.topic" => self.topic = text_field(content, "topic").map(str::to_owned),
            "m.room.encryption" => self.encrypted = true,
            "m.room.member" => return self.apply_member(event),
            "m.room.power_levels" => return self.apply_powers(|p| p.set_levels(content)),
            "m.room.create" => {
                self.space = crate::spaces::is_space(content);
                return self.apply_powers(|p| p.set_creation(&event.sender, content));
            }
            _ => {}
        }
        MemberChange::None
    }

    /// Changes the powers; the members whose role changed.
    fn apply_powers(&mut self, change: impl FnOnce(&mut Powers)) -> MemberChange {
        let before: Vec<Role> = self
            .members
            .keys()
            .map(|u| self.powers.role_of(u))
            .collect();
        change(&mut self.powers);
        let mut changed: Vec<Member> = self
            .members
            .iter()
            .zip(before)
            .filter(|((user, _), was)| self.powers.role_of(user) != *was)
            .map(|((user, nick), _)| self.member(user, nick))
            .collect();
        if changed.is_empty() {
            return MemberChange::None;
        }
        changed.sort_by(|a, b| a.user.cmp(&b.user));
        MemberChange::Roles(changed)
    }

    /// A member as the contract's, with their role here.
    pub fn member(&self, user: &str, nick: &str) -> Member {
        Member {
            role: self.powers.role_of(user),
            ..member(user, nick)
        }
    }

    fn apply_member(&mut self, event: &RoomEvent) -> MemberChange {
        let Some(user) = event.state_key.as_deref() else {
            return MemberChange::None;
        };
        let content = &event.content;
        match text_field(content, "membership") {
            Some("join") => {
                let nick = display_name(content, user);
                match self.members.insert(user.to_owned(), nick.clone()) {
                    None => MemberChange::Joined(nick),
                    Some(old) if old != nick => MemberChange::Renamed(nick),
                    Some(_) => MemberChange::None,
                }
            }
            Some(membership @ ("leave" | "ban")) => {
                if self.members.remove(user).is_none() {
                    return MemberChange::None;
                }
                let reason = text_field(content, "reason").map(str::to_owned);
                MemberChange::Left(match membership {
                    "ban" => LeaveReason::Banned { reason },
                    _ if event.sender != user => LeaveReason::Kicked {
                        by: Some(event.sender.clone()),
                        reason,
                    },
                    _ => LeaveReason::Part(reason),
                })
            }
            _ => MemberChange::None,
        }
    }

    /// Adds a joined member by their display name (else localpart).
    pub fn add_member(&mut self, user: &str, display_name: Option<&str>) {
        let nick = non_empty(display_name).unwrap_or_else(|| localpart(user).to_owned());
        self.members.insert(user.to_owned(), nick);
    }

    /// The room's name: its name, its alias, its heroes, its id.
    pub fn display_name(&self, room_id: &str, own: &str) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        if let Some(alias) = &self.alias {
            return alias.clone();
        }
        let heroes: Vec<&str> = self
            .heroes
            .iter()
            .filter(|h| *h != own)
            .map(|h| self.nick_of(h))
            .collect();
        if !heroes.is_empty() {
            return heroes.join(", ");
        }
        room_id.to_owned()
    }

    /// A member's display name, or their localpart.
    pub fn nick_of<'a>(&'a self, user: &'a str) -> &'a str {
        self.members
            .get(user)
            .map(String::as_str)
            .unwrap_or_else(|| localpart(user))
    }

    /// The members seen so far, as the contract's.
    pub fn member_list(&self) -> Vec<Member> {
        let mut members: Vec<Member> = self
            .members
            .iter()
            .map(|(user, nick)| self.member(user, nick))
            .collect();
        members.sort_by(|a, b| a.user.cmp(&b.user));
        members
    }
}

/// A member of the contract, with no power.
pub fn member(user: &str, nick: &str) -> Member {
    Member {
        user: UserId::from(user),
        nick: nick.to_owned(),
        role: Role::Member,
        away: None,
    }
}

/// A member event's display name, or the user's localpart.
fn display_name(content: &Value, user: &str) -> String {
    non_empty(text_field(content, "displayname")).unwrap_or_else(|| localpart(user).to_owned())
}

fn non_empty(text: Option<&str>) -> Option<String> {
    text.map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn state(kind: &str, sender: &str, key: &str, content: Value) -> RoomEvent {
        serde_json::from_value(json!({
            "type": kind, "sender": sender, "state_key": key, "content": content,
            "event_id": "$e"
        }))
        .unwrap()
    }

    #[test]
    fn a_room_is_named_by_its_name_then_alias_then_heroes() {
        let mut room = Room {
            heroes: vec!["@me:hs".into(), "@bob:hs".into(), "@carol:hs".into()],
            ..Room::default()
        };
        room.apply_state(&state(
            "m.room.member",
            "@bob:hs",
            "@bob:hs",
            json!({"membership": "join", "displayname": "Bob B"}),
        ));
        assert_eq!(room.display_name("!r:hs", "@me:hs"), "Bob B, carol");
        room.apply_state(&state(
            "m.room.canonical_alias",
            "@bob:hs",
            "",
            json!({"alias": "#r:hs"}),
        ));
        assert_eq!(room.display_name("!r:hs", "@me:hs"), "#r:hs");
        room.apply_state(&state(
            "m.room.name",
            "@bob:hs",
            "",
            json!({"name": "Rust"}),
        ));
        assert_eq!(room.display_name("!r:hs", "@me:hs"), "Rust");
        assert_eq!(Room::default().display_name("!r:hs", "@me:hs"), "!r:hs");
    }

    #[test]
    fn power_levels_change_the_roles_of_known_members() {
        let mut room = Room::default();
        for user in ["@bob:hs", "@carol:hs"] {
            room.apply_state(&state(
                "m.room.member",
                user,
                user,
                json!({"membership": "join"}),
            ));
        }
        let levels = |carol: i64| {
            state(
                "m.room.power_levels",
                "@bob:hs",
                "",
                json!({"users": {"@carol:hs": carol, "@gone:hs": 100}}),
            )
        };
        let MemberChange::Roles(changed) = room.apply_state(&levels(50)) else {
            panic!("no role changed");
        };
        let changed: Vec<(&str, Role)> =
            changed.iter().map(|m| (m.user.as_str(), m.role)).collect();
        assert_eq!(changed, [("@carol:hs", Role::Operator)]);
        assert_eq!(room.apply_state(&levels(50)), MemberChange::None);
        assert_eq!(room.member_list()[1].role, Role::Operator);
        assert_eq!(room.member_list()[0].role, Role::Member);
    }

    #[test]
    fn member_events_join_rename_and_remove() {
        let mut room = Room::default();
        let join = |name: &str| {
            state(
                "m.room.member",
                "@bob:hs",
                "@bob:hs",
                json!({"membership": "join", "displayname": name}),
            )
        };
        assert_eq!(
            room.apply_state(&join("Bob")),
            MemberChange::Joined("Bob".into())
        );
        assert_eq!(room.apply_state(&join("Bob")), MemberChange::None);
        assert_eq!(
            room.apply_state(&join("Robert")),
            MemberChange::Renamed("Robert".into())
        );
        let kick = state(
            "m.room.member",
            "@op:hs",
            "@bob:hs",
            json!({"membership": "leave", "reason": "spam"}),
        );
        assert_eq!(
            room.apply_state(&kick),
            MemberChange::Left(LeaveReason::Kicked {
                by: Some("@op:hs".into()),
                reason: Some("spam".into())
            })
        );
        assert!(room.members.is_empty());
        assert_eq!(room.nick_of("@bob:hs"), "bob");
    }
}
