//! People's avatars: a user's avatar hash as the URL of Discord's CDN
//! (`/avatars/{user}/{hash}.png?size=128`, a PNG even for an animated
//! one), told to the core as `Event::AvatarChanged` once per change. With
//! an `api` base set (a test double), the CDN paths are asked there too.

use std::collections::HashMap;

use switchboard_bridge_api::{AvatarRef, Event};

/// Discord's CDN.
const CDN: &str = "https://cdn.discordapp.com";
/// People whose avatar a session remembers telling (past it, it forgets
/// them all and tells again as they appear).
const MAX_TOLD: usize = 4096;

/// What a session told of avatars.
#[derive(Debug)]
pub(crate) struct Avatars {
    base: String,
    told: HashMap<u64, Option<String>>,
}

impl Avatars {
    /// With the operator's `api` base, if any.
    pub(crate) fn new(api: Option<&str>) -> Self {
        Self {
            base: api.unwrap_or(CDN).trim_end_matches('/').to_owned(),
            told: HashMap::new(),
        }
    }

    /// The event to tell when `user`'s avatar hash is new or changed (a
    /// person with none is told only when they had one).
    pub(crate) fn changed(&mut self, user: u64, hash: Option<String>) -> Option<Event> {
        match self.told.get(&user) {
            Some(old) if *old == hash => return None,
            None if hash.is_none() => return None,
            _ => {}
        }
        if self.told.len() >= MAX_TOLD {
            self.told.clear();
        }
        let avatar = hash.as_ref().map(|hash| AvatarRef {
            url: format!("{}/avatars/{user}/{hash}.png?size=128", self.base),
            needs_credentials: false,
        });
        self.told.insert(user, hash);
        Some(Event::AvatarChanged {
            user: user.to_string().into(),
            avatar,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn told_once_per_change() {
        let mut avatars = Avatars::new(None);
        assert!(avatars.changed(7, None).is_none());
        let Some(Event::AvatarChanged { user, avatar }) = avatars.changed(7, Some("ab".into()))
        else {
            panic!("not told");
        };
        assert_eq!(user.as_str(), "7");
        assert_eq!(
            avatar.unwrap().url,
            "https://cdn.discordapp.com/avatars/7/ab.png?size=128"
        );
        assert!(avatars.changed(7, Some("ab".into())).is_none());
        assert!(matches!(
            avatars.changed(7, None),
            Some(Event::AvatarChanged { avatar: None, .. })
        ));
    }
}
