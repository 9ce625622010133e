//! A message's ids both ways, for corrections, retractions and reactions
//! (see the module's doc for the order in which they are looked up).

use switchboard_bridge_api::Target;
use tracing::warn;
use xmpp_parsers::jid::BareJid;

use super::conversation;
use crate::gateway::Gateway;

/// The ids a client knows a network message by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::gateway) struct XmppRef {
    /// Its `id`: the client's own for a message the user sent, else the
    /// network's.
    pub id: String,
    /// The gateway's stanza-id for it, when the id map or the archive has it.
    pub stanza_id: Option<i64>,
    /// Who wrote it, when known: the user (a message they sent from here),
    /// or the author's network id (from the archive).
    pub author: Author,
}

/// Who wrote a message, as far as the gateway knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::gateway) enum Author {
    /// The user, from this gateway.
    Own,
    /// This network user.
    Id(String),
    /// Not known (not archived).
    Unknown,
}

impl XmppRef {
    /// How XEP-0424 and XEP-0444 name a groupchat message: by its
    /// stanza-id (its `id` when the gateway no longer knows the stanza-id).
    pub fn in_room(&self) -> String {
        self.stanza_id
            .map(|s| s.to_string())
            .unwrap_or_else(|| self.id.clone())
    }
}

impl Gateway {
    /// The ids the user's client knows the network's message `network_id`
    /// of this conversation by.
    pub(in crate::gateway) async fn xmpp_ref(
        &self,
        user: &BareJid,
        target: &Target,
        network_id: &str,
    ) -> XmppRef {
        if let Some(found) = self.find_xmpp_ref(user, target, network_id).await {
            return found;
        }
        // What was delivered a moment ago may still be queued: written, then read again.
        self.archive.flush().await;
        self.find_xmpp_ref(user, target, network_id)
            .await
            .unwrap_or_else(|| XmppRef {
                id: network_id.to_owned(),
                stanza_id: None,
                author: Author::Unknown,
            })
    }

    /// [`Gateway::xmpp_ref`] from what is written: the id map, the archive.
    async fn find_xmpp_ref(
        &self,
        user: &BareJid,
        target: &Target,
        network_id: &str,
    ) -> Option<XmppRef> {
        let (user_s, conv) = (user.to_string(), conversation(target));
        match self
            .store
            .xmpp_id(&user_s, &self.network, conv, network_id)
            .await
        {
            Ok(Some(mapped)) => {
                return Some(XmppRef {
                    id: mapped.xmpp_id,
                    stanza_id: mapped.stanza_id,
                    author: Author::Own,
                })
            }
            Ok(None) => {}
            Err(e) => warn!(error = %e, "cannot read the id map"),
        }
        if let Target::Room(room) = target {
            match self
                .store
                .archived_by_network_id(&user_s, &self.network, room.as_str(), network_id)
                .await
            {
                Ok(Some(m)) => {
                    return Some(XmppRef {
                        id: m.xmpp_id.unwrap_or_else(|| network_id.to_owned()),
                        stanza_id: Some(m.seq),
                        author: m.author_id.map_or(Author::Unknown, Author::Id),
                    })
                }
                Ok(None) => {}
                Err(e) => warn!(error = %e, "cannot read the archive"),
            }
        }
        None
    }

    /// The network's ids (in part order) of the message a client named by
    /// `id` in this conversation: its own id, or a stanza-id the gateway
    /// gave, or else the id as the network's.
    pub(in crate::gateway) async fn network_ref(
        &self,
        user: &BareJid,
        target: &Target,
        id: &str,
    ) -> Vec<String> {
        if let Some(found) = self.find_network_ref(user, target, id).await {
            return found;
        }
        self.archive.flush().await;
        self.find_network_ref(user, target, id)
            .await
            .unwrap_or_else(|| vec![id.to_owned()])
    }

    /// [`Gateway::network_ref`] from what is written: the id map, the archive.
    async fn find_network_ref(
        &self,
        user: &BareJid,
        target: &Target,
        id: &str,
    ) -> Option<Vec<String>> {
        let (user_s, conv) = (user.to_string(), conversation(target));
        let net = self.network.as_str();
        match self.store.network_ids(&user_s, net, conv, id).await {
            Ok(ids) if !ids.is_empty() => return Some(ids),
            Ok(_) => {}
            Err(e) => warn!(error = %e, "cannot read the id map"),
        }
        if let Ok(stanza_id) = id.parse::<i64>() {
            match self
                .store
                .network_ids_by_stanza_id(&user_s, net, conv, stanza_id)
                .await
            {
                Ok(ids) if !ids.is_empty() => return Some(ids),
                Ok(_) => {}
                Err(e) => warn!(error = %e, "cannot read the id map"),
            }
            if let Target::Room(room) = target {
                match self
                    .store
                    .archived_network_id(&user_s, net, room.as_str(), stanza_id)
                    .await
                {
                    Ok(Some(network_id)) => return Some(vec![network_id]),
                    Ok(None) => {}
                    Err(e) => warn!(error = %e, "cannot read the archive"),
                }
            }
        }
        None
    }
}
