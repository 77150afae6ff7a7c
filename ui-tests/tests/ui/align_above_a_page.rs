// A schema aligned above 4096 bytes: a segment is mapped at a page
// boundary, so the payload could not be aligned in every process.
use shm_runtime::SharedLayout;

#[derive(SharedLayout)]
#[repr(C, align(8192))]
pub struct Aligned {
    pub value: u64,
    pub _pad: [u8; 8184],
}

#[derive(SharedLayout)]
#[repr(C, align(4096))]
pub struct AtAPage {
    pub value: u64,
    pub _pad: [u8; 4088],
}

fn main() {}
