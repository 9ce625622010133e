//! Message posts with files, as Discord takes them (API reference,
//! "Uploading Files"): `multipart/form-data` whose `payload_json` part is
//! the JSON body and whose `files[n]` parts are the files, each named in
//! the body's `attachments` by `id` n. The double keeps each file's bytes
//! and serves them on its CDN route, as Discord's CDN does.

use serde_json::{json, Value};

/// Discord's limit for one request's files without guild boosts: 10 MiB.
pub const MAX_BYTES: usize = 10 * 1024 * 1024;

/// A file a request carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// The form field: `files[0]`, …
    pub field: String,
    /// The part's file name.
    pub filename: String,
    /// The part's `Content-Type`.
    pub content_type: Option<String>,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// A `multipart/form-data` body: its `payload_json` (parsed) and its
/// files. `None` when it is not well formed.
pub(crate) fn parse(content_type: &str, body: &[u8]) -> Option<(Value, Vec<Upload>)> {
    let boundary = content_type
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("boundary="))?
        .trim_matches('"');
    let delimiter = format!("--{boundary}").into_bytes();
    let mut payload = Value::Null;
    let mut uploads = Vec::new();
    let mut rest = body.get(find(body, &delimiter)? + delimiter.len()..)?;
    loop {
        if rest.starts_with(b"--") {
            return Some((payload, uploads));
        }
        rest = rest.strip_prefix(b"\r\n")?;
        let end = find(rest, &delimiter)?;
        // The part, without the CRLF before the next delimiter.
        let part = rest[..end].strip_suffix(b"\r\n")?;
        rest = &rest[end + delimiter.len()..];
        let split = find(part, b"\r\n\r\n")?;
        let head = std::str::from_utf8(&part[..split]).ok()?;
        let content = &part[split + 4..];
        let mut name = None;
        let mut filename = None;
        let mut content_type = None;
        for line in head.split("\r\n") {
            let (header, value) = line.split_once(':')?;
            match header.trim().to_ascii_lowercase().as_str() {
                "content-disposition" => {
                    for param in value.split(';').map(str::trim) {
                        if let Some(v) = param.strip_prefix("name=") {
                            name = Some(v.trim_matches('"').to_owned());
                        } else if let Some(v) = param.strip_prefix("filename=") {
                            filename = Some(v.trim_matches('"').to_owned());
                        }
                    }
                }
                "content-type" => content_type = Some(value.trim().to_owned()),
                _ => {}
            }
        }
        match (name?, filename) {
            (name, None) if name == "payload_json" => {
                payload = serde_json::from_slice(content).ok()?;
            }
            (field, Some(filename)) if field.starts_with("files[") => uploads.push(Upload {
                field,
                filename,
                content_type,
                bytes: content.to_vec(),
            }),
            _ => {}
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The attachment objects of a posted message: each file the body's
/// `attachments` names (by the `n` of `files[n]`), or each file when it
/// names none; `url` on the double's CDN (`base` is its address).
pub(crate) fn attachments(
    base: &str,
    channel: &str,
    body: &Value,
    uploads: &[Upload],
    mut next_id: impl FnMut() -> String,
) -> Vec<(Value, String)> {
    uploads
        .iter()
        .map(|upload| {
            let n = upload
                .field
                .trim_start_matches("files[")
                .trim_end_matches(']');
            let named = body["attachments"].as_array().and_then(|a| {
                a.iter()
                    .find(|a| a["id"].to_string().trim_matches('"') == n)
            });
            let filename = named
                .and_then(|a| a["filename"].as_str())
                .unwrap_or(&upload.filename)
                .to_owned();
            let id = next_id();
            let path = format!("/attachments/{channel}/{id}/{filename}");
            let object = json!({
                "id": id,
                "filename": filename,
                "size": upload.bytes.len(),
                "url": format!("{base}{path}?ex=1&is=1&hm=signed"),
                "proxy_url": format!("{base}{path}"),
                "content_type": upload.content_type,
            });
            (object, path)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_gives_its_payload_and_files() {
        let body =
            b"--XyZ\r\nContent-Disposition: form-data; name=\"files[0]\"; filename=\"a.bin\"\r\n\
Content-Type: application/octet-stream\r\n\r\n\x00\x01\r\n--XyZ\r\n\
Content-Disposition: form-data; name=\"payload_json\"\r\n\r\n{\"content\":\"hi\"}\r\n--XyZ--\r\n";
        let (payload, files) = parse("multipart/form-data; boundary=XyZ", body).unwrap();
        assert_eq!(payload["content"], "hi");
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].field, "files[0]");
        assert_eq!(files[0].filename, "a.bin");
        assert_eq!(files[0].bytes, vec![0, 1]);
    }
}
