//! A room's power levels as the contract's roles: a level of 100 or more
//! is `Owner` (XEP-0045 owner), 50 or more `Operator` (moderator, admin
//! affiliation), below that `Member`. Levels come from
//! `m.room.power_levels` (`users`, else `users_default`); from room
//! version 12 on, the room's creators (`m.room.create`'s sender and
//! `additional_creators`) stand above every level and are owners.

use std::collections::HashMap;

use serde_json::Value;
use switchboard_bridge_api::Role;

/// The level from which a member is a moderator.
pub const MODERATOR: i64 = 50;
/// The level from which a member is an owner.
pub const OWNER: i64 = 100;

/// What a room's state says of its members' power.
#[derive(Debug, Default, Clone)]
pub struct Powers {
    /// `users`: levels by user id.
    users: HashMap<String, i64>,
    /// `users_default`: everyone else's level.
    users_default: i64,
    /// Creators with unlimited power (room versions 12 and later).
    creators: Vec<String>,
}

/// A level, as a number or (in old rooms) a string of one.
fn level(value: &Value) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
}

/// Whether a room version gives its creators unlimited power.
fn creators_rule(version: &str) -> bool {
    version == "org.matrix.hydra.11" || version.parse::<u32>().is_ok_and(|v| v >= 12)
}

impl Powers {
    /// Takes an `m.room.power_levels` content.
    pub fn set_levels(&mut self, content: &Value) {
        self.users = content
            .get("users")
            .and_then(Value::as_object)
            .map(|users| {
                users
                    .iter()
                    .filter_map(|(user, l)| Some((user.clone(), level(l)?)))
                    .collect()
            })
            .unwrap_or_default();
        self.users_default = content.get("users_default").and_then(level).unwrap_or(0);
    }

    /// Takes an `m.room.create` event's sender and content.
    pub fn set_creation(&mut self, sender: &str, content: &Value) {
        let version = content
            .get("room_version")
            .and_then(Value::as_str)
            .unwrap_or("1");
        self.creators.clear();
        if creators_rule(version) {
            self.creators.push(sender.to_owned());
            let more = content.get("additional_creators").and_then(Value::as_array);
            self.creators.extend(
                more.into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_owned),
            );
        }
    }

    /// A member's role.
    pub fn role_of(&self, user: &str) -> Role {
        if self.creators.iter().any(|c| c == user) {
            return Role::Owner;
        }
        match self.users.get(user).copied().unwrap_or(self.users_default) {
            l if l >= OWNER => Role::Owner,
            l if l >= MODERATOR => Role::Operator,
            _ => Role::Member,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn levels_become_roles() {
        let mut powers = Powers::default();
        powers.set_levels(&json!({
            "users": {"@op:hs": 100, "@mod:hs": 50, "@half:hs": 49, "@old:hs": "75"},
            "users_default": 0
        }));
        assert_eq!(powers.role_of("@op:hs"), Role::Owner);
        assert_eq!(powers.role_of("@mod:hs"), Role::Operator);
        assert_eq!(powers.role_of("@old:hs"), Role::Operator);
        assert_eq!(powers.role_of("@half:hs"), Role::Member);
        assert_eq!(powers.role_of("@anyone:hs"), Role::Member);
        powers.set_levels(&json!({"users_default": 50}));
        assert_eq!(powers.role_of("@anyone:hs"), Role::Operator);
    }

    #[test]
    fn creators_of_new_rooms_are_owners() {
        let mut powers = Powers::default();
        powers.set_creation("@me:hs", &json!({"room_version": "11"}));
        assert_eq!(powers.role_of("@me:hs"), Role::Member);
        powers.set_creation(
            "@me:hs",
            &json!({"room_version": "12", "additional_creators": ["@co:hs"]}),
        );
        assert_eq!(powers.role_of("@me:hs"), Role::Owner);
        assert_eq!(powers.role_of("@co:hs"), Role::Owner);
        assert_eq!(powers.role_of("@other:hs"), Role::Member);
    }
}
