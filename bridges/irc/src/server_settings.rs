//! The settings a user may make for one IRC server (an ad-hoc form on the
//! server's JID): checked when submitted, then applied to a connection's
//! settings within the operator's bounds.

use switchboard_bridge_api::{Credentials, FieldError, FieldKind, LoginField};

use crate::charset::{channel_encodings, encoding_named, Charsets};
use crate::conn::{ConnSettings, Port};
use crate::ids::valid_nick;
use crate::tls::{parse_fingerprint, Verify};
use crate::FloodPolicy;

/// Ports in one field, at most.
const MAX_PORTS: usize = 8;

/// The per-server settings a user may make.
pub(crate) fn server_fields(flood: &FloodPolicy) -> Vec<LoginField> {
    let text = |name, label, description| LoginField {
        name,
        label,
        description,
        kind: FieldKind::Text,
        required: false,
        default: None,
    };
    let boolean = |name, label, description, default| LoginField {
        name,
        label,
        description,
        kind: FieldKind::Boolean,
        required: false,
        default: Some(default),
    };
    let secret = |name, label, description| LoginField {
        name,
        label,
        description,
        kind: FieldKind::Password,
        required: false,
        default: None,
    };
    vec![
        text(
            "nick",
            "Nickname",
            "Your nick on this server (default: the one you registered)",
        ),
        text(
            "tls_ports",
            "TLS ports",
            "Tried first, in order, e.g. 6697 7000 (default 6697)",
        ),
        text(
            "ports",
            "Plain ports",
            "Unencrypted, tried after the TLS ports and only if listed here, e.g. 6667",
        ),
        boolean(
            "verify_cert",
            "Verify the certificate",
            "Off: any certificate is accepted (you are warned at each connection)",
            "true",
        ),
        text(
            "fingerprint",
            "Certificate fingerprint",
            "SHA-256 of a self-signed server's certificate (hex, colons allowed): \
             accepted instead of a CA's signature",
        ),
        text(
            "port",
            "Port",
            "Old form: one port (use TLS ports or Plain ports)",
        ),
        boolean("tls", "TLS", "Old form: whether Port is a TLS port", "true"),
        secret("password", "Server password", "Sent as PASS"),
        text(
            "sasl_user",
            "SASL account",
            "Your services account (default: your nick)",
        ),
        secret("sasl_password", "SASL password", "Logs in with SASL PLAIN"),
        text("username", "Username", "The user part of your hostmask"),
        text("realname", "Real name", "Shown in WHOIS"),
        // A secret: it often holds a password (IDENTIFY).
        secret(
            "after_connect",
            "Commands after connecting",
            "IRC commands separated by ';', e.g. PRIVMSG NickServ :IDENTIFY secret",
        ),
        text(
            "encoding_in",
            "Incoming encoding",
            "For text that is not UTF-8, e.g. windows-1252 (default ISO-8859-1)",
        ),
        text(
            "encoding_out",
            "Outgoing encoding",
            "What your text is sent in, e.g. iso-8859-15 (default UTF-8)",
        ),
        text(
            "channel_encodings",
            "Channel encodings",
            "Channels with their own encoding, both ways, e.g. #latin=iso-8859-1 #ru=koi8-r",
        ),
        boolean(
            "flood_control",
            "Flood control",
            "Pace lines to the server (the operator may require it)",
            if flood.on { "true" } else { "false" },
        ),
        text(
            "flood_burst",
            "Flood burst",
            leak(format!(
                "Lines sent at once before pacing (default {}, at most {})",
                flood.burst, flood.max_burst
            )),
        ),
        text(
            "flood_rate",
            "Flood rate",
            leak(format!(
                "Lines a second after the burst (default {}, at most {})",
                flood.rate, flood.max_rate
            )),
        ),
    ]
}

/// A description made once per bridge, from the operator's settings.
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn is_true(v: &str) -> bool {
    matches!(v, "true" | "1")
}

/// Port numbers separated by spaces or commas.
fn port_list(field: &'static str, v: &str) -> Result<Vec<u16>, FieldError> {
    let ports: Vec<u16> = v
        .split([' ', ','])
        .filter(|p| !p.is_empty())
        .map(|p| p.parse::<u16>().ok().filter(|p| *p > 0))
        .collect::<Option<_>>()
        .ok_or_else(|| FieldError::new(field, "must be port numbers (1 to 65535)"))?;
    if ports.len() > MAX_PORTS {
        return Err(FieldError::new(field, format!("at most {MAX_PORTS} ports")));
    }
    Ok(ports)
}

/// Checks what a user submitted, naming the field at fault.
pub(crate) fn validate(settings: &Credentials, flood: &FloodPolicy) -> Result<(), FieldError> {
    if let Some(port) = settings.get("port") {
        if port.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(FieldError::new(
                "port",
                "must be a port number (1 to 65535)",
            ));
        }
    }
    for field in ["tls_ports", "ports"] {
        if let Some(v) = settings.get(field) {
            port_list(field, v)?;
        }
    }
    if let Some(f) = settings.get("fingerprint") {
        parse_fingerprint(f).map_err(|r| FieldError::new("fingerprint", r))?;
    }
    for field in ["encoding_in", "encoding_out"] {
        if let Some(v) = settings.get(field) {
            encoding_named(v).map_err(|r| FieldError::new(field, r))?;
        }
    }
    if let Some(v) = settings.get("channel_encodings") {
        channel_encodings(v).map_err(|r| FieldError::new("channel_encodings", r))?;
    }
    if settings.get("flood_control").is_some_and(|v| !is_true(v)) && !flood.may_turn_off() {
        return Err(FieldError::new(
            "flood_control",
            "this gateway's operator requires flood control",
        ));
    }
    if let Some(v) = settings.get("flood_burst") {
        match v.parse::<u32>() {
            Ok(b) if (1..=flood.max_burst).contains(&b) => {}
            _ => {
                return Err(FieldError::new(
                    "flood_burst",
                    format!(
                        "must be a whole number from 1 to {} (this gateway's most)",
                        flood.max_burst
                    ),
                ))
            }
        }
    }
    if let Some(v) = settings.get("flood_rate") {
        match v.parse::<f64>() {
            Ok(r) if r > 0.0 && r <= flood.max_rate => {}
            _ => {
                return Err(FieldError::new(
                    "flood_rate",
                    format!(
                        "must be lines a second, above 0 and at most {} (this gateway's most)",
                        flood.max_rate
                    ),
                ))
            }
        }
    }
    if let Some(nick) = settings.get("nick") {
        valid_nick(nick).map_err(|r| FieldError::new("nick", format!("the nick {r}")))?;
    }
    for (name, value) in settings.iter() {
        if value.contains(['\r', '\n', '\0']) {
            return Err(FieldError::new(name, "may not hold line breaks"));
        }
    }
    Ok(())
}

/// The ports to try: the TLS ports then the plain ones when either is
/// set; else the old single `port` and `tls`, each over the default.
fn ports(settings: &mut ConnSettings, server: &Credentials) {
    let list = |field| {
        server
            .get(field)
            .and_then(|v| port_list(field, v).ok())
            .unwrap_or_default()
    };
    let (tls_ports, plain) = (list("tls_ports"), list("ports"));
    if !tls_ports.is_empty() || !plain.is_empty() {
        let tls = tls_ports
            .into_iter()
            .map(|number| Port { number, tls: true });
        let plain = plain.into_iter().map(|number| Port { number, tls: false });
        settings.ports = tls.chain(plain).collect();
        return;
    }
    let default = settings.default_port;
    let number = server
        .get("port")
        .and_then(|p| p.parse::<u16>().ok())
        .filter(|p| *p > 0)
        .unwrap_or(default.number);
    let tls = server.get("tls").map_or(default.tls, is_true);
    settings.ports = vec![Port { number, tls }];
}

/// Applies a user's per-server settings to a connection's settings; stored
/// values the operator's bounds no longer allow are brought within them.
pub(crate) fn apply_server_settings(settings: &mut ConnSettings, server: &Credentials) {
    ports(settings, server);
    settings.verify = Verify::Ca;
    if let Some(pin) = server
        .get("fingerprint")
        .and_then(|f| parse_fingerprint(f).ok())
    {
        settings.verify = Verify::Pin(pin);
    } else if server.get("verify_cert").is_some_and(|v| !is_true(v)) {
        settings.verify = Verify::Off;
    }
    let encoding = |field| server.get(field).and_then(|v| encoding_named(v).ok());
    settings.charsets = Charsets {
        incoming: encoding("encoding_in"),
        outgoing: encoding("encoding_out"),
        channels: server
            .get("channel_encodings")
            .and_then(|v| channel_encodings(v).ok())
            .unwrap_or_default(),
    };
    settings.flood = settings.flood_policy.for_user(
        server.get("flood_control").map(is_true),
        server.get("flood_burst").and_then(|v| v.parse().ok()),
        server.get("flood_rate").and_then(|v| v.parse().ok()),
    );
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::feed_offline_settings;

    fn form(pairs: &[(&str, &str)]) -> Credentials {
        let mut c = Credentials::new();
        for (k, v) in pairs {
            c.set(*k, *v);
        }
        c
    }

    fn applied(pairs: &[(&str, &str)]) -> ConnSettings {
        let mut s = feed_offline_settings();
        s.default_port = Port {
            number: 6697,
            tls: true,
        };
        apply_server_settings(&mut s, &form(pairs));
        s
    }

    #[test]
    fn tls_ports_come_before_plain_ports_and_the_old_fields_still_work() {
        let p = |number, tls| Port { number, tls };
        assert_eq!(
            applied(&[("tls_ports", "7000 6697"), ("ports", "6667"), ("port", "1")]).ports,
            [p(7000, true), p(6697, true), p(6667, false)]
        );
        assert_eq!(
            applied(&[("port", "6667"), ("tls", "false")]).ports,
            [p(6667, false)]
        );
        assert_eq!(applied(&[("port", "7000")]).ports, [p(7000, true)]);
        assert_eq!(applied(&[("tls", "0")]).ports, [p(6697, false)]);
        assert_eq!(applied(&[]).ports, [p(6697, true)]);
    }

    #[test]
    fn a_pin_wins_over_verify_off() {
        let pin = "AB".repeat(32);
        assert_eq!(applied(&[]).verify, Verify::Ca);
        assert_eq!(applied(&[("verify_cert", "false")]).verify, Verify::Off);
        assert_eq!(
            applied(&[("verify_cert", "false"), ("fingerprint", &pin)]).verify,
            Verify::Pin([0xAB; 32])
        );
    }

    #[test]
    fn mistakes_are_refused_naming_the_field() {
        let flood = FloodPolicy::default();
        for (pairs, field) in [
            (vec![("encoding_in", "latin-42")], "encoding_in"),
            (vec![("encoding_out", "utf-16")], "encoding_out"),
            (vec![("channel_encodings", "#a=nope")], "channel_encodings"),
            (vec![("fingerprint", "abcd")], "fingerprint"),
            (vec![("tls_ports", "6697 x")], "tls_ports"),
            (vec![("ports", "0")], "ports"),
            (vec![("flood_burst", "1000")], "flood_burst"),
            (vec![("flood_rate", "0")], "flood_rate"),
            (vec![("flood_control", "false")], "flood_control"),
        ] {
            let e = validate(&form(&pairs), &flood).unwrap_err();
            assert_eq!(e.field, field, "{pairs:?}");
        }
        assert!(validate(
            &form(&[
                ("encoding_in", "windows-1252"),
                ("channel_encodings", "#a=koi8-r"),
                ("flood_burst", "10"),
                ("flood_rate", "0.5"),
                ("fingerprint", &"ab:".repeat(32)[..95]),
            ]),
            &flood
        )
        .is_ok());
    }

    #[test]
    fn flood_settings_stay_within_the_operators_bounds() {
        let s = applied(&[("flood_burst", "3"), ("flood_rate", "0.5")]);
        assert_eq!(s.flood, Some((3, 0.5)));
        // Stored before the operator lowered the ceiling, or turned off
        // where the operator does not allow it.
        let s = applied(&[("flood_burst", "500"), ("flood_control", "false")]);
        assert_eq!(s.flood, Some((FloodPolicy::default().max_burst, 2.0)));
    }
}
