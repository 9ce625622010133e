//! The `contacts` table: the network people the gateway made a user's
//! contacts, so that a restart does not forget them.

use sqlx::Row;

use super::{q, Result, Store};

/// One stored contact of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredContact {
    /// The person's network id.
    pub contact: String,
    /// Their name as the network last reported it.
    pub name: String,
    /// Whether a roster set put them in the user's roster.
    pub in_roster: bool,
}

impl Store {
    /// Remembers a contact of the user (a new name or roster state
    /// replaces the stored one).
    pub async fn save_contact(
        &self,
        user: &str,
        network: &str,
        contact: &StoredContact,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO contacts (user_jid, network, contact, name, in_roster)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (user_jid, network, contact)
             DO UPDATE SET name = excluded.name, in_roster = excluded.in_roster",
        )
        .bind(user)
        .bind(network)
        .bind(&contact.contact)
        .bind(&contact.name)
        .bind(i64::from(contact.in_roster))
        .execute(&self.pool)
        .await
        .map_err(q("save contact"))?;
        Ok(())
    }

    /// The user's contacts on a network, by id, at most `limit`.
    pub async fn contacts(
        &self,
        user: &str,
        network: &str,
        limit: usize,
    ) -> Result<Vec<StoredContact>> {
        let rows = sqlx::query(
            "SELECT contact, name, in_roster FROM contacts
             WHERE user_jid = $1 AND network = $2
             ORDER BY contact LIMIT $3",
        )
        .bind(user)
        .bind(network)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(q("list contacts"))?;
        Ok(rows
            .iter()
            .map(|r| StoredContact {
                contact: r.get(0),
                name: r.get(1),
                in_roster: r.get::<i64, _>(2) != 0,
            })
            .collect())
    }

    /// Forgets one contact of the user (they removed it from their roster).
    pub async fn delete_contact(&self, user: &str, network: &str, contact: &str) -> Result<()> {
        sqlx::query("DELETE FROM contacts WHERE user_jid = $1 AND network = $2 AND contact = $3")
            .bind(user)
            .bind(network)
            .bind(contact)
            .execute(&self.pool)
            .await
            .map_err(q("delete contact"))?;
        Ok(())
    }
}
