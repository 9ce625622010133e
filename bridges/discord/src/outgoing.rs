//! The body of `POST /channels/{id}/messages` for a message from XMPP.

use serde_json::{json, Value};

use switchboard_bridge_api::MessageKind;

use crate::markdown;

/// The text as Discord markdown: an action in italics, as Discord's own
/// `/me` shows it.
fn content(text: &str, kind: MessageKind) -> String {
    match kind {
        MessageKind::Action => format!("_{}_", markdown::from_styling(text)),
        MessageKind::Normal | MessageKind::Notice => markdown::from_styling(text),
    }
}

/// `allowed_mentions` that lets the text ping nobody: not `@everyone`,
/// `@here`, a role, nor a user.
fn no_pings() -> Value {
    json!({ "parse": [], "replied_user": false })
}

/// The body of a webhook execution: the text under the XMPP nick.
pub(crate) fn webhook_body(text: &str, kind: MessageKind, name: &str) -> Value {
    json!({
        "content": content(text, kind),
        "username": name,
        "allowed_mentions": no_pings(),
    })
}

/// What goes before the text when the bot speaks for a nick: `**nick**: `.
pub(crate) fn nick_prefix(nick: &str) -> String {
    format!("**{}**: ", markdown::escape(nick))
}

/// The JSON body of a message through the bot: the text (after the nick in
/// bold, when `prefix` is given), the nonce the echo is matched by, no pings.
pub(crate) fn body(
    text: &str,
    kind: MessageKind,
    nonce: &str,
    reply_to: Option<&str>,
    prefix: Option<&str>,
) -> Value {
    let content = match prefix {
        Some(nick) => format!("{}{}", nick_prefix(nick), content(text, kind)),
        None => content(text, kind),
    };
    let mut body = json!({
        "content": content,
        "nonce": nonce,
        "enforce_nonce": true,
        "allowed_mentions": no_pings(),
    });
    if let Some(id) = reply_to {
        body["message_reference"] = json!({ "message_id": id, "fail_if_not_exists": false });
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nobody_is_pinged_and_the_nonce_is_sent() {
        let b = body("@everyone *look*", MessageKind::Normal, "sb1", None, None);
        assert_eq!(b["content"], "@everyone **look**");
        assert_eq!(b["allowed_mentions"]["parse"], json!([]));
        assert_eq!(b["nonce"], "sb1");
        assert_eq!(b["enforce_nonce"], true);
        let w = webhook_body("@here hi", MessageKind::Normal, "alice");
        assert_eq!(w["username"], "alice");
        assert_eq!(w["allowed_mentions"]["parse"], json!([]));
    }

    #[test]
    fn the_bot_speaks_with_the_nick_in_front() {
        let b = body("hi", MessageKind::Normal, "n", None, Some("al*ce"));
        assert_eq!(b["content"], "**al\\*ce**: hi");
    }
}
