//! Styled text → IRC codes: never panics, only turns markers into codes
//! (mapping the codes back gives the input), and takes bounded work.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_irc::{irc_to_styled, styled_to_irc};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let irc = styled_to_irc(text);
    if !text.contains(['\x02', '\x1d', '\x11']) {
        let back: String = irc
            .chars()
            .map(|c| match c {
                '\x02' => '*',
                '\x1d' => '_',
                '\x11' => '`',
                c => c,
            })
            .collect();
        assert_eq!(back, text, "styled_to_irc changed more than markers");
    }
    // And back: whatever came out is a valid IRC line body for the other way.
    for line in irc.split('\n') {
        let _ = irc_to_styled(line);
    }
});
