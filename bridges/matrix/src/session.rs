//! One user's session: a loop that long-polls the server (simplified
//! sliding sync, `sliding.rs`, when the server offers it, else a filtered
//! `/sync`) and takes the core's commands in between. The sync position is
//! saved (`Event::SaveState`: `pos`, or `since`) after each answer's
//! events, so a new session resumes where the last one stopped. Errors
//! back off (doubling to a minute; a 429's `retry_after_ms` as the server
//! asks); a revoked token ends the session with a message to the user
//! instead of retrying.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use switchboard_bridge_api::download::Limits;
use switchboard_bridge_api::{
    channel, session_channels, Command, ErrorContext, ErrorKind, Event, Login, RoomId, SessionEnd,
    SessionHandle, UserId,
};
use tracing::{debug, info, warn};

use crate::api::SyncResponse;
use crate::avatars::Avatars;
use crate::client::{ApiError, Client};
use crate::direct::Direct;
use crate::invites::Invites;
use crate::media::SentFiles;
use crate::media_fetch::MediaFetcher;
use crate::reactions::Reactions;
use crate::register::keys;
use crate::rooms::{localpart, Room};
use crate::sliding::{self, Batch};

/// The state key of the `/sync` position.
pub(crate) const SINCE: &str = "since";
/// The state key of the sliding sync position.
pub(crate) const POS: &str = "pos";
/// The prefix of the state keys that keep a room's last delivered event
/// (`last.!id:hs` = `$event`), the bound of sliding sync's gaps (`gap.rs`).
pub(crate) const LAST_PREFIX: &str = "last.";
/// The prefix of the state keys that map a room id to the alias the core
/// knows it by (`room.!id:hs` = `#alias:hs`).
pub(crate) const ROOM_PREFIX: &str = "room.";

/// A sync filter with this timeline limit and these ephemeral events
/// (typing, receipts: not on the first sync, which shows no news): no
/// presence, of the account data only `m.direct` (`direct.rs`); only the
/// state the session reads (name, alias, topic, members, encryption, power
/// levels and creators), members loaded lazily (the
/// timeline's senders only).
macro_rules! filter {
    ($limit:literal, $ephemeral:literal) => {
        concat!(
            r#"{"presence":{"not_types":["*"]},"account_data":{"types":["m.direct"]},"#,
            r#""room":{"state":{"lazy_load_members":true,"types":"#,
            r#"["m.room.name","m.room.canonical_alias","m.room.topic","m.room.member","#,
            r#""m.room.encryption","m.room.power_levels","m.room.create"]},"#,
            r#""timeline":{"limit":"#,
            $limit,
            r#","lazy_load_members":true},"#,
            r#""ephemeral":"#,
            $ephemeral,
            r#","account_data":{"not_types":["*"]}}}"#
        )
    };
}

/// The filter of a sync from a saved position: a short timeline.
const FILTER: &str = filter!(20, r#"{"types":["m.typing","m.receipt"]}"#);

/// The first sync's filter: one timeline event a room (the first sync's
/// messages are history, which it does not show).
const INITIAL_FILTER: &str = filter!(1, r#"{"not_types":["*"]}"#);

/// The timeline limit of the sync that follows a join by command: the
/// newest event only (the user's own join, or a message after it; a gap
/// back to the previous position is filled as usual). A long poll's
/// limit would bring that many events of the room's history from before
/// the join, which the session does not show.
const JOIN_TIMELINE_LIMIT: u64 = 1;

/// How long a resumed session waits for the core's first command (the
/// rejoin of its stored rooms) before its first sync.
const REJOIN_WAIT: Duration = Duration::from_millis(500);

/// The longest wait between two failed syncs.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

type SyncFuture = Pin<Box<dyn Future<Output = Result<Batch, ApiError>> + Send>>;

/// A running session's state.
pub(crate) struct Session {
    pub(crate) client: Client,
    /// The user's id (`@me:hs`).
    pub(crate) own: String,
    pub(crate) events: channel::Sender<Event>,
    /// Rooms by Matrix room id.
    pub(crate) rooms: HashMap<String, Room>,
    /// Room ids by the alias the core knows them by.
    pub(crate) by_alias: HashMap<RoomId, String>,
    /// The `/sync` position (with sliding sync: the one to upgrade from,
    /// until one last `/sync` from it is done).
    pub(crate) since: Option<String>,
    /// The session syncs with sliding sync.
    pub(crate) sliding: bool,
    /// The sliding sync position.
    pub(crate) pos: Option<String>,
    /// The last index of the sliding list's range (grown a page an answer
    /// while the user has more rooms).
    range_last: u64,
    /// The sliding list's size, as last told.
    room_count: u64,
    /// Each room's last delivered event (sliding sync's gap bound).
    pub(crate) delivered: HashMap<String, String>,
    /// The rooms whose last delivered event is to be saved.
    pub(crate) delivered_changed: HashSet<String>,
    /// How long the server may hold a sync open.
    sync_timeout: Duration,
    /// Makes this session's transaction ids unique.
    pub(crate) txn_prefix: String,
    pub(crate) txn_serial: u64,
    /// Reaction sets seen and sent, bounded.
    pub(crate) reactions: Reactions,
    /// What files the user's messages may carry.
    pub(crate) file_limits: Limits,
    /// The files the user sent lately, for their echoes.
    pub(crate) sent_files: SentFiles,
    /// The servers to join rooms listed in spaces through.
    pub(crate) vias: crate::spaces::Vias,
    /// Direct chats: which room is with whom.
    pub(crate) direct: Direct,
    /// Invitations told to the core.
    pub(crate) invites: Invites,
    /// The pictures told to the core.
    pub(crate) avatars: Avatars,
    /// `false` once the core is gone.
    pub(crate) open: bool,
    /// The long poll was dropped for the join command being carried out:
    /// the join syncs itself ([`Session::join_sync`]).
    pub(crate) poll_dropped: bool,
}

/// Starts a session with the stored login.
pub(crate) fn start(
    http: reqwest::Client,
    sync: SyncChoice,
    file_limits: Limits,
    login: Login,
) -> SessionHandle {
    let (mut handle, end) = session_channels();
    handle.files = media_fetcher(&http, &login);
    tokio::spawn(run(http, sync, file_limits, login, end));
    handle
}

/// The fetcher of the user's media (authenticated, with their token),
/// when the login has a homeserver and a token.
fn media_fetcher(
    http: &reqwest::Client,
    login: &Login,
) -> Option<std::sync::Arc<dyn switchboard_bridge_api::FileFetcher>> {
    let credentials = &login.credentials;
    let base = reqwest::Url::parse(credentials.get(keys::HOMESERVER)?).ok()?;
    let token = credentials.get(keys::ACCESS_TOKEN)?.to_owned();
    let client = Client::new(http.clone(), base, Some(token));
    Some(std::sync::Arc::new(MediaFetcher::new(client)))
}

/// How a session syncs: the long poll's length, and whether it may use
/// sliding sync.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SyncChoice {
    /// How long the server may hold a sync open.
    pub timeout: Duration,
    /// Sliding sync when the server offers it (else `/sync` always).
    pub sliding: bool,
}

async fn run(
    http: reqwest::Client,
    sync: SyncChoice,
    file_limits: Limits,
    login: Login,
    end: SessionEnd,
) {
    let SessionEnd {
        mut commands,
        events,
    } = end;
    let credentials = &login.credentials;
    let (Some(base), Some(own), Some(token)) = (
        credentials.get(keys::HOMESERVER),
        credentials.get(keys::USER_ID),
        credentials.get(keys::ACCESS_TOKEN),
    ) else {
        let _ = events
            .send(Event::Error {
                context: ErrorContext::Session,
                kind: ErrorKind::NotAuthorized,
                text: "This Matrix registration has no access token: register again.".into(),
            })
            .await;
        return;
    };
    let Ok(base) = reqwest::Url::parse(base) else {
        warn!("a stored homeserver URL that does not parse");
        return;
    };
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let mut session = Session {
        client: Client::new(http, base, Some(token.to_owned())),
        own: own.to_owned(),
        events,
        rooms: HashMap::new(),
        by_alias: HashMap::new(),
        since: login.state.get(SINCE).filter(|s| !s.is_empty()).cloned(),
        sliding: false,
        pos: None,
        range_last: sliding::PAGE - 1,
        room_count: 0,
        delivered: HashMap::new(),
        delivered_changed: HashSet::new(),
        sync_timeout: sync.timeout,
        txn_prefix: format!("sb{started}"),
        txn_serial: 0,
        reactions: Reactions::default(),
        file_limits,
        sent_files: SentFiles::default(),
        vias: Default::default(),
        direct: Direct::default(),
        invites: Invites::default(),
        avatars: Avatars::default(),
        open: true,
        poll_dropped: false,
    };
    session.restore_aliases(&login);
    if sync.sliding {
        session.choose_sliding(&login).await;
    }
    info!(sliding = session.sliding, "Matrix sync chosen");
    session.direct.restore(&login.state);
    session.restore_spaces(&login.state);
    session.sent_files.load(&login.state);
    session
        .emit(Event::Connected {
            own_id: UserId::from(own),
            nick: localpart(own).to_owned(),
        })
        .await;
    session.run(&mut commands).await;
    debug!(account = %login.account, "Matrix session ended");
}

impl Session {
    /// Uses sliding sync if the server lists it in `/versions` (or if it
    /// cannot be asked: a first request the server does not know falls
    /// back to `/sync`), resuming from the saved position and the rooms'
    /// last delivered events.
    async fn choose_sliding(&mut self, login: &Login) {
        self.sliding = match sliding::offered(&self.client).await {
            Ok(offered) => offered,
            Err(e) => {
                debug!(error = %e, "cannot read the homeserver's versions");
                true
            }
        };
        if !self.sliding {
            return;
        }
        self.pos = login.state.get(POS).filter(|s| !s.is_empty()).cloned();
        for (key, event_id) in &login.state {
            if let Some(room_id) = key.strip_prefix(LAST_PREFIX) {
                if !event_id.is_empty() {
                    self.delivered.insert(room_id.to_owned(), event_id.clone());
                }
            }
        }
    }

    /// The room aliases saved earlier, so that a resumed sync's events
    /// reach the rooms the core knows.
    fn restore_aliases(&mut self, login: &Login) {
        for (key, alias) in &login.state {
            let Some(room_id) = key.strip_prefix(ROOM_PREFIX) else {
                continue;
            };
            if alias.is_empty() {
                continue;
            }
            let core = RoomId::from(alias.as_str());
            self.by_alias.insert(core.clone(), room_id.to_owned());
            self.rooms.entry(room_id.to_owned()).or_default().core_id = Some(core);
        }
    }

    /// Sends an event to the core; remembers when the core is gone.
    pub(crate) async fn emit(&mut self, event: Event) {
        if self.open && self.events.send(event).await.is_err() {
            self.open = false;
        }
    }

    /// Syncs and takes commands until told to stop, the core is gone, or
    /// the token is revoked. Commands waiting go first.
    async fn run(&mut self, commands: &mut channel::Receiver<Command>) {
        // A resumed session's first sync may bring news of rooms the core
        // is about to join again (its stored rooms, sent right after the
        // start): those joins go first, so that the news reaches rooms the
        // core set up as its own.
        if self.since.is_some() || self.pos.is_some() {
            match tokio::time::timeout(REJOIN_WAIT, commands.recv()).await {
                Ok(None) | Ok(Some(Command::Shutdown)) => return,
                Ok(Some(command)) => self.command(command).await,
                Err(_) => {}
            }
        }
        let mut sync = self.sync_after(Duration::ZERO);
        let mut failures: u32 = 0;
        let mut down = false;
        while self.open {
            tokio::select! {
                biased;
                command = commands.recv() => {
                    match command {
                        None | Some(Command::Shutdown) => break,
                        Some(command) => {
                            // A join would wake the long poll with the
                            // room's recent history (its timeline limit
                            // of events from before the join): it is
                            // dropped unanswered, and the join syncs with
                            // a timeline of one event instead.
                            let drop_poll = failures == 0 && self.joins_new_room(&command);
                            if drop_poll {
                                sync = Box::pin(std::future::pending());
                                self.poll_dropped = true;
                            }
                            self.command(command).await;
                            self.poll_dropped = false;
                            if drop_poll {
                                sync = self.sync_after(Duration::ZERO);
                            }
                        }
                    }
                }
                result = &mut sync => {
                    let delay = match result {
                        Ok(batch) => {
                            if down {
                                down = false;
                                let own_id = UserId::from(self.own.as_str());
                                let nick = localpart(&self.own).to_owned();
                                self.emit(Event::Connected { own_id, nick }).await;
                            }
                            failures = 0;
                            self.answered(batch).await;
                            Duration::ZERO
                        }
                        Err(e) if e.token_revoked() => {
                            self.revoked().await;
                            break;
                        }
                        Err(e) if self.sliding && sliding::unknown_pos(&e) => {
                            // The rooms come whole: their last delivered
                            // events bound what is news in them.
                            info!("Matrix sliding sync position expired; starting anew");
                            self.pos = None;
                            Duration::ZERO
                        }
                        Err(e) if self.sliding && sliding::unsupported(&e) => {
                            info!(error = %e, "no sliding sync on this homeserver; /sync instead");
                            self.sliding = false;
                            self.pos = None;
                            Duration::ZERO
                        }
                        Err(e) => {
                            failures = failures.saturating_add(1);
                            let delay = e.rate_limited().unwrap_or_else(|| backoff(failures));
                            warn!(error = %e, retry_in = ?delay, "Matrix sync failed");
                            if !down && e.rate_limited().is_none() {
                                down = true;
                                let reason = e.to_string();
                                self.emit(Event::Disconnected { reason, retrying: true }).await;
                            }
                            delay
                        }
                    };
                    sync = self.sync_after(delay);
                }
            }
        }
    }

    /// The token no longer works: the user is told, the session stops.
    async fn revoked(&mut self) {
        info!("Matrix access token revoked; session stopped");
        self.emit(Event::Error {
            context: ErrorContext::Session,
            kind: ErrorKind::NotAuthorized,
            text: "Your Matrix session was logged out (the access token was revoked). \
                   Register again to reconnect."
                .into(),
        })
        .await;
        self.emit(Event::Disconnected {
            reason: "the access token was revoked".into(),
            retrying: false,
        })
        .await;
    }

    /// An answer's events; then, for sliding sync, the list's range grown
    /// while the user has more rooms, and once, after the first answer of
    /// a session upgraded from `/sync`, one last `/sync` from its saved
    /// position (the news since then; what both bring is shown once, as the
    /// rooms' last delivered events bound sliding sync's timelines).
    async fn answered(&mut self, batch: Batch) {
        let sliding = batch.sliding;
        if sliding {
            self.room_count = batch.count;
        }
        self.synced(batch).await;
        if !sliding {
            return;
        }
        if self.more_rooms() {
            self.range_last += sliding::PAGE;
        }
        if let Some(since) = self.since.clone() {
            match sync_once(&self.client, Some(&since), FILTER, Duration::ZERO).await {
                Ok(response) => self.synced(Batch::classic(response)).await,
                Err(e) => debug!(error = %e, "the upgrade's last /sync failed; tried again later"),
            }
        }
    }

    /// The sliding list does not cover all the user's rooms yet.
    fn more_rooms(&self) -> bool {
        self.room_count > self.range_last + 1
    }

    /// The next sync, after `delay`: a long poll from the saved position,
    /// or a first sync with no wait.
    fn sync_after(&self, delay: Duration) -> SyncFuture {
        let client = self.client.clone();
        if self.sliding {
            let pos = self.pos.clone();
            let poll = if pos.is_some() && !self.more_rooms() {
                self.sync_timeout
            } else {
                Duration::ZERO
            };
            let last = self.range_last;
            let own = self.own.clone();
            return Box::pin(async move {
                tokio::time::sleep(delay).await;
                let answer = sliding::request(&client, pos.as_deref(), last, poll).await?;
                Ok(sliding::adapt(answer, &own))
            });
        }
        let since = self.since.clone();
        let poll = if since.is_some() {
            self.sync_timeout
        } else {
            Duration::ZERO
        };
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            let filter = if since.is_some() {
                FILTER
            } else {
                INITIAL_FILTER
            };
            let response = sync_once(&client, since.as_deref(), filter, poll).await?;
            Ok(Batch::classic(response))
        })
    }

    /// The sync right after joining `room_id` by command (the long poll
    /// dropped): from the saved position, without waiting; with `/sync`, a
    /// timeline of one event and no typing or receipts of that room (a
    /// crowd's receipts); with sliding sync, the usual request (one event
    /// a room, a new room's receipts only for it). It announces the room
    /// with the state it brings, so no state is fetched on its own. A
    /// failure is only logged: the join then fetches the state, and the
    /// next long poll brings the news.
    pub(crate) async fn join_sync(&mut self, room_id: &str) {
        let answer = if self.sliding {
            let pos = self.pos.clone();
            sliding::request(
                &self.client,
                pos.as_deref(),
                self.range_last,
                Duration::ZERO,
            )
            .await
            .map(|answer| sliding::adapt(answer, &self.own))
        } else {
            let filter = match &self.since {
                Some(_) => join_filter(room_id),
                None => INITIAL_FILTER.to_owned(),
            };
            sync_once(&self.client, self.since.as_deref(), &filter, Duration::ZERO)
                .await
                .map(Batch::classic)
        };
        match answer {
            Ok(batch) => self.answered(batch).await,
            Err(e) => debug!(error = %e, "the join's sync failed"),
        }
    }
}

/// One `/sync` request: from `since` (an initial sync without), with this
/// filter, held open by the server for at most `poll`.
async fn sync_once(
    client: &Client,
    since: Option<&str>,
    filter: &str,
    poll: Duration,
) -> Result<SyncResponse, ApiError> {
    let ms = poll.as_millis().to_string();
    let mut query = vec![
        ("filter", filter),
        ("timeout", ms.as_str()),
        ("set_presence", "offline"),
    ];
    if let Some(since) = since {
        query.push(("since", since));
    }
    let url = client.v3(&["sync"], &query);
    client.get(url, poll + Duration::from_secs(30)).await
}

/// The filter of the sync after joining `room_id`: [`FILTER`] with
/// [`JOIN_TIMELINE_LIMIT`], and no ephemeral events from that room.
fn join_filter(room_id: &str) -> String {
    let mut filter: serde_json::Value =
        serde_json::from_str(FILTER).expect("the sync filter is JSON");
    filter["room"]["timeline"]["limit"] = JOIN_TIMELINE_LIMIT.into();
    filter["room"]["ephemeral"]["not_rooms"] = serde_json::json!([room_id]);
    filter.to_string()
}

/// The wait after `failures` failures in a row: 1 s, doubling, at most a minute.
fn backoff(failures: u32) -> Duration {
    let secs = 1u64 << failures.saturating_sub(1).min(6);
    Duration::from_secs(secs).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_a_minute() {
        let waits: Vec<u64> = (1..=9).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }

    #[test]
    fn the_filter_is_json_with_lazy_members_and_no_presence() {
        for (text, limit) in [(FILTER, 20), (INITIAL_FILTER, 1)] {
            let filter: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(filter["room"]["state"]["lazy_load_members"], true);
            assert_eq!(filter["presence"]["not_types"][0], "*");
            assert_eq!(filter["room"]["timeline"]["limit"], limit);
        }
        let later: serde_json::Value = serde_json::from_str(FILTER).unwrap();
        assert_eq!(later["room"]["ephemeral"]["types"][1], "m.receipt");
        let first: serde_json::Value = serde_json::from_str(INITIAL_FILTER).unwrap();
        assert_eq!(first["room"]["ephemeral"]["not_types"][0], "*");
    }

    #[test]
    fn the_join_filter_keeps_one_event_and_no_receipts_of_the_room() {
        let join: serde_json::Value = serde_json::from_str(&join_filter("!r:hs")).unwrap();
        assert_eq!(join["room"]["timeline"]["limit"], 1);
        assert_eq!(join["room"]["ephemeral"]["not_rooms"][0], "!r:hs");
        assert_eq!(join["room"]["ephemeral"]["types"][1], "m.receipt");
        assert_eq!(join["room"]["state"]["lazy_load_members"], true);
    }
}
