//! Giving memory back to the system after users leave: glibc keeps freed
//! memory in its arenas; `malloc_trim` returns what it can. Called a moment
//! after a room or session ends (so that the bridge has dropped its
//! connection) and after a room's join sequence (whose presences are the
//! largest burst of short-lived buffers), at most once per period. glibc's
//! per-thread caches are turned off at start-up, and the heap kept to one
//! arena, so that what is freed can be given back.

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

/// The glibc setting that turns off its per-thread caches.
const NO_THREAD_CACHES: &str = "glibc.malloc.tcache_count=0";

/// Turns off glibc's per-thread caches of freed chunks, by starting the
/// program again with that setting (glibc reads it only at start-up; the
/// process keeps its id). Each thread caches up to seven freed chunks of each
/// small size; the heap sees them as in use, so they keep their pages and
/// their neighbours from being given back. With them off, memory freed after
/// users leave goes back to the system (the benchmark's "after most left"
/// row). Does nothing when `GLIBC_TUNABLES` already sets the caches (a
/// profiler's wrapper may), or if starting again fails. Call it first.
pub fn without_thread_caches() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;
        let current = std::env::var("GLIBC_TUNABLES").unwrap_or_default();
        if current.contains("glibc.malloc.tcache_count") {
            return;
        }
        let tunables = if current.is_empty() {
            NO_THREAD_CACHES.to_owned()
        } else {
            format!("{current}:{NO_THREAD_CACHES}")
        };
        let mut args = std::env::args_os();
        let arg0 = args.next().unwrap_or_default();
        // The program's own path, not /proc/self/exe: the process is named
        // after the file it runs, and `ps`, `top` and systemd should still
        // say "switchboard".
        let program = match std::env::current_exe() {
            Ok(path) => path,
            Err(e) => {
                eprintln!("switchboard: cannot turn off malloc's thread caches: {e}");
                return;
            }
        };
        // Returns only if it failed; the caches then stay on.
        let error = std::process::Command::new(program)
            .arg0(arg0)
            .args(args)
            .env("GLIBC_TUNABLES", tunables)
            .exec();
        eprintln!("switchboard: cannot turn off malloc's thread caches: {error}");
    }
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
