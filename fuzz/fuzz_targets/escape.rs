//! Ids as localparts (XEP-0106 plus capitals and other characters): any
//! string escapes to a localpart without the characters XEP-0106 escapes or
//! capitals, and unescapes back to itself (to its ASCII lower case where
//! case does not matter); unescaping anything never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard::xmpp::escape::{escape, unescape, Case};

fuzz_target!(|data: &[u8]| {
    let Ok(id) = std::str::from_utf8(data) else {
        return;
    };
    for (case, want) in [
        (Case::Sensitive, id.to_owned()),
        (Case::Insensitive, id.to_ascii_lowercase()),
    ] {
        let escaped = escape(id, case);
        assert!(
            !escaped.contains([' ', '"', '&', '\'', '/', ':', '<', '>', '@'])
                && !escaped.contains(|c: char| c.is_ascii_uppercase()),
            "{id:?} escaped to {escaped:?}"
        );
        assert_eq!(unescape(&escaped), want, "round trip through {escaped:?}");
    }
    let _ = unescape(id);
});
