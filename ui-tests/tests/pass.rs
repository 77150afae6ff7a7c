//! Structs that `#[derive(SharedLayout)]` accepts, their layouts, and the
//! generated accessors used on a heap buffer.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::alloc::{Layout, alloc_zeroed, dealloc};

use shm_runtime::{Field, FieldDesc, Prim, ReadOnly, ReadWrite, SharedLayout, ShmSafe, TypeDesc};

/// The example from the README.
#[derive(SharedLayout)]
#[repr(C)]
#[shm(size = 208, align = 4)]
pub struct MySharedData {
    /// A number.
    pub value: i32,
    /// A UTF-16 code unit.
    #[shm(offset = 4)]
    pub letter: u16,
    _pad: [u8; 2],
    /// Fifty floats.
    #[shm(offset = 8)]
    pub numbers: [f32; 50],
}

/// The same as [`MySharedData`] with `letter` widened: a different schema.
#[derive(SharedLayout)]
#[repr(C)]
#[shm(name = "MySharedData")]
pub struct MySharedDataV2 {
    /// A number.
    pub value: i32,
    /// Now a `u32`.
    pub letter: u32,
    /// Fifty floats.
    pub numbers: [f32; 50],
}

/// A nested struct.
#[derive(SharedLayout)]
#[repr(C)]
pub struct Point {
    /// x.
    pub x: f64,
    /// y.
    pub y: f64,
}

/// Nested structs, arrays of them, atomics, and a custom name and version.
#[derive(SharedLayout)]
#[repr(C)]
#[shm(name = "telemetry", version = 7, size = 64)]
pub struct Telemetry {
    /// Incremented by the writer.
    pub counter: AtomicU64,
    /// One point.
    pub inner: Point,
    /// Two more.
    pub path: [Point; 2],
    /// Flags.
    pub flags: AtomicU32,
    /// Keeps the size a multiple of 8.
    pub _reserved: u32,
}

/// Cache-line aligned.
#[derive(SharedLayout)]
#[repr(C, align(64))]
#[shm(size = 64, align = 64)]
pub struct CacheLine {
    /// Sequence number.
    pub seq: u64,
    /// Payload.
    pub data: [u8; 56],
}

/// Raw identifiers and a field named like a trait method.
#[derive(SharedLayout)]
#[repr(C)]
pub struct r#Keywords {
    /// `type` is a keyword.
    pub r#type: u32,
    /// Shadows nothing: `from` is an inherent method here.
    pub from: u32,
}

/// A private struct with private fields (accessors are private too).
#[derive(SharedLayout)]
#[repr(C)]
struct Private {
    a: u16,
    b: u16,
}

/// A schema called `A`, like the accessors' access-mode parameter.
#[derive(SharedLayout)]
#[repr(C)]
pub struct A {
    /// x.
    pub x: u32,
}

/// Uses `A` as a field type: the generated accessors must not confuse it
/// with their own `A`.
#[derive(SharedLayout)]
#[repr(C)]
pub struct UsesA {
    /// One `A`.
    pub a: A,
    /// Two more.
    pub more: [A; 2],
}

/// Version 1 of a schema that grows, with room reserved.
#[derive(SharedLayout)]
#[repr(C)]
#[shm(name = "Gauge", capacity = 256)]
pub struct GaugeV1 {
    /// A reading.
    pub reading: f64,
    /// A counter.
    pub count: u32,
    /// Explicit padding.
    pub _pad: [u8; 4],
}

/// Version 2: the same fields, then new ones; the name is inherited.
#[derive(SharedLayout)]
#[repr(C)]
#[shm(version = 2, extends = GaugeV1, capacity = 256, older_writers)]
pub struct GaugeV2 {
    /// A reading.
    pub reading: f64,
    /// A counter.
    pub count: u32,
    /// Explicit padding.
    pub _pad: [u8; 4],
    /// New in version 2.
    pub unit: [u8; 8],
}

/// Version 3 extends version 2 through a path, and renames nothing.
#[derive(SharedLayout)]
#[repr(C)]
#[shm(version = 3, extends = self::GaugeV2, name = "Gauge")]
pub struct GaugeV3 {
    /// A reading.
    pub reading: f64,
    /// A counter.
    pub count: u32,
    /// Explicit padding.
    pub _pad: [u8; 4],
    /// New in version 2.
    pub unit: [u8; 8],
    /// New in version 3.
    pub points: [Point; 2],
}

/// An aligned, zeroed heap buffer standing in for a mapped segment.
struct Buffer<T> {
    ptr: NonNull<T>,
    layout: Layout,
}

impl<T: SharedLayout> Buffer<T> {
    fn new() -> Self {
        let layout = Layout::new::<T>();
        // SAFETY: every schema struct used here has a non-zero size.
        let ptr = unsafe { alloc_zeroed(layout) }.cast::<T>();
        Buffer {
            ptr: NonNull::new(ptr).expect("allocation failed"),
            layout,
        }
    }

    fn read(&self) -> Field<'_, T, ReadOnly> {
        // SAFETY: the buffer is aligned for `T`, `size_of::<T>()` bytes long,
        // lives as long as the borrow, and is only accessed through `Field`s.
        unsafe { Field::from_raw(self.ptr) }
    }

    fn write(&mut self) -> Field<'_, T, ReadWrite> {
        // SAFETY: as for `read`; `&mut self` stands in for the write protocol.
        unsafe { Field::from_raw(self.ptr) }
    }
}

impl<T> Drop for Buffer<T> {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { dealloc(self.ptr.as_ptr().cast(), self.layout) }
    }
}

fn field<'a>(layout: &'a shm_runtime::LayoutDesc, name: &str) -> &'a FieldDesc {
    layout
        .fields
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no field {name}"))
}

#[test]
fn layout_describes_the_struct() {
    let l = MySharedData::LAYOUT;
    assert_eq!(l.name, "MySharedData");
    assert_eq!(l.version, 1);
    assert_eq!(l.size, 208);
    assert_eq!(l.align, 4);
    let fields: Vec<_> = l
        .fields
        .iter()
        .map(|f| (f.name, f.offset, f.size))
        .collect();
    assert_eq!(
        fields,
        [
            ("value", 0, 4),
            ("letter", 4, 2),
            ("_pad", 6, 2),
            ("numbers", 8, 200)
        ]
    );
    assert_eq!(l.fields[0].ty, TypeDesc::Prim(Prim::I32));
    assert_eq!(
        l.fields[3].ty,
        TypeDesc::Array {
            elem: &TypeDesc::Prim(Prim::F32),
            len: 50
        }
    );
    assert_eq!(MySharedData::TYPE, TypeDesc::Struct(&MySharedData::LAYOUT));
}

#[test]
fn fingerprint_depends_on_the_fields() {
    assert_eq!(MySharedDataV2::LAYOUT.name, MySharedData::LAYOUT.name);
    assert_ne!(MySharedData::FINGERPRINT, MySharedDataV2::FINGERPRINT);
    assert_eq!(
        MySharedData::FINGERPRINT,
        shm_runtime::layout::fingerprint(&MySharedData::LAYOUT)
    );
}

#[test]
fn nested_structs_and_atomics() {
    let l = Telemetry::LAYOUT;
    assert_eq!(
        (l.name, l.version, l.size, l.align),
        ("telemetry", 7, 64, 8)
    );
    assert_eq!(field(&l, "counter").ty, TypeDesc::Prim(Prim::AtomicU64));
    assert_eq!(field(&l, "inner").ty, TypeDesc::Struct(&Point::LAYOUT));
    assert_eq!(field(&l, "inner").offset, 8);
    assert_eq!(
        field(&l, "path").ty,
        TypeDesc::Array {
            elem: &TypeDesc::Struct(&Point::LAYOUT),
            len: 2
        }
    );
    assert_eq!(field(&l, "flags").offset, 56);
    assert_ne!(Point::FINGERPRINT, Telemetry::FINGERPRINT);
}

#[test]
fn repr_align() {
    assert_eq!(CacheLine::LAYOUT.align, 64);
    assert_eq!(CacheLine::LAYOUT.size, 64);
    let mut buf = Buffer::<CacheLine>::new();
    let w = buf.write().fields();
    w.seq().set(9);
    w.data().set(55, 0xAB).expect("index in range");
    let r = buf.read().fields();
    assert_eq!(r.seq().get(), 9);
    assert_eq!(r.data().get(55), Some(0xAB));
}

#[test]
fn accessors_read_and_write() {
    let mut buf = Buffer::<MySharedData>::new();
    {
        let fields = buf.write().fields();
        fields.value().set(123);
        fields.letter().set(u16::from(b'x'));
        fields.numbers().set(10, 1.45).expect("index in range");
    }
    let fields: MySharedDataFields<'_> = buf.read().fields();
    assert_eq!(fields.value().get(), 123);
    assert_eq!(fields.letter().get(), u16::from(b'x'));
    assert_eq!(fields.numbers().get(10), Some(1.45));
    assert_eq!(fields.numbers().get(50), None);
    assert_eq!(fields.numbers().len(), 50);
    // The accessors are copyable and convert back to the whole-struct handle.
    let copy = fields;
    let whole: Field<'_, MySharedData, ReadOnly> = copy.into();
    assert_eq!(whole.as_ptr(), buf.ptr.as_ptr());
    assert!(format!("{fields:?}").starts_with("MySharedDataFields"));
}

#[test]
fn nested_accessors_and_atomics() {
    let mut buf = Buffer::<Telemetry>::new();
    let w = buf.write().fields();
    w.inner().fields().x().set(1.5);
    w.path().at(1).expect("in range").fields().y().set(-2.0);
    w.counter().fetch_add(5);
    w.flags().store(3);
    let r = buf.read().fields();
    assert_eq!(r.inner().fields().x().get(), 1.5);
    assert_eq!(r.path().at(1).expect("in range").fields().y().get(), -2.0);
    assert_eq!(r.counter().load(Ordering::Acquire), 5);
    assert_eq!(r.flags().load(Ordering::Acquire), 3);
}

#[test]
fn raw_identifiers_and_private_structs() {
    assert_eq!(Keywords::LAYOUT.name, "Keywords");
    assert_eq!(Keywords::LAYOUT.fields[0].name, "type");
    let mut buf = Buffer::<Keywords>::new();
    buf.write().fields().r#type().set(4);
    buf.write().fields().from().set(5);
    assert_eq!(buf.read().fields().r#type().get(), 4);
    assert_eq!(buf.read().fields().from().get(), 5);

    let mut buf = Buffer::<Private>::new();
    buf.write().fields().b().set(7);
    assert_eq!(buf.read().fields().b().get(), 7);
    assert_eq!(buf.read().fields().a().get(), 0);
    assert_eq!(Private::LAYOUT.size, 4);
}

/// Generic code can name the accessors through the trait.
fn first_field_offset<T: SharedLayout>() -> usize {
    T::LAYOUT.fields[0].offset
}

#[test]
fn generic_use() {
    assert_eq!(first_field_offset::<Point>(), 0);
    fn assert_shm_safe<T: ShmSafe>() {}
    assert_shm_safe::<[Point; 3]>();
}

#[test]
fn field_types_named_like_generated_parameters() {
    let mut buf = Buffer::<UsesA>::new();
    buf.write().fields().a().fields().x().set(1);
    buf.write()
        .fields()
        .more()
        .at(1)
        .expect("in range")
        .fields()
        .x()
        .set(2);
    let r = buf.read().fields();
    assert_eq!(r.a().fields().x().get(), 1);
    assert_eq!(r.more().at(1).expect("in range").fields().x().get(), 2);
}

#[test]
fn versions_extend_each_other() {
    assert_eq!(GaugeV1::LAYOUT.name, "Gauge");
    assert_eq!(GaugeV2::LAYOUT.name, "Gauge");
    assert_eq!(GaugeV3::LAYOUT.name, "Gauge");
    assert_eq!(
        (
            GaugeV1::LAYOUT.version,
            GaugeV2::LAYOUT.version,
            GaugeV3::LAYOUT.version
        ),
        (1, 2, 3)
    );
    assert_eq!(GaugeV2::LAYOUT.fields[..3], GaugeV1::LAYOUT.fields[..]);
    assert_eq!(GaugeV3::LAYOUT.fields[..4], GaugeV2::LAYOUT.fields[..]);
    assert_eq!(
        (GaugeV1::CAPACITY, GaugeV2::CAPACITY, GaugeV3::CAPACITY),
        (256, 256, 0)
    );
    assert_eq!(
        [
            GaugeV1::OLDER_WRITERS,
            GaugeV2::OLDER_WRITERS,
            GaugeV3::OLDER_WRITERS
        ],
        [false, true, false]
    );
    assert_eq!(
        (MySharedData::CAPACITY, MySharedData::OLDER_WRITERS),
        (0, false)
    );
    assert_ne!(GaugeV1::FINGERPRINT, GaugeV2::FINGERPRINT);
}
