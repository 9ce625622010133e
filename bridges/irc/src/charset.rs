//! Character sets on the wire, per server and per channel: how a server's
//! bytes become text and what bytes the user's text becomes.
//!
//! A line that is valid UTF-8 is read as UTF-8 whatever is set (as biboumi
//! does): legacy text is almost never valid UTF-8 by accident. Any other
//! line is decoded with the channel's encoding, else the server's, else
//! Latin-1. Nothing is dropped: a byte the encoding cannot read becomes
//! U+FFFD, a character it cannot write becomes `?`.

use encoding_rs::{EncoderResult, Encoding, UTF_8};

use crate::ids::irc_lowercase;

/// The encodings of one server connection.
#[derive(Clone, Debug, Default)]
pub struct Charsets {
    /// For lines that are not UTF-8; `None`: Latin-1 (ISO 8859-1, byte for byte).
    pub incoming: Option<&'static Encoding>,
    /// What is sent; `None`: UTF-8.
    pub outgoing: Option<&'static Encoding>,
    /// Channels with their own encoding (both ways), by lowercase name.
    pub channels: Vec<(String, &'static Encoding)>,
}

/// The encoding a name (a WHATWG label: `iso-8859-1`, `windows-1252`,
/// `koi8-r`, `shift_jis`, `utf-8`…) stands for, if IRC can carry it: not
/// UTF-16 (its line ends are not `\n` bytes) nor the replacement encoding.
pub fn encoding_named(name: &str) -> Result<&'static Encoding, String> {
    let enc = Encoding::for_label(name.trim().as_bytes())
        .ok_or_else(|| format!("{name:?} is not an encoding this gateway knows"))?;
    if enc.output_encoding() != enc {
        return Err(format!("{name:?} cannot carry IRC lines"));
    }
    Ok(enc)
}

/// Reads `#chan=encoding` pairs separated by spaces or commas.
pub fn channel_encodings(spec: &str) -> Result<Vec<(String, &'static Encoding)>, String> {
    spec.split([' ', ','])
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (chan, name) = pair
                .split_once('=')
                .filter(|(c, _)| c.starts_with(['#', '&', '+', '!']) && c.len() > 1)
                .ok_or_else(|| format!("{pair:?} is not #channel=encoding"))?;
            Ok((irc_lowercase(chan), encoding_named(name)?))
        })
        .collect()
}

impl Charsets {
    /// Whether anything differs from the defaults (UTF-8 out, Latin-1 fallback in).
    fn is_default(&self) -> bool {
        self.incoming.is_none() && self.outgoing.is_none() && self.channels.is_empty()
    }

    /// The channel's own encoding, if a middle parameter of the line (the
    /// target of a message, the channel of a numeric) names such a channel.
    fn channel_of(&self, line: &[u8]) -> Option<&'static Encoding> {
        if self.channels.is_empty() {
            return None;
        }
        let mut words = line.split(|&b| b == b' ').filter(|w| !w.is_empty());
        let mut first = words.next()?;
        if first.starts_with(b"@") {
            first = words.next()?;
        }
        if first.starts_with(b":") {
            words.next()?;
        }
        // The command is gone; the parameters before the trailing one.
        words
            .take_while(|w| !w.starts_with(b":"))
            .take(3)
            .find_map(|w| {
                let w = std::str::from_utf8(w).ok()?;
                let w = irc_lowercase(w.trim_end_matches(['\r', '\n']));
                self.channels
                    .iter()
                    .find(|(c, _)| *c == w)
                    .map(|(_, enc)| *enc)
            })
    }

    /// Text of one line from the server.
    pub fn decode(&self, raw: &[u8]) -> String {
        if let Ok(s) = std::str::from_utf8(raw) {
            return s.to_owned();
        }
        match self.channel_of(raw).or(self.incoming) {
            Some(enc) => enc.decode_without_bom_handling(raw).0.into_owned(),
            None => raw.iter().map(|&b| b as char).collect(),
        }
    }

    /// Appends one line (already made safe, CR LF not included) in its encoding.
    pub fn encode(&self, line: &str, out: &mut Vec<u8>) {
        if self.is_default() {
            out.extend_from_slice(line.as_bytes());
            return;
        }
        let enc = self
            .channel_of(line.as_bytes())
            .or(self.outgoing)
            .unwrap_or(UTF_8);
        if enc == UTF_8 {
            out.extend_from_slice(line.as_bytes());
            return;
        }
        let mut encoder = enc.new_encoder();
        let mut rest = line;
        let mut chunk = [0u8; 256];
        loop {
            let (result, read, written) =
                encoder.encode_from_utf8_without_replacement(rest, &mut chunk, true);
            out.extend_from_slice(&chunk[..written]);
            rest = &rest[read..];
            match result {
                EncoderResult::InputEmpty => return,
                EncoderResult::OutputFull => {}
                EncoderResult::Unmappable(_) => out.push(b'?'),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn latin_chan() -> Charsets {
        Charsets {
            channels: channel_encodings("#Latin=iso-8859-1 #cyr=koi8-r").unwrap(),
            ..Charsets::default()
        }
    }

    #[test]
    fn defaults_are_utf8_with_a_latin1_fallback() {
        let c = Charsets::default();
        assert_eq!(c.decode("café".as_bytes()), "café");
        assert_eq!(c.decode(b"caf\xe9 \x80"), "café \u{80}");
        let mut out = Vec::new();
        c.encode("PRIVMSG #a :café", &mut out);
        assert_eq!(out, "PRIVMSG #a :café".as_bytes());
    }

    #[test]
    fn the_server_encoding_reads_and_writes_legacy_bytes() {
        let c = Charsets {
            incoming: Some(encoding_named("windows-1252").unwrap()),
            outgoing: Some(encoding_named("windows-1252").unwrap()),
            channels: Vec::new(),
        };
        assert_eq!(
            c.decode(b":a!b@c PRIVMSG #x :\x80 caf\xe9"),
            ":a!b@c PRIVMSG #x :€ café"
        );
        // Valid UTF-8 stays UTF-8.
        assert_eq!(c.decode("PRIVMSG #x :€".as_bytes()), "PRIVMSG #x :€");
        let mut out = Vec::new();
        c.encode("PRIVMSG #x :€ café ✓", &mut out);
        assert_eq!(out, b"PRIVMSG #x :\x80 caf\xe9 ?");
    }

    #[test]
    fn a_channel_encoding_overrides_the_server_both_ways() {
        let c = latin_chan();
        assert_eq!(
            c.decode(b"@time=x :a!b@c PRIVMSG #latin :\xc0 bient\xf4t"),
            "@time=x :a!b@c PRIVMSG #latin :À bientôt"
        );
        assert_eq!(
            c.decode(b":s 332 me #CYR :\xf0\xd2\xc9\xd7\xc5\xd4"),
            ":s 332 me #CYR :Привет"
        );
        let mut out = Vec::new();
        c.encode("PRIVMSG #LATIN :À bientôt", &mut out);
        assert_eq!(out, b"PRIVMSG #LATIN :\xc0 bient\xf4t");
        out.clear();
        c.encode("PRIVMSG #other :À", &mut out);
        assert_eq!(out, "PRIVMSG #other :À".as_bytes());
        // A channel named only in the text is not the target.
        out.clear();
        c.encode("PRIVMSG #other :see #latin: é", &mut out);
        assert_eq!(out, "PRIVMSG #other :see #latin: é".as_bytes());
    }

    #[test]
    fn bad_names_are_refused() {
        assert!(encoding_named("latin-9000").is_err());
        assert!(encoding_named("utf-16le").is_err());
        assert!(channel_encodings("latin=iso-8859-1").is_err());
        assert!(channel_encodings("#a=nope").is_err());
        assert_eq!(channel_encodings(" #a=utf-8, ").unwrap().len(), 1);
    }

    #[test]
    fn undecodable_bytes_become_replacement_characters() {
        let c = Charsets {
            incoming: Some(encoding_named("shift_jis").unwrap()),
            ..Charsets::default()
        };
        assert_eq!(
            c.decode(b"PRIVMSG #a :\x82\xa0 \xff"),
            "PRIVMSG #a :\u{3042} \u{FFFD}"
        );
    }
}
