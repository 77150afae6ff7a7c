use shm_runtime::SharedLayout;

#[derive(SharedLayout)]
#[repr(C)]
pub union Bits {
    pub int: u32,
    pub float: f32,
}

fn main() {}
