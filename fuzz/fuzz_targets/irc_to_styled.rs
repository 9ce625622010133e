//! IRC line → styled text: never panics, leaves no control code but tab,
//! and keeps every printable character (when no colour code can eat digits).
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_irc::{irc_to_styled, styled_to_irc};

fuzz_target!(|data: &[u8]| {
    let line = switchboard_irc::decode(data);
    let out = irc_to_styled(&line);
    assert!(
        !out.contains(|c: char| c < ' ' && c != '\t'),
        "a control code survived: {out:?}"
    );
    assert!(out.len() <= 2 * line.len() + 6, "output grew too much");
    if !line.contains(['\x03', '\x04']) {
        let printable: String = line
            .chars()
            .filter(|&c| (c >= ' ' || c == '\t') && !matches!(c, '*' | '_' | '`'))
            .collect();
        assert_eq!(out.replace(['*', '_', '`'], ""), printable, "text lost");
    }
    let _ = styled_to_irc(&out);
});
