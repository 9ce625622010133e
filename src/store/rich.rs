//! Queries for corrections, retractions and reactions: an XMPP message
//! named by the gateway's stanza-id (in the id map, or a room's archive
//! row), and the archive's tombstone for a retracted message.

use sqlx::Row;

use super::{q, Result, Store};

impl Store {
    /// The network ids, in part order, of the message the user sent in a
    /// conversation that the gateway gave this stanza-id.
    pub async fn network_ids_by_stanza_id(
        &self,
        user: &str,
        network: &str,
        conversation: &str,
        stanza_id: i64,
    ) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT network_id FROM id_map
             WHERE user_jid = $1 AND network = $2 AND conversation = $3 AND stanza_id = $4
             ORDER BY part",
        )
        .bind(user)
        .bind(network)
        .bind(conversation)
        .bind(stanza_id)
        .fetch_all(&self.pool)
        .await
        .map_err(q("look up network ids by stanza-id"))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// The network id of a room's archived message with this archive id
    /// (its stanza-id), when the archive has it and knows its network id.
    pub async fn archived_network_id(
        &self,
        user: &str,
        network: &str,
        room: &str,
        seq: i64,
    ) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT network_id FROM archive
             WHERE user_jid = $1 AND network = $2 AND room = $3 AND seq = $4",
        )
        .bind(user)
        .bind(network)
        .bind(room)
        .bind(seq)
        .fetch_optional(&self.pool)
        .await
        .map_err(q("read archive by seq"))?;
        Ok(row.and_then(|r| r.get(0)))
    }

    /// Turns a room's archived message into a tombstone: its text goes,
    /// `extra` says it was retracted (XEP-0424 §5.2 asks archives for this).
    pub async fn tombstone(
        &self,
        user: &str,
        network: &str,
        room: &str,
        seq: i64,
        extra: &str,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE archive SET body = '', extra = $5
             WHERE user_jid = $1 AND network = $2 AND room = $3 AND seq = $4",
        )
        .bind(user)
        .bind(network)
        .bind(room)
        .bind(seq)
        .bind(extra)
        .execute(&self.pool)
        .await
        .map_err(q("tombstone archived message"))?;
        Ok(())
    }
}
