//! Raw server bytes fed to a connection's line handling without a socket,
//! for fuzzing: the same reading, decoding and handling a real connection
//! does, with its lines to the server written nowhere.

use irc_proto::Message as IrcMessage;
use switchboard_bridge_api::{channel, Event};
use tokio::io::BufReader;

use super::{Conn, ConnSettings, Wanted};
use crate::line::read_line;
use crate::listing::Listing;

/// Feeds `input`, as if a server sent it, to a connection that has asked
/// to join `#fuzz` and to list rooms, and returns the events it told the
/// core, in order. It stops where the connection would end (an `ERROR`
/// line, a bound broken). Must run inside a tokio runtime. Whatever `input`
/// holds, it must not panic, and the events stay bounded by the input.
pub async fn feed_server_lines(input: &[u8]) -> Vec<Event> {
    let (events, mut told) = channel::channel(switchboard_bridge_api::CHANNEL_BOUND);
    let collect = tokio::spawn(async move {
        let mut all = Vec::new();
        while let Some(e) = told.recv().await {
            all.push(e);
        }
        all
    });
    let settings = offline_settings("irc.fuzz");
    let mut conn = Conn::new("irc.fuzz".into(), settings, events);
    conn.wanted.insert(
        "#fuzz".into(),
        Wanted {
            name: "#fuzz".into(),
            nick: "me".into(),
            key: None,
        },
    );
    conn.listing = Some(Listing::new("fuzz".into(), None, 50));
    let mut reader = BufReader::with_capacity(512, input);
    let mut sink = tokio::io::sink();
    let mut registered = false;
    let mut buf = Vec::new();
    while let Ok(n) = read_line(&mut reader, &mut buf).await {
        if n == 0 {
            break;
        }
        let line = conn.settings.charsets.decode(&buf);
        buf.clear();
        let Ok(msg) = line.trim_end_matches(['\r', '\n']).parse::<IrcMessage>() else {
            continue;
        };
        if Box::pin(conn.on_message(msg, &mut sink, &mut registered))
            .await
            .is_err()
        {
            break;
        }
    }
    drop(conn);
    collect.await.unwrap_or_default()
}

/// Settings for a connection that never connects (`name` on port 6667,
/// the default policy): for feeding lines by hand.
pub(super) fn offline_settings(name: &str) -> ConnSettings {
    ConnSettings {
        name: name.into(),
        host: crate::host::normalise(name).expect("a valid server name"),
        ports: vec![super::Port {
            number: 6667,
            tls: false,
        }],
        default_port: super::Port {
            number: 6667,
            tls: false,
        },
        listed_port: None,
        verify: Default::default(),
        trust: crate::tls::Trust::new(&[]),
        policy: std::sync::Arc::new(crate::policy::Policy::default()),
        timeouts: crate::policy::Timeouts::default(),
        queue_limit: 256,
        password: None,
        nick: "me".into(),
        username: "me".into(),
        realname: "me".into(),
        flood: None,
        flood_policy: crate::FloodPolicy::default(),
        sasl: None,
        after_connect: Vec::new(),
        charsets: Default::default(),
    }
}
