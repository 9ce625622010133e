//! Files from the network through the XMPP server's upload service
//! (XEP-0363), end to end: Prosody with `mod_http_file_share`, the gateway
//! with the test network, a real XMPP client, and a loopback HTTP server
//! serving the network's files. A 2 MB image arrives as an upload URL that
//! the client fetches byte-identical, with XEP-0066 and XEP-0447 metadata
//! (its hash matching); a file that needs the network's credentials is
//! fetched by the bridge and uploaded the same way; a file over the limit is
//! a notice; without an upload service, a public URL is passed through and
//! one that needs credentials is a notice. The upload also goes through
//! ejabberd's `mod_http_upload`. The gateway must be built with
//! `cargo build --bin switchboard --features test-network`.

mod common;
#[path = "common/testnet.rs"]
mod harness;
#[path = "common/upload.rs"]
mod upload;
use upload::oob;

use common::room::body;
use harness::{contact_jid, file_server, from_network, join, lobby, occupant_jid, Testnet};
use switchboard_bridge_api::{Attachment, Command, Event, Target, UserId};
use tokio_xmpp::Stanza;
use upload::{get, pseudo_random, sfs, sha256};
use xmpp_parsers::message::{Message, MessageType};

fn attachment(url: String, name: &str, size: Option<u64>, needs_credentials: bool) -> Attachment {
    Attachment {
        url,
        name: Some(name.to_owned()),
        media_type: Some("image/png".to_owned()),
        size,
        needs_credentials,
        sha256: None,
    }
}

/// A network message with these files.
fn with_files(mut event: Event, files: Vec<Attachment>) -> Event {
    if let Event::Message(m) = &mut event {
        m.attachments = files;
    }
    event
}

/// The next groupchat message from bob in the lobby.
async fn from_bob_in_lobby(alice: &mut common::Client) -> Message {
    let bob = occupant_jid("lobby", "bob");
    alice
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.type_ == MessageType::Groupchat && m.from.as_ref() == Some(&bob) =>
            {
                Some(m.clone())
            }
            _ => None,
        })
        .await
}

/// The next chat message from bob.
async fn from_bob_directly(alice: &mut common::Client) -> Message {
    let from = contact_jid("bob");
    alice
        .wait_for(|s| match s {
            Stanza::Message(m)
                if m.type_ == MessageType::Chat && m.from.as_ref() == Some(&from) =>
            {
                Some(m.clone())
            }
            _ => None,
        })
        .await
}

/// Prosody's upload service is found by the gateway (no JID in its
/// config): a 2 MB image alone in a room message reaches the client as an
/// upload URL on Prosody, the whole body, with OOB and XEP-0447 metadata
/// whose hash is that of the bytes the client fetches, which are the
/// network's own; a direct message's file that needs the network's
/// credentials (the bridge fetches it) is uploaded the same way after the
/// text; a file over the gateway's limit is a notice naming it, its size
/// and the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_files_are_uploaded_to_the_xmpp_server() {
    let image = pseudo_random(2 * 1024 * 1024, 7);
    let private = pseudo_random(300 * 1024, 11);
    let (port, _) = file_server(vec![
        ("/photo.png", image.clone()),
        ("/private/scan.png", private.clone()),
    ])
    .await;
    let limit = 5 * 1024 * 1024;
    let mut net = Testnet::start_with(
        Some(10 * 1024 * 1024),
        &format!("[files]\nmax_file_size = {limit}\nallow_private_addresses = true\n"),
    )
    .await;
    let mut alice = net.user("alice").await;
    join(&mut alice, "lobby", "alice").await;
    let joined = net.control.next_command("alice").await;
    assert!(matches!(joined, Command::Join { .. }), "{joined:?}");

    let photo_url = format!("http://127.0.0.1:{port}/photo.png");
    let photo = attachment(photo_url.clone(), "photo.png", None, false);
    net.control
        .inject(
            "alice",
            with_files(from_network("u-1", lobby(), "bob", ""), vec![photo]),
        )
        .await;
    let m = from_bob_in_lobby(&mut alice).await;
    let url = body(&m);
    let http_port = net.prosody.http_port.unwrap();
    assert!(
        url.starts_with(&format!("http://127.0.0.1:{http_port}/")) && url != photo_url,
        "not an upload URL: {url}"
    );
    assert_eq!(oob(&m), [(url.clone(), Some("photo.png".to_owned()))]);
    let fetched = get(&url).await;
    assert!(
        fetched == image,
        "the upload differs from the network's file"
    );
    assert_eq!(
        sfs(&m),
        [(
            "photo.png".to_owned(),
            "image/png".to_owned(),
            image.len().to_string(),
            sha256(&fetched),
            url.clone(),
        )]
    );

    // A file that needs the network's credentials: the bridge fetches it.
    let scan = attachment(
        format!("http://127.0.0.1:{port}/private/scan.png"),
        "scan.png",
        None,
        true,
    );
    let dm = from_network("u-2", Target::User(UserId::from("bob")), "bob", "the scan");
    net.control
        .inject("alice", with_files(dm, vec![scan]))
        .await;
    let m = from_bob_directly(&mut alice).await;
    let text = body(&m);
    let (words, url) = text.split_once('\n').expect("text, then the URL");
    assert_eq!(words, "the scan");
    assert!(
        url.starts_with(&format!("http://127.0.0.1:{http_port}/")),
        "{url}"
    );
    assert!(
        get(url).await == private,
        "the upload differs from the network's file"
    );
    assert_eq!(sfs(&m)[0].3, sha256(&private));

    // Over the gateway's limit: a notice, no file.
    let huge = attachment(
        format!("http://127.0.0.1:{port}/huge.png"),
        "huge.png",
        Some(6 * 1024 * 1024),
        false,
    );
    net.control
        .inject(
            "alice",
            with_files(from_network("u-3", lobby(), "bob", ""), vec![huge]),
        )
        .await;
    let m = from_bob_in_lobby(&mut alice).await;
    assert_eq!(
        body(&m),
        "[file huge.png (6 MB) not shown: it is over the 5 MB limit for files]"
    );
    assert!(oob(&m).is_empty() && sfs(&m).is_empty(), "{m:?}");
}

/// No upload service on the server: a public network URL is passed through
/// as it is (body and OOB, no XEP-0447), and a file that needs the
/// network's credentials is a line naming it, never dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_upload_service_public_urls_pass_through() {
    let mut net = Testnet::start().await;
    let mut alice = net.user("alice").await;
    join(&mut alice, "lobby", "alice").await;
    let joined = net.control.next_command("alice").await;
    assert!(matches!(joined, Command::Join { .. }), "{joined:?}");
    let public = "https://cdn.example/a/photo.png".to_owned();
    let files = vec![
        attachment(public.clone(), "photo.png", Some(2048), false),
        attachment(
            "https://hs.example/media/secret".into(),
            "secret.png",
            Some(3 * 1024 * 1024),
            true,
        ),
    ];
    net.control
        .inject(
            "alice",
            with_files(from_network("p-1", lobby(), "bob", "look"), files),
        )
        .await;
    let m = from_bob_in_lobby(&mut alice).await;
    assert_eq!(
        body(&m),
        format!("look\n[file secret.png (3 MB) could not be shown here]\n{public}")
    );
    assert_eq!(oob(&m), [(public, Some("photo.png".to_owned()))]);
    assert!(sfs(&m).is_empty());
}

/// The network's own `upload_service` names Prosody's (no discovery), and
/// the service's own limit (1 MB, from its disco#info) is below the
/// gateway's: a 512 kB file is uploaded, a 2 MB one whose size the network
/// did not give is a notice with the service's limit (refused at its
/// Content-Length, the body unread). `[files] upload_service = "none"` is checked in the next test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_service_and_its_own_limit() {
    let small = pseudo_random(512 * 1024, 3);
    let big = pseudo_random(2 * 1024 * 1024, 5);
    let (port, _) = file_server(vec![("/small.png", small.clone()), ("/big.png", big)]).await;
    let mut net = Testnet::start_with(
        Some(1024 * 1024),
        "upload_service = \"upload.localhost\"\n[files]\nallow_private_addresses = true\n",
    )
    .await;
    let mut alice = net.user("alice").await;
    join(&mut alice, "lobby", "alice").await;
    net.control.next_command("alice").await;
    let files = vec![
        attachment(
            format!("http://127.0.0.1:{port}/small.png"),
            "small.png",
            None,
            false,
        ),
        attachment(
            format!("http://127.0.0.1:{port}/big.png"),
            "big.png",
            None,
            false,
        ),
    ];
    net.control
        .inject(
            "alice",
            with_files(from_network("c-1", lobby(), "bob", ""), files),
        )
        .await;
    let m = from_bob_in_lobby(&mut alice).await;
    let text = body(&m);
    let (notice, url) = text.split_once('\n').expect("a notice, then the URL");
    assert_eq!(
        notice,
        "[file big.png not shown: it is over the 1 MB limit for files]"
    );
    let http_port = net.prosody.http_port.unwrap();
    assert!(
        url.starts_with(&format!("http://127.0.0.1:{http_port}/")),
        "{url}"
    );
    assert!(
        get(url).await == small,
        "the upload differs from the network's file"
    );
    assert_eq!(sfs(&m).len(), 1);
    let log = net.gateway.log();
    assert!(log.contains("XEP-0363 upload service"), "{log}");
}

/// `[files] upload_service = "none"` with an upload service on the server:
/// the network's URL is passed through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_switched_off_pass_urls_through() {
    let mut net =
        Testnet::start_with(Some(1024 * 1024), "[files]\nupload_service = \"none\"\n").await;
    let mut alice = net.user("alice").await;
    join(&mut alice, "lobby", "alice").await;
    net.control.next_command("alice").await;
    let public = "https://cdn.example/a/photo.png".to_owned();
    let files = vec![attachment(public.clone(), "photo.png", None, false)];
    net.control
        .inject(
            "alice",
            with_files(from_network("n-1", lobby(), "bob", ""), files),
        )
        .await;
    let m = from_bob_in_lobby(&mut alice).await;
    assert_eq!(body(&m), public);
    assert_eq!(oob(&m), [(public, Some("photo.png".to_owned()))]);
}

/// The same upload through ejabberd 23.01's `mod_http_upload` (found by
/// discovery on ejabberd too; its access rule opened to the component, see
/// `Ejabberd::start_with_upload`): the client fetches the 2 MB image
/// byte-identical from ejabberd's HTTP listener, with the hash in its
/// XEP-0447 metadata.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_ejabberd_too() {
    use common::support::ejabberd::{Ejabberd, DOMAIN};
    let image = pseudo_random(2 * 1024 * 1024, 13);
    let (port, _) = file_server(vec![("/photo.png", image.clone())]).await;
    let secret = "testnet-secret";
    let (ejabberd, http_port) =
        Ejabberd::start_with_upload(&[(harness::TESTNET, secret)], 10 * 1024 * 1024);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = format!(
        "[xmpp]\nserver = \"127.0.0.1:{}\"\n[users]\nallowed_domains = [\"{DOMAIN}\"]\n\
         [files]\nallow_private_addresses = true\n\
         [networks.testnet]\njid = \"{}\"\nsecret = \"{secret}\"\n\
         [networks.testnet.settings]\ncontrol = \"{}\"\n",
        ejabberd.component_port,
        harness::TESTNET,
        listener.local_addr().unwrap(),
    );
    let _gateway = harness::Gateway::start(&config);
    let mut control = harness::Control::new(listener);
    ejabberd.register("alice", DOMAIN, "pass");
    let mut alice =
        common::Client::login(&format!("alice@{DOMAIN}"), "pass", ejabberd.c2s_port).await;
    alice
        .register_by_chat(harness::TESTNET, "username=alice")
        .await;
    control.started("alice").await;
    join(&mut alice, "lobby", "alice").await;
    let joined = control.next_command("alice").await;
    assert!(matches!(joined, Command::Join { .. }), "{joined:?}");
    let photo = attachment(
        format!("http://127.0.0.1:{port}/photo.png"),
        "photo.png",
        None,
        false,
    );
    control
        .inject(
            "alice",
            with_files(from_network("e-1", lobby(), "bob", ""), vec![photo]),
        )
        .await;
    let m = from_bob_in_lobby(&mut alice).await;
    let url = body(&m);
    assert!(
        url.starts_with(&format!("http://127.0.0.1:{http_port}/upload/")),
        "not an upload URL: {url}\n{}",
        ejabberd.log()
    );
    let fetched = get(&url).await;
    assert!(
        fetched == image,
        "the upload differs from the network's file"
    );
    assert_eq!(sfs(&m)[0].3, sha256(&image));
    assert_eq!(oob(&m), [(url, Some("photo.png".to_owned()))]);
}

/// A correction the network sends right after a file message waits for
/// that message's upload: the client sees the file message first, then
/// the correction naming its id; a plain message meanwhile is not held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correction_after_a_file_comes_after_it() {
    let image = pseudo_random(2 * 1024 * 1024, 17);
    let (port, _) = file_server(vec![("/photo.png", image)]).await;
    let mut net = Testnet::start_with(
        Some(10 * 1024 * 1024),
        "[files]\nallow_private_addresses = true\n",
    )
    .await;
    let mut alice = net.user("alice").await;
    join(&mut alice, "lobby", "alice").await;
    net.control.next_command("alice").await;
    let photo = attachment(
        format!("http://127.0.0.1:{port}/photo.png"),
        "photo.png",
        None,
        false,
    );
    net.control
        .inject(
            "alice",
            with_files(from_network("o-1", lobby(), "bob", ""), vec![photo]),
        )
        .await;
    net.control
        .inject("alice", from_network("o-2", lobby(), "bob", "meanwhile"))
        .await;
    let correction = Event::Edited {
        target: lobby(),
        message: "o-1".into(),
        author: UserId::from("bob"),
        author_nick: "bob".into(),
        text: "a photo".into(),
    };
    net.control.inject("alice", correction).await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(from_bob_in_lobby(&mut alice).await);
    }
    let replaces = |m: &Message| {
        m.payloads
            .iter()
            .find(|p| p.is("replace", "urn:xmpp:message-correct:0"))
            .and_then(|p| p.attr("id"))
            .map(str::to_owned)
    };
    assert_eq!(body(&seen[0]), "meanwhile", "a plain message is not held");
    assert_eq!(
        oob(&seen[1]).len(),
        1,
        "the file message second: {:?}",
        seen[1]
    );
    assert_eq!(seen[1].id.as_ref().map(|i| i.0.as_str()), Some("o-1"));
    assert_eq!(body(&seen[2]), "a photo");
    assert_eq!(replaces(&seen[2]).as_deref(), Some("o-1"));
}
