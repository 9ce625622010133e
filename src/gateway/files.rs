//! Files from the network, XEP-0066 out-of-band data: each attachment's URL
//! is passed through (this slice has no upload service yet, so the URL is
//! the network's own) as a line of the body and as a `<x xmlns='jabber:x:oob'/>`.
//! A message that is only one file has the URL as its whole body, which is
//! what Conversations, Dino and Gajim need to show an image inline; a
//! client that knows no OOB still reads the URL.

use switchboard_bridge_api::Attachment;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::oob::Oob;

/// The body's lines for a message's files (each URL on its own line, after
/// the text) and their `<x xmlns='jabber:x:oob'/>` payloads.
pub(super) fn files_out(text: &str, attachments: &[Attachment]) -> (String, Vec<Element>) {
    let mut lines = String::new();
    let mut payloads = Vec::with_capacity(attachments.len());
    for file in attachments {
        if !(text.is_empty() && lines.is_empty()) {
            lines.push('\n');
        }
        lines.push_str(&file.url);
        payloads.push(
            Oob {
                url: file.url.clone(),
                desc: file.name.clone(),
            }
            .into(),
        );
    }
    (lines, payloads)
}

/// The archive's `extra` for a message's files (`None` without files, or
/// for a URL or name no line can hold).
pub(crate) fn files_extra(attachments: &[Attachment]) -> Option<String> {
    if attachments.is_empty() {
        return None;
    }
    let files = attachments
        .iter()
        .map(|f| (f.url.clone(), f.name.clone()))
        .collect();
    crate::xmpp::rich::Extra::Files(files).encode()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(url: &str, name: Option<&str>) -> Attachment {
        Attachment {
            url: url.into(),
            name: name.map(Into::into),
            media_type: None,
            size: None,
        }
    }

    #[test]
    fn a_lone_file_is_the_whole_body() {
        let (lines, payloads) = files_out("", &[file("https://h/a.png", Some("a.png"))]);
        assert_eq!(lines, "https://h/a.png");
        let oob = Oob::try_from(payloads[0].clone()).unwrap();
        assert_eq!(oob.url, "https://h/a.png");
        assert_eq!(oob.desc.as_deref(), Some("a.png"));
    }

    #[test]
    fn files_after_text_are_lines_of_their_own() {
        let (lines, payloads) = files_out(
            "look",
            &[file("https://h/a", None), file("https://h/b", None)],
        );
        assert_eq!(lines, "\nhttps://h/a\nhttps://h/b");
        assert_eq!(payloads.len(), 2);
    }

    #[test]
    fn files_survive_the_archive_column() {
        use crate::xmpp::rich::Extra;
        let files = [
            file("https://h/a", Some("a.png")),
            file("https://h/b", None),
        ];
        let extra = files_extra(&files).unwrap();
        assert_eq!(
            Extra::decode(&extra),
            Some(Extra::Files(vec![
                ("https://h/a".into(), Some("a.png".into())),
                ("https://h/b".into(), None),
            ]))
        );
        assert_eq!(files_extra(&[]), None);
    }
}
