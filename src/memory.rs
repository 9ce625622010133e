//! Giving memory back to the system after users leave: glibc keeps freed
//! memory in its arenas; `malloc_trim` returns what it can. Called a moment
//! after a room or session ends (so that the bridge has dropped its
//! connection) and after a room's join sequence (whose presences are the
//! largest burst of short-lived buffers), once two seconds pass without
//! another such request (at most ten after the first). glibc's
//! per-thread caches are turned off at start-up, and the heap kept to one
//! arena, so that what is freed can be given back.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::LazyLock;
use std::time::Duration;

use tokio::time::Instant;

static SCHEDULED: AtomicBool = AtomicBool::new(false);
/// When the memory module was first used: the clock of [`LAST_REQUEST`].
static START: LazyLock<Instant> = LazyLock::new(Instant::now);
/// The last request, in milliseconds after [`START`].
static LAST_REQUEST: AtomicU64 = AtomicU64::new(0);

/// How long after the last request the heap is trimmed.
const QUIET: Duration = Duration::from_secs(2);
/// The most a trim is put off by requests that keep coming (a busy
/// gateway still gives memory back).
const MAX_WAIT: Duration = Duration::from_secs(10);

/// Trims the heap two seconds after the last request (at most ten
/// seconds after the first): the work that asked for it, and any that
/// asked while it waited, has freed its memory by then. A request while a
/// trim waits puts it off rather than being dropped, so a join just after
/// a registration is trimmed after the join too.
pub fn release_soon() {
    let now = START.elapsed().as_millis() as u64;
    LAST_REQUEST.fetch_max(now, Ordering::AcqRel);
    if SCHEDULED.swap(true, Ordering::AcqRel) {
        return;
    }
    tokio::spawn(async {
        let latest = Instant::now() + MAX_WAIT;
        loop {
            let last = Duration::from_millis(LAST_REQUEST.load(Ordering::Acquire));
            let due = (*START + last + QUIET).min(latest);
            if Instant::now() >= due {
                break;
            }
            tokio::time::sleep_until(due).await;
        }
        // A request from now on schedules a trim of its own; one that came
        // just before is covered by this one.
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

/// Trims done so far (for the tests).
static TRIMS: AtomicU64 = AtomicU64::new(0);

fn trim() {
    TRIMS.fetch_add(1, Ordering::AcqRel);
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trims() -> u64 {
        TRIMS.load(Ordering::Acquire)
    }

    /// A join a second and a half after a registration: the trim comes
    /// two seconds after the join, not after the registration alone.
    #[tokio::test(start_paused = true)]
    async fn a_request_while_a_trim_waits_puts_it_off() {
        let before = trims();
        release_soon();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        release_soon();
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert_eq!(trims(), before, "not yet: the second request came 1 s ago");
        tokio::time::sleep(Duration::from_millis(2000)).await;
        assert_eq!(trims(), before + 1, "one trim for both requests");
    }

    /// Requests every second: the trim still comes, within ten seconds.
    #[tokio::test(start_paused = true)]
    async fn requests_that_keep_coming_put_it_off_ten_seconds_at_most() {
        let before = trims();
        for _ in 0..12 {
            release_soon();
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        assert!(trims() > before, "no trim in twelve seconds of requests");
    }
}
