//! XEP-0425: a moderator's request to retract someone's message in a room
//! (an iq to the room JID), as `Command::Retract` of each of the message's
//! parts, with the request's `<reason/>`; whether the user may is the network's call (its refusal comes
//! back as an error naming the request's id). The network's answer is
//! said by the room (`rich.rs`).
//!
//! ```xml
//! <iq type='set' to='room@gateway' id='m1'>
//!   <moderate xmlns='urn:xmpp:message-moderate:1' id='1733140000000001'>
//!     <retract xmlns='urn:xmpp:message-retract:1'/>
//!   </moderate>
//! </iq>
//! ```

use std::sync::Arc;
use switchboard_bridge_api::{Command, MessageId, Target};
use xmpp_parsers::jid::Jid;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::stanza_error::DefinedCondition;

use crate::gateway::session::Unsent;
use crate::gateway::Gateway;
use crate::xmpp::rich;

impl Gateway {
    /// Answers a `<moderate/>` request: `Ok(None)` once the network has it.
    pub(in crate::gateway) async fn moderate(
        self: &Arc<Self>,
        from: &Jid,
        to: &Jid,
        token: &str,
        payload: &Element,
    ) -> Result<Option<Element>, (DefinedCondition, String)> {
        let Some((id, reason)) = rich::moderation_of(payload) else {
            return Err((
                DefinedCondition::BadRequest,
                "a <moderate/> names a message and holds a <retract/>".into(),
            ));
        };
        let info = self.bridge.info();
        let (user, room) = (from.to_bare(), self.room_of(to));
        let target = switchboard_bridge_api::Target::Room(room.clone());
        if !self.capabilities(&user, &target).retractions {
            let text = format!("{} cannot retract messages", info.display_name);
            return Err((DefinedCondition::FeatureNotImplemented, text));
        }
        if self.with_room(&user, &room, |r| r.complete) != Some(true) {
            return Err((
                DefinedCondition::NotAcceptable,
                "join the room first".into(),
            ));
        }
        let target = Target::Room(room);
        for part in self.network_ref(&user, &target, &id).await {
            let retract = Command::Retract {
                target: target.clone(),
                message: MessageId(part),
                reason: reason.clone(),
                token: token.to_owned(),
            };
            self.note_sender(&user, &retract, from, to);
            match self.command(&user, retract).await {
                Ok(()) => {}
                Err(Unsent::NotRegistered) => {
                    return Err((
                        DefinedCondition::RegistrationRequired,
                        "register first".into(),
                    ))
                }
                Err(Unsent::Ended | Unsent::Full) => {
                    return Err((
                        DefinedCondition::ResourceConstraint,
                        "the network is busy; try again".into(),
                    ))
                }
            }
        }
        Ok(None)
    }
}
