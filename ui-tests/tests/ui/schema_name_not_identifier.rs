use shm_runtime::SharedLayout;

// Names become identifiers in the generated C, C# and Python bindings.
#[derive(SharedLayout)]
#[repr(C)]
#[shm(name = "com.example.telemetry")]
pub struct Telemetry {
    pub count: u32,
}

#[derive(SharedLayout)]
#[repr(C)]
#[shm(name = "Tele\u{2028}metry\u{202e}")]
pub struct Hostile {
    pub count: u32,
}

fn main() {}
