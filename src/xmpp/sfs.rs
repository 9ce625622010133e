//! A file on the XMPP side: XEP-0066 out-of-band data for every file, and
//! XEP-0447 stateless file sharing with XEP-0446 file metadata and a
//! XEP-0300 hash for a file the gateway uploaded (live, in join history
//! and in MAM alike):
//!
//! ```xml
//! <file-sharing xmlns='urn:xmpp:sfs:0'>
//!   <file xmlns='urn:xmpp:file:metadata:0'>
//!     <media-type>image/jpeg</media-type><name>photo.jpg</name><size>2097152</size>
//!     <hash xmlns='urn:xmpp:hashes:2' algo='sha-256'>base64</hash>
//!   </file>
//!   <sources><url-data xmlns='http://jabber.org/protocol/url-data' target='https://…'/></sources>
//! </file-sharing>
//! ```

use switchboard_bridge_api::Attachment;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::oob::Oob;

/// XEP-0447's namespace.
pub const NS_SFS: &str = "urn:xmpp:sfs:0";
/// XEP-0446's namespace.
pub const NS_FILE: &str = "urn:xmpp:file:metadata:0";
/// XEP-0103's namespace (a URL source).
pub const NS_URL_DATA: &str = "http://jabber.org/protocol/url-data";
/// XEP-0300's namespace.
pub const NS_HASHES: &str = "urn:xmpp:hashes:2";

/// An attribute name.
fn an(name: &str) -> xmpp_parsers::minidom::rxml::NcName {
    xmpp_parsers::minidom::rxml::NcName::try_from(name).expect("a valid attribute name")
}

/// The payloads of a message's files, in order: `<x xmlns='jabber:x:oob'/>`
/// for each, followed by its `<file-sharing/>` when its hash is known.
pub fn file_payloads(files: &[Attachment]) -> Vec<Element> {
    let mut payloads = Vec::with_capacity(files.len() * 2);
    for file in files {
        payloads.push(
            Oob {
                url: file.url.clone(),
                desc: file.name.clone(),
            }
            .into(),
        );
        payloads.extend(file_sharing(file));
    }
    payloads
}

/// The `<file-sharing/>` of a file with a known hash; `None` without one.
pub fn file_sharing(file: &Attachment) -> Option<Element> {
    let hash = file.sha256.as_deref()?;
    let text = |name: &str, value: &str| {
        Element::builder(name, NS_FILE)
            .append(value.to_owned())
            .build()
    };
    let mut meta = Element::builder("file", NS_FILE);
    if let Some(media_type) = &file.media_type {
        meta = meta.append(text("media-type", media_type));
    }
    if let Some(name) = &file.name {
        meta = meta.append(text("name", name));
    }
    if let Some(size) = file.size {
        meta = meta.append(text("size", &size.to_string()));
    }
    let hash = Element::builder("hash", NS_HASHES)
        .attr(an("algo"), "sha-256")
        .append(hash.to_owned())
        .build();
    let source = Element::builder("url-data", NS_URL_DATA)
        .attr(an("target"), file.url.clone())
        .build();
    Some(
        Element::builder("file-sharing", NS_SFS)
            .append(meta.append(hash).build())
            .append(Element::builder("sources", NS_SFS).append(source).build())
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_hash_and_source() {
        let file = Attachment {
            url: "https://up/x/photo.jpg".into(),
            name: Some("photo.jpg".into()),
            media_type: Some("image/jpeg".into()),
            size: Some(3),
            needs_credentials: false,
            sha256: Some("ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=".into()),
        };
        let el = file_sharing(&file).unwrap();
        assert!(el.is("file-sharing", NS_SFS));
        let meta = el.get_child("file", NS_FILE).unwrap();
        let child = |n: &str| meta.get_child(n, NS_FILE).map(Element::text);
        assert_eq!(child("name").as_deref(), Some("photo.jpg"));
        assert_eq!(child("media-type").as_deref(), Some("image/jpeg"));
        assert_eq!(child("size").as_deref(), Some("3"));
        let hash = meta.get_child("hash", NS_HASHES).unwrap();
        assert_eq!(hash.attr("algo"), Some("sha-256"));
        assert_eq!(hash.text(), file.sha256.clone().unwrap());
        let source = el
            .get_child("sources", NS_SFS)
            .and_then(|s| s.get_child("url-data", NS_URL_DATA))
            .unwrap();
        assert_eq!(source.attr("target"), Some("https://up/x/photo.jpg"));
        let mut unhashed = file;
        unhashed.sha256 = None;
        assert!(file_sharing(&unhashed).is_none());
    }
}
