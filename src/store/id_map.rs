//! The id map's queries: which network messages an XMPP message the user
//! sent became, scoped to a conversation, in part order; looked up both
//! ways; bounded per user.

use sqlx::Row;

use super::{q, Result, Store};

/// How many id mappings a user keeps per network before the oldest go.
pub const ID_MAP_LIMIT: i64 = 10_000;

/// One part of a sent message: the XMPP id ↔ one network message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdMapping {
    /// Bare JID of the user who sent it.
    pub user: String,
    /// The network.
    pub network: String,
    /// The conversation: a room id, or the contact's user id.
    pub conversation: String,
    /// The XMPP id the client sent it with.
    pub xmpp_id: String,
    /// Which part of the message (0 for the first; one XMPP message can
    /// become several network messages).
    pub part: i64,
    /// The network's id for this part.
    pub network_id: String,
    /// The gateway's XEP-0359 stanza-id for the message, when it gave one
    /// (room messages: the archive id).
    pub stanza_id: Option<i64>,
    /// Order of entries: the oldest of a user go first. The parts of one
    /// message share it.
    pub seq: i64,
}

/// What a network id stands for on the XMPP side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedId {
    /// The XMPP id of the message it is a part of.
    pub xmpp_id: String,
    /// The gateway's stanza-id for that message, if it gave one.
    pub stanza_id: Option<i64>,
    /// Which part it is.
    pub part: i64,
}

/// Parameters of one row.
const COLUMNS: usize = 8;

/// Multi-row upserts, largest first (8 parameters a row: 512 at most).
/// For PostgreSQL (`$N`) and for SQLite (`?`: see [`super::row_values`]).
static ID_MAP_INSERTS: std::sync::LazyLock<[[(String, usize); 3]; 2]> =
    std::sync::LazyLock::new(|| {
        [true, false].map(|numbered| [64, 8, 1].map(|rows| (id_map_insert(rows, numbered), rows)))
    });

fn id_map_insert(rows: usize, numbered: bool) -> String {
    let mut sql = String::from(
        "INSERT INTO id_map (user_jid, network, conversation, xmpp_id, part, network_id, \
         stanza_id, seq) VALUES ",
    );
    sql.push_str(&super::row_values(rows, COLUMNS, numbered));
    // A client that reuses an id in a conversation: the newest message wins.
    sql.push_str(
        " ON CONFLICT (user_jid, network, conversation, xmpp_id, part) DO UPDATE SET \
         network_id = excluded.network_id, stanza_id = excluded.stanza_id, seq = excluded.seq",
    );
    sql
}

impl Store {
    /// Writes id mappings in one transaction (a key given twice: the last
    /// one counts).
    pub async fn map_ids(&self, batch: &[IdMapping]) -> Result<()> {
        // One statement may not touch a row twice (PostgreSQL refuses it).
        let mut seen = std::collections::HashSet::new();
        let mut rows: Vec<&IdMapping> = batch
            .iter()
            .rev()
            .filter(|m| seen.insert((&m.user, &m.network, &m.conversation, &m.xmpp_id, m.part)))
            .collect();
        rows.reverse();
        let mut tx = self.pool.begin().await.map_err(q("begin"))?;
        let mut rest = rows.as_slice();
        while !rest.is_empty() {
            let (sql, n) = ID_MAP_INSERTS[usize::from(self.sqlite)]
                .iter()
                .find(|(_, n)| *n <= rest.len())
                .map(|(sql, n)| (sql.as_str(), *n))
                .expect("a chunk of one row always fits");
            let (chunk, tail) = rest.split_at(n);
            let mut query = sqlx::query(sql);
            for m in chunk {
                query = query
                    .bind(&m.user)
                    .bind(&m.network)
                    .bind(&m.conversation)
                    .bind(&m.xmpp_id)
                    .bind(m.part)
                    .bind(&m.network_id)
                    .bind(m.stanza_id)
                    .bind(m.seq);
            }
            query
                .execute(&mut *tx)
                .await
                .map_err(q("map message ids"))?;
            rest = tail;
        }
        tx.commit().await.map_err(q("commit id map"))?;
        Ok(())
    }

    /// Drops a user's oldest id mappings beyond `keep` (the parts of a
    /// message go together).
    pub async fn trim_id_map(&self, user: &str, network: &str, keep: i64) -> Result<()> {
        sqlx::query(
            "DELETE FROM id_map WHERE user_jid = $1 AND network = $2 AND seq <= (
                SELECT seq FROM id_map WHERE user_jid = $1 AND network = $2
                ORDER BY seq DESC LIMIT 1 OFFSET $3)",
        )
        .bind(user)
        .bind(network)
        .bind(keep)
        .execute(&self.pool)
        .await
        .map_err(q("trim id map"))?;
        Ok(())
    }

    /// The network ids an XMPP message of a conversation became, in part order.
    pub async fn network_ids(
        &self,
        user: &str,
        network: &str,
        conversation: &str,
        xmpp_id: &str,
    ) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT network_id FROM id_map
             WHERE user_jid = $1 AND network = $2 AND conversation = $3 AND xmpp_id = $4
             ORDER BY part",
        )
        .bind(user)
        .bind(network)
        .bind(conversation)
        .bind(xmpp_id)
        .fetch_all(&self.pool)
        .await
        .map_err(q("look up network ids"))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// The XMPP message (id, stanza-id, part) a network id of a
    /// conversation is part of (the newest, should a network reuse an id).
    pub async fn xmpp_id(
        &self,
        user: &str,
        network: &str,
        conversation: &str,
        network_id: &str,
    ) -> Result<Option<MappedId>> {
        let row = sqlx::query(
            "SELECT xmpp_id, stanza_id, part FROM id_map
             WHERE user_jid = $1 AND network = $2 AND conversation = $3 AND network_id = $4
             ORDER BY seq DESC LIMIT 1",
        )
        .bind(user)
        .bind(network)
        .bind(conversation)
        .bind(network_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(q("look up xmpp id"))?;
        Ok(row.map(|r| MappedId {
            xmpp_id: r.get(0),
            stanza_id: r.get(1),
            part: r.get(2),
        }))
    }

    /// How many id mappings (parts) a user has on a network.
    pub async fn id_map_len(&self, user: &str, network: &str) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) FROM id_map WHERE user_jid = $1 AND network = $2")
            .bind(user)
            .bind(network)
            .fetch_one(&self.pool)
            .await
            .map_err(q("count id map"))?;
        Ok(row.get(0))
    }
}
