// A read-write field handle (and the accessors generated over one) stays
// on its thread; read-only ones may cross.
use shm_runtime::{Field, ReadOnly, ReadWrite, SharedLayout};

#[derive(SharedLayout)]
#[repr(C)]
pub struct Pair {
    pub a: u32,
    pub b: u32,
}

fn send<T: Send>() {}
fn sync<T: Sync>() {}

fn main() {
    send::<Field<'static, u32, ReadOnly>>();
    sync::<PairFields<'static, ReadOnly>>();
    send::<Field<'static, u32, ReadWrite>>();
    sync::<Field<'static, [u8; 8], ReadWrite>>();
    send::<PairFields<'static, ReadWrite>>();
    sync::<PairFields<'static, ReadWrite>>();
}
