//! The component link's unit tests: the writer's batches, oversized
//! stanzas, reading items.

use super::*;
use tokio::io::AsyncReadExt;
use xmpp_parsers::message::{Lang, Message};

#[tokio::test]
async fn no_stanza_over_the_limit_is_written() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut writer = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (mut reader, _) = listener.accept().await.unwrap();
    let to: Jid = "alice@localhost/x".parse().unwrap();
    let from: Jid = "irc.localhost".parse().unwrap();
    let big = Message::chat(Some(to.clone())).with_body(Lang::new(), "x".repeat(10_000));
    let list = Iq::Result {
        from: Some(from.clone()),
        to: Some(to.clone()),
        id: "list-1".into(),
        payload: Some(
            Element::builder("query", "http://jabber.org/protocol/disco#items")
                .append(Element::builder("x", "urn:example").append("y".repeat(10_000)))
                .build(),
        ),
    };
    let small = Message::chat(Some(to)).with_body(Lang::new(), "fits".into());
    let (_tx, mut outbox) = mpsc::channel(4);
    let mut unsent = vec![big.into(), list.into(), small.into()];
    let mut buf = String::new();
    write_batch(&mut writer, &mut buf, None, &mut outbox, &mut unsent, 4096)
        .await
        .unwrap();
    drop(writer);
    let mut written = String::new();
    reader.read_to_string(&mut written).await.unwrap();
    assert!(!written.contains("xxxx"), "the large message is dropped");
    assert!(written.contains("fits"), "the rest of the batch goes out");
    assert!(
        written.contains("id='list-1'")
            && written.contains("type='error'")
            && written.contains("resource-constraint"),
        "the large result becomes an error: {written}"
    );
    assert!(written.len() < 4096, "{} bytes", written.len());
}

#[tokio::test]
async fn a_burst_goes_out_in_one_batch_and_its_buffers_are_not_kept() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut writer = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (mut reader, _) = listener.accept().await.unwrap();
    let to: Jid = "alice@localhost/x".parse().unwrap();
    let line = |n: usize| {
        Outgoing::from(Message::chat(Some(to.clone())).with_body(Lang::new(), format!("line {n}")))
    };
    let (tx, mut outbox) = mpsc::channel(WRITE_BATCH);
    for n in 1..200 {
        tx.try_send(line(n)).unwrap();
    }
    let (mut unsent, mut buf) = (Vec::new(), String::new());
    write_batch(
        &mut writer,
        &mut buf,
        Some(line(0)),
        &mut outbox,
        &mut unsent,
        4096,
    )
    .await
    .unwrap();
    assert!(
        unsent.capacity() <= UNSENT_KEEP,
        "{} kept",
        unsent.capacity()
    );
    assert!(buf.capacity() <= BUF_KEEP, "{} bytes kept", buf.capacity());
    drop(writer);
    let mut written = String::new();
    reader.read_to_string(&mut written).await.unwrap();
    for n in 0..200 {
        assert!(written.contains(&format!(">line {n}<")), "line {n} missing");
    }
}
