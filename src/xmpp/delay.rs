//! XEP-0203 delayed delivery on live messages that come late: a room
//! message whose network time is more than [`LATE`] before now (a
//! network's catch-up after a reconnect) carries `<delay/>` with that time, so that
//! clients show it when it was said.
//!
//! ```xml
//! <delay xmlns='urn:xmpp:delay' from='#chan%irc.example.net@irc.example.org'
//!        stamp='2026-12-02T10:00:00.000Z'/>
//! ```

use std::time::{Duration, SystemTime};

use xmpp_parsers::minidom::rxml::NcName;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::ns;

/// How much older than now a live message may be without a delay stamp.
pub const LATE: Duration = Duration::from_secs(60);

/// The `<delay/>` for a message sent at `sent`, if that was more than
/// [`LATE`] before `now`; `from` names who relayed it, and is asked only
/// for a late message (most are not).
pub fn late_delay(
    sent: Option<SystemTime>,
    now: SystemTime,
    from: impl FnOnce() -> Option<String>,
) -> Option<Element> {
    let sent = sent?;
    if now.duration_since(sent).ok()? <= LATE {
        return None;
    }
    let from = from()?;
    let micros = sent
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()?
        .as_micros();
    let stamp = chrono::DateTime::from_timestamp_micros(i64::try_from(micros).ok()?)?
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let attr = |name: &str| NcName::try_from(name).expect("a valid attribute name");
    Some(
        Element::builder("delay", ns::DELAY)
            .attr(attr("from"), from)
            .attr(attr("stamp"), stamp)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_message_over_a_minute_old_is_stamped() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_205_700);
        let room = "#a%irc.x@irc.localhost";
        assert!(late_delay(None, now, || Some(room.to_owned())).is_none());
        assert!(late_delay(Some(now - LATE), now, || Some(room.to_owned())).is_none());
        assert!(
            late_delay(Some(now + LATE), now, || Some(room.to_owned())).is_none(),
            "from the future"
        );
        let sent = now - Duration::from_millis(100_250);
        let d = late_delay(Some(sent), now, || Some(room.to_owned())).unwrap();
        assert_eq!(
            String::from(&d),
            "<delay xmlns='urn:xmpp:delay' from='#a%irc.x@irc.localhost' \
             stamp='2026-12-02T09:59:59.750Z'/>"
        );
    }
}
