//! RFC 6120 §8.3 error replies. An error is never answered with an error.

use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Message, MessageType};
use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};

/// The error type that goes with a condition (RFC 6120 §8.3.3).
fn error_type(condition: &DefinedCondition) -> ErrorType {
    match condition {
        DefinedCondition::BadRequest
        | DefinedCondition::JidMalformed
        | DefinedCondition::NotAcceptable
        | DefinedCondition::PolicyViolation => ErrorType::Modify,
        DefinedCondition::Forbidden
        | DefinedCondition::NotAuthorized
        | DefinedCondition::RegistrationRequired => ErrorType::Auth,
        DefinedCondition::ResourceConstraint
        | DefinedCondition::RecipientUnavailable
        | DefinedCondition::UnexpectedRequest => ErrorType::Wait,
        _ => ErrorType::Cancel,
    }
}

/// A stanza error with a condition and an English text.
pub fn stanza_error(condition: DefinedCondition, text: &str) -> StanzaError {
    let type_ = error_type(&condition);
    StanzaError::new(type_, condition, "en", text)
}

/// The error reply to an iq request (`from`/`to` swapped, same id).
pub fn iq_error(
    from: Option<&Jid>,
    to: Option<&Jid>,
    id: &str,
    condition: DefinedCondition,
    text: &str,
) -> Iq {
    Iq::Error {
        from: to.cloned(),
        to: from.cloned(),
        id: id.to_owned(),
        error: stanza_error(condition, text),
        payload: None,
    }
}

/// The error reply to a message.
pub fn message_error(original: &Message, condition: DefinedCondition, text: &str) -> Message {
    let mut reply = Message::new(original.from.clone());
    reply.type_ = MessageType::Error;
    reply.from = original.to.clone();
    reply.id = original.id.clone();
    reply.payloads.push(stanza_error(condition, text).into());
    reply
}
