//! The body of `POST /channels/{id}/messages` for a message from XMPP.

use serde_json::{json, Value};

use switchboard_bridge_api::MessageKind;

use crate::markdown;

/// The JSON body: the text as Discord markdown (an action in italics, as
/// Discord's own `/me` shows it), the nonce the echo is matched by, and
/// `allowed_mentions` that lets the text ping nobody — not `@everyone`,
/// `@here`, a role, nor a user.
pub(crate) fn body(text: &str, kind: MessageKind, nonce: &str, reply_to: Option<&str>) -> Value {
    let content = match kind {
        MessageKind::Action => format!("_{}_", markdown::from_styling(text)),
        MessageKind::Normal | MessageKind::Notice => markdown::from_styling(text),
    };
    let mut body = json!({
        "content": content,
        "nonce": nonce,
        "enforce_nonce": true,
        "allowed_mentions": { "parse": [], "replied_user": false },
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
        let b = body("@everyone *look*", MessageKind::Normal, "sb1", None);
        assert_eq!(b["content"], "@everyone **look**");
        assert_eq!(b["allowed_mentions"]["parse"], json!([]));
        assert_eq!(b["nonce"], "sb1");
        assert_eq!(b["enforce_nonce"], true);
    }
}
