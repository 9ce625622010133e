//! Storage: one set of queries on SQLite (a file, by default) or PostgreSQL
//! (by URL), through sqlx's `Any` driver. Schema in `migrations/`.

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

mod archive;
mod contact_avatars;
mod contacts;
mod id_map;
mod own_avatars;
mod rich;
mod rooms;

pub use archive::{ArchiveRange, ArchivedMessage};
pub use contact_avatars::StoredAvatar;
pub use contacts::StoredContact;
pub use id_map::{IdMapping, MappedId, ID_MAP_LIMIT};
pub use own_avatars::OwnAvatar;
pub use rooms::StoredRoom;

/// Storage errors, with what was being done.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Could not open or migrate the database.
    #[error("cannot open the database: {0}")]
    Open(#[source] sqlx::Error),
    /// Could not make the database file or its folder.
    #[error("cannot create {path}: {source}")]
    File {
        /// The file or folder.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Could not bring the schema up to date.
    #[error("cannot migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("database query ({what}) failed: {source}")]
    Query {
        /// What the query was for.
        what: &'static str,
        /// The driver's error.
        source: sqlx::Error,
    },
}

type Result<T> = std::result::Result<T, StoreError>;

fn q(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Query { what, source }
}

/// A handle on the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    /// SQLite: multi-row statements use anonymous `?` placeholders (see
    /// [`row_values`]).
    sqlite: bool,
}

/// One registration as stored: the user and their sealed credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRegistration {
    /// Bare JID of the user.
    pub user: String,
    /// Credentials as sealed by the vault.
    pub sealed_credentials: String,
}

impl Store {
    /// Connects (creating a SQLite file if the URL says `mode=rwc`) and
    /// brings the schema up to date.
    pub async fn connect(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let sqlite = url.starts_with("sqlite:");
        if let Some(path) = sqlite_file_to_create(url) {
            create_private(&path)?;
        }
        let pool = AnyPoolOptions::new()
            .max_connections(if sqlite { 1 } else { 4 })
            .connect(url)
            .await
            .map_err(StoreError::Open)?;
        if sqlite {
            for pragma in ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL"] {
                sqlx::query(pragma)
                    .execute(&pool)
                    .await
                    .map_err(q("pragma"))?;
            }
        }
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self { pool, sqlite })
    }

    /// Closes the pool, waiting for queries under way.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Saves (or replaces) a user's registration on a network.
    pub async fn save_registration(&self, user: &str, network: &str, sealed: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO registrations (user_jid, network, credentials, created_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (user_jid, network) DO UPDATE SET credentials = excluded.credentials",
        )
        .bind(user)
        .bind(network)
        .bind(sealed)
        .bind(now_micros() as i64 / 1_000_000)
        .execute(&self.pool)
        .await
        .map_err(q("save registration"))?;
        Ok(())
    }

    /// A user's sealed credentials on a network, if registered.
    pub async fn registration(&self, user: &str, network: &str) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT credentials FROM registrations WHERE user_jid = $1 AND network = $2",
        )
        .bind(user)
        .bind(network)
        .fetch_optional(&self.pool)
        .await
        .map_err(q("read registration"))?;
        Ok(row.map(|r| r.get::<String, _>(0)))
    }

    /// Every registration on a network, oldest first.
    pub async fn registrations(&self, network: &str) -> Result<Vec<StoredRegistration>> {
        let rows = sqlx::query(
            "SELECT user_jid, credentials FROM registrations WHERE network = $1
             ORDER BY created_at, user_jid",
        )
        .bind(network)
        .fetch_all(&self.pool)
        .await
        .map_err(q("list registrations"))?;
        Ok(rows
            .iter()
            .map(|r: &AnyRow| StoredRegistration {
                user: r.get(0),
                sealed_credentials: r.get(1),
            })
            .collect())
    }

    /// Removes a registration and everything kept for it. Returns whether it existed.
    pub async fn delete_registration(&self, user: &str, network: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await.map_err(q("begin"))?;
        let mut existed = false;
        for (table, sql) in [
            (
                "registrations",
                "DELETE FROM registrations WHERE user_jid = $1 AND network = $2",
            ),
            (
                "user_settings",
                "DELETE FROM user_settings WHERE user_jid = $1 AND network = $2",
            ),
            (
                "session_state",
                "DELETE FROM session_state WHERE user_jid = $1 AND network = $2",
            ),
            (
                "id_map",
                "DELETE FROM id_map WHERE user_jid = $1 AND network = $2",
            ),
            (
                "archive",
                "DELETE FROM archive WHERE user_jid = $1 AND network = $2",
            ),
            (
                "rooms",
                "DELETE FROM rooms WHERE user_jid = $1 AND network = $2",
            ),
            (
                "contacts",
                "DELETE FROM contacts WHERE user_jid = $1 AND network = $2",
            ),
            (
                "contact_avatars",
                "DELETE FROM contact_avatars WHERE user_jid = $1 AND network = $2",
            ),
            (
                "own_avatars",
                "DELETE FROM own_avatars WHERE user_jid = $1 AND network = $2",
            ),
        ] {
            let done = sqlx::query(sql)
                .bind(user)
                .bind(network)
                .execute(&mut *tx)
                .await
                .map_err(q("delete registration"))?;
            if table == "registrations" {
                existed = done.rows_affected() > 0;
            }
        }
        tx.commit().await.map_err(q("commit"))?;
        Ok(existed)
    }

    /// Sets one setting in a scope (`""` for the account).
    pub async fn set_setting(
        &self,
        user: &str,
        network: &str,
        scope: &str,
        name: &str,
        value: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO user_settings (user_jid, network, scope, name, value)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (user_jid, network, scope, name) DO UPDATE SET value = excluded.value",
        )
        .bind(user)
        .bind(network)
        .bind(scope)
        .bind(name)
        .bind(value)
        .execute(&self.pool)
        .await
        .map_err(q("save setting"))?;
        Ok(())
    }

    /// How many settings rows a user has on a network, in every scope.
    pub async fn count_settings(&self, user: &str, network: &str) -> Result<i64> {
        let row =
            sqlx::query("SELECT COUNT(*) FROM user_settings WHERE user_jid = $1 AND network = $2")
                .bind(user)
                .bind(network)
                .fetch_one(&self.pool)
                .await
                .map_err(q("count settings"))?;
        Ok(row.get(0))
    }

    /// The settings of a scope.
    pub async fn settings(
        &self,
        user: &str,
        network: &str,
        scope: &str,
    ) -> Result<BTreeMap<String, String>> {
        let rows = sqlx::query(
            "SELECT name, value FROM user_settings
             WHERE user_jid = $1 AND network = $2 AND scope = $3",
        )
        .bind(user)
        .bind(network)
        .bind(scope)
        .fetch_all(&self.pool)
        .await
        .map_err(q("read settings"))?;
        Ok(pairs(&rows))
    }

    /// Saves a piece of session state.
    pub async fn save_state(
        &self,
        user: &str,
        network: &str,
        name: &str,
        value: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO session_state (user_jid, network, name, value) VALUES ($1, $2, $3, $4)
             ON CONFLICT (user_jid, network, name) DO UPDATE SET value = excluded.value",
        )
        .bind(user)
        .bind(network)
        .bind(name)
        .bind(value)
        .execute(&self.pool)
        .await
        .map_err(q("save session state"))?;
        Ok(())
    }

    /// All session state of a user on a network.
    pub async fn state(&self, user: &str, network: &str) -> Result<BTreeMap<String, String>> {
        let rows = sqlx::query(
            "SELECT name, value FROM session_state WHERE user_jid = $1 AND network = $2",
        )
        .bind(user)
        .bind(network)
        .fetch_all(&self.pool)
        .await
        .map_err(q("read session state"))?;
        Ok(pairs(&rows))
    }
}

/// The file of a SQLite URL that may create it (`mode=rwc`), if it does
/// not exist yet.
/// The `VALUES` rows of a multi-row INSERT of `rows` rows of `columns`
/// parameters: `($1, $2), ($3, $4)` for PostgreSQL; `(?, ?), (?, ?)` for
/// SQLite, bound in order. sqlx asks SQLite the name of every parameter
/// of a statement, and SQLite finds a name by walking the list of names,
/// so numbered parameters cost the square of their count: 768 of them
/// were a quarter of the gateway's CPU time with the archive on.
pub(crate) fn row_values(rows: usize, columns: usize, numbered: bool) -> String {
    let mut sql = String::with_capacity(rows * columns * 5);
    for r in 0..rows {
        sql.push_str(if r > 0 { ", (" } else { "(" });
        for c in 1..=columns {
            if c > 1 {
                sql.push_str(", ");
            }
            if numbered {
                sql.push_str(&format!("${}", r * columns + c));
            } else {
                sql.push('?');
            }
        }
        sql.push(')');
    }
    sql
}

fn sqlite_file_to_create(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let creates = query.split('&').any(|p| p == "mode=rwc");
    if !creates || path.is_empty() || path == ":memory:" {
        return None;
    }
    let path = std::path::PathBuf::from(path);
    (!path.exists()).then_some(path)
}

/// Makes an empty database file readable by its owner only (0600), and its
/// folder (0700) if there is none, before SQLite opens it: SQLite gives
/// its `-wal` and `-shm` files the database file's mode, and would make
/// the file 0644 under the usual umask. It holds sealed credentials,
/// settings and the users' room archives.
fn create_private(path: &std::path::Path) -> Result<()> {
    let fail = |path: &std::path::Path| {
        let path = path.display().to_string();
        move |source| StoreError::File { path, source }
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(fail(dir))?;
            }
        }
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => Ok(()),
            // Made meanwhile by someone else: SQLite opens what is there.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(fail(path)(e)),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (path, fail);
        Ok(())
    }
}

fn pairs(rows: &[AnyRow]) -> BTreeMap<String, String> {
    rows.iter().map(|r| (r.get(0), r.get(1))).collect()
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

impl Store {
    /// Every setting of a user whose scope starts with `prefix`: (scope, name, value).
    pub async fn settings_under(
        &self,
        user: &str,
        network: &str,
        prefix: &str,
    ) -> Result<Vec<(String, String, String)>> {
        let rows = sqlx::query(
            "SELECT scope, name, value FROM user_settings
             WHERE user_jid = $1 AND network = $2 AND substr(scope, 1, $3) = $4",
        )
        .bind(user)
        .bind(network)
        .bind(prefix.len() as i32)
        .bind(prefix)
        .fetch_all(&self.pool)
        .await
        .map_err(q("read scoped settings"))?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }
}

#[cfg(test)]
mod row_values_tests {
    use super::row_values;

    #[test]
    fn numbered_for_postgres_anonymous_for_sqlite() {
        assert_eq!(row_values(2, 3, true), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(row_values(2, 3, false), "(?, ?, ?), (?, ?, ?)");
        assert_eq!(row_values(1, 1, true), "($1)");
    }
}
