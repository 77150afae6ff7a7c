use core::marker::PhantomData;
use shm_runtime::SharedLayout;

#[derive(SharedLayout)]
#[repr(C)]
pub struct View<'a> {
    pub data: [u8; 16],
    _marker: PhantomData<&'a ()>,
}

fn main() {}
