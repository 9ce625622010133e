//! The `rooms` table: the persistent rooms a user is in, so that the core
//! can join them again after a restart without the client.

use sqlx::Row;

use super::{now_micros, q, Result, Store};

/// One stored room of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRoom {
    /// The room id.
    pub room: String,
    /// The user's nick in it, as the network last confirmed it.
    pub nick: String,
    /// When it was first stored, in seconds since the epoch.
    pub joined_at: i64,
    /// The room's password as the vault sealed it, if the join had one.
    pub sealed_password: Option<String>,
}

impl Store {
    /// Remembers that the user is in a room with this nick and password
    /// (sealed by the caller; a new nick or password replaces the stored
    /// one; the time of the first join stays).
    pub async fn save_room(
        &self,
        user: &str,
        network: &str,
        room: &str,
        nick: &str,
        sealed_password: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO rooms (user_jid, network, room, nick, joined_at, password)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (user_jid, network, room)
             DO UPDATE SET nick = excluded.nick, password = excluded.password",
        )
        .bind(user)
        .bind(network)
        .bind(room)
        .bind(nick)
        .bind(now_micros() as i64 / 1_000_000)
        .bind(sealed_password)
        .execute(&self.pool)
        .await
        .map_err(q("save room"))?;
        Ok(())
    }

    /// The user's stored rooms on a network, by room id.
    pub async fn stored_rooms(&self, user: &str, network: &str) -> Result<Vec<StoredRoom>> {
        let rows = sqlx::query(
            "SELECT room, nick, joined_at, password FROM rooms
             WHERE user_jid = $1 AND network = $2
             ORDER BY room",
        )
        .bind(user)
        .bind(network)
        .fetch_all(&self.pool)
        .await
        .map_err(q("list rooms"))?;
        Ok(rows
            .iter()
            .map(|r| StoredRoom {
                room: r.get(0),
                nick: r.get(1),
                joined_at: r.get(2),
                sealed_password: r.get(3),
            })
            .collect())
    }

    /// Forgets a stored room. Returns whether it was stored.
    pub async fn forget_room(&self, user: &str, network: &str, room: &str) -> Result<bool> {
        let done =
            sqlx::query("DELETE FROM rooms WHERE user_jid = $1 AND network = $2 AND room = $3")
                .bind(user)
                .bind(network)
                .bind(room)
                .execute(&self.pool)
                .await
                .map_err(q("forget room"))?;
        Ok(done.rows_affected() > 0)
    }
}
