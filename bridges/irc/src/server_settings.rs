//! The settings a user may make for one IRC server (an ad-hoc form on the
//! server's JID), and how they change a connection's settings.

use switchboard_bridge_api::{Credentials, FieldKind, LoginField};

use crate::conn::ConnSettings;
use crate::ids::valid_nick;

/// The per-server settings a user may make.
pub(crate) fn server_fields() -> Vec<LoginField> {
    let text = |name, label, description| LoginField {
        name,
        label,
        description,
        kind: FieldKind::Text,
        required: false,
        default: None,
    };
    vec![
        text(
            "nick",
            "Nickname",
            "Your nick on this server (default: the one you registered)",
        ),
        text("port", "Port", "The server's port (default 6697 with TLS)"),
        LoginField {
            name: "tls",
            label: "TLS",
            description: "Encrypt the connection (certificates are checked)",
            kind: FieldKind::Boolean,
            required: false,
            default: Some("true"),
        },
        LoginField {
            name: "password",
            label: "Server password",
            description: "Sent as PASS",
            kind: FieldKind::Password,
            required: false,
            default: None,
        },
        text(
            "sasl_user",
            "SASL account",
            "Your services account (default: your nick)",
        ),
        LoginField {
            name: "sasl_password",
            label: "SASL password",
            description: "Logs in with SASL PLAIN",
            kind: FieldKind::Password,
            required: false,
            default: None,
        },
        text("username", "Username", "The user part of your hostmask"),
        text("realname", "Real name", "Shown in WHOIS"),
        // A secret: it often holds a password (IDENTIFY).
        LoginField {
            name: "after_connect",
            label: "Commands after connecting",
            description: "IRC commands separated by ';', e.g. PRIVMSG NickServ :IDENTIFY secret",
            kind: FieldKind::Password,
            required: false,
            default: None,
        },
    ]
}

/// Applies a user's per-server settings to a connection's settings.
pub(crate) fn apply_server_settings(settings: &mut ConnSettings, server: &Credentials) {
    if let Some(port) = server.get("port").and_then(|p| p.parse::<u16>().ok()) {
        settings.port = port;
    }
    if let Some(tls) = server.get("tls") {
        settings.tls = matches!(tls, "true" | "1");
    }
    let clean = |v: &str| -> String {
        v.chars()
            .filter(|c| !matches!(c, '\r' | '\n' | '\0'))
            .collect()
    };
    if let Some(nick) = server.get("nick").filter(|n| valid_nick(n).is_ok()) {
        settings.nick = nick.to_owned();
    }
    if let Some(p) = server.get("password") {
        settings.password = Some(clean(p));
    }
    if let Some(p) = server.get("sasl_password") {
        let user = server.get("sasl_user").unwrap_or(&settings.nick);
        settings.sasl = Some((clean(user), clean(p)));
    }
    if let Some(u) = server.get("username") {
        let u: String = u
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(9)
            .collect();
        if !u.is_empty() {
            settings.username = u;
        }
    }
    if let Some(r) = server.get("realname") {
        settings.realname = clean(r);
    }
    if let Some(cmds) = server.get("after_connect") {
        settings.after_connect = cmds
            .split(';')
            .map(|c| clean(c).trim().to_owned())
            .filter(|c| !c.is_empty())
            .collect();
    }
}
