//! The `own_avatars` table: where the user's own picture was published,
//! so that a restart does not upload it again.

use sqlx::Row;

use super::{q, Result, Store};

/// The user's own picture as published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnAvatar {
    /// Its XEP-0153 hash (SHA-1 of the bytes, lower-case hex).
    pub hash: String,
    /// Its GET URL on the upload service.
    pub url: String,
    /// When it was uploaded, in Unix seconds.
    pub uploaded_at: i64,
}

impl Store {
    /// Remembers the user's published picture (replacing the one stored).
    pub async fn save_own_avatar(&self, user: &str, network: &str, own: &OwnAvatar) -> Result<()> {
        sqlx::query(
            "INSERT INTO own_avatars (user_jid, network, hash, url, uploaded_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (user_jid, network)
             DO UPDATE SET hash = excluded.hash, url = excluded.url,
                           uploaded_at = excluded.uploaded_at",
        )
        .bind(user)
        .bind(network)
        .bind(&own.hash)
        .bind(&own.url)
        .bind(own.uploaded_at)
        .execute(&self.pool)
        .await
        .map_err(q("save own avatar"))?;
        Ok(())
    }

    /// The user's published picture on a network, if stored.
    pub async fn own_avatar(&self, user: &str, network: &str) -> Result<Option<OwnAvatar>> {
        let row = sqlx::query(
            "SELECT hash, url, uploaded_at FROM own_avatars
             WHERE user_jid = $1 AND network = $2",
        )
        .bind(user)
        .bind(network)
        .fetch_optional(&self.pool)
        .await
        .map_err(q("read own avatar"))?;
        Ok(row.map(|r| OwnAvatar {
            hash: r.get(0),
            url: r.get(1),
            uploaded_at: r.get(2),
        }))
    }
}
