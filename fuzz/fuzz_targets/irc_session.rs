//! A server's bytes → the IRC bridge's handling of them (read, decode,
//! parse, and the connection's state: joins, NAMES, modes, LIST, text, CAP,
//! errors), through `feed_server_lines`, without a socket: never panics, and
//! what it tells the core stays bounded by what it was fed.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tokio::runtime::Runtime;

fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    let events = runtime().block_on(switchboard_irc::feed_server_lines(data));
    // Bounded by the input: no event without bytes behind it.
    assert!(
        events.len() <= data.len() + 16,
        "{} events from {} bytes",
        events.len(),
        data.len()
    );
});
