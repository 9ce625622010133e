//! IRCv3 message tags: those the bridge reads (`time` (server-time),
//! `msgid`, `label` (labeled-response), `batch`, and the client tags
//! `+draft/reply`, `+draft/react`, `+typing`) and the client tags it
//! writes, escaped as the message-tags spec says. irc-proto splits and
//! unescapes the tags of lines read; this reads their values.

use std::time::{Duration, SystemTime};

use irc_proto::Message;

/// The longest `msgid` taken as the message's id (longer ones are not ids
/// a server means; the bridge makes its own then).
const MAX_MSGID: usize = 128;

/// The value of the tag `name`, if the message has it with a value.
pub fn tag<'a>(msg: &'a Message, name: &str) -> Option<&'a str> {
    msg.tags
        .as_ref()?
        .iter()
        .find(|t| t.0 == name)
        .and_then(|t| t.1.as_deref())
}

/// The server's id for the message (`msgid`), when it is a plausible one:
/// not empty, not too long, printable.
pub fn msgid(msg: &Message) -> Option<&str> {
    tag(msg, "msgid").filter(|id| plausible_id(id))
}

/// Whether a value can be a server's message id: not empty, not too long,
/// printable ASCII.
pub fn plausible_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_MSGID && id.chars().all(|c| c.is_ascii_graphic())
}

/// The client tag naming the message a line replies to (or reacts to).
pub const REPLY: &str = "+draft/reply";
/// The client tag carrying a reaction (with [`REPLY`], on a `TAGMSG`).
pub const REACT: &str = "+draft/react";
/// The client tag carrying a typing state (on a `TAGMSG`).
pub const TYPING: &str = "+typing";

/// The longest reaction taken or sent (an emoji sequence is some tens of
/// bytes; the spec sets no bound, the line does).
pub const MAX_REACTION: usize = 64;

/// The message a line replies to (`+draft/reply`), when it names a
/// plausible message id.
pub fn reply_to(msg: &Message) -> Option<&str> {
    tag(msg, REPLY).filter(|id| plausible_id(id))
}

/// The reaction a line carries (`+draft/react`): not empty, within
/// [`MAX_REACTION`] bytes, no control character.
pub fn reaction(msg: &Message) -> Option<&str> {
    tag(msg, REACT).filter(|r| plausible_reaction(r))
}

/// Whether a reaction can be sent or taken (see [`reaction`]).
pub fn plausible_reaction(r: &str) -> bool {
    !r.is_empty() && r.len() <= MAX_REACTION && !r.chars().any(char::is_control)
}

/// Escapes a tag value as the message-tags spec says: `;` → `\:`,
/// space → `\s`, `\` → `\\`, CR → `\r`, LF → `\n`. Nothing that could
/// end the tags or the line is left; NUL, which irc-proto and servers
/// read as the line's end, is dropped.
pub fn escape_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            ';' => out.push_str("\\:"),
            ' ' => out.push_str("\\s"),
            '\\' => out.push_str("\\\\"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '\0' => {}
            c => out.push(c),
        }
    }
    out
}

/// A line's tag prefix (`@a=1;b=2 `) of client tags, values escaped; empty
/// for no tags. Names are the bridge's own constants, never a peer's.
pub fn prefix(tags: &[(&str, &str)]) -> String {
    if tags.is_empty() {
        return String::new();
    }
    let mut out = String::from("@");
    for (i, (name, value)) in tags.iter().enumerate() {
        if i > 0 {
            out.push(';');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(&escape_value(value));
    }
    out.push(' ');
    out
}

/// When the server says the message was sent (`time`), if it says so
/// in the form server-time gives (`YYYY-MM-DDThh:mm:ss.sssZ`, UTC).
pub fn server_time(msg: &Message) -> Option<SystemTime> {
    parse_time(tag(msg, "time")?)
}

/// Parses `YYYY-MM-DDThh:mm:ss[.fraction]Z` (UTC only, as server-time says).
pub fn parse_time(s: &str) -> Option<SystemTime> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.splitn(3, '-');
    let year: i64 = num(d.next()?, 4)?;
    let month: u32 = num(d.next()?, 2)?;
    let day: u32 = num(d.next()?, 2)?;
    let (hms, frac) = match time.split_once('.') {
        Some((hms, frac)) => (hms, Some(frac)),
        None => (time, None),
    };
    let mut t = hms.splitn(3, ':');
    let hour: u64 = num(t.next()?, 2)?;
    let minute: u64 = num(t.next()?, 2)?;
    let second: u64 = num(t.next()?, 2)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    // A leap second is taken as the last second of its minute.
    let second = second.min(59);
    let nanos = match frac {
        Some(f) if !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()) => {
            f.parse::<u32>().ok()? * 10u32.pow(9 - f.len() as u32)
        }
        Some(_) => return None,
        None => 0,
    };
    let days = days_from_civil(year, month, day);
    if days < 0 {
        return None;
    }
    let secs = days as u64 * 86_400 + hour * 3600 + minute * 60 + second;
    SystemTime::UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
}

/// Writes `t` as server-time does (`YYYY-MM-DDThh:mm:ss.sssZ`, UTC), the
/// form `CHATHISTORY` takes its `timestamp=` in.
pub fn format_time(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// A fixed-width decimal field.
fn num<T: std::str::FromStr>(s: &str, width: usize) -> Option<T> {
    if s.len() != width || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar
/// (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day counted from 1970-01-01 (the inverse of
/// [`days_from_civil`], Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(t: SystemTime) -> f64 {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    }

    #[test]
    fn server_time_is_read_to_the_millisecond() {
        let m: Message = "@time=2011-10-19T16:40:51.620Z :nick!u@h PRIVMSG #c :hi"
            .parse()
            .unwrap();
        let t = server_time(&m).unwrap();
        assert!((secs(t) - 1_319_042_451.620).abs() < 1e-6);
        assert_eq!(
            parse_time("1970-01-01T00:00:00Z"),
            Some(SystemTime::UNIX_EPOCH)
        );
        // A leap day, and the year 2000.
        assert_eq!(
            secs(parse_time("2000-02-29T12:00:00.000Z").unwrap()),
            951_825_600.0
        );
    }

    #[test]
    fn times_are_written_as_server_time_writes_them() {
        for t in [
            "1970-01-01T00:00:00.000Z",
            "2000-02-29T12:00:00.000Z",
            "2011-10-19T16:40:51.620Z",
            "2026-12-31T23:59:59.999Z",
        ] {
            assert_eq!(format_time(parse_time(t).unwrap()), t);
        }
    }

    #[test]
    fn times_not_in_server_time_form_are_refused() {
        for bad in [
            "2011-10-19 16:40:51Z",
            "2011-10-19T16:40:51",
            "2011-13-19T16:40:51Z",
            "2011-10-19T24:00:00Z",
            "2011-10-19T16:40:51.Z",
            "2011-10-19T16:40:51.1234567890Z",
            "1969-12-31T23:59:59Z",
            "",
            "yesterday",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn hostile_values_are_escaped_and_read_back_whole() {
        for value in [
            "a b;c\\d",
            "x\r\nQUIT :pwned",
            "\r\n@label=x PRIVMSG #c :injected",
            "\\:\\s trailing\\",
            ";;;   \\\\",
            "👍\u{0}\n",
        ] {
            let escaped = escape_value(value);
            assert!(
                !escaped.contains([' ', ';', '\r', '\n', '\0']),
                "{escaped:?}"
            );
            let line = format!("{}TAGMSG #c", prefix(&[(REACT, value), (REPLY, "m1")]));
            assert_eq!(
                crate::line::safe(&line),
                line,
                "nothing left to break a line"
            );
            let m: Message = line.parse().unwrap();
            let want = value.replace('\0', "");
            assert_eq!(tag(&m, REACT), Some(want.as_str()), "{line}");
            assert_eq!(tag(&m, REPLY), Some("m1"));
            assert!(
                matches!(&m.command, irc_proto::Command::Raw(c, a) if c == "TAGMSG" && a == &["#c"])
            );
        }
        assert_eq!(escape_value("a;b c\\"), "a\\:b\\sc\\\\");
        assert_eq!(prefix(&[]), "");
    }

    #[test]
    fn client_tags_are_read_only_when_plausible() {
        let m: Message = "@+draft/reply=abc;+draft/react=\\s👍 :bob!u@h TAGMSG #c"
            .parse()
            .unwrap();
        assert_eq!(reply_to(&m), Some("abc"));
        assert_eq!(reaction(&m), Some(" 👍"));
        let bad: Message = format!(
            "@+draft/reply=a\\sb;+draft/react={} :bob!u@h TAGMSG #c",
            "x".repeat(MAX_REACTION + 1)
        )
        .parse()
        .unwrap();
        assert_eq!(reply_to(&bad), None, "a space is no id");
        assert_eq!(reaction(&bad), None, "too long");
        let ctl: Message = "@+draft/react=a\\nb :bob!u@h TAGMSG #c".parse().unwrap();
        assert_eq!(reaction(&ctl), None, "a line break is no reaction");
    }

    #[test]
    fn tags_are_read_unescaped_and_msgid_checked() {
        let m: Message = "@msgid=63E1033A051D4B41B1AB1FA3CF4B243E;label=sb7;+example=a\\sb\\:c \
                          :nick!u@h PRIVMSG #c :hi"
            .parse()
            .unwrap();
        assert_eq!(msgid(&m), Some("63E1033A051D4B41B1AB1FA3CF4B243E"));
        assert_eq!(tag(&m, "label"), Some("sb7"));
        assert_eq!(tag(&m, "+example"), Some("a b;c"));
        assert_eq!(tag(&m, "time"), None);
        let bad: Message = "@msgid=a\\sb :nick!u@h PRIVMSG #c :hi".parse().unwrap();
        assert_eq!(msgid(&bad), None, "a space is no id");
        let plain: Message = ":nick!u@h PRIVMSG #c :hi".parse().unwrap();
        assert_eq!(msgid(&plain), None);
        assert_eq!(server_time(&plain), None);
    }
}
