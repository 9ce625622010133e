//! IRCv3 capability negotiation (`CAP LS 302`): collects a multi-line
//! `LS`, requests only what the server offers and this bridge handles,
//! ends the negotiation once every request is answered (or SASL is under
//! way), and follows `cap-notify`'s `NEW` and `DEL` afterwards.
//!
//! It only decides: the lines it returns are for the caller to send.

/// Names kept from one `LS` reply, however many lines a server sends.
const MAX_OFFERED: usize = 256;

/// The capabilities this bridge asks for when offered (SASL only when the
/// user set an account).
///
/// Some change nothing here but what the server sends: `chghost` and
/// `setname` replace a quit-and-rejoin with one line the bridge ignores,
/// `account-notify`, `invite-notify` and `extended-join` add lines or
/// fields it ignores; `batch` wraps lines it handles one by one (but for
/// a `chathistory` batch, a catch-up asked for with `draft/chathistory`).
pub const HANDLED: &[&str] = &[
    "account-notify",
    "away-notify",
    "batch",
    "cap-notify",
    "chghost",
    "draft/chathistory",
    "draft/message-redaction",
    "echo-message",
    "extended-join",
    "invite-notify",
    "labeled-response",
    "message-tags",
    "multi-prefix",
    "server-time",
    "setname",
];

/// A capability's bit in [`Caps::enabled`]: its place in [`HANDLED`], and
/// the one after those for `sasl`; `None` for a name this bridge never asks for.
fn bit(cap: &str) -> Option<u32> {
    const _: () = assert!(HANDLED.len() < 32);
    HANDLED
        .iter()
        .position(|c| *c == cap)
        .or_else(|| (cap == "sasl").then_some(HANDLED.len()))
        .map(|i| 1 << i)
}

/// The negotiation's state for one connection.
#[derive(Debug, Default)]
pub struct Caps {
    /// Ask for `sasl` too.
    sasl: bool,
    /// Names from `LS` lines so far (a multi-line reply not finished yet).
    listing: Vec<String>,
    /// Requests sent and not answered yet.
    pending: usize,
    /// Capabilities the server acknowledged (and did not take back): a bit
    /// per name in [`HANDLED`] and one for `sasl` ([`bit`]), as only those
    /// are kept: no string, and no tree node of eleven, per connection.
    enabled: u32,
    /// `CAP END` was sent (or registration went on without it).
    ended: bool,
    /// SASL is under way: its end sends `CAP END`.
    authenticating: bool,
}

impl Caps {
    /// A negotiation about to start; `sasl` when the user has an account.
    pub fn new(sasl: bool) -> Self {
        Self {
            sasl,
            ..Self::default()
        }
    }

    /// Whether the server acknowledged `cap`.
    pub fn has(&self, cap: &str) -> bool {
        bit(cap).is_some_and(|b| self.enabled & b != 0)
    }

    /// SASL finished (well or not): ends the negotiation.
    pub fn sasl_done(&mut self) -> Vec<String> {
        self.authenticating = false;
        self.maybe_end()
    }

    /// `CAP <sub> <a> <b>` from the server (`a` and `b` as irc-proto gives
    /// them: a multi-line `LS` has `*` in `a` and the names in `b`).
    /// Returns the lines to send.
    pub fn on_cap(&mut self, sub: &str, a: Option<&str>, b: Option<&str>) -> Vec<String> {
        let (more, list) = match (a, b) {
            (Some("*"), Some(list)) => (true, list),
            (Some(list), None) | (_, Some(list)) => (false, list),
            (None, None) => (false, ""),
        };
        let names = list
            .split_whitespace()
            .map(|c| c.split('=').next().unwrap_or(c));
        match sub {
            "LS" => {
                let room = MAX_OFFERED.saturating_sub(self.listing.len());
                self.listing.extend(names.take(room).map(str::to_owned));
                if more {
                    return Vec::new();
                }
                let offered = std::mem::take(&mut self.listing);
                let mut out = self.request(offered.iter().map(String::as_str));
                if out.is_empty() {
                    out = self.maybe_end();
                }
                out
            }
            "NEW" => self.request(names),
            "DEL" => {
                for n in names {
                    self.enabled &= !bit(n).unwrap_or(0);
                }
                Vec::new()
            }
            "ACK" => {
                self.pending = self.pending.saturating_sub(1);
                let mut out = Vec::new();
                for n in names {
                    // `-name` in an ACK: the server took it off.
                    if let Some(off) = n.strip_prefix('-') {
                        self.enabled &= !bit(off).unwrap_or(0);
                        continue;
                    }
                    if n == "sasl" && !self.ended && self.sasl && !self.authenticating {
                        self.authenticating = true;
                        out.push("AUTHENTICATE PLAIN".to_owned());
                    }
                    // Only what this bridge asks for is kept (a server's
                    // ACK of anything else is ignored).
                    if let Some(b) = bit(n) {
                        self.enabled |= b;
                    }
                }
                out.extend(self.maybe_end());
                out
            }
            "NAK" => {
                self.pending = self.pending.saturating_sub(1);
                self.maybe_end()
            }
            _ => Vec::new(),
        }
    }

    /// A `CAP REQ` for what is offered, handled and not enabled yet.
    fn request<'a>(&mut self, offered: impl Iterator<Item = &'a str>) -> Vec<String> {
        let mut want: Vec<&str> = offered
            .filter(|c| HANDLED.contains(c) || (*c == "sasl" && self.sasl && !self.ended))
            .filter(|c| !self.has(c))
            .collect();
        want.sort_unstable();
        want.dedup();
        if want.is_empty() {
            return Vec::new();
        }
        self.pending += 1;
        vec![format!("CAP REQ :{}", want.join(" "))]
    }

    /// `CAP END` once, when nothing is pending any more.
    fn maybe_end(&mut self) -> Vec<String> {
        if self.ended || self.pending > 0 || self.authenticating {
            return Vec::new();
        }
        self.ended = true;
        vec!["CAP END".to_owned()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_multi_line_ls_is_answered_once_with_what_is_handled() {
        let mut c = Caps::new(false);
        assert!(c
            .on_cap(
                "LS",
                Some("*"),
                Some("multi-prefix extended-join sts=port=6697")
            )
            .is_empty());
        let out = c.on_cap(
            "LS",
            Some("server-time draft/chathistory=100 echo-message unknown-thing"),
            None,
        );
        assert_eq!(
            out,
            ["CAP REQ :draft/chathistory echo-message extended-join multi-prefix server-time"]
        );
        assert!(!c.ended);
        assert_eq!(
            c.on_cap(
                "ACK",
                Some("draft/chathistory echo-message extended-join multi-prefix server-time"),
                None
            ),
            ["CAP END"]
        );
        assert!(c.has("echo-message") && c.has("server-time") && c.has("draft/chathistory"));
        assert!(!c.has("sts"));
    }

    #[test]
    fn nothing_offered_that_is_handled_ends_at_once() {
        let mut c = Caps::new(false);
        assert_eq!(
            c.on_cap("LS", Some("sts=port=6697 sasl=PLAIN"), None),
            ["CAP END"]
        );
        assert!(!c.has("sasl"));
    }

    #[test]
    fn a_nak_ends_the_negotiation_without_enabling() {
        let mut c = Caps::new(false);
        assert_eq!(
            c.on_cap("LS", Some("away-notify"), None),
            ["CAP REQ :away-notify"]
        );
        assert_eq!(c.on_cap("NAK", Some("away-notify"), None), ["CAP END"]);
        assert!(!c.has("away-notify"));
    }

    #[test]
    fn sasl_holds_the_end_until_it_is_done() {
        let mut c = Caps::new(true);
        assert_eq!(
            c.on_cap("LS", Some("sasl=PLAIN,EXTERNAL server-time"), None),
            ["CAP REQ :sasl server-time"]
        );
        assert_eq!(
            c.on_cap("ACK", Some("sasl server-time"), None),
            ["AUTHENTICATE PLAIN"]
        );
        assert!(!c.ended);
        assert_eq!(c.sasl_done(), ["CAP END"]);
        assert!(c.sasl_done().is_empty(), "CAP END only once");
    }

    #[test]
    fn cap_notify_new_and_del_after_registration() {
        let mut c = Caps::new(true);
        c.on_cap("LS", Some("cap-notify"), None);
        c.on_cap("ACK", Some("cap-notify"), None);
        assert!(c.ended);
        // NEW: only what is handled and not enabled; no second CAP END,
        // and no SASL once registered.
        assert_eq!(
            c.on_cap("NEW", Some("away-notify cap-notify sasl foo"), None),
            ["CAP REQ :away-notify"]
        );
        assert!(c.on_cap("ACK", Some("away-notify"), None).is_empty());
        assert!(c.has("away-notify"));
        assert!(c.on_cap("DEL", Some("away-notify"), None).is_empty());
        assert!(!c.has("away-notify"));
        // A NEW with nothing of use asks for nothing.
        assert!(c.on_cap("NEW", Some("foo"), None).is_empty());
    }

    #[test]
    fn a_hostile_server_cannot_grow_the_state() {
        let mut c = Caps::new(false);
        let many: String = (0..1000).map(|i| format!("x{i} ")).collect();
        for _ in 0..100 {
            assert!(c.on_cap("LS", Some("*"), Some(&many)).is_empty());
        }
        assert_eq!(c.listing.len(), MAX_OFFERED);
        assert_eq!(c.on_cap("LS", Some("server-time"), None), ["CAP END"]);
        c.on_cap("ACK", Some(&many), None);
        assert_eq!(c.enabled, 0, "nothing asked for is enabled");
    }

    #[test]
    fn irc_proto_shapes_of_cap_lines_are_read() {
        use irc_proto::{Command, Message};
        let shapes = [
            ":irc.test CAP * LS * :a b",
            ":irc.test CAP * LS :c",
            ":irc.test CAP me ACK :echo-message",
        ];
        let mut args = Vec::new();
        for line in shapes {
            let m: Message = line.parse().unwrap();
            let Command::CAP(_, sub, a, b) = m.command else {
                panic!("not a CAP: {line}")
            };
            args.push((sub.to_str().to_owned(), a, b));
        }
        assert_eq!(args[0].1.as_deref(), Some("*"));
        assert_eq!(args[0].2.as_deref(), Some("a b"));
        assert_eq!(args[1].1.as_deref(), Some("c"));
        assert_eq!(args[2].1.as_deref(), Some("echo-message"));
    }
}
