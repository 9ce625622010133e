//! Files the XMPP user shares, XMPP → network: a client uploads the file
//! itself (XEP-0363) and sends its URL as the body, with XEP-0066
//! out-of-band data and/or XEP-0447 stateless file sharing:
//!
//! ```xml
//! <message type='groupchat'>
//!   <body>https://upload.example/ab/photo.jpg</body>
//!   <x xmlns='jabber:x:oob'><url>https://upload.example/ab/photo.jpg</url></x>
//!   <file-sharing xmlns='urn:xmpp:sfs:0'>
//!     <file xmlns='urn:xmpp:file:metadata:0'>
//!       <media-type>image/jpeg</media-type><name>photo.jpg</name><size>3032</size>
//!     </file>
//!     <sources><url-data xmlns='http://jabber.org/protocol/url-data' target='https://…'/></sources>
//!   </file-sharing>
//! </message>
//! ```
//!
//! Where the network takes files (`Capabilities::attachments`) each
//! becomes an [`Attachment`] of `Command::SendText` (the bridge fetches it,
//! `switchboard_bridge_api::download`, and uploads it), and the body's
//! lines that are only a file's URL are not sent as text too. Elsewhere the
//! body goes as typed: the network reads the URL.

use switchboard_bridge_api::Attachment;
use xmpp_parsers::message::Message;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::oob::Oob;

use super::Gateway;

const SFS: &str = "urn:xmpp:sfs:0";
const FILE_METADATA: &str = "urn:xmpp:file:metadata:0";
const URL_DATA: &str = "http://jabber.org/protocol/url-data";
const HASHES: &str = "urn:xmpp:hashes:2";

impl Gateway {
    /// The text and the files a user's message sends to the network:
    /// `text` as it is and no files where the network takes none.
    pub(super) fn files_in(&self, message: &Message, text: String) -> (String, Vec<Attachment>) {
        if !self.bridge.info().capabilities.attachments {
            return (text, Vec::new());
        }
        let files = shared(message);
        if files.is_empty() {
            return (text, files);
        }
        (without_urls(&text, &files), files)
    }
}

/// A message's body; for a message that shares files with no body (XEP-0447
/// makes it optional), their URLs, a line each, so that nothing is dropped.
pub(super) fn body_of(message: &Message) -> Option<String> {
    if let Some((_, body)) = message.get_best_body(vec![]) {
        return Some(body.clone());
    }
    let files = shared(message);
    (!files.is_empty()).then(|| {
        let urls: Vec<&str> = files.iter().map(|f| f.url.as_str()).collect();
        urls.join("\n")
    })
}

/// The files a message shares: each XEP-0447 `<file-sharing/>` with an
/// http(s) source, then each XEP-0066 URL not already among them.
fn shared(message: &Message) -> Vec<Attachment> {
    let mut files: Vec<Attachment> = message
        .payloads
        .iter()
        .filter(|p| p.is("file-sharing", SFS))
        .filter_map(sfs)
        .collect();
    for oob in message
        .payloads
        .iter()
        .filter_map(|p| Oob::try_from(p.clone()).ok())
    {
        if !files.iter().any(|f| f.url == oob.url) && !oob.url.trim().is_empty() {
            files.push(Attachment {
                url: oob.url.trim().to_owned(),
                name: None,
                media_type: None,
                size: None,
                needs_credentials: false,
                sha256: None,
            });
        }
    }
    files
}

/// One `<file-sharing/>`: its first http(s) `<url-data/>` source and the
/// file's name, media type, size and SHA-256 (XEP-0300), where given.
fn sfs(sharing: &Element) -> Option<Attachment> {
    let url = sharing
        .get_child("sources", SFS)?
        .children()
        .filter(|s| s.is("url-data", URL_DATA))
        .filter_map(|s| s.attr("target"))
        .find(|t| t.starts_with("https://") || t.starts_with("http://"))?
        .to_owned();
    let file = sharing.get_child("file", FILE_METADATA);
    let field = |name: &str| {
        file.and_then(|f| f.get_child(name, FILE_METADATA))
            .map(|e| e.text().trim().to_owned())
            .filter(|t| !t.is_empty())
    };
    let sha256 = file
        .into_iter()
        .flat_map(Element::children)
        .find(|h| h.is("hash", HASHES) && h.attr("algo") == Some("sha-256"))
        .map(|h| h.text().trim().to_owned())
        .filter(|h| !h.is_empty());
    Some(Attachment {
        url,
        name: field("name"),
        media_type: field("media-type"),
        size: field("size").and_then(|s| s.parse().ok()),
        needs_credentials: false,
        sha256,
    })
}

/// The text without the lines that are only a shared file's URL (the
/// fallback body clients send with a file).
fn without_urls(text: &str, files: &[Attachment]) -> String {
    let is_url = |line: &str| files.iter().any(|f| f.url == line.trim());
    if !text.lines().any(is_url) {
        return text.to_owned();
    }
    let kept: Vec<&str> = text.lines().filter(|l| !is_url(l)).collect();
    kept.join("\n").trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(xml: &str) -> Message {
        let element: Element = xml.parse().unwrap();
        Message::try_from(element).unwrap()
    }

    const URL: &str = "https://upload.example/ab/summit.jpg";

    #[test]
    fn an_oob_url_alone_is_a_file_and_no_text() {
        let m = message(&format!(
            "<message xmlns='jabber:component:accept' type='chat'><body>{URL}</body>\
             <x xmlns='jabber:x:oob'><url>{URL}</url></x></message>"
        ));
        let files = shared(&m);
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].url, URL);
        assert_eq!(without_urls(URL, &files), "");
    }

    /// XEP-0447's own example (its fallback body and OOB), one file.
    #[test]
    fn sfs_metadata_is_kept_and_its_oob_twin_dropped() {
        let m = message(&format!(
            "<message xmlns='jabber:component:accept' id='sharing-a-file'>\
             <file-sharing xmlns='urn:xmpp:sfs:0' disposition='inline'>\
              <file xmlns='urn:xmpp:file:metadata:0'>\
               <media-type>image/jpeg</media-type><name>summit.jpg</name>\
               <size>3032449</size><dimensions>4096x2160</dimensions>\
               <hash xmlns='urn:xmpp:hashes:2' algo='sha3-256'>ignored</hash>\
               <hash xmlns='urn:xmpp:hashes:2' algo='sha-256'>2XarmwTlNxDAMkvymloX3S5+VbylNrJt/l5QyPa+YoU=</hash>\
               <desc>Photo from the summit.</desc>\
              </file>\
              <sources>\
               <url-data xmlns='http://jabber.org/protocol/url-data' target='{URL}'/>\
               <jinglepub xmlns='urn:xmpp:jinglepub:1' from='romeo@montague.lit/resource' id='9559976B'/>\
              </sources>\
             </file-sharing>\
             <body>Photo from the summit: {URL}</body>\
             <x xmlns='jabber:x:oob'><url>{URL}</url></x></message>"
        ));
        let files = shared(&m);
        assert_eq!(
            files,
            [Attachment {
                url: URL.into(),
                name: Some("summit.jpg".into()),
                media_type: Some("image/jpeg".into()),
                size: Some(3032449),
                needs_credentials: false,
                sha256: Some("2XarmwTlNxDAMkvymloX3S5+VbylNrJt/l5QyPa+YoU=".into()),
            }]
        );
        // A caption on the URL's line is the user's words: kept whole.
        let body = format!("Photo from the summit: {URL}");
        assert_eq!(without_urls(&body, &files), body);
        assert_eq!(
            without_urls(&format!("look\n{URL}\n"), &files),
            "look",
            "the URL's own line goes"
        );
    }

    #[test]
    fn a_file_without_a_body_is_read_as_its_url() {
        let m = message(&format!(
            "<message xmlns='jabber:component:accept'>\
             <file-sharing xmlns='urn:xmpp:sfs:0'><file xmlns='urn:xmpp:file:metadata:0'/>\
             <sources><url-data xmlns='http://jabber.org/protocol/url-data' target='{URL}'/>\
             </sources></file-sharing><store xmlns='urn:xmpp:hints'/></message>"
        ));
        assert_eq!(body_of(&m).as_deref(), Some(URL));
        let files = shared(&m);
        assert_eq!(without_urls(URL, &files), "");
        let plain = message("<message xmlns='jabber:component:accept'/>");
        assert_eq!(body_of(&plain), None);
    }

    #[test]
    fn a_source_that_is_not_http_is_no_file() {
        let m = message(
            "<message xmlns='jabber:component:accept'>\
             <file-sharing xmlns='urn:xmpp:sfs:0'><file xmlns='urn:xmpp:file:metadata:0'/>\
             <sources><url-data xmlns='http://jabber.org/protocol/url-data' target='ftp://h/f'/>\
             </sources></file-sharing></message>",
        );
        assert!(shared(&m).is_empty());
    }
}
