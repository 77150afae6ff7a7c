//! Pair 5 of issue 7: reader scaling. 1, 2 and 4 reader threads take
//! snapshots (`Shared::read` of the 208-byte `MySharedData`) while a writer
//! thread writes about once a microsecond. Readers never store to shared
//! memory, so adding readers must not make each read dearer.
//!
//! Two measures per reader count (criterion records one duration per
//! iteration; these are chosen with `iter_custom`):
//! - `ours_cpu/N`: CPU time per read, averaged over the readers
//!   (`CLOCK_THREAD_CPUTIME_ID`). On this 2-core machine 4 readers and a
//!   writer share 2 cores, so wall time per reader grows with N simply
//!   because each reader runs less often; CPU time per read does not, unless
//!   readers slow each other down (cache-line ping-pong).
//! - `ours_wall/N`: wall time per read per reader (1 / reads per second per
//!   reader), as a program would see it.
//!
//! For contrast, the same with a `std::sync::RwLock<MySharedData>`, whose
//! readers do store (they count themselves in the lock word).
//!
//! `cargo bench -p benches --bench scaling`; `-- --test` runs each once.

// `criterion_group!` generates an undocumented `pub fn`.
#![cfg_attr(unix, allow(missing_docs))]

#[cfg(unix)]
mod unix {
    use std::hint::black_box;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Barrier, RwLock};
    use std::time::{Duration, Instant};

    use benches::{thread_cpu_time, unique_name};
    use criterion::{BenchmarkId, Criterion};
    use schemas::MySharedData;
    use shm_runtime::Options;

    fn value(i: u32) -> MySharedData {
        MySharedData {
            value: i as i32,
            letter: shm_runtime::Utf16(u16::from(b'X')),
            _pad: [0; 2],
            numbers: [i as f32; 50],
        }
    }

    /// Runs `n` readers doing `iters` reads each while `write` runs about
    /// once a microsecond on another thread. Returns (CPU time per reader,
    /// wall time per reader), each averaged over the readers.
    fn run(
        n: usize,
        iters: u64,
        read: &(dyn Fn() + Sync),
        write: &(dyn Fn(u32) + Sync),
    ) -> (Duration, Duration) {
        let stop = AtomicBool::new(false);
        let start = Barrier::new(n + 1);
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut i = 0u32;
                start.wait();
                while !stop.load(Ordering::Relaxed) {
                    i = i.wrapping_add(1);
                    write(i);
                    let t = Instant::now();
                    while t.elapsed() < Duration::from_micros(1) {
                        std::hint::spin_loop();
                    }
                }
            });
            let readers: Vec<_> = (0..n)
                .map(|_| {
                    s.spawn(|| {
                        start.wait();
                        let (c0, w0) = (thread_cpu_time(), Instant::now());
                        for _ in 0..iters {
                            read();
                        }
                        (thread_cpu_time() - c0, w0.elapsed())
                    })
                })
                .collect();
            let mut sum = (Duration::ZERO, Duration::ZERO);
            for r in readers {
                let (c, w) = r.join().expect("reader thread");
                sum = (sum.0 + c, sum.1 + w);
            }
            stop.store(true, Ordering::Relaxed);
            (sum.0 / n as u32, sum.1 / n as u32)
        })
    }

    pub fn scaling(c: &mut Criterion) {
        let name = unique_name("scaling");
        let opts = Options::posix(&name).create_new();
        let seg = opts.open::<MySharedData>().expect("create the segment");
        let lock = RwLock::new(value(0));

        let ours_read = || {
            black_box(&seg.read().unwrap());
        };
        let ours_write = |i| seg.write(&value(i)).unwrap();
        let lock_read = || {
            black_box(&*lock.read().unwrap());
        };
        let lock_write = |i| *lock.write().unwrap() = value(i);

        let mut g = c.benchmark_group("p5_scaling");
        for n in [1usize, 2, 4] {
            type Case<'a> = (&'a str, &'a (dyn Fn() + Sync), &'a (dyn Fn(u32) + Sync));
            let cases: [Case<'_>; 2] = [
                ("ours", &ours_read, &ours_write),
                ("rwlock", &lock_read, &lock_write),
            ];
            for (what, read, write) in cases {
                g.bench_function(BenchmarkId::new(format!("{what}_cpu"), n), |b| {
                    b.iter_custom(|iters| run(n, iters, read, write).0)
                });
                g.bench_function(BenchmarkId::new(format!("{what}_wall"), n), |b| {
                    b.iter_custom(|iters| run(n, iters, read, write).1)
                });
            }
        }
        g.finish();
        drop(seg);
        let _ = opts.remove();
    }

    pub fn config() -> Criterion {
        Criterion::default()
            .sample_size(20)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3))
    }
}

#[cfg(unix)]
criterion::criterion_group! {
    name = benches;
    config = unix::config();
    targets = unix::scaling
}
#[cfg(unix)]
criterion::criterion_main!(benches);

#[cfg(not(unix))]
fn main() {
    eprintln!("the benchmarks need POSIX shared memory");
}
