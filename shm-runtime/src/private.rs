//! Items used by code that `#[derive(SharedLayout)]` generates. Not a public
//! API: paths and signatures may change in any release.
//!
//! Generated code names everything through `::shm_runtime::__private::...`,
//! so it never depends on what the user has imported.

pub use crate::field::{Access, Field, ReadOnly, ReadWrite, SharedLayout, ShmSafe};
pub use crate::invalid::Invalid;
pub use crate::layout::{EnumDesc, FieldDesc, LayoutDesc, Prim, TypeDesc, VariantDesc};
pub use crate::types::{SharedEnum, bad_enum};
pub use core::clone::Clone;
pub use core::convert::From;
pub use core::fmt::{Debug, Formatter, Result as FmtResult};
pub use core::marker::{Copy, PhantomData};
pub use core::mem::{align_of, offset_of, size_of};
pub use core::option::Option;
pub use core::panic;
pub use core::result::Result;

/// The `I`-th field (in declaration order) of a schema struct.
///
/// The derive implements this once per field. Everything that needs the
/// field's type to be [`ShmSafe`] (its [`FieldDesc`], its accessor) goes
/// through this trait, so a field of a type that is not `ShmSafe` fails in
/// exactly one place, the `type Ty = ...;` of its impl, which carries the
/// span of the field's type: one mistake, one error, pointing at the field.
///
/// # Safety
///
/// `Self` must have a field named [`NAME`](Self::NAME) of type
/// [`Ty`](Self::Ty) at byte offset [`OFFSET`](Self::OFFSET).
pub unsafe trait HasField<const I: usize>: ShmSafe {
    /// The field's type.
    type Ty: ShmSafe;
    /// `offset_of!(Self, field)`.
    const OFFSET: usize;
    /// The field's name as written (without `r#`).
    const NAME: &'static str;
}

/// The description of field `I` of `S`.
pub const fn field_desc<S: HasField<I>, const I: usize>() -> FieldDesc {
    FieldDesc {
        name: S::NAME,
        offset: S::OFFSET,
        size: size_of::<S::Ty>(),
        ty: <S::Ty as ShmSafe>::TYPE,
    }
}

/// The check of a field's type that `FixedStr<N>` cannot do itself
/// without an error inside this crate: an empty message if every string
/// capacity in `S`'s field `I` (also inside arrays) is 1 to 65535. The
/// derive spans the failure at the field's type.
pub const fn field_type_error<S: HasField<I>, const I: usize>() -> Msg {
    let mut t = &<S::Ty as ShmSafe>::TYPE;
    while let TypeDesc::Array { elem, .. } = t {
        t = elem;
    }
    match t {
        TypeDesc::Str { cap } if *cap == 0 || *cap > 65535 => Msg::new()
            .str("`FixedStr<")
            .num(*cap)
            .str(">` in field `")
            .str(S::NAME)
            .str("`: the capacity must be 1 to 65535 bytes (the length is stored in a u16); write e.g. `FixedStr<32>`"),
        TypeDesc::Ring { cap, .. } | TypeDesc::Queue { cap, .. } if !cap.is_power_of_two() || *cap > crate::layout::RING_CAP_MAX => {
            let kind = if matches!(t, TypeDesc::Ring { .. }) { "Ring" } else { "Queue" };
            Msg::new()
                .str("`")
                .str(kind)
                .str("<_, ")
                .num(*cap)
                .str(">` in field `")
                .str(S::NAME)
                .str("`: the number of slots must be a power of two from 1 to 16777216 (2^24); write e.g. `")
                .str(kind)
                .str("<Event, 1024>`")
        }
        TypeDesc::Ring { elem, .. } | TypeDesc::Queue { elem, .. } if elem.size() == 0 => Msg::new()
            .str("field `")
            .str(S::NAME)
            .str("`: a ring's or queue's messages cannot be zero-sized"),
        TypeDesc::Ring { elem, .. } | TypeDesc::Queue { elem, .. } if ring_inside(elem) => Msg::new()
            .str("field `")
            .str(S::NAME)
            .str("`: the messages of a ring or queue cannot hold rings or queues themselves"),
        _ => Msg::new(),
    }
}

/// Whether `t` is or holds a ring (in arrays or structs).
const fn ring_inside(t: &TypeDesc) -> bool {
    match t {
        TypeDesc::Ring { .. } | TypeDesc::Queue { .. } => true,
        TypeDesc::Array { elem, .. } => ring_inside(elem),
        TypeDesc::Struct(l) => {
            let mut i = 0;
            while i < l.fields.len() {
                if ring_inside(&l.fields[i].ty) {
                    return true;
                }
                i += 1;
            }
            false
        }
        _ => false,
    }
}

/// Whether field `I` of `S` needs a check on read (`ShmSafe::CHECKED`).
pub const fn field_checked<S: HasField<I>, const I: usize>() -> bool {
    <S::Ty as ShmSafe>::CHECKED
}

/// Checks field `I` of `S` in `bytes`, a private copy of an `S`.
#[inline]
pub fn check_field<S: HasField<I>, const I: usize>(bytes: &[u8]) -> Result<(), Invalid> {
    if <S::Ty as ShmSafe>::CHECKED {
        <S::Ty as ShmSafe>::check(&bytes[S::OFFSET..S::OFFSET + size_of::<S::Ty>()])
            .map_err(|e| e.in_field(S::NAME))
    } else {
        Ok(())
    }
}

/// The alignment recorded for a struct whose Rust alignment on this target
/// is `rust_align`: the larger of it and every field's natural alignment
/// (see [`TypeDesc::natural_align`]), so the same on 32- and 64-bit targets.
pub const fn recorded_align(rust_align: usize, fields: &[FieldDesc]) -> usize {
    let mut align = rust_align;
    let mut i = 0;
    while i < fields.len() {
        let a = fields[i].ty.natural_align();
        if a > align {
            align = a;
        }
        i += 1;
    }
    align
}

/// The natural alignment of field `I` of `S` ([`TypeDesc::natural_align`]).
pub const fn natural_align<S: HasField<I>, const I: usize>() -> usize {
    <S::Ty as ShmSafe>::TYPE.natural_align()
}

/// How many bytes after `at` the next multiple of `align` is (0 if `at`
/// is one).
pub const fn pad_to(at: usize, align: usize) -> usize {
    at.next_multiple_of(align) - at
}

/// The largest alignment a schema may have
/// ([`crate::header::PAYLOAD_ALIGN_MAX`]).
pub const PAYLOAD_ALIGN_MAX: usize = crate::header::PAYLOAD_ALIGN_MAX;

/// A handle to field `I` of the `S` that `field` points to.
#[inline]
pub fn project_field<'a, S: HasField<I>, A: Access, const I: usize>(
    field: Field<'a, S, A>,
) -> Field<'a, S::Ty, A> {
    // SAFETY: `HasField`'s contract: `S` has a field of type `S::Ty` at
    // offset `S::OFFSET`.
    unsafe { field.project::<S::Ty>(S::OFFSET) }
}

/// Capacity of a [`Msg`] in bytes; longer messages are truncated.
const MSG_CAP: usize = 512;

/// A message assembled at compile time, so that a failed layout assertion
/// can say which number it found: the derive emits
/// `panic!("{}", Msg::new().str("...").num(size_of::<S>()).str("...").as_str())`
/// in a `const` item, and rustc reports `evaluation panicked: <message>`.
#[derive(Clone, Copy)]
pub struct Msg {
    buf: [u8; MSG_CAP],
    len: usize,
}

impl Msg {
    /// An empty message.
    pub const fn new() -> Msg {
        Msg {
            buf: [0; MSG_CAP],
            len: 0,
        }
    }

    /// Appends `s`, truncated at a character boundary if it does not fit.
    pub const fn str(mut self, s: &str) -> Msg {
        let bytes = s.as_bytes();
        let mut n = bytes.len();
        if n > MSG_CAP - self.len {
            n = MSG_CAP - self.len;
            // Back up to the start of a UTF-8 sequence.
            while n > 0 && bytes[n] & 0xC0 == 0x80 {
                n -= 1;
            }
        }
        let mut i = 0;
        while i < n {
            self.buf[self.len] = bytes[i];
            self.len += 1;
            i += 1;
        }
        self
    }

    /// Appends `n` in decimal.
    pub const fn num(self, mut n: usize) -> Msg {
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        loop {
            start -= 1;
            digits[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let digits = digits.split_at(start).1;
        match core::str::from_utf8(digits) {
            Ok(s) => self.str(s),
            Err(_) => self,
        }
    }

    /// Whether nothing has been appended.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends the Rust spelling of a type: `u16`, `[f32; 50]`, `Inner`.
    pub const fn ty(self, t: &TypeDesc) -> Msg {
        match t {
            TypeDesc::Prim(p) => self.str(p.rust_name()),
            TypeDesc::Array { elem, len } => self.str("[").ty(elem).str("; ").num(*len).str("]"),
            TypeDesc::Struct(l) => self.str(l.name),
            TypeDesc::Enum(e) => self.str(e.name),
            TypeDesc::Str { cap } => self.str("FixedStr<").num(*cap).str(">"),
            TypeDesc::Ring { elem, cap } => self.str("Ring<").ty(elem).str(", ").num(*cap).str(">"),
            TypeDesc::Queue { elem, cap } => {
                self.str("Queue<").ty(elem).str(", ").num(*cap).str(">")
            }
        }
    }

    /// Appends "`name` (TYPE at offset N)".
    const fn field(self, f: &FieldDesc) -> Msg {
        self.str("`")
            .str(f.name)
            .str("` (")
            .ty(&f.ty)
            .str(" at offset ")
            .num(f.offset)
            .str(")")
    }

    /// The message so far.
    pub const fn as_str(&self) -> &str {
        match core::str::from_utf8(self.buf.split_at(self.len).0) {
            Ok(s) => s,
            Err(_) => "<invalid message>",
        }
    }
}

/// `a == b` for strings, in a `const` context.
const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// `a == b` for types (structs compared field by field, with their names
/// and versions), in a `const` context; for enums, `b` may add variants
/// after `a`'s (a newer version of a schema may add variants at the end:
/// `a` is the older type).
pub const fn type_eq(a: &TypeDesc, b: &TypeDesc) -> bool {
    match (a, b) {
        (TypeDesc::Prim(x), TypeDesc::Prim(y)) => *x as u8 == *y as u8,
        (TypeDesc::Array { elem: x, len: m }, TypeDesc::Array { elem: y, len: n }) => {
            *m == *n && type_eq(x, y)
        }
        (TypeDesc::Struct(x), TypeDesc::Struct(y)) => layout_eq(x, y),
        (TypeDesc::Enum(x), TypeDesc::Enum(y)) => enum_prefix(x, y),
        (TypeDesc::Str { cap: m }, TypeDesc::Str { cap: n }) => *m == *n,
        (TypeDesc::Ring { elem: x, cap: m }, TypeDesc::Ring { elem: y, cap: n })
        | (TypeDesc::Queue { elem: x, cap: m }, TypeDesc::Queue { elem: y, cap: n }) => {
            *m == *n && type_eq(x, y)
        }
        _ => false,
    }
}

/// Whether `b` is `a` with maybe more variants after `a`'s.
const fn enum_prefix(a: &EnumDesc, b: &EnumDesc) -> bool {
    if !str_eq(a.name, b.name)
        || a.repr as u8 != b.repr as u8
        || a.variants.len() > b.variants.len()
    {
        return false;
    }
    let mut i = 0;
    while i < a.variants.len() {
        if !str_eq(a.variants[i].name, b.variants[i].name)
            || a.variants[i].value != b.variants[i].value
        {
            return false;
        }
        i += 1;
    }
    true
}

/// `a == b` for layouts, in a `const` context.
const fn layout_eq(a: &LayoutDesc, b: &LayoutDesc) -> bool {
    if !str_eq(a.name, b.name)
        || a.version != b.version
        || a.size != b.size
        || a.align != b.align
        || a.fields.len() != b.fields.len()
    {
        return false;
    }
    let mut i = 0;
    while i < a.fields.len() {
        if !field_eq(&a.fields[i], &b.fields[i]) {
            return false;
        }
        i += 1;
    }
    true
}

const fn field_eq(a: &FieldDesc, b: &FieldDesc) -> bool {
    str_eq(a.name, b.name) && a.offset == b.offset && a.size == b.size && type_eq(&a.ty, &b.ty)
}

/// The index of the field called `name` in `fields`, if any.
const fn find_field(fields: &[FieldDesc], name: &str) -> Option<usize> {
    let mut i = 0;
    while i < fields.len() {
        if str_eq(fields[i].name, name) {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// The check behind `#[shm(extends = Old)]` on `New`: an empty message if
/// the layout `old` is a prefix of `new` (same schema name, a lower
/// version, and every field of `old` in `new` with the same name, type and
/// offset, in the same order, before any new field), otherwise what is
/// wrong, naming the first field concerned. `old_ty` and `new_ty` are the
/// Rust type names, for the message.
///
/// The derive emits `const _: () = { let m = extends_error(..); if
/// !m.is_empty() { panic!("{}", m.as_str()) } };` spanned at the path after
/// `extends =`, so rustc reports the message there.
pub const fn extends_error(old: &LayoutDesc, new: &LayoutDesc, old_ty: &str, new_ty: &str) -> Msg {
    let head = Msg::new()
        .str("`")
        .str(new_ty)
        .str("` cannot extend `")
        .str(old_ty)
        .str("`: ");
    if !str_eq(old.name, new.name) {
        return head
            .str("the schema names differ (`")
            .str(new.name)
            .str("` and `")
            .str(old.name)
            .str("`); every version of a schema has the same name: remove `name = ...` (it defaults to the extended schema's) or write `name = \"")
            .str(old.name)
            .str("\"`");
    }
    if new.version <= old.version {
        return head
            .str("its version must be higher than the extended schema's (")
            .num(old.version as usize)
            .str("), found ")
            .num(new.version as usize)
            .str("; write `version = ")
            .num((old.version as usize).saturating_add(1))
            .str("`");
    }
    let tail = Msg::new().str("; every field of `").str(old_ty).str(
        "` must stay, in order, with the same name, type and offset, and new fields go after them",
    );
    let mut i = 0;
    while i < old.fields.len() {
        let f = &old.fields[i];
        let m = if i >= new.fields.len() {
            head.str("field ").field(f).str(" was removed")
        } else if field_eq(f, &new.fields[i]) {
            i += 1;
            continue;
        } else {
            let g = &new.fields[i];
            if str_eq(f.name, g.name) {
                if let (TypeDesc::Struct(a), TypeDesc::Struct(b)) = (&f.ty, &g.ty)
                    && str_eq(a.name, b.name)
                {
                    head.str("field `")
                        .str(f.name)
                        .str("` changed type: struct `")
                        .str(a.name)
                        .str("` was v")
                        .num(a.version as usize)
                        .str(" with ")
                        .num(a.fields.len())
                        .str(" fields in ")
                        .num(a.size)
                        .str(" bytes, it is now v")
                        .num(b.version as usize)
                        .str(" with ")
                        .num(b.fields.len())
                        .str(" fields in ")
                        .num(b.size)
                        .str(" bytes (a nested struct cannot grow: add the new fields to the outer struct)")
                } else if let (TypeDesc::Enum(a), TypeDesc::Enum(b)) = (&f.ty, &g.ty)
                    && str_eq(a.name, b.name)
                    && !enum_prefix(a, b)
                {
                    enum_change(
                        head.str("field `").str(f.name).str("` changed type: "),
                        a,
                        b,
                    )
                } else if !type_eq(&f.ty, &g.ty) {
                    head.str("field `")
                        .str(f.name)
                        .str("` changed type from ")
                        .ty(&f.ty)
                        .str(" to ")
                        .ty(&g.ty)
                } else {
                    head.str("field `")
                        .str(f.name)
                        .str("` moved from offset ")
                        .num(f.offset)
                        .str(" to offset ")
                        .num(g.offset)
                }
            } else {
                match find_field(new.fields, f.name) {
                    Some(j) => head
                        .str("field ")
                        .field(f)
                        .str(" moved: `")
                        .str(new_ty)
                        .str("` has it at offset ")
                        .num(new.fields[j].offset)
                        .str(", after ")
                        .field(g),
                    None => {
                        if type_eq(&f.ty, &g.ty) && f.offset == g.offset {
                            head.str("field ")
                                .field(f)
                                .str(" was renamed to `")
                                .str(g.name)
                                .str("`")
                        } else {
                            head.str("field ")
                                .field(f)
                                .str(" was removed or replaced by ")
                                .field(g)
                        }
                    }
                }
            }
        };
        return m.str(tail.as_str());
    }
    Msg::new()
}

/// Appends how enum `b` differs from `a` (same name), which it extends
/// only if it keeps `a`'s `repr` and variants and adds variants after them.
const fn enum_change(m: Msg, a: &EnumDesc, b: &EnumDesc) -> Msg {
    let m = m.str("enum `").str(a.name).str("` ");
    if a.repr as u8 != b.repr as u8 {
        return m
            .str("changed its repr from ")
            .str(a.repr.rust_name())
            .str(" to ")
            .str(b.repr.rust_name());
    }
    let mut i = 0;
    while i < a.variants.len() {
        let v = &a.variants[i];
        if i >= b.variants.len()
            || !str_eq(v.name, b.variants[i].name)
            || v.value != b.variants[i].value
        {
            return m
                .str("lost or changed its variant `")
                .str(v.name)
                .str("` (number ")
                .num(i)
                .str("); a newer version keeps every variant, with its name and value, in order, and adds new variants after them");
        }
        i += 1;
    }
    m.str("changed")
}

/// How many implicit gaps (padding between consecutive fields) come before
/// field `i` of `l` (between fields `0..=i`): the number of the padding
/// field the derive suggests at the gap before field `i`.
pub const fn gaps_before(l: &LayoutDesc, i: usize) -> usize {
    let mut n = 0;
    let mut j = 1;
    while j <= i && j < l.fields.len() {
        let prev = &l.fields[j - 1];
        if l.fields[j].offset != prev.offset + prev.size {
            n += 1;
        }
        j += 1;
    }
    n
}

/// The `k`-th of `free` (the numbers `n` for which no field is called
/// `_pad{n}`), or the last one.
pub const fn pick(free: &[usize], k: usize) -> usize {
    if k < free.len() {
        free[k]
    } else {
        free[free.len() - 1]
    }
}

/// "; or declare the fields in this order, which has no padding: `a, c,
/// b`": the fields sorted by alignment, largest first (a stable sort), if
/// that order needs no padding (the sizes add up to a multiple of the
/// struct's alignment). Empty otherwise.
pub const fn reorder_hint(l: &LayoutDesc) -> Msg {
    let mut total = 0;
    let mut i = 0;
    while i < l.fields.len() {
        total += l.fields[i].size;
        i += 1;
    }
    if l.fields.len() < 2 || !total.is_multiple_of(l.align) {
        return Msg::new();
    }
    let mut m = Msg::new().str("; or declare the fields in this order, which has no padding: `");
    let mut first = true;
    let mut align = PAYLOAD_ALIGN_MAX;
    while align >= 1 {
        let mut i = 0;
        while i < l.fields.len() {
            if l.fields[i].ty.natural_align() == align {
                if !first {
                    m = m.str(", ");
                }
                m = m.str(l.fields[i].name);
                first = false;
            }
            i += 1;
        }
        align /= 2;
    }
    m.str("`")
}

/// The check behind `#[shm(capacity = N)]`: an empty message if `reserve`
/// (the `N`) bytes hold the struct.
pub const fn reserve_error(reserve: usize, size: usize, ty: &str) -> Msg {
    if reserve >= size {
        return Msg::new();
    }
    Msg::new()
        .str("`#[shm(capacity = ")
        .num(reserve)
        .str(")]` is less than the size of `")
        .str(ty)
        .str("` (")
        .num(size)
        .str(
            " bytes): `capacity` is the room for the whole payload, including the fields it has now",
        )
}

impl Default for Msg {
    fn default() -> Self {
        Msg::new()
    }
}

#[cfg(test)]
mod tests {
    use super::{Msg, extends_error, reserve_error};
    use crate::layout::{FieldDesc, LayoutDesc, Prim, TypeDesc};

    const fn f(name: &'static str, offset: usize, p: Prim) -> FieldDesc {
        FieldDesc {
            name,
            offset,
            size: p.size(),
            ty: TypeDesc::Prim(p),
        }
    }

    static V1: LayoutDesc = LayoutDesc {
        name: "S",
        version: 1,
        size: 8,
        align: 4,
        fields: &[f("a", 0, Prim::U32), f("b", 4, Prim::U32)],
    };

    #[test]
    fn extends_accepts_a_prefix_and_names_the_first_bad_field() {
        static THREE: [FieldDesc; 3] = [
            f("a", 0, Prim::U32),
            f("b", 4, Prim::U32),
            f("c", 8, Prim::U32),
        ];
        static ONE: [FieldDesc; 1] = [f("a", 0, Prim::U32)];
        let v2 = LayoutDesc {
            version: 2,
            size: 12,
            fields: &THREE,
            ..V1
        };
        assert!(extends_error(&V1, &v2, "V1", "V2").is_empty());
        let cut = LayoutDesc {
            version: 2,
            size: 4,
            fields: &ONE,
            ..V1
        };
        let m = extends_error(&V1, &cut, "V1", "V2");
        assert!(
            m.as_str()
                .starts_with("`V2` cannot extend `V1`: field `b` (u32 at offset 4) was removed;"),
            "{}",
            m.as_str()
        );
        let same = extends_error(&V1, &V1, "V1", "V1");
        assert!(
            same.as_str().contains("version must be higher"),
            "{}",
            same.as_str()
        );
        assert!(reserve_error(8, 8, "S").is_empty());
        assert!(
            reserve_error(4, 8, "S")
                .as_str()
                .contains("less than the size")
        );
    }

    #[test]
    fn msg_formats_numbers_and_truncates() {
        const M: Msg = Msg::new().str("size ").num(208).str(", zero ").num(0);
        assert_eq!(M.as_str(), "size 208, zero 0");
        assert_eq!(Msg::new().num(usize::MAX).as_str(), usize::MAX.to_string());
        let long = "é".repeat(400);
        let m = Msg::new().str("x").str(&long);
        assert!(m.as_str().len() <= 512);
        assert!(m.as_str().starts_with("xé"));
    }
}
