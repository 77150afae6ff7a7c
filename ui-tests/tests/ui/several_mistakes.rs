use shm_runtime::SharedLayout;

#[derive(SharedLayout)]
#[shm(sise = 16, version = 1, version = 2)]
pub struct Status {
    pub ready: bool,
    pub count: usize,
    pub name: String,
    #[shm(ofset = 8)]
    pub code: u32,
}

fn main() {}
