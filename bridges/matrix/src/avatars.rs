//! People's pictures: the `avatar_url` of a member's `m.room.member`
//! event (in rooms and direct chats) becomes `Event::AvatarChanged` when
//! it first appears and when it changes, so the core fetches each picture
//! once. The `mxc://` URI is told as its authenticated download URL, which
//! the session's `FileFetcher` (`media_fetch.rs`) fetches with the user's
//! token. A person is the same everywhere: the newest URL seen wins.

use std::collections::HashMap;

use reqwest::Url;
use switchboard_bridge_api::{AvatarRef, Event, UserId};

use crate::api::{text_field, RoomEvent};
use crate::media_in::download_url;
use crate::session::Session;

/// People whose picture is remembered; past it, the memory starts again
/// (the core keeps pictures by URL, so a picture told again is not
/// fetched again).
const MAX_PEOPLE: usize = 4096;

/// The picture last told for each person: its `mxc://` URI, or empty for none.
#[derive(Debug, Default)]
pub(crate) struct Avatars {
    told: HashMap<String, String>,
}

impl Avatars {
    /// Whether `mxc` (`""`: none) is news for `user`; remembered if so. A
    /// person first seen without a picture is no news.
    fn changed(&mut self, user: &str, mxc: &str) -> bool {
        match self.told.get(user) {
            Some(old) if old == mxc => false,
            None if mxc.is_empty() => false,
            _ => {
                if self.told.len() >= MAX_PEOPLE {
                    self.told.clear();
                }
                self.told.insert(user.to_owned(), mxc.to_owned());
                true
            }
        }
    }
}

/// A joined member's picture in a member event: `(user, mxc)`, `mxc`
/// empty for none.
fn member_avatar(event: &RoomEvent) -> Option<(&str, &str)> {
    if event.kind != "m.room.member" || text_field(&event.content, "membership") != Some("join") {
        return None;
    }
    let user = event.state_key.as_deref()?;
    Some((user, text_field(&event.content, "avatar_url").unwrap_or("")))
}

/// The picture of an `mxc://` URI, as the core fetches it.
fn avatar_ref(base: &Url, mxc: &str) -> Option<AvatarRef> {
    Some(AvatarRef {
        url: download_url(base, mxc)?.to_string(),
        needs_credentials: true,
    })
}

impl Session {
    /// Tells the core of the pictures these events change (the user's
    /// own is not shown, so not told).
    pub(crate) async fn note_avatars<'a>(&mut self, events: impl Iterator<Item = &'a RoomEvent>) {
        let mut news = Vec::new();
        for (user, mxc) in events.filter_map(member_avatar) {
            if user != self.own && self.avatars.changed(user, mxc) {
                news.push((user.to_owned(), avatar_ref(self.client.base(), mxc)));
            }
        }
        for (user, avatar) in news {
            let user = UserId::from(user.as_str());
            self.emit(Event::AvatarChanged { user, avatar }).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn join(user: &str, avatar: Option<&str>) -> RoomEvent {
        let mut content = json!({"membership": "join", "displayname": "B"});
        if let Some(a) = avatar {
            content["avatar_url"] = json!(a);
        }
        serde_json::from_value(json!({
            "type": "m.room.member", "sender": user, "state_key": user,
            "content": content, "event_id": "$m"
        }))
        .unwrap()
    }

    #[test]
    fn a_picture_is_news_when_it_first_appears_and_when_it_changes() {
        let mut avatars = Avatars::default();
        assert!(!avatars.changed("@bob:hs", ""));
        assert!(avatars.changed("@bob:hs", "mxc://hs/a"));
        assert!(!avatars.changed("@bob:hs", "mxc://hs/a"));
        assert!(avatars.changed("@bob:hs", "mxc://hs/b"));
        assert!(avatars.changed("@bob:hs", ""));
        assert!(!avatars.changed("@bob:hs", ""));
    }

    #[test]
    fn only_joined_members_pictures_are_read() {
        let event = join("@bob:hs", Some("mxc://hs/a"));
        assert_eq!(member_avatar(&event), Some(("@bob:hs", "mxc://hs/a")));
        assert_eq!(member_avatar(&join("@bob:hs", None)), Some(("@bob:hs", "")));
        let mut left = join("@bob:hs", None);
        left.content = json!({"membership": "leave"});
        assert_eq!(member_avatar(&left), None);
    }

    #[test]
    fn a_picture_is_fetched_from_its_homeservers_authenticated_download() {
        let base = Url::parse("https://hs.example").unwrap();
        let avatar = avatar_ref(&base, "mxc://hs.example/AbC").unwrap();
        assert_eq!(
            avatar.url,
            "https://hs.example/_matrix/client/v1/media/download/hs.example/AbC"
        );
        assert!(avatar.needs_credentials);
        assert!(avatar_ref(&base, "https://elsewhere/x").is_none());
    }
}
