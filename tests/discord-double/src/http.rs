//! The REST API: a small HTTP/1.1 server (keep-alive, `Content-Length`
//! bodies) answering the routes the bridge calls, under `/api/v10`.

use std::sync::Arc;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::multipart::{self, Upload};
use crate::{dispatch, fixture, next_id, Request, Shared, BOT_TOKEN};

pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(connection(stream, Arc::clone(&shared)));
    }
}

async fn connection(stream: TcpStream, shared: Arc<Shared>) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
            return;
        };
        let (method, path) = (method.to_owned(), path.to_owned());
        let mut length = 0usize;
        let mut authorization = String::new();
        let mut content_type = String::new();
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).await.unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let value = value.trim();
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => length = value.parse().unwrap_or(0),
                    "authorization" => authorization = value.to_owned(),
                    "content-type" => content_type = value.to_owned(),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).await.is_err() {
            return;
        }
        if method == "GET" && (path.starts_with("/avatars/") || path.starts_with("/attachments/")) {
            if !cdn(&shared, &path, reader.get_mut()).await {
                return;
            }
            continue;
        }
        let (body, files) = if content_type.starts_with("multipart/form-data") {
            multipart::parse(&content_type, &body).unwrap_or((Value::Null, Vec::new()))
        } else {
            (
                serde_json::from_slice(&body).unwrap_or(Value::Null),
                Vec::new(),
            )
        };
        let (status, answer) = route(&shared, &method, &path, &authorization, body, files);
        // 204 No Content has no body.
        let text = if status.starts_with("204") {
            String::new()
        } else {
            answer.to_string()
        };
        let retry = if status.starts_with("429") {
            "retry-after: 1\r\n"
        } else {
            ""
        };
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\n{retry}content-length: {}\r\n\r\n{text}",
            text.len()
        );
        if reader
            .get_mut()
            .write_all(response.as_bytes())
            .await
            .is_err()
        {
            return;
        }
    }
}

/// The CDN's routes (recorded as requests): dave's avatar is
/// [`fixture::avatar_png`], an uploaded file its bytes, anything else 404.
/// Whether the connection goes on.
async fn cdn(shared: &Shared, path: &str, stream: &mut TcpStream) -> bool {
    let route = path.split('?').next().unwrap_or_default();
    let wanted = format!("/avatars/{}/{}.png", fixture::DAVE_ID, fixture::DAVE_AVATAR);
    let (status, body) = {
        let mut state = shared.state.lock().unwrap();
        state.requests.push(Request {
            method: "GET".to_owned(),
            path: path.to_owned(),
            body: Value::Null,
            files: Vec::new(),
        });
        match state.cdn.get(route) {
            Some(bytes) => ("200 OK", bytes.clone()),
            None if route == wanted => ("200 OK", fixture::avatar_png()),
            None => ("404 Not Found", Vec::new()),
        }
    };
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: image/png\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.is_ok() && stream.write_all(&body).await.is_ok()
}

/// Answers one request, recording it.
fn route(
    shared: &Shared,
    method: &str,
    path: &str,
    authorization: &str,
    body: Value,
    files: Vec<Upload>,
) -> (&'static str, Value) {
    let mut state = shared.state.lock().unwrap();
    state.requests.push(Request {
        method: method.to_owned(),
        path: path.to_owned(),
        body: body.clone(),
        files: files.clone(),
    });
    let route = path.split('?').next().unwrap_or_default();
    let route = route.strip_prefix("/api/v10").unwrap_or(route);
    if route == "/gateway" {
        return ("200 OK", json!({ "url": shared.gateway_url }));
    }
    let segments: Vec<&str> = route.trim_start_matches('/').split('/').collect();
    let posts_message = method == "POST"
        && matches!(
            segments.as_slice(),
            ["webhooks", _, _] | ["channels", _, "messages"]
        );
    if posts_message && state.rate_limited > 0 {
        state.rate_limited -= 1;
        return (
            "429 Too Many Requests",
            json!({ "message": "You are being rate limited.", "retry_after": 0.5, "global": false }),
        );
    }
    if posts_message && files.iter().map(|f| f.bytes.len()).sum::<usize>() > multipart::MAX_BYTES {
        return (
            "413 Payload Too Large",
            json!({ "message": "Request entity too large", "code": 40005 }),
        );
    }
    // A webhook's routes take its token in the path, no authorization.
    if let Some(answer) = crate::rich::webhook_route(shared, &mut state, method, &segments, &body) {
        return answer;
    }
    if let ("POST", ["webhooks", id, token]) = (method, segments.as_slice()) {
        let thread = query(path)
            .into_iter()
            .find(|(k, _)| *k == "thread_id")
            .map(|(_, v)| v.to_owned());
        return execute_webhook(
            shared,
            &mut state,
            id,
            token,
            thread.as_deref(),
            &body,
            &files,
        );
    }
    if authorization != format!("Bot {BOT_TOKEN}") {
        return (
            "401 Unauthorized",
            json!({ "message": "401: Unauthorized", "code": 0 }),
        );
    }
    if let Some(answer) = crate::rich::bot_route(shared, &mut state, method, &segments, &body) {
        return answer;
    }
    match (method, segments.as_slice()) {
        ("GET", ["gateway", "bot"]) => (
            "200 OK",
            json!({
                "url": shared.gateway_url,
                "shards": 1,
                "session_start_limit": { "total": 1000, "remaining": 999, "reset_after": 14400000, "max_concurrency": 1 }
            }),
        ),
        ("GET", ["users", "@me"]) => ("200 OK", fixture::user(fixture::BOT_ID)),
        ("GET", ["guilds", fixture::GUILD_ID, "members", user]) => match fixture::member(user) {
            Some(mut member) => {
                if let Some(roles) = state.member_roles.get(*user) {
                    member["roles"] = json!(roles);
                }
                ("200 OK", member)
            }
            None => (
                "404 Not Found",
                json!({ "message": "Unknown Member", "code": 10007 }),
            ),
        },
        ("POST", ["users", "@me", "channels"]) => match body["recipient_id"].as_str() {
            Some(user @ (fixture::ALICE_ID | fixture::CAROL_ID)) => {
                ("200 OK", fixture::dm_channel(user))
            }
            _ => (
                "400 Bad Request",
                json!({ "message": "Invalid Recipient(s)", "code": 50033 }),
            ),
        },
        ("PUT", ["channels", channel, "thread-members", "@me"]) => {
            if *channel == fixture::THREAD_ID {
                ("204 No Content", Value::Null)
            } else {
                (
                    "404 Not Found",
                    json!({ "message": "Unknown Channel", "code": 10003 }),
                )
            }
        }
        ("GET", ["channels", channel, "webhooks"]) => {
            let made = state
                .webhooks
                .iter()
                .filter(|w| w["channel_id"] == *channel);
            ("200 OK", Value::Array(made.cloned().collect()))
        }
        ("POST", ["channels", channel, "webhooks"]) => {
            if state.webhooks_forbidden {
                return (
                    "403 Forbidden",
                    json!({ "message": "Missing Permissions", "code": 50013 }),
                );
            }
            let id = next_id(&mut state);
            let webhook = json!({
                "id": id,
                "type": 1,
                "guild_id": fixture::GUILD_ID,
                "channel_id": channel,
                "user": fixture::user(fixture::BOT_ID),
                "name": body["name"],
                "avatar": null,
                "token": format!("webhook-token-{id}"),
                "application_id": fixture::BOT_ID
            });
            state.webhooks.push(webhook.clone());
            ("200 OK", webhook)
        }
        ("GET", ["channels", channel, "messages"]) => {
            ("200 OK", history(&state.log, channel, query(path)))
        }
        ("POST", ["channels", channel, "messages"]) => {
            let id = next_id(&mut state);
            let content = body["content"].as_str().unwrap_or_default();
            let nonce = body.get("nonce");
            let mut message = fixture::message(
                &id,
                channel,
                &fixture::user(fixture::BOT_ID),
                content,
                nonce,
            );
            let replied = body["message_reference"]["message_id"]
                .as_str()
                .and_then(|to| crate::rich::find_message(&state, to));
            if let Some(original) = replied {
                crate::rich::make_reply(&mut message, &original);
            }
            attach(shared, &mut state, &mut message, &body, &files);
            dispatch(shared, &mut state, "MESSAGE_CREATE", message.clone());
            ("200 OK", message)
        }
        _ => (
            "404 Not Found",
            json!({ "message": "404: Not Found", "code": 0 }),
        ),
    }
}

/// A query string's pairs.
fn query(path: &str) -> Vec<(&str, &str)> {
    path.split_once('?')
        .map(|(_, q)| q.split('&').filter_map(|p| p.split_once('=')).collect())
        .unwrap_or_default()
}

/// `GET /channels/{id}/messages`: with `after`, the `limit` (default 50,
/// at most 100) messages right after that id; without, the newest; newest
/// first either way, as Discord answers.
fn history(log: &[(String, Value)], channel: &str, query: Vec<(&str, &str)>) -> Value {
    let param = |name: &str| query.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
    let limit = param("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(50usize)
        .min(100);
    let after: Option<u64> = param("after").and_then(|a| a.parse().ok());
    let id = |m: &Value| m["id"].as_str().and_then(|i| i.parse::<u64>().ok());
    let mut messages: Vec<&Value> = log
        .iter()
        .filter(|(name, m)| name == "MESSAGE_CREATE" && m["channel_id"] == channel)
        .map(|(_, m)| m)
        .filter(|m| after.is_none_or(|a| id(m) > Some(a)))
        .collect();
    messages.sort_by_key(|m| id(m));
    let page: Vec<&Value> = match after {
        Some(_) => messages.into_iter().take(limit).collect(),
        None => {
            let skip = messages.len().saturating_sub(limit);
            messages.into_iter().skip(skip).collect()
        }
    };
    Value::Array(page.into_iter().rev().cloned().collect())
}

/// `POST /webhooks/{id}/{token}?wait=true`: the message, by the webhook
/// under the name given, dispatched and answered.
pub(crate) fn execute_webhook(
    shared: &Shared,
    state: &mut crate::State,
    id: &str,
    token: &str,
    thread: Option<&str>,
    body: &Value,
    files: &[Upload],
) -> (&'static str, Value) {
    let webhook = state
        .webhooks
        .iter()
        .find(|w| w["id"] == id && w["token"] == token)
        .cloned();
    let Some(webhook) = webhook else {
        return (
            "404 Not Found",
            json!({ "message": "Unknown Webhook", "code": 10015 }),
        );
    };
    // With `thread_id`, in that thread of the webhook's channel.
    let channel = match thread {
        Some(thread) => thread.to_owned(),
        None => webhook["channel_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    };
    let author = json!({
        "id": id,
        "username": body["username"].as_str().unwrap_or("Switchboard"),
        "discriminator": "0000",
        "global_name": null,
        "avatar": null,
        "bot": true
    });
    let message_id = next_id(state);
    let content = body["content"].as_str().unwrap_or_default();
    let mut message = fixture::message(&message_id, &channel, &author, content, None);
    message["webhook_id"] = json!(id);
    message["application_id"] = json!(fixture::BOT_ID);
    attach(shared, state, &mut message, body, files);
    dispatch(shared, state, "MESSAGE_CREATE", message.clone());
    ("200 OK", message)
}

/// A posted message's files as its `attachments`, kept for the CDN.
fn attach(
    shared: &Shared,
    state: &mut crate::State,
    message: &mut Value,
    body: &Value,
    files: &[Upload],
) {
    let channel = message["channel_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let made = multipart::attachments(&shared.api_url, &channel, body, files, || next_id(state));
    for ((object, path), upload) in made.iter().zip(files) {
        message["attachments"]
            .as_array_mut()
            .expect("a message's attachments")
            .push(object.clone());
        state.cdn.insert(path.clone(), upload.bytes.clone());
    }
}
