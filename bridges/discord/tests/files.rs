//! Files from XMPP to Discord through the double: fetched from where the
//! user's client uploaded them and posted as real attachments (multipart,
//! `files[0]` and `payload_json`), through the webhook and through the
//! bot; Discord's size limit said to the user.

mod common;

use std::collections::BTreeMap;

use common::{join, logs, until};
use switchboard_bridge_api::download::Limits;
use switchboard_bridge_api::{
    Attachment, Bridge, Command, ErrorKind, Event, MessageKind, SessionHandle, Target,
};
use switchboard_discord_double::{self as double, Double};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An HTTP server on loopback that answers every GET with `body` (as an
/// XMPP upload service serves a file); its URL for `name`.
async fn file_server(body: Vec<u8>, name: &str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(&body).await;
            });
        }
    });
    format!("http://127.0.0.1:{port}/upload/abc/{name}")
}

/// Bytes no text encoding would keep as they are.
fn bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 + i / 7) as u8).collect()
}

/// A session of the bot whose files may come from loopback, the
/// operator's limit `max_bytes`; joined to `channel` as `nick`.
async fn joined(double: &Double, max_bytes: u64, channel: &str, nick: &str) -> SessionHandle {
    let mut login = common::login(BTreeMap::new());
    login.files = Limits {
        max_bytes,
        allow_private: true,
    };
    let mut s = common::bridge(double).start(login);
    join(&mut s, channel, nick).await;
    until(&mut s, |e| {
        matches!(e, Event::RoomJoined { .. }).then_some(())
    })
    .await;
    s
}

async fn send_file(s: &mut SessionHandle, channel: &str, text: &str, url: &str, token: &str) {
    send_file_to(s, Target::Room(channel.into()), text, url, token).await;
}

async fn send_file_to(s: &mut SessionHandle, target: Target, text: &str, url: &str, token: &str) {
    s.commands
        .send(Command::SendText {
            target,
            text: text.into(),
            kind: MessageKind::Normal,
            reply_to: None,
            attachments: vec![Attachment {
                url: url.into(),
                name: Some("report.bin".into()),
                media_type: Some("application/octet-stream".into()),
                size: None,
                needs_credentials: false,
                sha256: None,
            }],
            token: token.into(),
        })
        .await
        .unwrap();
}

/// Through the channel's webhook: one multipart request whose `files[0]`
/// holds the very bytes the user shared, named in `payload_json`'s
/// `attachments`, under the user's nick with their text; the echo is the
/// user's, with the attachment Discord made.
#[tokio::test]
async fn a_file_goes_to_discord_as_an_attachment_through_the_webhook() {
    logs();
    let double = Double::start().await.unwrap();
    let mut s = joined(&double, 20 << 20, double::GENERAL_ID, "alice").await;
    let data = bytes(300_000);
    let url = file_server(data.clone(), "report.bin").await;
    send_file(&mut s, double::GENERAL_ID, "the figures", &url, "f1").await;
    let echo = until(&mut s, |e| match e {
        Event::Message(m) if m.own => Some(m.clone()),
        Event::Error { text, .. } => panic!("{text}"),
        _ => None,
    })
    .await;
    assert_eq!(echo.token.as_deref(), Some("f1"));
    assert_eq!(echo.text, "the figures");
    assert_eq!(echo.attachments.len(), 1);
    assert_eq!(echo.attachments[0].name.as_deref(), Some("report.bin"));
    assert_eq!(echo.attachments[0].size, Some(300_000));
    let post = double
        .wait_request(|r| r.method == "POST" && r.path.contains("/webhooks/"))
        .await;
    assert_eq!(post.files.len(), 1, "{post:?}");
    assert_eq!(post.files[0].field, "files[0]");
    assert_eq!(post.files[0].filename, "report.bin");
    assert!(post.files[0].bytes == data, "the bytes arrive unchanged");
    assert_eq!(post.body["username"], "alice");
    assert_eq!(post.body["content"], "the figures");
    assert_eq!(post.body["attachments"][0]["id"], "0");
    assert_eq!(post.body["attachments"][0]["filename"], "report.bin");
}

/// Without webhooks, through the bot (nick in front), the same bytes.
#[tokio::test]
async fn a_file_goes_through_the_bot_without_webhooks() {
    logs();
    let double = Double::start().await.unwrap();
    double.forbid_webhooks(true);
    let mut s = joined(&double, 20 << 20, double::RANDOM_ID, "bob").await;
    let data = bytes(4096);
    let url = file_server(data.clone(), "report.bin").await;
    send_file(&mut s, double::RANDOM_ID, "", &url, "f2").await;
    let echo = until(&mut s, |e| match e {
        Event::Message(m) if m.own => Some(m.clone()),
        Event::Error { text, .. } => panic!("{text}"),
        _ => None,
    })
    .await;
    assert_eq!(echo.token.as_deref(), Some("f2"));
    assert_eq!(echo.attachments.len(), 1);
    let post = double
        .wait_request(|r| {
            r.method == "POST"
                && r.path
                    .ends_with(&format!("/channels/{}/messages", double::RANDOM_ID))
        })
        .await;
    assert_eq!(post.files.len(), 1);
    assert!(post.files[0].bytes == data, "the bytes arrive unchanged");
    assert_eq!(post.body["content"], "**bob**: ");
    assert_eq!(post.body["attachments"][0]["filename"], "report.bin");
}

/// A file over Discord's 10 MiB is refused with words saying the limit,
/// though the operator allows more; Discord is not asked.
#[tokio::test]
async fn a_file_over_discords_limit_is_refused_clearly() {
    logs();
    let double = Double::start().await.unwrap();
    let mut s = joined(&double, 50 << 20, double::GENERAL_ID, "alice").await;
    let url = file_server(vec![7; (10 << 20) + 1], "huge.bin").await;
    send_file(&mut s, double::GENERAL_ID, "", &url, "f3").await;
    let (kind, text) = until(&mut s, |e| match e {
        Event::Error { kind, text, .. } => Some((*kind, text.clone())),
        Event::Message(m) if m.own => panic!("sent: {m:?}"),
        _ => None,
    })
    .await;
    assert_eq!(kind, ErrorKind::TooLarge);
    assert_eq!(
        text,
        "report.bin is too large: files up to 10 MiB can be sent"
    );
    assert!(
        !double.requests().iter().any(|r| r.method == "POST"
            && (r.path.contains("/webhooks/") || r.path.ends_with("/messages"))),
        "nothing posted"
    );
}

/// To a person (a Discord DM, the contact's JID on XMPP): the DM channel
/// is opened and the file posted there by the bot, the very bytes, with
/// the text and no nick in front; the echo is the user's, in that
/// conversation, with the attachment.
#[tokio::test]
async fn a_file_goes_to_a_direct_message() {
    logs();
    let double = Double::start().await.unwrap();
    let mut s = joined(&double, 20 << 20, double::GENERAL_ID, "me").await;
    let data = bytes(70_000);
    let url = file_server(data.clone(), "report.bin").await;
    let alice = Target::User(double::ALICE_ID.into());
    send_file_to(&mut s, alice.clone(), "for you", &url, "f4").await;
    let echo = until(&mut s, |e| match e {
        Event::Message(m) if m.own => Some(m.clone()),
        Event::Error { text, .. } => panic!("{text}"),
        _ => None,
    })
    .await;
    assert_eq!(echo.target, alice);
    assert_eq!(echo.token.as_deref(), Some("f4"));
    assert_eq!(echo.text, "for you");
    assert_eq!(echo.attachments.len(), 1);
    assert_eq!(echo.attachments[0].size, Some(70_000));
    let dm = double::fixture::dm_channel_id(double::ALICE_ID);
    let post = double
        .wait_request(|r| {
            r.method == "POST" && r.path.ends_with(&format!("/channels/{dm}/messages"))
        })
        .await;
    assert_eq!(post.files.len(), 1);
    assert!(post.files[0].bytes == data, "the bytes arrive unchanged");
    assert_eq!(post.body["content"], "for you");
    assert_eq!(post.body["attachments"][0]["filename"], "report.bin");
}
