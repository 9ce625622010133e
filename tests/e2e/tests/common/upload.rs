//! Sharing a file as XMPP clients do: a XEP-0363 slot from the server's
//! upload service (Prosody's `mod_http_file_share`), an HTTP PUT of the
//! bytes, then a message whose body is the URL with XEP-0066 out-of-band
//! data and XEP-0447 stateless file sharing metadata (as Conversations and
//! Dino send them).
//!
//! A test file takes it beside `common` (the bench shares `common`
//! without reqwest): `#[path = "common/upload.rs"] mod upload;`. It also
//! reads what a client receives: XEP-0447 metadata, the bytes at a URL.
#![allow(dead_code)]

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::common::support::prosody::UPLOAD;
use crate::common::{result_payload, Client};
use xmpp_parsers::http_upload::{SlotRequest, SlotResult};
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Id, Lang, Message, MessageType};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::oob::Oob;

/// Uploads `bytes` through the upload service; the URL to fetch them from.
pub async fn upload(client: &mut Client, name: &str, media_type: &str, bytes: &[u8]) -> String {
    let request = SlotRequest {
        filename: name.to_owned(),
        size: bytes.len() as u64,
        content_type: Some(media_type.to_owned()),
    };
    let slot =
        result_payload(client.iq(UPLOAD, false, request.into()).await).expect("an upload slot");
    let slot = SlotResult::try_from(slot).unwrap();
    let mut put = reqwest::Client::new()
        .put(&slot.put.url)
        .header("content-type", media_type)
        .body(bytes.to_vec());
    for header in slot.put.headers {
        put = put.header(header.name.as_str(), header.value);
    }
    let response = put.send().await.unwrap();
    assert!(
        response.status().is_success(),
        "the upload's PUT: {}",
        response.status()
    );
    slot.get.url
}

/// A message sharing the file at `url`: the URL as the body, OOB, and SFS
/// with the name, media type and size.
pub fn file_message(
    to: &Jid,
    type_: MessageType,
    id: &str,
    url: &str,
    (name, media_type, size): (&str, &str, usize),
) -> Message {
    let mut m = Message::new(Some(to.clone())).with_body(Lang::new(), url.to_owned());
    m.type_ = type_;
    m.id = Some(Id(id.to_owned()));
    m.payloads.push(
        Oob {
            url: url.to_owned(),
            desc: None,
        }
        .into(),
    );
    let sfs: Element = format!(
        "<file-sharing xmlns='urn:xmpp:sfs:0' disposition='inline'>\
         <file xmlns='urn:xmpp:file:metadata:0'><media-type>{media_type}</media-type>\
         <name>{name}</name><size>{size}</size></file>\
         <sources><url-data xmlns='http://jabber.org/protocol/url-data' target='{url}'/></sources>\
         </file-sharing>"
    )
    .parse()
    .unwrap();
    m.payloads.push(sfs);
    m
}

/// Bytes that are not all alike (a PNG signature, then a pattern), `len` long.
pub fn image_bytes(len: usize) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend((0..len.saturating_sub(8)).map(|i| (i * 31 % 251) as u8));
    bytes.truncate(len);
    bytes
}

/// Waits for the error the message with this id got: who said it, its
/// condition (as its element name) and text.
pub async fn message_error(client: &mut Client, id: &str) -> (Option<Jid>, String, String) {
    client
        .wait_for(|s| match s {
            tokio_xmpp::Stanza::Message(m)
                if m.type_ == MessageType::Error && m.id.as_ref().is_some_and(|i| i.0 == id) =>
            {
                let e = m.payloads.iter().find_map(|e| {
                    xmpp_parsers::stanza_error::StanzaError::try_from(e.clone()).ok()
                })?;
                let condition = Element::from(e.defined_condition).name().to_owned();
                let text = e.texts.values().next().cloned().unwrap_or_default();
                Some((m.from.clone(), condition, text))
            }
            _ => None,
        })
        .await
}

const SFS: &str = "urn:xmpp:sfs:0";
const FILE: &str = "urn:xmpp:file:metadata:0";
const URL_DATA: &str = "http://jabber.org/protocol/url-data";
const HASHES: &str = "urn:xmpp:hashes:2";

/// The XEP-0447 `<file-sharing/>` of a message: (name, media type, size,
/// sha-256, source URL).
pub fn sfs(m: &Message) -> Vec<(String, String, String, String, String)> {
    m.payloads
        .iter()
        .filter(|p| p.is("file-sharing", SFS))
        .map(|fs| {
            let file = fs.get_child("file", FILE).expect("<file/>");
            let child = |n: &str| {
                file.get_child(n, FILE)
                    .map(Element::text)
                    .unwrap_or_default()
            };
            let hash = file
                .children()
                .find(|c| c.is("hash", HASHES) && c.attr("algo") == Some("sha-256"))
                .map(Element::text)
                .unwrap_or_default();
            let source = fs
                .get_child("sources", SFS)
                .and_then(|s| s.get_child("url-data", URL_DATA))
                .and_then(|u| u.attr("target"))
                .unwrap_or_default()
                .to_owned();
            (
                child("name"),
                child("media-type"),
                child("size"),
                hash,
                source,
            )
        })
        .collect()
}

/// A SHA-256 as XEP-0300 writes it (base64).
pub fn sha256(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

/// Bytes that are not all alike (a hash of a run of zeros proves less).
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// What the client fetches at `url` (no credentials).
pub async fn get(url: &str) -> Vec<u8> {
    let response = reqwest::get(url).await.unwrap();
    assert!(
        response.status().is_success(),
        "{url}: {}",
        response.status()
    );
    response.bytes().await.unwrap().to_vec()
}

/// A message's XEP-0066 out-of-band data: each URL with its description.
pub fn oob(m: &Message) -> Vec<(String, Option<String>)> {
    m.payloads
        .iter()
        .filter_map(|p| Oob::try_from(p.clone()).ok())
        .map(|o| (o.url, o.desc))
        .collect()
}
