//! In-process pairs 1, 2, 3 and 6 of issue 7, each operation measured side
//! by side with its raw baseline in the same run (see `BENCHMARKS.md`):
//!
//! 1. `p1_field`: generated field accessors vs volatile access to the same
//!    field of the same mapping.
//! 2. `p2_read`: `Shared::read` vs `ptr::copy_nonoverlapping` of the same
//!    bytes out of the same mapping (64 B, 208 B, 4 KiB, 1 MiB).
//! 3. `p3_write`: `Shared::write` vs a copy of the same bytes into the
//!    mapping.
//! 6. `p6_open`: create + initialise and open + validate vs raw `shm_open`
//!    + `ftruncate` + `mmap`; creating 1 GiB vs 4 KiB.
//!
//! `cargo bench -p benches --bench ops`; `-- --test` runs each once (CI).

// `criterion_group!` generates an undocumented `pub fn`.
#![cfg_attr(unix, allow(missing_docs))]

#[cfg(unix)]
mod unix {
    use std::hint::black_box;
    use std::mem::{MaybeUninit, size_of};
    use std::ptr::NonNull;
    use std::time::Duration;

    use benches::{Bytes1G, Bytes1M, Bytes4K, Bytes64, RawMap, raw_unlink, unique_name};
    use criterion::{BenchmarkId, Criterion, Throughput};
    use schemas::MySharedData;
    use shm_runtime::{Field, Options, ReadOnly, ReadWrite, Shared, SharedLayout};
    use test_support::Name;

    /// A fresh read-write segment holding a `T`.
    fn segment<T: SharedLayout>(tag: &str) -> (Shared<T>, Name) {
        let name = unique_name(tag);
        let seg = Options::posix(&name)
            .create_new()
            .open::<T>()
            .expect("create a benchmark segment");
        (seg, Name(name))
    }

    /// The payload's address in the mapping (the raw baselines use the very
    /// same bytes).
    fn payload<T: SharedLayout>(seg: &Shared<T>) -> *mut u8
    where
        for<'a> Field<'a, T, ReadOnly>: From<T::Fields<'a, ReadOnly>>,
    {
        Field::from(seg.fields()).as_ptr().cast()
    }

    /// A heap `T` of zero bytes (valid: `ShmSafe` types accept every bit
    /// pattern), without building it on the stack first.
    fn zeroed_box<T: SharedLayout>() -> Box<T> {
        let layout = std::alloc::Layout::new::<T>();
        // SAFETY: `T` has a non-zero size (every schema here does).
        let p = unsafe { std::alloc::alloc_zeroed(layout) };
        if p.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        // SAFETY: `p` was allocated with `T`'s layout by the global
        // allocator and holds zero bytes, a valid `T` (`ShmSafe`).
        unsafe { Box::from_raw(p.cast::<T>()) }
    }

    /// Operations per iteration in pair 1, so that the loop's own cost
    /// dilutes the ratio less.
    const OPS: u32 = 16;

    /// Pair 1: field get/set vs volatile.
    pub fn field(c: &mut Criterion) {
        let (seg, _cleanup) = segment::<MySharedData>("field");
        let value: *mut i32 = payload::<MySharedData>(&seg).cast();
        let mut g = c.benchmark_group("p1_field");
        g.throughput(Throughput::Elements(OPS.into()));

        g.bench_function("get_ours", |b| {
            b.iter(|| {
                for _ in 0..OPS {
                    black_box(black_box(&seg).fields().value().get());
                }
            })
        });
        g.bench_function("get_volatile", |b| {
            b.iter(|| {
                for _ in 0..OPS {
                    // SAFETY: `value` points to the live, aligned `value`
                    // field of the mapping; this thread is the only one
                    // touching it.
                    black_box(unsafe { black_box(value).read_volatile() });
                }
            })
        });

        // The generated setter itself, on read-write field handles over the
        // mapping (what `update` hands its closure).
        // SAFETY: the payload is an aligned, writable `MySharedData` in the
        // mapping, alive as long as `seg`; this single thread is the only
        // accessor of the segment while the handle exists, so nothing else
        // writes it meanwhile, and it accesses it only atomically.
        let rw = unsafe {
            Field::<MySharedData, ReadWrite>::from_raw(NonNull::new_unchecked(
                payload::<MySharedData>(&seg).cast::<MySharedData>(),
            ))
        };
        let rw: <MySharedData as SharedLayout>::Fields<'_, ReadWrite> = rw.into();
        let mut i = 0i32;
        g.bench_function("set_ours", |b| {
            b.iter(|| {
                for _ in 0..OPS {
                    i = i.wrapping_add(1);
                    black_box(&rw).value().set(i);
                }
            })
        });
        g.bench_function("set_volatile", |b| {
            b.iter(|| {
                for _ in 0..OPS {
                    i = i.wrapping_add(1);
                    // SAFETY: as for `get_volatile`; the mapping is writable.
                    unsafe { black_box(value).write_volatile(i) };
                }
            })
        });
        // How a program sets one field: a whole write under the protocol.
        g.bench_function("set_update", |b| {
            b.iter(|| {
                for _ in 0..OPS {
                    i = i.wrapping_add(1);
                    seg.update(|f| f.value().set(i)).unwrap();
                }
            })
        });
        g.finish();
    }

    /// Pairs 2 and 3 for one schema.
    fn copy_pair<T: SharedLayout>(c: &mut Criterion, size: &str)
    where
        for<'a> Field<'a, T, ReadOnly>: From<T::Fields<'a, ReadOnly>>,
    {
        let (seg, _cleanup) = segment::<T>(size);
        let src = payload::<T>(&seg);
        let n = size_of::<T>();
        let value = zeroed_box::<T>();

        let mut g = c.benchmark_group("p2_read");
        g.throughput(Throughput::Bytes(n as u64));
        g.bench_function(BenchmarkId::new("ours", size), |b| {
            b.iter(|| {
                let v = black_box(&seg).read().unwrap();
                black_box(&v);
            })
        });
        g.bench_function(BenchmarkId::new("ours_into", size), |b| {
            let mut v = zeroed_box::<T>();
            b.iter(|| {
                black_box(&seg).read_into(&mut v).unwrap();
                black_box(&v);
            })
        });
        g.bench_function(BenchmarkId::new("memcpy", size), |b| {
            b.iter(|| {
                let mut out = MaybeUninit::<T>::uninit();
                // SAFETY: `src` is the payload's `n` bytes in the mapping,
                // which nothing writes during this benchmark; `out` is a
                // private `T` of `n` bytes.
                unsafe {
                    std::ptr::copy_nonoverlapping(black_box(src), out.as_mut_ptr().cast::<u8>(), n)
                };
                black_box(&out);
            })
        });
        g.finish();

        let mut g = c.benchmark_group("p3_write");
        g.throughput(Throughput::Bytes(n as u64));
        g.bench_function(BenchmarkId::new("ours", size), |b| {
            b.iter(|| black_box(&seg).write(black_box(&value)).unwrap())
        });
        g.bench_function(BenchmarkId::new("memcpy", size), |b| {
            b.iter(|| {
                // SAFETY: the payload's `n` writable bytes; nothing else
                // accesses the segment during this benchmark; `value` is a
                // private `T`.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        (black_box(&*value) as *const T).cast::<u8>(),
                        black_box(src),
                        n,
                    )
                };
            })
        });
        g.finish();
    }

    /// Pairs 2 and 3 at every size.
    pub fn copies(c: &mut Criterion) {
        copy_pair::<Bytes64>(c, "64B");
        copy_pair::<MySharedData>(c, "208B");
        copy_pair::<Bytes4K>(c, "4KiB");
        copy_pair::<Bytes1M>(c, "1MiB");
    }

    /// Pair 6: open costs.
    pub fn open(c: &mut Criterion) {
        let mut g = c.benchmark_group("p6_open");

        fn create_ours<T: SharedLayout>(name: &str) {
            let opts = Options::posix(name).create_new();
            drop(black_box(opts.open::<T>().unwrap()));
            opts.remove().unwrap();
        }
        let name = unique_name("create");
        let _cleanup = Name(name.clone());
        g.bench_function("create_ours_208B", |b| {
            b.iter(|| create_ours::<MySharedData>(&name))
        });
        // The raw baseline maps as many bytes as our segment has.
        let size = {
            let (seg, _c) = segment::<MySharedData>("size");
            seg.status().unwrap().size as usize
        };
        g.bench_function("create_raw_208B", |b| {
            b.iter(|| {
                drop(black_box(RawMap::create(&name, size).unwrap()));
                raw_unlink(&name);
            })
        });

        let (seg, c) = segment::<MySharedData>("open");
        let existing = c.0.clone();
        g.bench_function("open_ours_208B", |b| {
            b.iter(|| {
                // Opened read-write without claiming write access (this
                // process's `seg` holds it): open and validate only.
                let opts = Options::posix(&existing).claim_writer(false);
                drop(black_box(opts.open::<MySharedData>().unwrap()))
            })
        });
        g.bench_function("open_raw_208B", |b| {
            b.iter(|| drop(black_box(RawMap::open(&existing).unwrap())))
        });
        drop(seg);

        g.bench_function("create_ours_4KiB", |b| {
            b.iter(|| create_ours::<Bytes4K>(&name))
        });
        // A 1 GiB payload: only the header and descriptor pages may be
        // touched (the harness counts pages; this times it).
        g.sample_size(20);
        g.bench_function("create_ours_1GiB", |b| {
            b.iter(|| create_ours::<Bytes1G>(&name))
        });
        g.bench_function("create_raw_1GiB", |b| {
            b.iter(|| {
                drop(black_box(RawMap::create(&name, 1 << 30).unwrap()));
                raw_unlink(&name);
            })
        });
        g.finish();
    }

    /// Shorter than criterion's defaults, so that the whole file runs in
    /// a few minutes; `--warm-up-time`/`--measurement-time` override it.
    pub fn config() -> Criterion {
        Criterion::default()
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3))
    }
}

#[cfg(unix)]
criterion::criterion_group! {
    name = benches;
    config = unix::config();
    targets = unix::field, unix::copies, unix::open
}
/// `criterion_main!`, but on a thread with a large stack: `read()` returns
/// the 1 MiB value by value, and an unoptimised build (the quick mode of
/// `.ci/bench.sh`) keeps several copies of it on the stack, more than the
/// main thread's 8 MiB.
#[cfg(unix)]
fn main() {
    std::thread::Builder::new()
        .name("benches".into())
        .stack_size(64 << 20)
        .spawn(|| {
            benches();
            criterion::Criterion::default()
                .configure_from_args()
                .final_summary();
        })
        .expect("start the benchmark thread")
        .join()
        .expect("the benchmarks panicked");
}

#[cfg(not(unix))]
fn main() {
    eprintln!("the benchmarks need POSIX shared memory");
}
