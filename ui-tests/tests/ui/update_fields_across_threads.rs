// Mixed-size atomics through `update()`: the read-write accessors must not
// reach another thread, where a neighbour's whole-word setter would race
// with them.
use shm_runtime::{Options, SharedLayout};

#[derive(SharedLayout)]
#[repr(C)]
pub struct Counters {
    pub counter: core::sync::atomic::AtomicU8,
    pub _pad: [u8; 7],
    pub other: u64,
}

fn main() {
    let seg = Options::memory().open::<Counters>().unwrap();
    seg.update(|f| {
        std::thread::scope(|s| {
            s.spawn(|| f.counter().fetch_add(1));
            f.other().set(1);
        });
    })
    .unwrap();
}
