//! The `contact_avatars` table: the picture of each stored contact, so
//! that a restart neither loses it nor fetches it again.

use base64::Engine as _;
use sqlx::Row;

use super::{q, Result, Store};

/// A contact's picture as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAvatar {
    /// The person's network id.
    pub contact: String,
    /// The URL the network gave for it.
    pub url: String,
    /// The picture's bytes.
    pub bytes: Vec<u8>,
}

impl Store {
    /// Remembers a contact's picture (replacing the one stored).
    pub async fn save_contact_avatar(
        &self,
        user: &str,
        network: &str,
        avatar: &StoredAvatar,
    ) -> Result<()> {
        let picture = base64::engine::general_purpose::STANDARD.encode(&avatar.bytes);
        sqlx::query(
            "INSERT INTO contact_avatars (user_jid, network, contact, url, picture)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (user_jid, network, contact)
             DO UPDATE SET url = excluded.url, picture = excluded.picture",
        )
        .bind(user)
        .bind(network)
        .bind(&avatar.contact)
        .bind(&avatar.url)
        .bind(picture)
        .execute(&self.pool)
        .await
        .map_err(q("save contact avatar"))?;
        Ok(())
    }

    /// Forgets a contact's picture (they have none now).
    pub async fn delete_contact_avatar(
        &self,
        user: &str,
        network: &str,
        contact: &str,
    ) -> Result<()> {
        sqlx::query(
            "DELETE FROM contact_avatars WHERE user_jid = $1 AND network = $2 AND contact = $3",
        )
        .bind(user)
        .bind(network)
        .bind(contact)
        .execute(&self.pool)
        .await
        .map_err(q("delete contact avatar"))?;
        Ok(())
    }

    /// The user's contacts' pictures on a network, by contact id, at most
    /// `limit` (a row whose picture is not base64 is skipped).
    pub async fn contact_avatars(
        &self,
        user: &str,
        network: &str,
        limit: usize,
    ) -> Result<Vec<StoredAvatar>> {
        let rows = sqlx::query(
            "SELECT contact, url, picture FROM contact_avatars
             WHERE user_jid = $1 AND network = $2
             ORDER BY contact LIMIT $3",
        )
        .bind(user)
        .bind(network)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(q("list contact avatars"))?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let picture: String = r.get(2);
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(picture)
                    .ok()?;
                Some(StoredAvatar {
                    contact: r.get(0),
                    url: r.get(1),
                    bytes,
                })
            })
            .collect())
    }
}
