use shm_runtime::SharedLayout;

#[derive(SharedLayout)]
pub struct MySharedData {
    pub value: i32,
}

fn main() {}
