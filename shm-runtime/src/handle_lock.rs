//! The lock that serialises writes through one handle among the threads of
//! this process: one word, the id of the thread holding it (0: free).
//! Taken with one compare-exchange (acquire) and released with one store
//! (release), where a `std::sync::Mutex` costs two read-modify-writes and
//! its poison bookkeeping; writers through one handle from several threads
//! are rare, so a waiter spins a little, then yields, then sleeps a little.
//! Knowing the holder lets a call on the holding thread (inside `update`)
//! be an error instead of a deadlock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A handle's write lock ([module doc](self)).
#[derive(Default)]
pub(crate) struct HandleLock(AtomicU64);

impl HandleLock {
    /// Takes the lock for thread `me` if it is free; else the holder seen
    /// (`me` itself: this thread holds it already, since only this thread
    /// stores `me`, and stores 0 before any other thread can take it).
    #[inline]
    pub(crate) fn try_take(&self, me: u64) -> Result<(), u64> {
        self.0
            .compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed)
            .map(|_| ())
    }

    /// Waits until the lock, last seen held by `now`, is free, and takes
    /// it for `me`. Writes are short, but `update` holds the lock while
    /// its closure runs: so spin, then yield, then sleep 50 µs at a time.
    #[cold]
    pub(crate) fn wait(&self, me: u64, mut now: u64) {
        let mut tries = 0u32;
        loop {
            if now == 0 {
                match self
                    .0
                    .compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed)
                {
                    Ok(_) => return,
                    Err(v) => now = v,
                }
            }
            tries = tries.saturating_add(1);
            if tries < 100 {
                std::hint::spin_loop();
            } else if tries < 1_000 {
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_micros(50));
            }
            if now != 0 {
                now = self.0.load(Ordering::Relaxed);
            }
        }
    }
}

/// A handle's write lock, held; released on drop (also when unwinding
/// from a panicking `update`).
pub(crate) struct WriteLock<'a>(pub(crate) &'a HandleLock);

impl Drop for WriteLock<'_> {
    #[inline]
    fn drop(&mut self) {
        // Release: the next holder's acquire sees this holder's stores.
        self.0.0.store(0, Ordering::Release);
    }
}

/// A number for the calling thread, never 0 and never reused by another
/// thread of this process.
#[inline]
pub(crate) fn this_thread() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local!(static ID: u64 = NEXT.fetch_add(1, Ordering::Relaxed));
    ID.with(|id| *id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_reentry_is_seen() {
        let lock = HandleLock::default();
        let me = this_thread();
        assert_eq!(lock.try_take(me), Ok(()));
        assert_eq!(lock.try_take(me), Err(me));
        let count = AtomicU64::new(0);
        std::thread::scope(|s| {
            s.spawn(|| {
                let other = this_thread();
                assert_ne!(other, me);
                if let Err(now) = lock.try_take(other) {
                    lock.wait(other, now);
                }
                // Taken only after the main thread released it below.
                assert_eq!(count.load(Ordering::Relaxed), 1);
                drop(WriteLock(&lock));
            });
            count.store(1, Ordering::Relaxed);
            drop(WriteLock(&lock));
        });
        assert_eq!(lock.try_take(me), Ok(()));
    }
}
