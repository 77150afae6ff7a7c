//! Each library behind one small interface, so every measurement runs the
//! same code for all of them: ours (`shm_runtime::Shared`), iceoryx2's
//! blackboard, mmap-sync, a hand-written single-copy seqlock, and the raw
//! baseline (a plain copy into / out of a raw mapping, no protocol at all).
//! All of them use real named shared memory (`/dev/shm`).

use std::sync::atomic::{AtomicU64, Ordering, fence};
use std::time::Duration;

use iceoryx2::port::reader::{BlackboardValue, EntryHandle};
use iceoryx2::port::writer::EntryHandleMut;
use iceoryx2::prelude::*;
use iceoryx2::service::port_factory::blackboard::PortFactory;
use mmap_sync::locks::LockDisabled;
use mmap_sync::synchronizer::Synchronizer;
use shm_runtime::{Options, ReadOnly, Shared};

use crate::payload::{Payload, SCRATCH};
use crate::sys::{RawMap, Res, unlink};

/// One library: a writer side and a reader side of a value of type `P`
/// living in a named segment (or service, or file set).
pub trait Lib<P: Payload> {
    /// The writer's handle.
    type W;
    /// The reader's handle.
    type R;
    /// Creates the segment named `name`, holding `init`.
    fn create(name: &str, init: &P) -> Res<Self::W>;
    /// Opens the existing segment `name` for reading (an error if it is
    /// not there yet: the caller retries).
    fn open(name: &str) -> Res<Self::R>;
    /// Writes `v`.
    fn write(w: &mut Self::W, v: &P) -> Res<()>;
    /// Reads the current value into `out`.
    fn read_into(r: &mut Self::R, out: &mut P) -> Res<()>;
    /// Whether the value may have changed since the last call (a cheap
    /// check of a version counter, where the library has one).
    fn changed(_r: &mut Self::R, _last: &mut u64) -> bool {
        true
    }
    /// If the value may have changed since the last call ([`Lib::changed`]),
    /// reads it into `out` and returns true: a spinning reader's step.
    #[inline]
    fn poll(r: &mut Self::R, last: &mut u64, out: &mut P) -> Res<bool> {
        if Self::changed(r, last) {
            Self::read_into(r, out)?;
            Ok(true)
        } else {
            Ok(false)
        }
    }
    /// Reads the `counter` field alone (a projection), if the library can
    /// do it without copying the whole value.
    fn project(_r: &mut Self::R) -> Option<Res<u64>> {
        None
    }
    /// Removes the segment (errors ignored: clean-up).
    fn remove(name: &str);
}

/// Ours: `shm_runtime::Shared` on a POSIX segment.
pub struct Ours;

/// The projection read: ONE field of the current value, consistently
/// (`Shared::read_with`: the field's load between the copy's two counter
/// loads, retried if a write touched that copy meanwhile).
#[inline]
pub fn ours_project<P: Payload, A: shm_runtime::Access>(seg: &Shared<P, A>) -> Res<u64>
where
    for<'a> P::Fields<'a, ReadOnly>: CounterField,
{
    Ok(seg.read_with(|f| f.counter_value())?)
}

/// The `counter` getter of the generated field accessors of each payload.
pub trait CounterField {
    /// The field's value.
    fn counter_value(self) -> u64;
}

macro_rules! counter_field {
    ($($p:ident),*) => {$(
        impl CounterField for <crate::payload::$p as shm_runtime::SharedLayout>::Fields<'_, ReadOnly> {
            #[inline]
            fn counter_value(self) -> u64 {
                self.counter().get()
            }
        }
    )*};
}
counter_field!(P208, P4K, P1M);

impl<P: Payload> Lib<P> for Ours
where
    for<'a> P::Fields<'a, ReadOnly>: CounterField,
{
    type W = Shared<P>;
    type R = Shared<P, ReadOnly>;
    fn create(name: &str, init: &P) -> Res<Self::W> {
        Ok(Options::posix(name).create_new().open_with(init)?)
    }
    fn open(name: &str) -> Res<Self::R> {
        Ok(Options::posix(name).open_existing().open_read_only::<P>()?)
    }
    #[inline]
    fn write(w: &mut Self::W, v: &P) -> Res<()> {
        Ok(w.write(v)?)
    }
    #[inline]
    fn read_into(r: &mut Self::R, out: &mut P) -> Res<()> {
        r.read_into(out)?;
        Ok(())
    }
    #[inline]
    fn changed(r: &mut Self::R, last: &mut u64) -> bool {
        let v = r.version();
        let c = v != *last;
        *last = v;
        c
    }
    #[inline]
    fn project(r: &mut Self::R) -> Option<Res<u64>> {
        Some(ours_project(r))
    }
    fn remove(name: &str) {
        let _ = Options::posix(name).remove();
    }
}

/// iceoryx2's blackboard: one entry (key 0) holding the value; the writer
/// stores with `update_with_copy`, readers poll with `get()`.
pub struct Ice;

/// The writer side of [`Ice`] (fields drop in this order).
pub struct IceW<P: Payload> {
    entry: EntryHandleMut<ipc::Service, u64, P>,
    _writer: iceoryx2::port::writer::Writer<ipc::Service, u64>,
    _service: PortFactory<ipc::Service, u64>,
    _node: Node<ipc::Service>,
}

/// The reader side of [`Ice`].
pub struct IceR<P: Payload> {
    /// The value last seen by [`Lib::changed`]'s caller (its generation
    /// counter is iceoryx2's version check, `is_up_to_date`).
    last: Option<BlackboardValue<P>>,
    entry: EntryHandle<ipc::Service, u64, P>,
    _reader: iceoryx2::port::reader::Reader<ipc::Service, u64>,
    _service: PortFactory<ipc::Service, u64>,
    _node: Node<ipc::Service>,
}

fn ice_name(name: &str) -> Res<ServiceName> {
    Ok(ServiceName::new(&format!("peer-bench/{name}"))?)
}

impl<P: Payload> Lib<P> for Ice {
    type W = IceW<P>;
    type R = IceR<P>;
    fn create(name: &str, init: &P) -> Res<Self::W> {
        let node = NodeBuilder::new().create::<ipc::Service>()?;
        let service = node
            .service_builder(&ice_name(name)?)
            .blackboard_creator::<u64>()
            .add::<P>(0, *init)
            .create()?;
        let writer = service.writer_builder().create()?;
        let entry = writer.entry::<P>(&0)?;
        Ok(IceW {
            entry,
            _writer: writer,
            _service: service,
            _node: node,
        })
    }
    fn open(name: &str) -> Res<Self::R> {
        let node = NodeBuilder::new().create::<ipc::Service>()?;
        let service = node
            .service_builder(&ice_name(name)?)
            .blackboard_opener::<u64>()
            .open()?;
        let reader = service.reader_builder().create()?;
        let entry = reader.entry::<P>(&0)?;
        Ok(IceR {
            last: None,
            entry,
            _reader: reader,
            _service: service,
            _node: node,
        })
    }
    #[inline]
    fn write(w: &mut Self::W, v: &P) -> Res<()> {
        w.entry.update_with_copy(*v);
        Ok(())
    }
    #[inline]
    fn read_into(r: &mut Self::R, out: &mut P) -> Res<()> {
        *out = *r.entry.get();
        Ok(())
    }
    #[inline]
    fn poll(r: &mut Self::R, _last: &mut u64, out: &mut P) -> Res<bool> {
        // Spins on the generation counter (`is_up_to_date` of the value
        // last read), and reads with `get()` when it moved.
        match &r.last {
            Some(v) if r.entry.is_up_to_date(v) => Ok(false),
            _ => {
                let v = r.entry.get();
                *out = *v;
                r.last = Some(v);
                Ok(true)
            }
        }
    }
    fn remove(_name: &str) {
        // Dropping the last handle removes the service.
    }
}

/// mmap-sync's `Synchronizer` on files in `/dev/shm`: the writer
/// serializes with rkyv into the inactive one of two data files and
/// switches a version word; readers get a zero-copy `&Archived<T>` under a
/// reader count.
pub struct MmapSync;

/// The `Synchronizer` used: the crate's defaults, except the writer's sleep
/// while readers still hold the data file it wants to write (default 1 s;
/// 1 µs here, or a flat-out reader would stall the writer for seconds).
pub type Syncer = Synchronizer<wyhash::WyHash, LockDisabled, SCRATCH, 1_000>;

/// The grace period a writer waits for readers of the file it wants to
/// write before it assumes they died.
const GRACE: Duration = Duration::from_secs(1);

fn mmap_path(name: &str) -> String {
    format!("/dev/shm/{name}")
}

impl<P: Payload> Lib<P> for MmapSync {
    type W = Syncer;
    type R = Syncer;
    fn create(name: &str, init: &P) -> Res<Self::W> {
        let mut s = Syncer::with_params(mmap_path(name).as_ref());
        s.write(init, GRACE)?;
        Ok(s)
    }
    fn open(name: &str) -> Res<Self::R> {
        let mut s = Syncer::with_params(mmap_path(name).as_ref());
        // Maps the files (mmap-sync opens them at the first read).
        // SAFETY: mmap-sync's contract: the guard is dropped at once,
        // well within the writer's grace period.
        drop(unsafe { s.read::<P>(false) }?);
        Ok(s)
    }
    #[inline]
    fn write(w: &mut Self::W, v: &P) -> Res<()> {
        w.write(v, GRACE)?;
        Ok(())
    }
    #[inline]
    fn read_into(r: &mut Self::R, out: &mut P) -> Res<()> {
        // SAFETY: mmap-sync's contract: the guard lives only for this copy.
        let g = unsafe { r.read::<P>(false) }?;
        P::copy_archived(&g, out);
        Ok(())
    }
    #[inline]
    fn changed(r: &mut Self::R, last: &mut u64) -> bool {
        let v = r.version().map(u64::from).unwrap_or(0);
        let c = v != *last;
        *last = v;
        c
    }
    #[inline]
    fn project(r: &mut Self::R) -> Option<Res<u64>> {
        // SAFETY: mmap-sync's contract: the guard lives only for this load.
        Some(match unsafe { r.read::<P>(false) } {
            Ok(g) => Ok(P::archived_counter(&g)),
            Err(e) => Err(e.into()),
        })
    }
    fn remove(name: &str) {
        for suffix in ["_state", "_data_0", "_data_1"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", mmap_path(name)));
        }
    }
}

/// The offset of the payload in the seqlock's and the raw mapping (the
/// sequence word has the first cache line to itself).
const DATA: usize = 128;

/// A hand-written single-copy seqlock over a raw mapping: the writer makes
/// the sequence word odd, copies the value in, makes it even; a reader
/// copies the value out between two loads of the sequence word and retries
/// if they differ or are odd. The copies are plain `memcpy`s, as in the
/// usual hand-written seqlock (formally a data race in Rust's memory model;
/// this is the peer being measured, not project code). No backup copy: a
/// reader spins while a write lasts, and for ever if the writer dies in it.
pub struct SeqLock;

fn seq(m: &RawMap) -> &AtomicU64 {
    // SAFETY: offset 0 of a page-aligned mapping of at least `DATA` bytes,
    // only ever accessed atomically, by every process.
    unsafe { AtomicU64::from_ptr(m.ptr().cast()) }
}

impl<P: Payload> Lib<P> for SeqLock {
    type W = RawMap;
    type R = RawMap;
    fn create(name: &str, init: &P) -> Res<Self::W> {
        let mut m = RawMap::create(name, DATA + P::SIZE)?;
        <Self as Lib<P>>::write(&mut m, init)?;
        Ok(m)
    }
    fn open(name: &str) -> Res<Self::R> {
        let m = RawMap::open(name, DATA + P::SIZE, false)?;
        // Not there until the writer finished its first write.
        if seq(&m).load(Ordering::Acquire) == 0 {
            return Err("seqlock not yet written".into());
        }
        Ok(m)
    }
    #[inline]
    fn write(w: &mut Self::W, v: &P) -> Res<()> {
        let s = seq(w);
        let n = s.load(Ordering::Relaxed);
        s.store(n + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        // SAFETY: the payload area lies inside the mapping; `v` is a whole
        // `P`. (The race with readers is the seqlock's; see the type.)
        unsafe {
            std::ptr::copy_nonoverlapping((v as *const P).cast::<u8>(), w.ptr().add(DATA), P::SIZE)
        };
        s.store(n + 2, Ordering::Release);
        Ok(())
    }
    #[inline]
    fn read_into(r: &mut Self::R, out: &mut P) -> Res<()> {
        let s = seq(r);
        loop {
            let a = s.load(Ordering::Acquire);
            if a & 1 == 0 {
                // SAFETY: as in `write`; a torn copy is thrown away below
                // (integers only: any bytes are a valid `P`).
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        r.ptr().add(DATA),
                        (out as *mut P).cast::<u8>(),
                        P::SIZE,
                    )
                };
                fence(Ordering::Acquire);
                if s.load(Ordering::Relaxed) == a {
                    return Ok(());
                }
            }
            std::hint::spin_loop();
        }
    }
    #[inline]
    fn changed(r: &mut Self::R, last: &mut u64) -> bool {
        let v = seq(r).load(Ordering::Acquire);
        let c = v != *last;
        *last = v;
        c
    }
    #[inline]
    fn project(r: &mut Self::R) -> Option<Res<u64>> {
        let s = seq(r);
        loop {
            let a = s.load(Ordering::Acquire);
            if a & 1 == 0 {
                // SAFETY: the first payload word, 8-aligned, inside the
                // mapping; volatile as the race is the seqlock's.
                let v = unsafe { std::ptr::read_volatile(r.ptr().add(DATA).cast::<u64>()) };
                fence(Ordering::Acquire);
                if s.load(Ordering::Relaxed) == a {
                    return Some(Ok(v));
                }
            }
            std::hint::spin_loop();
        }
    }
    fn remove(name: &str) {
        unlink(name);
    }
}

/// The raw baseline: a plain copy into / out of a raw mapping, no protocol
/// (its reads under a writer are torn: the checker must count them).
pub struct Raw;

impl<P: Payload> Lib<P> for Raw {
    type W = RawMap;
    type R = RawMap;
    fn create(name: &str, init: &P) -> Res<Self::W> {
        let mut m = RawMap::create(name, DATA + P::SIZE)?;
        <Self as Lib<P>>::write(&mut m, init)?;
        Ok(m)
    }
    fn open(name: &str) -> Res<Self::R> {
        RawMap::open(name, DATA + P::SIZE, false)
    }
    #[inline]
    fn write(w: &mut Self::W, v: &P) -> Res<()> {
        // SAFETY: inside the mapping; the race is the point of this row.
        unsafe {
            std::ptr::copy_nonoverlapping((v as *const P).cast::<u8>(), w.ptr().add(DATA), P::SIZE)
        };
        Ok(())
    }
    #[inline]
    fn read_into(r: &mut Self::R, out: &mut P) -> Res<()> {
        // SAFETY: as in `write`; any bytes are a valid `P`.
        unsafe {
            std::ptr::copy_nonoverlapping(r.ptr().add(DATA), (out as *mut P).cast::<u8>(), P::SIZE)
        };
        Ok(())
    }
    fn remove(name: &str) {
        unlink(name);
    }
}

/// Raw, but every word copied with a relaxed 8-byte atomic load or store
/// (no counters, no retries): the floor under any copy that keeps racing
/// accesses to one size, as ours does. Ours / this is the protocol's cost;
/// this / the plain `memcpy` row is the cost of atomic words.
pub struct RawAtomic;

/// Copies `len` bytes (a multiple of 8, both sides 8-aligned) word by word.
///
/// # Safety
///
/// `src` and `dst` are valid for `len` bytes, 8-aligned, and do not overlap.
#[inline]
unsafe fn atomic_words(src: *const u8, dst: *mut u8, len: usize) {
    for i in 0..len / 8 {
        // SAFETY: word `i` of both ranges is in bounds and aligned (caller).
        let (s, d) = unsafe {
            (
                AtomicU64::from_ptr(src.add(8 * i).cast_mut().cast()),
                AtomicU64::from_ptr(dst.add(8 * i).cast()),
            )
        };
        d.store(s.load(Ordering::Relaxed), Ordering::Relaxed);
    }
}

impl<P: Payload> Lib<P> for RawAtomic {
    type W = RawMap;
    type R = RawMap;
    fn create(name: &str, init: &P) -> Res<Self::W> {
        let mut m = RawMap::create(name, DATA + P::SIZE)?;
        <Self as Lib<P>>::write(&mut m, init)?;
        Ok(m)
    }
    fn open(name: &str) -> Res<Self::R> {
        RawMap::open(name, DATA + P::SIZE, false)
    }
    #[inline]
    fn write(w: &mut Self::W, v: &P) -> Res<()> {
        // SAFETY: the mapping holds `DATA + P::SIZE` bytes, page-aligned,
        // `DATA` a multiple of 8; `P` is 8-aligned with a size a multiple
        // of 8; the shared side is only accessed atomically here.
        unsafe { atomic_words((v as *const P).cast(), w.ptr().add(DATA), P::SIZE) };
        Ok(())
    }
    #[inline]
    fn read_into(r: &mut Self::R, out: &mut P) -> Res<()> {
        // SAFETY: as in `write`.
        unsafe { atomic_words(r.ptr().add(DATA), (out as *mut P).cast(), P::SIZE) };
        Ok(())
    }
    fn remove(name: &str) {
        unlink(name);
    }
}
