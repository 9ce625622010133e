//! A loopback TCP relay in front of Synapse that can hold back the
//! answers to `/sync`: while it holds, a client's other calls (sending,
//! uploading) go through, but nothing it sends comes back to it as news.
//! A test uses it to stop a gateway between a send and its echo. A
//! connection's answer belongs to the last request line seen going up it
//! (HTTP/1.1 clients do not pipeline). Included with `#[path]`.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The relay; its answers to `/sync` held while [`SyncGate::hold`] is on.
pub struct SyncGate {
    /// The port clients connect to.
    pub port: u16,
    held: watch::Sender<bool>,
}

impl SyncGate {
    /// Listens on a free loopback port, relaying to `target`.
    pub async fn start(target: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (held, _) = watch::channel(false);
        let gate = held.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)).await else {
                    continue;
                };
                tokio::spawn(relay(client, server, gate.subscribe()));
            }
        });
        Self { port, held }
    }

    /// The relay's base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// From now on, answers to `/sync` wait (those under way too).
    pub fn hold(&self) {
        self.held.send_replace(true);
    }

    /// Answers to `/sync` flow again.
    pub fn release(&self) {
        self.held.send_replace(false);
    }
}

/// Relays one connection both ways, the answer to a `/sync` waiting while
/// the gate holds.
async fn relay(client: TcpStream, server: TcpStream, mut held: watch::Receiver<bool>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let syncing = Arc::new(AtomicBool::new(false));
    let up = {
        let syncing = Arc::clone(&syncing);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match client_read.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let head = String::from_utf8_lossy(&buf[..n.min(512)]);
                let line = head.lines().next().unwrap_or_default();
                if ["GET ", "POST ", "PUT ", "DELETE "]
                    .iter()
                    .any(|m| line.starts_with(m))
                {
                    syncing.store(line.contains("/sync"), Ordering::SeqCst);
                }
                if server_write.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
            let _ = server_write.shutdown().await;
        })
    };
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match server_read.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if syncing.load(Ordering::SeqCst) && held.wait_for(|h| !*h).await.is_err() {
            break;
        }
        if client_write.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = client_write.shutdown().await;
    up.abort();
}
