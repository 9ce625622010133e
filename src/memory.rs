//! Giving memory back to the system after users leave: glibc keeps freed
//! memory in its arenas; `malloc_trim` returns what it can. Called a moment
//! after a room or session ends (so that the bridge has dropped its
//! connection) and after a room's join sequence (whose presences are the
//! largest burst of short-lived buffers), at most once per period.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static SCHEDULED: AtomicBool = AtomicBool::new(false);

/// Trims the heap in two seconds, unless a trim is already scheduled.
pub fn release_soon() {
    if SCHEDULED.swap(true, Ordering::AcqRel) {
        return;
    }
    tokio::spawn(async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        SCHEDULED.store(false, Ordering::Release);
        trim();
    });
}

/// Keeps glibc to one heap arena. By default each thread that allocates
/// under contention gets an arena of its own (up to eight per core), and
/// memory freed into one cannot serve another: with a few worker threads
/// passing messages to each other, that is where a gateway's memory goes and
/// why it is not given back. One arena costs some lock contention, which a
/// gateway this size does not feel. Call it before any thread starts.
pub fn one_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}
