//! Every storage query, on SQLite and on a real PostgreSQL.

mod support;

use switchboard::archive::{Archive, ArchivePolicy};
use switchboard::store::{
    ArchiveRange, ArchivedMessage, IdMapping, MappedId, OwnAvatar, Store, StoredAvatar,
    StoredContact, StoredRoom,
};

/// `count` messages of alice's in `room`, with seqs after `seq` and bodies `{body}{i}`.
fn messages(room: &str, count: i64, seq: i64, body: &str) -> Vec<ArchivedMessage> {
    (1..=count)
        .map(|i| ArchivedMessage {
            user: "alice@localhost".into(),
            network: "irc".into(),
            room: room.into(),
            seq: seq + i,
            ts: 1_000_000 * i,
            nick: format!("n{i}"),
            body: format!("{body}{i}"),
            xmpp_id: Some(format!("x{i}")),
            origin_id: (i % 2 == 0).then(|| format!("o{i}")),
            network_id: Some(format!("{room}/net{i}")),
            author_id: Some(format!("n{i}%irc.x")),
            extra: (i % 3 == 0).then(|| format!("{{\"edits\":[{i}]}}")),
        })
        .collect()
}

async fn exercise(store: &Store) {
    // Registrations: save, replace, list, delete.
    store
        .save_registration("alice@localhost", "irc", "sealed-1")
        .await
        .unwrap();
    store
        .save_registration("alice@localhost", "irc", "sealed-2")
        .await
        .unwrap();
    store
        .save_registration("bob@localhost", "irc", "sealed-b")
        .await
        .unwrap();
    store
        .save_registration("alice@localhost", "discord", "sealed-d")
        .await
        .unwrap();
    assert_eq!(
        store
            .registration("alice@localhost", "irc")
            .await
            .unwrap()
            .as_deref(),
        Some("sealed-2")
    );
    let users: Vec<String> = store
        .registrations("irc")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.user)
        .collect();
    assert_eq!(users.len(), 2);
    assert!(users.contains(&"bob@localhost".to_owned()));

    // Settings and state.
    store
        .set_setting("alice@localhost", "irc", "", "nick", "alice")
        .await
        .unwrap();
    store
        .set_setting("alice@localhost", "irc", "", "nick", "alice2")
        .await
        .unwrap();
    store
        .set_setting("alice@localhost", "irc", "#rust%x", "archive", "off")
        .await
        .unwrap();
    store
        .set_setting("alice@localhost", "irc", "server:irc.x", "sealed", "v1")
        .await
        .unwrap();
    let under = store
        .settings_under("alice@localhost", "irc", "server:")
        .await
        .unwrap();
    assert_eq!(
        under,
        [(
            "server:irc.x".to_owned(),
            "sealed".to_owned(),
            "v1".to_owned()
        )]
    );
    let s = store.settings("alice@localhost", "irc", "").await.unwrap();
    assert_eq!(s.get("nick").map(String::as_str), Some("alice2"));
    assert_eq!(s.len(), 1);
    // Rows per user count every scope (the per-user limit reads it).
    assert_eq!(
        store
            .count_settings("alice@localhost", "irc")
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        store.count_settings("bob@localhost", "irc").await.unwrap(),
        0
    );
    store
        .save_state("alice@localhost", "irc", "since", "s1")
        .await
        .unwrap();
    store
        .save_state("alice@localhost", "irc", "since", "s2")
        .await
        .unwrap();
    assert_eq!(
        store
            .state("alice@localhost", "irc")
            .await
            .unwrap()
            .get("since")
            .map(String::as_str),
        Some("s2")
    );

    // Id map: parts in order, both directions, scoped to the conversation.
    exercise_id_map(store).await;
    exercise_rich(store).await;

    // Archive: batch insert, ranges, paging from the newest, retention.
    let batch = messages("#rust%x", 30, 1000, "m");
    store.archive(&batch).await.unwrap();
    // A batch the size of no one statement: every row, in order, intact.
    let big = messages("#big%x", 150, 5000, "b ünïcode ");
    store.archive(&big).await.unwrap();
    let back = store
        .archived(
            "alice@localhost",
            "irc",
            "#big%x",
            &ArchiveRange::default(),
            500,
        )
        .await
        .unwrap();
    assert_eq!(back, big, "150 rows in chunks of 64, 8 and 1");
    let all = |r: ArchiveRange, n| {
        let store = store.clone();
        async move {
            store
                .archived("alice@localhost", "irc", "#rust%x", &r, n)
                .await
                .unwrap()
                .into_iter()
                .map(|m| m.seq)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(all(ArchiveRange::default(), 3).await, [1001, 1002, 1003]);
    let after = ArchiveRange {
        after: Some(1003),
        ..Default::default()
    };
    assert_eq!(all(after, 2).await, [1004, 1005]);
    let last = ArchiveRange {
        newest: true,
        ..Default::default()
    };
    assert_eq!(
        all(last, 3).await,
        [1028, 1029, 1030],
        "newest page, oldest first"
    );
    let before = ArchiveRange {
        newest: true,
        before: Some(1028),
        ..Default::default()
    };
    assert_eq!(all(before, 2).await, [1026, 1027]);
    let since = ArchiveRange {
        since: Some(29_000_000),
        ..Default::default()
    };
    assert_eq!(all(since, 10).await, [1029, 1030]);
    // A message by the network's id: scoped to the user, network and room.
    let found = store
        .archived_by_network_id("alice@localhost", "irc", "#rust%x", "#rust%x/net12")
        .await
        .unwrap();
    assert_eq!(
        found.as_ref(),
        batch.get(11),
        "the 12th message, every column"
    );
    let found = found.unwrap();
    assert_eq!(
        (found.author_id.as_deref(), found.extra.as_deref()),
        (Some("n12%irc.x"), Some("{\"edits\":[12]}"))
    );
    for (user, room, id) in [
        ("alice@localhost", "#big%x", "#rust%x/net12"),
        ("bob@localhost", "#rust%x", "#rust%x/net12"),
        ("alice@localhost", "#rust%x", "#rust%x/net999"),
    ] {
        assert_eq!(
            store
                .archived_by_network_id(user, "irc", room, id)
                .await
                .unwrap(),
            None,
            "{user} {room} {id}"
        );
    }
    let rooms = [(
        "alice@localhost".to_owned(),
        "irc".to_owned(),
        "#rust%x".to_owned(),
    )];
    store.trim_archive(5_000_000, 20, &rooms).await.unwrap();
    let kept = all(ArchiveRange::default(), 100).await;
    assert_eq!(kept.len(), 20, "bounded to 20: {kept:?}");
    assert_eq!(kept[0], 1011);

    // Rooms: stored with a nick (a new nick replaces it, the join time
    // stays), listed by room id, forgotten one at a time.
    let room_names = |rooms: Vec<StoredRoom>| -> Vec<(String, String)> {
        rooms.into_iter().map(|r| (r.room, r.nick)).collect()
    };
    // The password (sealed by the caller) follows the latest join.
    for (room, nick, key) in [
        ("#z%x", "al", Some("sealed-1")),
        ("#a%x", "alice", None),
        ("#z%x", "al2", Some("sealed-2")),
    ] {
        store
            .save_room("alice@localhost", "irc", room, nick, key)
            .await
            .unwrap();
    }
    store
        .save_room("alice@localhost", "discord", "123", "alice", None)
        .await
        .unwrap();
    store
        .save_room("bob@localhost", "irc", "#a%x", "bob", None)
        .await
        .unwrap();
    let rooms = store.stored_rooms("alice@localhost", "irc").await.unwrap();
    assert!(rooms.iter().all(|r| r.joined_at > 1_600_000_000));
    let keys: Vec<Option<&str>> = rooms.iter().map(|r| r.sealed_password.as_deref()).collect();
    assert_eq!(keys, [None, Some("sealed-2")]);
    assert_eq!(
        room_names(rooms),
        [
            ("#a%x".to_owned(), "alice".to_owned()),
            ("#z%x".to_owned(), "al2".to_owned())
        ]
    );
    assert!(store
        .forget_room("alice@localhost", "irc", "#z%x")
        .await
        .unwrap());
    assert!(!store
        .forget_room("alice@localhost", "irc", "#z%x")
        .await
        .unwrap());
    assert_eq!(
        room_names(store.stored_rooms("alice@localhost", "irc").await.unwrap()),
        [("#a%x".to_owned(), "alice".to_owned())]
    );

    // Contacts: saved, renamed in place, listed by id within the limit.
    let contact = |id: &str, name: &str, in_roster| StoredContact {
        contact: id.into(),
        name: name.into(),
        in_roster,
    };
    for c in [
        contact("bob", "Bob", true),
        contact("@Carol:hs", "Carol", false),
        contact("bob", "Bob Builder", false),
    ] {
        store
            .save_contact("alice@localhost", "irc", &c)
            .await
            .unwrap();
    }
    store
        .save_contact("alice@localhost", "discord", &contact("dave", "Dave", true))
        .await
        .unwrap();
    assert_eq!(
        store.contacts("alice@localhost", "irc", 10).await.unwrap(),
        [
            contact("@Carol:hs", "Carol", false),
            contact("bob", "Bob Builder", false)
        ]
    );
    assert_eq!(
        store
            .contacts("alice@localhost", "irc", 1)
            .await
            .unwrap()
            .len(),
        1
    );

    // Contacts' pictures: saved, replaced, forgotten, listed by id within
    // the limit; every byte value comes back as it went in.
    let picture = |id: &str, url: &str, seed: u8| StoredAvatar {
        contact: id.into(),
        url: url.into(),
        bytes: (0..=255u8).cycle().skip(seed.into()).take(3000).collect(),
    };
    for a in [
        picture("bob", "http://x/bob.png", 0),
        picture("@Carol:hs", "http://x/carol.png", 1),
        picture("erin", "http://x/erin.png", 2),
        picture("bob", "http://x/bob2.png", 3),
    ] {
        store
            .save_contact_avatar("alice@localhost", "irc", &a)
            .await
            .unwrap();
    }
    store
        .delete_contact_avatar("alice@localhost", "irc", "erin")
        .await
        .unwrap();
    store
        .save_contact_avatar(
            "alice@localhost",
            "discord",
            &picture("dave", "http://x/dave.png", 4),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .contact_avatars("alice@localhost", "irc", 10)
            .await
            .unwrap(),
        [
            picture("@Carol:hs", "http://x/carol.png", 1),
            picture("bob", "http://x/bob2.png", 3)
        ]
    );
    assert_eq!(
        store
            .contact_avatars("alice@localhost", "irc", 1)
            .await
            .unwrap()
            .len(),
        1
    );

    // The user's own published picture: one per network, replaced.
    let own = |hash: &str, at: i64| OwnAvatar {
        hash: hash.into(),
        url: format!("http://up/{hash}.png"),
        uploaded_at: at,
    };
    assert_eq!(
        store.own_avatar("alice@localhost", "irc").await.unwrap(),
        None
    );
    for (network, picture) in [
        ("irc", own("aa", 1)),
        ("irc", own("bb", 1_800_000_000)),
        ("discord", own("cc", 3)),
    ] {
        store
            .save_own_avatar("alice@localhost", network, &picture)
            .await
            .unwrap();
    }
    assert_eq!(
        store.own_avatar("alice@localhost", "irc").await.unwrap(),
        Some(own("bb", 1_800_000_000))
    );

    // Deleting a registration removes what belongs to it, nothing else.
    assert!(store
        .delete_registration("alice@localhost", "irc")
        .await
        .unwrap());
    assert!(!store
        .delete_registration("alice@localhost", "irc")
        .await
        .unwrap());
    assert_eq!(
        store.registration("alice@localhost", "irc").await.unwrap(),
        None
    );
    assert!(store
        .settings("alice@localhost", "irc", "")
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.id_map_len("alice@localhost", "irc").await.unwrap(), 0);
    assert!(store
        .archived(
            "alice@localhost",
            "irc",
            "#rust%x",
            &ArchiveRange::default(),
            10
        )
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .stored_rooms("alice@localhost", "irc")
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        room_names(store.stored_rooms("bob@localhost", "irc").await.unwrap()),
        [("#a%x".to_owned(), "bob".to_owned())]
    );
    assert_eq!(
        store
            .stored_rooms("alice@localhost", "discord")
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(store
        .contacts("alice@localhost", "irc", 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .contacts("alice@localhost", "discord", 10)
            .await
            .unwrap(),
        [contact("dave", "Dave", true)]
    );
    assert!(store
        .contact_avatars("alice@localhost", "irc", 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .contact_avatars("alice@localhost", "discord", 10)
            .await
            .unwrap(),
        [picture("dave", "http://x/dave.png", 4)]
    );
    assert_eq!(
        store.own_avatar("alice@localhost", "irc").await.unwrap(),
        None
    );
    assert_eq!(
        store
            .own_avatar("alice@localhost", "discord")
            .await
            .unwrap(),
        Some(own("cc", 3))
    );
    assert!(store
        .registration("alice@localhost", "discord")
        .await
        .unwrap()
        .is_some());
    assert!(store
        .registration("bob@localhost", "irc")
        .await
        .unwrap()
        .is_some());
}

fn mapping(conversation: &str, xmpp_id: &str, part: i64, network_id: &str, seq: i64) -> IdMapping {
    IdMapping {
        user: "alice@localhost".into(),
        network: "irc".into(),
        conversation: conversation.into(),
        xmpp_id: xmpp_id.into(),
        part,
        network_id: network_id.into(),
        stanza_id: Some(seq + 1000),
        seq,
    }
}

async fn exercise_id_map(store: &Store) {
    let (user, room, contact) = ("alice@localhost", "#rust%x", "bob%x");
    // Two parts given out of order, and the same client id in a direct
    // conversation: two different messages.
    store
        .map_ids(&[
            mapping(room, "c1", 1, "n1b", 1),
            mapping(room, "c1", 0, "n1a", 1),
            mapping(contact, "c1", 0, "d1", 2),
        ])
        .await
        .unwrap();
    assert_eq!(
        store.network_ids(user, "irc", room, "c1").await.unwrap(),
        ["n1a", "n1b"],
        "parts in order"
    );
    assert_eq!(
        store.network_ids(user, "irc", contact, "c1").await.unwrap(),
        ["d1"]
    );
    assert_eq!(
        store.xmpp_id(user, "irc", room, "n1b").await.unwrap(),
        Some(MappedId {
            xmpp_id: "c1".into(),
            stanza_id: Some(1001),
            part: 1
        })
    );
    // Scoped: the room's network id means nothing in another conversation,
    // nor for another user.
    assert_eq!(
        store.xmpp_id(user, "irc", contact, "n1b").await.unwrap(),
        None
    );
    assert_eq!(
        store
            .xmpp_id("bob@localhost", "irc", room, "n1b")
            .await
            .unwrap(),
        None
    );
    // A key twice in one batch (a client reusing an id): the last counts.
    store
        .map_ids(&[
            mapping(room, "c2", 0, "old", 3),
            mapping(room, "c2", 0, "new", 4),
        ])
        .await
        .unwrap();
    assert_eq!(
        store.network_ids(user, "irc", room, "c2").await.unwrap(),
        ["new"]
    );
    // 150 messages of two parts each, in chunks of 64, 8 and 1 rows.
    let many: Vec<IdMapping> = (10..160)
        .flat_map(|i| {
            [0, 1].map(|part| mapping(room, &format!("m{i}"), part, &format!("n{i}.{part}"), i))
        })
        .collect();
    store.map_ids(&many).await.unwrap();
    assert_eq!(store.id_map_len(user, "irc").await.unwrap(), 3 + 1 + 300);
    // Bounded: the oldest go, a message's parts together.
    store.trim_id_map(user, "irc", 20).await.unwrap();
    assert_eq!(store.id_map_len(user, "irc").await.unwrap(), 20);
    assert_eq!(
        store.network_ids(user, "irc", room, "m150").await.unwrap(),
        ["n150.0", "n150.1"]
    );
    assert!(store
        .network_ids(user, "irc", room, "m149")
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.xmpp_id(user, "irc", room, "n1a").await.unwrap(), None);
}

/// Corrections, retractions and reactions: a message named by the
/// gateway's stanza-id (the id map, the archive), and a tombstone.
async fn exercise_rich(store: &Store) {
    let (user, room, contact) = ("alice@localhost", "#rich%x", "carol%x");
    store
        .map_ids(&[
            mapping(room, "c9", 1, "r9b", 9),
            mapping(room, "c9", 0, "r9a", 9),
            mapping(contact, "c9", 0, "d9", 9),
        ])
        .await
        .unwrap();
    assert_eq!(
        store
            .network_ids_by_stanza_id(user, "irc", room, 1009)
            .await
            .unwrap(),
        ["r9a", "r9b"],
        "parts in order"
    );
    assert!(store
        .network_ids_by_stanza_id(user, "irc", room, 1010)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .network_ids_by_stanza_id("bob@localhost", "irc", room, 1009)
        .await
        .unwrap()
        .is_empty());
    store.archive(&messages(room, 3, 5000, "r")).await.unwrap();
    assert_eq!(
        store
            .archived_network_id(user, "irc", room, 5002)
            .await
            .unwrap()
            .as_deref(),
        Some("#rich%x/net2")
    );
    assert_eq!(
        store
            .archived_network_id(user, "irc", "#other%x", 5002)
            .await
            .unwrap(),
        None
    );
    store
        .tombstone(user, "irc", room, 5002, "retracted\n7")
        .await
        .unwrap();
    let rows = store
        .archived(user, "irc", room, &ArchiveRange::default(), 10)
        .await
        .unwrap();
    let kept: Vec<(&str, Option<&str>)> = rows
        .iter()
        .map(|m| (m.body.as_str(), m.extra.as_deref()))
        .collect();
    assert_eq!(
        kept,
        [
            ("r1", None),
            ("", Some("retracted\n7")),
            ("r3", Some("{\"edits\":[3]}"))
        ],
        "only that row lost its text"
    );
}

/// The writer queues id mappings like archive rows, writes them with the
/// archive off too, bounds each user's, and a flush waits for them.
async fn exercise_writer(store: &Store) {
    let policy = ArchivePolicy {
        enabled: false,
        max_days: 30,
        max_messages: 100,
    };
    let (writer, task) = Archive::start_bounded(store.clone(), policy, 100);
    for i in 0..1500 {
        writer
            .map_sent(
                "carol@localhost",
                "irc",
                "#w%x",
                &format!("c{i}"),
                Some(i),
                [format!("p{i}.0"), format!("p{i}.1")],
            )
            .await;
    }
    writer.flush().await;
    let kept = store.id_map_len("carol@localhost", "irc").await.unwrap();
    // Bounded every 1,024 entries written: at most the limit and that many.
    assert!(kept <= 200 + 1024, "{kept} entries kept");
    assert_eq!(
        store
            .network_ids("carol@localhost", "irc", "#w%x", "c1499")
            .await
            .unwrap(),
        ["p1499.0", "p1499.1"]
    );
    assert_eq!(
        store
            .xmpp_id("carol@localhost", "irc", "#w%x", "p1499.1")
            .await
            .unwrap()
            .map(|m| (m.xmpp_id, m.stanza_id, m.part)),
        Some(("c1499".to_owned(), Some(1499), 1))
    );
    assert!(store
        .network_ids("carol@localhost", "irc", "#w%x", "c0")
        .await
        .unwrap()
        .is_empty());
    drop(writer);
    task.await.unwrap();
}

/// A database made before 0005 (with archive rows and the old id map)
/// migrates: old rows read back with no network id, the new columns and the
/// conversation-scoped id map work.
async fn upgrade_from_before_0005(url: &str) {
    let old = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.as_str() < "0005" {
            std::fs::copy(&path, old.path().join(&name)).unwrap();
        }
    }
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    sqlx::migrate::Migrator::new(old.path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO archive (user_jid, network, room, seq, ts, nick, body, xmpp_id, origin_id)
         VALUES ('dave@localhost', 'irc', '#old%x', 7, 7, 'n', 'before', 'x7', NULL)",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO id_map (user_jid, network, xmpp_id, network_id, conversation, seq)
         VALUES ('dave@localhost', 'irc', 'x', 'n', '#old%x', 1)",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let store = Store::connect(url).await.unwrap();
    let back = store
        .archived(
            "dave@localhost",
            "irc",
            "#old%x",
            &ArchiveRange::default(),
            10,
        )
        .await
        .unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].body, "before");
    assert_eq!(back[0].xmpp_id.as_deref(), Some("x7"));
    assert_eq!(
        (&back[0].network_id, &back[0].author_id, &back[0].extra),
        (&None, &None, &None)
    );
    assert_eq!(store.id_map_len("dave@localhost", "irc").await.unwrap(), 0);
    exercise(&store).await;
    store.close().await;
}

#[tokio::test]
async fn sqlite_database_from_before_0005_migrates() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("old.db").display());
    upgrade_from_before_0005(&url).await;
}

#[tokio::test]
async fn postgres_database_from_before_0005_migrates() {
    let Some(pg) = support::postgres::Postgres::start() else {
        panic!("PostgreSQL is not installed: run scripts/install-test-deps");
    };
    upgrade_from_before_0005(&pg.url).await;
}

#[tokio::test]
async fn sqlite_file_is_created_and_every_query_works() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sb.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let store = Store::connect(&url).await.unwrap();
    exercise(&store).await;
    exercise_writer(&store).await;
    store.close().await;
    assert!(path.exists());
    // Reopening keeps the data and does not migrate twice.
    let store = Store::connect(&url).await.unwrap();
    assert!(store
        .registration("bob@localhost", "irc")
        .await
        .unwrap()
        .is_some());
}

#[cfg(unix)]
#[tokio::test]
async fn sqlite_files_are_private_to_the_owner() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    // A folder Switchboard has to make, as well as the file.
    let path = dir.path().join("state").join("sb.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let store = Store::connect(&url).await.unwrap();
    exercise(&store).await;
    for file in ["sb.db", "sb.db-wal", "sb.db-shm"] {
        let file = path.with_file_name(file);
        assert!(file.exists(), "{} missing", file.display());
        assert_eq!(
            mode(&file) & 0o077,
            0,
            "{} is {:o}: readable by others",
            file.display(),
            mode(&file)
        );
    }
    assert_eq!(
        mode(path.parent().unwrap()) & 0o077,
        0,
        "folder open to others"
    );
    store.close().await;
}

#[tokio::test]
async fn postgres_every_query_works() {
    let Some(pg) = support::postgres::Postgres::start() else {
        panic!("PostgreSQL is not installed: run scripts/install-test-deps");
    };
    let store = Store::connect(&pg.url).await.unwrap();
    exercise(&store).await;
    exercise_writer(&store).await;
    store.close().await;
}
