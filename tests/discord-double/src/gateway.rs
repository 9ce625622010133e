//! The gateway: one websocket connection per client, speaking v10's JSON
//! payloads (`op`, `d`, `s`, `t`).
//!
//! A session starts with IDENTIFY: READY is its sequence number 1 and
//! GUILD_CREATE its 2; the shared log's dispatches from then on follow with
//! 3, 4, …. A RESUME naming a known session and a sequence number replays
//! what came after it, then RESUMED; an unknown session gets
//! INVALID_SESSION (`d: false`). READY and GUILD_CREATE come zlib-compressed
//! in binary frames when IDENTIFY asks for payload compression (serenity
//! does), as Discord sends large payloads.

use std::io::Write;
use std::sync::Arc;

use flate2::write::ZlibEncoder;
use flate2::Compression;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use crate::{fixture, Shared, BOT_TOKEN};

pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    while let Ok((stream, _)) = listener.accept().await {
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            if let Ok(ws) = tokio_tungstenite::accept_async(stream).await {
                connection(ws, shared).await;
            }
        });
    }
}

/// What a connection is following: a session's start in the log, and how
/// much of the log it has sent.
struct Following {
    start: usize,
    sent: usize,
    generation: u64,
}

async fn connection(mut ws: WebSocketStream<TcpStream>, shared: Arc<Shared>) {
    let mut dropped = shared.drop_all.subscribe();
    loop {
        let released = shared.released.notified();
        if !shared.state.lock().unwrap().held {
            break;
        }
        released.await;
    }
    let hello = json!({ "op": 10, "d": { "heartbeat_interval": 41250 }, "s": null, "t": null });
    if send(&mut ws, &hello).await.is_err() {
        return;
    }
    let generation = shared.state.lock().unwrap().generation;
    let mut woken = shared.dispatched.subscribe();
    let mut ops = shared.ops.subscribe();
    let mut following: Option<Following> = None;
    loop {
        let step = tokio::select! {
            _ = dropped.recv() => Err(()),
            op = ops.recv() => match op {
                Ok(op) => send(&mut ws, &op).await,
                Err(_) => Ok(()),
            },
            _ = woken.recv(), if following.is_some() => match following.as_mut() {
                Some(f) => flush(&mut ws, &shared, f).await,
                None => Ok(()),
            },
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(text))) => match serde_json::from_str::<Value>(&text) {
                    Ok(payload) => {
                        receive(&mut ws, &shared, generation, &payload, &mut following).await
                    }
                    Err(_) => Err(()),
                },
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => Err(()),
                Some(Ok(_)) => Ok(()),
            },
        };
        if step.is_err() {
            return;
        }
    }
}

/// One payload from the client: a heartbeat, IDENTIFY or RESUME.
async fn receive(
    ws: &mut WebSocketStream<TcpStream>,
    shared: &Shared,
    generation: u64,
    payload: &Value,
    following: &mut Option<Following>,
) -> Result<(), ()> {
    match payload["op"].as_u64() {
        Some(1) => {
            shared.state.lock().unwrap().heartbeats += 1;
            send(ws, &json!({ "op": 11, "d": null, "s": null, "t": null })).await
        }
        Some(2) => identify(ws, shared, generation, &payload["d"], following).await,
        Some(6) => resume(ws, shared, generation, &payload["d"], following).await,
        _ => Ok(()),
    }
}

/// IDENTIFY: a new session, READY and GUILD_CREATE, then the log from now.
async fn identify(
    ws: &mut WebSocketStream<TcpStream>,
    shared: &Shared,
    generation: u64,
    d: &Value,
    following: &mut Option<Following>,
) -> Result<(), ()> {
    if !token_ok(&d["token"]) {
        let _ = ws
            .close(Some(CloseFrame {
                code: CloseCode::from(4004),
                reason: "Authentication failed.".into(),
            }))
            .await;
        return Err(());
    }
    let (session_id, start) = {
        let mut state = shared.state.lock().unwrap();
        state.identifies += 1;
        (format!("session-{}", state.identifies), state.log.len())
    };
    shared
        .state
        .lock()
        .unwrap()
        .sessions
        .insert(session_id.clone(), start);
    let ready = fixture::ready(&session_id, &shared.gateway_url);
    // With `compress: true` Discord zlib-compresses large payloads and
    // sends them as binary frames: a session's first two are the large ones.
    let compress = d["compress"].as_bool() == Some(true);
    send_maybe_compressed(ws, &dispatch_payload(1, "READY", &ready), compress).await?;
    let guild = dispatch_payload(2, "GUILD_CREATE", &shared.guild);
    send_maybe_compressed(ws, &guild, compress).await?;
    let f = following.insert(Following {
        start,
        sent: start,
        generation,
    });
    flush(ws, shared, f).await
}

/// RESUME: a known session's dispatches after `seq`, then RESUMED; an
/// unknown session (or token) gets INVALID_SESSION, not resumable.
async fn resume(
    ws: &mut WebSocketStream<TcpStream>,
    shared: &Shared,
    generation: u64,
    d: &Value,
    following: &mut Option<Following>,
) -> Result<(), ()> {
    let known = d["session_id"]
        .as_str()
        .and_then(|s| shared.state.lock().unwrap().sessions.get(s).copied());
    let (Some(start), Some(seq), true) = (known, d["seq"].as_u64(), token_ok(&d["token"])) else {
        return send(ws, &json!({ "op": 9, "d": false, "s": null, "t": null })).await;
    };
    shared.state.lock().unwrap().resumes += 1;
    // Sequence numbers 1 and 2 were READY and GUILD_CREATE.
    let sent = start + (seq as usize).saturating_sub(2);
    let f = following.insert(Following {
        start,
        sent,
        generation,
    });
    flush(ws, shared, f).await?;
    let seq = 2 + (f.sent - f.start) as u64;
    send(ws, &dispatch_payload(seq, "RESUMED", &Value::Null)).await
}

/// Whether an IDENTIFY or RESUME carries the bot's token (with or without
/// the `Bot ` prefix).
fn token_ok(token: &Value) -> bool {
    let token = token.as_str().unwrap_or_default();
    token.strip_prefix("Bot ").unwrap_or(token) == BOT_TOKEN
}

/// Sends the dispatches of the log this connection has not sent yet.
async fn flush(
    ws: &mut WebSocketStream<TcpStream>,
    shared: &Shared,
    f: &mut Following,
) -> Result<(), ()> {
    loop {
        let next = {
            let state = shared.state.lock().unwrap();
            if state.generation != f.generation {
                return Err(());
            }
            state.log.get(f.sent).cloned()
        };
        let Some((name, data)) = next else {
            return Ok(());
        };
        let seq = 3 + (f.sent - f.start) as u64;
        send(ws, &dispatch_payload(seq, &name, &data)).await?;
        f.sent += 1;
    }
}

fn dispatch_payload(seq: u64, name: &str, data: &Value) -> Value {
    json!({ "op": 0, "d": data, "s": seq, "t": name })
}

/// Sends `payload` as a zlib-compressed binary frame (payload compression,
/// as IDENTIFY's `compress: true` asks), or as text.
async fn send_maybe_compressed(
    ws: &mut WebSocketStream<TcpStream>,
    payload: &Value,
    compress: bool,
) -> Result<(), ()> {
    if !compress {
        return send(ws, payload).await;
    }
    let mut zlib = ZlibEncoder::new(Vec::new(), Compression::default());
    zlib.write_all(payload.to_string().as_bytes())
        .map_err(|_| ())?;
    let bytes = zlib.finish().map_err(|_| ())?;
    ws.send(Message::Binary(bytes)).await.map_err(|_| ())
}

async fn send(ws: &mut WebSocketStream<TcpStream>, payload: &Value) -> Result<(), ()> {
    ws.send(Message::Text(payload.to_string()))
        .await
        .map_err(|_| ())
}
