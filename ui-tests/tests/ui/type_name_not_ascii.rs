use shm_runtime::SharedLayout;

// The schema name defaults to the type name, which must be ASCII.
#[derive(SharedLayout)]
#[repr(C)]
pub struct Messwert {
    pub größe: u32,
    pub r#type: u32,
    pub __reserved: u32,
    pub _Hidden: u32,
}

#[derive(SharedLayout)]
#[repr(C)]
pub struct Größe {
    pub value: u32,
}

fn main() {}
