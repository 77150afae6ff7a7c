use shm_runtime::SharedLayout;

#[derive(SharedLayout)]
#[repr(C)]
pub struct Key {
    pub letter: char,
}

fn main() {}
