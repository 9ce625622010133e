//! Media events from Matrix as the contract's attachments: `m.image`,
//! `m.file`, `m.video` and `m.audio` messages, and `m.sticker` events (as
//! an image). The file's name is `filename`, else `body`; its media type
//! and size come from `info`. Its URL is the `mxc://` URI turned into the
//! authenticated media download path on the user's homeserver
//! (`/_matrix/client/v1/media/download/{server}/{media_id}`), marked
//! `needs_credentials`: the core fetches it through the session's
//! [`MediaFetcher`](crate::media_fetch::MediaFetcher) and never shows it to
//! a client. A `body` that differs from `filename` is a caption (MSC2530,
//! in the spec since 1.10) and becomes the message's text. An encrypted
//! file (`file` instead of `url`) cannot be read here and becomes the
//! encrypted placeholder, never silence.

use reqwest::Url;
use serde_json::Value;
use switchboard_bridge_api::Attachment;

use crate::api::text_field;

/// The message types that carry a file.
const MEDIA_TYPES: [&str; 4] = ["m.image", "m.file", "m.video", "m.audio"];

/// The path of authenticated media downloads, below the homeserver's URL.
pub(crate) const DOWNLOAD_PATH: [&str; 5] = ["_matrix", "client", "v1", "media", "download"];

/// Whether an event of `kind` with this content is a file (a sticker, or a
/// message whose `msgtype` is one of the media types).
pub(crate) fn is_media(kind: &str, content: &Value) -> bool {
    kind == "m.sticker"
        || (kind == "m.room.message"
            && text_field(content, "msgtype").is_some_and(|t| MEDIA_TYPES.contains(&t)))
}

/// What a media event says.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Media<'a> {
    /// A file to fetch, and its caption (`None` when `body` is only the
    /// file's name).
    File {
        /// The file.
        attachment: Attachment,
        /// The caption, as plain text.
        caption: Option<&'a str>,
    },
    /// An encrypted file (or one whose URI is not an `mxc://` one):
    /// unreadable here; its caption, if any.
    Unreadable {
        /// The caption, as plain text.
        caption: Option<&'a str>,
    },
}

/// A media event's file, its download URL on the homeserver at `base`.
pub(crate) fn media_of<'a>(content: &'a Value, base: &Url) -> Media<'a> {
    let body = text_field(content, "body").filter(|b| !b.is_empty());
    let filename = text_field(content, "filename").filter(|f| !f.is_empty());
    let caption = match (filename, body) {
        (Some(filename), Some(body)) if filename != body => Some(body),
        _ => None,
    };
    let url = text_field(content, "url")
        .and_then(|mxc| download_url(base, mxc))
        .filter(|_| content.get("file").is_none_or(Value::is_null));
    let Some(url) = url else {
        return Media::Unreadable { caption };
    };
    let info = content.get("info");
    let attachment = Attachment {
        url: url.to_string(),
        name: filename.or(body).map(str::to_owned),
        media_type: info
            .and_then(|i| text_field(i, "mimetype"))
            .filter(|t| !t.is_empty())
            .map(str::to_owned),
        size: info.and_then(|i| i.get("size")).and_then(Value::as_u64),
        needs_credentials: true,
        sha256: None,
    };
    Media::File {
        attachment,
        caption,
    }
}

/// The authenticated download URL of an `mxc://server/media_id` URI on the
/// homeserver at `base`; `None` for anything else (the spec's grammar:
/// a server name, a media id of letters, digits, `_` and `-`).
pub(crate) fn download_url(base: &Url, mxc: &str) -> Option<Url> {
    let (server, media_id) = mxc.strip_prefix("mxc://")?.split_once('/')?;
    let server_ok = !server.is_empty()
        && server
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c));
    let id_ok = !media_id.is_empty()
        && media_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !(server_ok && id_ok) {
        return None;
    }
    let mut url = base.clone();
    {
        let mut path = url.path_segments_mut().ok()?;
        path.pop_if_empty();
        path.extend(DOWNLOAD_PATH);
        path.push(server);
        path.push(media_id);
    }
    Some(url)
}

/// The `(server, media_id)` of a download URL [`download_url`] made for
/// the homeserver at `base`; `None` for any other URL (whose host the
/// user's token must never be sent to).
pub(crate) fn media_in(base: &Url, url: &str) -> Option<(String, String)> {
    let url = Url::parse(url).ok()?;
    if url.origin() != base.origin() || url.query().is_some() {
        return None;
    }
    let mut prefix: Vec<&str> = base
        .path_segments()?
        .filter(|s| !s.is_empty())
        .chain(DOWNLOAD_PATH)
        .collect();
    let segments: Vec<&str> = url.path_segments()?.collect();
    if segments.len() != prefix.len() + 2 {
        return None;
    }
    let media: Vec<&str> = segments[prefix.len()..].to_vec();
    prefix.extend(&media);
    if segments != prefix {
        return None;
    }
    let decode = |s: &str| {
        let decoded: String = percent_decode(s)?;
        Some(decoded)
    };
    let (server, media_id) = (decode(media[0])?, decode(media[1])?);
    // Only what `download_url` makes.
    download_url(base, &format!("mxc://{server}/{media_id}"))?;
    Some((server, media_id))
}

/// `%XX` escapes decoded (the URL crate may encode a segment's characters).
fn percent_decode(segment: &str) -> Option<String> {
    let mut out = Vec::with_capacity(segment.len());
    let bytes = segment.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Url {
        Url::parse("https://hs.example:8448/").unwrap()
    }

    #[test]
    fn an_image_becomes_an_authenticated_download_with_its_info() {
        let content = json!({
            "msgtype": "m.image", "body": "summit.png",
            "url": "mxc://hs.example/AbC_d-9",
            "info": {"mimetype": "image/png", "size": 100000, "w": 640, "h": 480}
        });
        assert!(is_media("m.room.message", &content));
        let Media::File {
            attachment,
            caption,
        } = media_of(&content, &base())
        else {
            panic!("not a file");
        };
        assert_eq!(
            attachment.url,
            "https://hs.example:8448/_matrix/client/v1/media/download/hs.example/AbC_d-9"
        );
        assert_eq!(attachment.name.as_deref(), Some("summit.png"));
        assert_eq!(attachment.media_type.as_deref(), Some("image/png"));
        assert_eq!(attachment.size, Some(100_000));
        assert!(attachment.needs_credentials);
        assert_eq!(caption, None);
    }

    #[test]
    fn a_body_other_than_the_filename_is_a_caption() {
        let content = json!({
            "msgtype": "m.file", "body": "the minutes, as promised",
            "filename": "minutes.pdf", "url": "mxc://hs.example/m1",
            "info": {"mimetype": "application/pdf"}
        });
        let Media::File {
            attachment,
            caption,
        } = media_of(&content, &base())
        else {
            panic!("not a file");
        };
        assert_eq!(attachment.name.as_deref(), Some("minutes.pdf"));
        assert_eq!(attachment.size, None);
        assert_eq!(caption, Some("the minutes, as promised"));
        // The same name twice: no caption.
        let same = json!({"msgtype": "m.audio", "body": "a.ogg", "filename": "a.ogg",
                          "url": "mxc://hs.example/a"});
        assert!(matches!(
            media_of(&same, &base()),
            Media::File { caption: None, .. }
        ));
    }

    #[test]
    fn stickers_videos_and_audio_are_media_texts_are_not() {
        assert!(is_media(
            "m.sticker",
            &json!({"body": "cat", "url": "mxc://h/s"})
        ));
        for t in ["m.video", "m.audio", "m.file", "m.image"] {
            assert!(is_media("m.room.message", &json!({ "msgtype": t })), "{t}");
        }
        for t in ["m.text", "m.notice", "m.emote", "m.location"] {
            assert!(!is_media("m.room.message", &json!({ "msgtype": t })), "{t}");
        }
        assert!(!is_media("m.reaction", &json!({"msgtype": "m.image"})));
    }

    #[test]
    fn encrypted_files_and_foreign_uris_are_unreadable() {
        let encrypted = json!({
            "msgtype": "m.image", "body": "secret.png",
            "file": {"url": "mxc://hs.example/e", "key": {}, "iv": "", "hashes": {}, "v": "v2"}
        });
        assert_eq!(
            media_of(&encrypted, &base()),
            Media::Unreadable { caption: None }
        );
        for uri in [
            "https://evil.example/x",
            "mxc://hs.example/../../admin",
            "mxc://hs.example/",
            "mxc:///id",
            "mxc://hs example/id",
        ] {
            let content = json!({"msgtype": "m.file", "body": "x", "url": uri});
            assert_eq!(
                media_of(&content, &base()),
                Media::Unreadable { caption: None },
                "{uri}"
            );
        }
    }

    #[test]
    fn only_this_homeservers_download_urls_name_media() {
        let base = Url::parse("https://hs.example/matrix/").unwrap();
        let url = download_url(&base, "mxc://[::1]:8448/id_1").unwrap();
        assert_eq!(
            url.as_str(),
            "https://hs.example/matrix/_matrix/client/v1/media/download/[::1]:8448/id_1"
        );
        assert_eq!(
            media_in(&base, url.as_str()),
            Some(("[::1]:8448".to_owned(), "id_1".to_owned()))
        );
        for other in [
            "https://evil.example/matrix/_matrix/client/v1/media/download/h/id",
            "http://hs.example/matrix/_matrix/client/v1/media/download/h/id",
            "https://hs.example/_matrix/client/v1/media/download/h/id",
            "https://hs.example/matrix/_matrix/client/v1/media/download/h/id/x",
            "https://hs.example/matrix/_matrix/client/v1/media/download/h/id?x=1",
            "https://hs.example/matrix/_matrix/client/v1/media/download/h/i%2Fd",
        ] {
            assert_eq!(media_in(&base, other), None, "{other}");
        }
    }
}
