//! Every storage query, on SQLite and on a real PostgreSQL.

mod support;

use switchboard::store::{ArchiveRange, ArchivedMessage, Store, StoredRoom};

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

    // Id map, both directions, and its bound.
    for i in 0..30 {
        store
            .map_id(
                "alice@localhost",
                "irc",
                &format!("x{i}"),
                &format!("n{i}"),
                "#rust%x",
            )
            .await
            .unwrap();
    }
    assert_eq!(
        store
            .network_id("alice@localhost", "irc", "x7")
            .await
            .unwrap()
            .as_deref(),
        Some("n7")
    );
    assert_eq!(
        store
            .xmpp_id("alice@localhost", "irc", "n9")
            .await
            .unwrap()
            .as_deref(),
        Some("x9")
    );
    store
        .trim_id_map("alice@localhost", "irc", 10)
        .await
        .unwrap();
    assert_eq!(
        store.id_map_len("alice@localhost", "irc").await.unwrap(),
        10
    );
    assert_eq!(
        store
            .network_id("alice@localhost", "irc", "x0")
            .await
            .unwrap(),
        None
    );
    assert!(store
        .network_id("alice@localhost", "irc", "x29")
        .await
        .unwrap()
        .is_some());

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
    for (room, nick) in [("#z%x", "al"), ("#a%x", "alice"), ("#z%x", "al2")] {
        store
            .save_room("alice@localhost", "irc", room, nick)
            .await
            .unwrap();
    }
    store
        .save_room("alice@localhost", "discord", "123", "alice")
        .await
        .unwrap();
    store
        .save_room("bob@localhost", "irc", "#a%x", "bob")
        .await
        .unwrap();
    let rooms = store.stored_rooms("alice@localhost", "irc").await.unwrap();
    assert!(rooms.iter().all(|r| r.joined_at > 1_600_000_000));
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

#[tokio::test]
async fn sqlite_file_is_created_and_every_query_works() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sb.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let store = Store::connect(&url).await.unwrap();
    exercise(&store).await;
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
    store.close().await;
}
