//! XEP-0106: any string escapes to a localpart without the characters XEP-0106
//! escapes and unescapes back to itself; unescaping anything never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard::xmpp::escape::{escape, unescape};

fuzz_target!(|data: &[u8]| {
    let Ok(id) = std::str::from_utf8(data) else {
        return;
    };
    let escaped = escape(id);
    assert!(
        !escaped.contains([' ', '"', '&', '\'', '/', ':', '<', '>', '@']),
        "{id:?} escaped to {escaped:?}"
    );
    assert_eq!(unescape(&escaped), id, "round trip through {escaped:?}");
    let _ = unescape(id);
});
