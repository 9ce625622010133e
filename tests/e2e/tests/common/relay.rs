//! A loopback TCP relay in front of the XMPP server, so that a test can
//! kill a client's stream the way a lost connection does: the sockets are
//! reset, no closing tag and no unavailable presence come from the client.
#![allow(dead_code)]

use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// A relay to one port; every connection through it dies with [`Relay::cut`].
pub struct Relay {
    /// The port clients connect to.
    pub port: u16,
    task: JoinHandle<()>,
}

impl Relay {
    /// Listens on a free loopback port and relays each connection to `target`.
    pub async fn start(target: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            // Owned here: aborting this task drops the set, which aborts
            // every connection's task and drops its sockets.
            let mut conns = JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                let Ok(mut server) = TcpStream::connect(("127.0.0.1", target)).await else {
                    continue;
                };
                for s in [&client, &server] {
                    // Dropped with linger 0: a reset, as when a phone's link dies.
                    let _ = s.set_zero_linger();
                }
                conns.spawn(async move {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
            }
        });
        Relay { port, task }
    }

    /// Resets every relayed connection at once and takes no more.
    pub fn cut(self) {
        self.task.abort();
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}
