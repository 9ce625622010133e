//! XEP-0245 `/me`: the one mapping between a message body that starts
//! with `/me ` and the contract's [`MessageKind::Action`], both ways.

use switchboard_bridge_api::MessageKind;

/// The body of a message of this kind: an action is written `/me text`.
pub(super) fn body_of(kind: MessageKind, text: &str) -> String {
    match kind {
        MessageKind::Action => format!("/me {text}"),
        _ => text.to_owned(),
    }
}

/// The text and kind of a body a client sent: `/me text` is an action.
pub(super) fn text_of(body: &str) -> (String, MessageKind) {
    match body.strip_prefix("/me ") {
        Some(action) => (action.to_owned(), MessageKind::Action),
        None => (body.to_owned(), MessageKind::Normal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_round_trip_and_other_text_is_kept() {
        assert_eq!(body_of(MessageKind::Action, "waves"), "/me waves");
        assert_eq!(text_of("/me waves"), ("waves".into(), MessageKind::Action));
        assert_eq!(
            text_of("/mewaves"),
            ("/mewaves".into(), MessageKind::Normal)
        );
        assert_eq!(body_of(MessageKind::Notice, "hi"), "hi");
    }
}
