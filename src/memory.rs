//! Giving memory back to the system after users leave: glibc keeps freed
//! memory in its arenas; `malloc_trim` returns what it can. Called a moment
//! after a room or session ends (so that the bridge has dropped its
//! connection), at most once per period.

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

fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}
