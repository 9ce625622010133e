//! The room archive's queries: batched multi-row inserts, reads by range
//! (join history, MAM), a message by its network id, and retention.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::{q, Result, Store};

/// One archived room message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedMessage {
    /// Bare JID of the user whose archive it is.
    pub user: String,
    /// The network.
    pub network: String,
    /// The room id.
    pub room: String,
    /// Archive id: unique, increasing; the message's XEP-0359 stanza-id.
    pub seq: i64,
    /// When, in microseconds since the epoch.
    pub ts: i64,
    /// The author's nick.
    pub nick: String,
    /// The text (`/me ` prefixed for actions).
    pub body: String,
    /// The message's XMPP id, as it was sent live.
    pub xmpp_id: Option<String>,
    /// The client's XEP-0359 origin-id, for the user's own messages.
    pub origin_id: Option<String>,
    /// The network's id for the message (the last part's, for a message the
    /// network split).
    pub network_id: Option<String>,
    /// The author's network user id.
    pub author_id: Option<String>,
    /// Payload for edits, reactions and replies (the next issue's; `None`
    /// today).
    pub extra: Option<String>,
}

/// Which part of a room's archive to read.
#[derive(Debug, Clone, Default)]
pub struct ArchiveRange {
    /// Only messages with a larger archive id.
    pub after: Option<i64>,
    /// Only messages with a smaller archive id.
    pub before: Option<i64>,
    /// Only messages at or after this time (µs).
    pub since: Option<i64>,
    /// Only messages at or before this time (µs).
    pub until: Option<i64>,
    /// Take the newest of the range rather than the oldest.
    pub newest: bool,
}

/// Parameters of one archive row.
const COLUMNS: usize = 12;

/// The archive's multi-row INSERTs, largest first, with how many rows each
/// carries (12 parameters a row: 768 at most, within every SQLite's limit
/// of 999).
/// For PostgreSQL (`$N`) and for SQLite (`?`: see [`super::row_values`]).
static ARCHIVE_INSERTS: std::sync::LazyLock<[[(String, usize); 3]; 2]> =
    std::sync::LazyLock::new(|| {
        [true, false].map(|numbered| [64, 8, 1].map(|rows| (archive_insert(rows, numbered), rows)))
    });

fn archive_insert(rows: usize, numbered: bool) -> String {
    let mut sql = String::from(
        "INSERT INTO archive (user_jid, network, room, seq, ts, nick, body, xmpp_id, origin_id, \
         network_id, author_id, extra) VALUES ",
    );
    sql.push_str(&super::row_values(rows, COLUMNS, numbered));
    sql
}

/// The columns read back, in [`message`]'s order (a macro: the queries
/// are `&'static str`, as sqlx wants them).
macro_rules! select {
    ($rest:literal) => {
        concat!(
            "SELECT seq, ts, nick, body, xmpp_id, origin_id, network_id, author_id, extra \
             FROM archive ",
            $rest
        )
    };
}

fn message(user: &str, network: &str, room: &str, r: &AnyRow) -> ArchivedMessage {
    ArchivedMessage {
        user: user.to_owned(),
        network: network.to_owned(),
        room: room.to_owned(),
        seq: r.get(0),
        ts: r.get(1),
        nick: r.get(2),
        body: r.get(3),
        xmpp_id: r.get(4),
        origin_id: r.get(5),
        network_id: r.get(6),
        author_id: r.get(7),
        extra: r.get(8),
    }
}

impl Store {
    /// Appends messages to archives in one transaction.
    pub async fn archive(&self, batch: &[ArchivedMessage]) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(q("begin"))?;
        let mut rest = batch;
        while !rest.is_empty() {
            // A statement per row was a round trip to the database's thread
            // each; rows go in chunks of a few fixed sizes instead, so the
            // statement cache holds three statements.
            let (sql, rows) = ARCHIVE_INSERTS[usize::from(self.sqlite)]
                .iter()
                .find(|(_, rows)| *rows <= rest.len())
                .map(|(sql, rows)| (sql.as_str(), *rows))
                .expect("a chunk of one row always fits");
            let (chunk, tail) = rest.split_at(rows);
            let mut query = sqlx::query(sql);
            for m in chunk {
                query = query
                    .bind(&m.user)
                    .bind(&m.network)
                    .bind(&m.room)
                    .bind(m.seq)
                    .bind(m.ts)
                    .bind(&m.nick)
                    .bind(&m.body)
                    .bind(m.xmpp_id.as_deref())
                    .bind(m.origin_id.as_deref())
                    .bind(m.network_id.as_deref())
                    .bind(m.author_id.as_deref())
                    .bind(m.extra.as_deref());
            }
            query
                .execute(&mut *tx)
                .await
                .map_err(q("archive messages"))?;
            rest = tail;
        }
        tx.commit().await.map_err(q("commit archive"))?;
        Ok(())
    }

    /// Reads up to `limit` messages of a room's archive in `range`, oldest first.
    pub async fn archived(
        &self,
        user: &str,
        network: &str,
        room: &str,
        range: &ArchiveRange,
        limit: i64,
    ) -> Result<Vec<ArchivedMessage>> {
        let sql = if range.newest {
            select!(
                "WHERE user_jid = $1 AND network = $2 AND room = $3
                   AND seq > $4 AND seq < $5 AND ts >= $6 AND ts <= $7
                 ORDER BY seq DESC LIMIT $8"
            )
        } else {
            select!(
                "WHERE user_jid = $1 AND network = $2 AND room = $3
                   AND seq > $4 AND seq < $5 AND ts >= $6 AND ts <= $7
                 ORDER BY seq ASC LIMIT $8"
            )
        };
        let rows = sqlx::query(sql)
            .bind(user)
            .bind(network)
            .bind(room)
            .bind(range.after.unwrap_or(i64::MIN))
            .bind(range.before.unwrap_or(i64::MAX))
            .bind(range.since.unwrap_or(i64::MIN))
            .bind(range.until.unwrap_or(i64::MAX))
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(q("read archive"))?;
        let mut out: Vec<ArchivedMessage> = rows
            .iter()
            .map(|r| message(user, network, room, r))
            .collect();
        if range.newest {
            out.reverse();
        }
        Ok(out)
    }

    /// The archived message of a room with the network's id `network_id`
    /// (the newest, should a network reuse an id).
    pub async fn archived_by_network_id(
        &self,
        user: &str,
        network: &str,
        room: &str,
        network_id: &str,
    ) -> Result<Option<ArchivedMessage>> {
        let row = sqlx::query(select!(
            "WHERE user_jid = $1 AND network = $2 AND room = $3 AND network_id = $4
             ORDER BY seq DESC LIMIT 1"
        ))
        .bind(user)
        .bind(network)
        .bind(room)
        .bind(network_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(q("read archive by network id"))?;
        Ok(row.map(|r| message(user, network, room, &r)))
    }

    /// Retention: drops messages older than `older_than` (µs), and keeps at
    /// most `keep` messages in each of the given rooms (user, network, room);
    /// each bound is one indexed range delete.
    pub async fn trim_archive(
        &self,
        older_than: i64,
        keep: i64,
        rooms: &[(String, String, String)],
    ) -> Result<()> {
        sqlx::query("DELETE FROM archive WHERE ts < $1")
            .bind(older_than)
            .execute(&self.pool)
            .await
            .map_err(q("expire archive"))?;
        for (user, network, room) in rooms {
            sqlx::query(
                "DELETE FROM archive WHERE user_jid = $1 AND network = $2 AND room = $3
                 AND seq <= (SELECT seq FROM archive
                             WHERE user_jid = $1 AND network = $2 AND room = $3
                             ORDER BY seq DESC LIMIT 1 OFFSET $4)",
            )
            .bind(user)
            .bind(network)
            .bind(room)
            .bind(keep)
            .execute(&self.pool)
            .await
            .map_err(q("bound archive"))?;
        }
        Ok(())
    }
}
