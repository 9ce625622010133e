//! The body of `POST /channels/{id}/messages` for a message from XMPP.

use serde_json::{json, Value};

use switchboard_bridge_api::MessageKind;

use crate::markdown;

/// Marks where a mention stands in the text between its conversion and
/// the `<@id>` it becomes (private-use characters: neither markdown nor
/// XEP-0393 reads them, and they are not spaces).
const MENTION_OPEN: char = '\u{E000}';
const MENTION_CLOSE: char = '\u{E001}';

/// A text from XMPP with its mentions found: `@name` of a member (at the
/// start or after a space, an opening bracket or a styling directive, not followed by a letter
/// or digit; the longest name wins) becomes a mention of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Outgoing {
    /// The text, each mention a marked index into `users`.
    text: String,
    /// The users mentioned, by id.
    users: Vec<u64>,
}

impl Outgoing {
    /// Finds the mentions of `members` (id, display name) in `text`.
    pub fn new(text: &str, members: &[(u64, &str)]) -> Self {
        let mut names: Vec<&(u64, &str)> = members.iter().filter(|(_, n)| !n.is_empty()).collect();
        names.sort_by_key(|(_, n)| std::cmp::Reverse(n.len()));
        let mut out = Self::default();
        let mut rest = text;
        let mut after_space = true;
        while let Some(c) = rest.chars().next() {
            let tail = &rest[c.len_utf8()..];
            let found = (c == '@' && after_space)
                .then(|| {
                    names.iter().find(|(_, name)| {
                        tail.starts_with(name)
                            && !tail[name.len()..]
                                .chars()
                                .next()
                                .is_some_and(char::is_alphanumeric)
                    })
                })
                .flatten();
            if let Some((id, name)) = found {
                let index = out.users.iter().position(|u| u == id).unwrap_or_else(|| {
                    out.users.push(*id);
                    out.users.len() - 1
                });
                out.text.push(MENTION_OPEN);
                out.text.push_str(&index.to_string());
                out.text.push(MENTION_CLOSE);
                rest = &tail[name.len()..];
                after_space = false;
                continue;
            }
            // The markers are the bridge's: one the user typed is dropped.
            if c != MENTION_OPEN && c != MENTION_CLOSE {
                out.text.push(c);
            }
            after_space = c.is_whitespace() || matches!(c, '(' | '[' | '*' | '_' | '~' | '>');
            rest = tail;
        }
        out
    }

    /// A text with no mentions.
    pub fn plain(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            users: vec![],
        }
    }

    /// Discord markdown (an action in italics, as Discord's own `/me`
    /// shows it), the mentions as `<@id>`.
    fn content(&self, kind: MessageKind) -> String {
        let converted = markdown::from_styling(&self.text);
        let converted = match kind {
            MessageKind::Action => format!("_{converted}_"),
            MessageKind::Normal | MessageKind::Notice => converted,
        };
        let mut out = String::with_capacity(converted.len());
        let mut rest = converted.as_str();
        while let Some(start) = rest.find(MENTION_OPEN) {
            out.push_str(&rest[..start]);
            let after = &rest[start + MENTION_OPEN.len_utf8()..];
            let end = after.find(MENTION_CLOSE).unwrap_or(after.len());
            let user = after[..end]
                .parse::<usize>()
                .ok()
                .and_then(|i| self.users.get(i));
            if let Some(user) = user {
                out.push_str(&format!("<@{user}>"));
            }
            rest = after
                .get(end + MENTION_CLOSE.len_utf8()..)
                .unwrap_or_default();
        }
        out.push_str(rest);
        out
    }

    /// `allowed_mentions` that lets the text ping only the members it
    /// mentions: never `@everyone`, `@here` or a role.
    fn allowed_mentions(&self) -> Value {
        let users: Vec<String> = self.users.iter().map(u64::to_string).collect();
        json!({ "parse": [], "users": users, "replied_user": false })
    }
}

/// The body of a webhook execution: the text under the XMPP nick.
pub(crate) fn webhook_body(text: &Outgoing, kind: MessageKind, name: &str) -> Value {
    json!({
        "content": text.content(kind),
        "username": name,
        "allowed_mentions": text.allowed_mentions(),
    })
}

/// What goes before the text when the bot speaks for a nick: `**nick**: `.
pub(crate) fn nick_prefix(nick: &str) -> String {
    format!("**{}**: ", markdown::escape(nick))
}

/// The JSON body of a message through the bot: the text (after the nick in
/// bold, when `prefix` is given), the nonce the echo is matched by, no pings.
pub(crate) fn body(
    text: &Outgoing,
    kind: MessageKind,
    nonce: &str,
    reply_to: Option<&str>,
    prefix: Option<&str>,
) -> Value {
    let content = match prefix {
        Some(nick) => format!("{}{}", nick_prefix(nick), text.content(kind)),
        None => text.content(kind),
    };
    let mut body = json!({
        "content": content,
        "nonce": nonce,
        "enforce_nonce": true,
        "allowed_mentions": text.allowed_mentions(),
    });
    if let Some(id) = reply_to {
        body["message_reference"] = json!({ "message_id": id, "fail_if_not_exists": false });
    }
    body
}

/// The JSON body of an edit (`PATCH` of a message, the bot's or a
/// webhook's): the new text (after the nick in bold, when the bot spoke
/// for it), no pings.
pub(crate) fn edit_body(text: &Outgoing, prefix: Option<&str>) -> Value {
    let content = match prefix {
        Some(nick) => format!("{}{}", nick_prefix(nick), text.content(MessageKind::Normal)),
        None => text.content(MessageKind::Normal),
    };
    json!({ "content": content, "allowed_mentions": text.allowed_mentions() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nobody_is_pinged_and_the_nonce_is_sent() {
        let text = Outgoing::plain("@everyone *look*");
        let b = body(&text, MessageKind::Normal, "sb1", None, None);
        assert_eq!(b["content"], "@everyone **look**");
        assert_eq!(b["allowed_mentions"]["parse"], json!([]));
        assert_eq!(b["allowed_mentions"]["users"], json!([]));
        assert_eq!(b["nonce"], "sb1");
        assert_eq!(b["enforce_nonce"], true);
        let w = webhook_body(&Outgoing::plain("@here hi"), MessageKind::Normal, "alice");
        assert_eq!(w["username"], "alice");
        assert_eq!(w["allowed_mentions"]["parse"], json!([]));
    }

    #[test]
    fn the_bot_speaks_with_the_nick_in_front() {
        let b = body(
            &Outgoing::plain("hi"),
            MessageKind::Normal,
            "n",
            None,
            Some("al*ce"),
        );
        assert_eq!(b["content"], "**al\\*ce**: hi");
    }

    #[test]
    fn a_members_nick_becomes_a_mention_of_them_only() {
        let members = [(4001, "Alice Liddell"), (4003, "Alice"), (1000, "x_men")];
        let text = Outgoing::new(
            "*hey* @Alice Liddell and @Alice, @x_men! mail@Alice @Alicex",
            &members,
        );
        let w = webhook_body(&text, MessageKind::Normal, "me");
        assert_eq!(
            w["content"],
            "**hey** <@4001> and <@4003>, <@1000>! mail@Alice @Alicex"
        );
        assert_eq!(
            w["allowed_mentions"],
            json!({ "parse": [], "users": ["4001", "4003", "1000"], "replied_user": false })
        );
        let text = Outgoing::new("_@Alice_", &members);
        assert_eq!(text.content(MessageKind::Normal), "*<@4003>*");
    }
}
