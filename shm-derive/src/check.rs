//! Checks that need only the syntax of the item.
//!
//! Every problem is recorded in the [`Ctxt`] and checking goes on, so one
//! compile reports every syntactic mistake of the struct. Facts that need
//! type information (sizes, offsets, padding, `ShmSafe`) are left to rustc
//! through the items [`crate::expand`] generates.

use syn::{GenericArgument, GenericParam, PathArguments, Type};

use crate::ast::{Field, Input, Shape, unraw};
use crate::ctxt::Ctxt;

/// How many bytes of UTF-8 the segment header has for the schema name.
pub const MAX_NAME_LEN: usize = 48;
/// Longest field name, in bytes.
pub const MAX_FIELD_NAME_LEN: usize = crate::ident::MAX_IDENT_LEN;

/// The identifier rule: the runtime's own `shm_runtime::ident` module,
/// compiled into this crate too (it cannot depend on the runtime), so the
/// derive and descriptor validation apply one rule, written once.
pub use crate::ident::check as ident_rule;

/// A name that follows [`ident_rule`], close to `name`: other characters
/// become `_`, runs of `_` one `_`, `_X` at the start becomes `_x`, a
/// leading digit gets an `n` before it.
pub fn suggest_ident(name: &str, max_len: usize) -> String {
    let mut out = String::new();
    for c in name.chars() {
        let c = if c.is_ascii_alphanumeric() { c } else { '_' };
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    if out.starts_with('_') && out[1..].starts_with(|c: char| c.is_ascii_uppercase()) {
        out[1..2].make_ascii_lowercase();
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'n');
    }
    out.truncate(max_len);
    if ident_rule(&out, max_len).is_err() {
        out = "name".to_owned();
    }
    out
}

/// `name` for an error message: printable ASCII as is, other characters
/// as `\u{XXXX}` (so a bidi override cannot reorder the message).
fn escaped(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            ' '..='~' => c.to_string(),
            c => format!("\\u{{{:04x}}}", u32::from(c)),
        })
        .collect()
}

/// Runs every syntactic check on `input`.
pub fn check(cx: &Ctxt, input: &Input) {
    let name = unraw(input.ident());
    match &input.shape {
        Shape::Enum(token) => {
            cx.error_spanned_by(
                token,
                "SharedLayout is for structs: for a fieldless enum, write `#[derive(SharedEnum)]` with `#[repr(u8)]` \
                 (or another integer) and `= N` on every variant; every read then checks the value",
            );
            // Nothing else about an enum is worth reporting.
            return;
        }
        Shape::Union(token) => {
            cx.error_spanned_by(
                token,
                "SharedLayout cannot be derived for a union: use a `#[repr(C)]` struct with a byte-array field (`[u8; N]`) \
                 and decode the bytes explicitly",
            );
            return;
        }
        Shape::Tuple(fields) => cx.error_spanned_by(
            fields,
            format!(
                "SharedLayout needs named fields, which become the schema's field names and accessor methods: \
                 write `struct {name} {{ value: u32, ... }}`"
            ),
        ),
        Shape::Unit => cx.error_spanned_by(
            input.ident(),
            format!(
                "SharedLayout needs a struct with named fields; `{name}` has none: \
                 write `struct {name} {{ value: u32, ... }}`"
            ),
        ),
        Shape::Named(fields) if fields.is_empty() => cx.error_spanned_by(
            input.ident(),
            format!(
                "`{name}` has no fields: a schema struct needs at least one, e.g. `struct {name} {{ value: u32 }}`"
            ),
        ),
        Shape::Named(fields) => {
            for (i, field) in fields.iter().enumerate() {
                cx.set_field(Some(i));
                check_field(cx, field);
            }
            cx.set_field(None);
        }
    }
    check_repr(cx, input);
    check_generics(cx, input);
    check_container_attrs(cx, input);
}

fn check_repr(cx: &Ctxt, input: &Input) {
    let repr = &input.repr;
    let mut reported = false;
    for (name, span) in &repr.rejected {
        let msg = match name.as_str() {
            "packed" => {
                "SharedLayout does not support `#[repr(packed)]`: packed fields may be unaligned, \
                 and fields are read and written with atomic operations, which need alignment; \
                 use `#[repr(C)]` and make padding explicit with fields like `_pad: [u8; N]`"
            }
            "Rust" => {
                "`#[repr(Rust)]` lets the compiler reorder fields and choose padding, so other processes \
                 cannot rely on the layout: use `#[repr(C)]`"
            }
            "transparent" => {
                "SharedLayout does not support `#[repr(transparent)]`: use `#[repr(C)]`"
            }
            // `repr(u8)` and friends on a struct are rejected by rustc itself.
            _ => continue,
        };
        cx.error_at(*span, msg);
        reported = true;
    }
    if repr.c.is_none() && !reported {
        match &repr.first_attr {
            // e.g. `#[repr(align(64))]` alone.
            Some(attr) => cx.error_spanned_by(
                attr,
                "SharedLayout needs `#[repr(C)]`: add `C` to this attribute, e.g. `#[repr(C, align(64))]`",
            ),
            None => cx.error_spanned_by(
                input.ident(),
                "SharedLayout needs `#[repr(C)]`: add `#[repr(C)]` above the struct",
            ),
        }
    }
}

fn check_generics(cx: &Ctxt, input: &Input) {
    let generics = &input.original.generics;
    for param in &generics.params {
        match param {
            GenericParam::Lifetime(l) => cx.error_spanned_by(
                &l.lifetime,
                format!(
                    "SharedLayout cannot be derived for a struct with lifetime parameters: shared memory cannot hold references; \
                     remove `{}` and store the data inline",
                    l.lifetime
                ),
            ),
            GenericParam::Type(t) => cx.error_spanned_by(
                &t.ident,
                format!(
                    "SharedLayout cannot be derived for a generic struct: a schema's layout must be fixed; \
                     replace `{}` with a concrete type (write one struct per instantiation)",
                    t.ident
                ),
            ),
            GenericParam::Const(c) => cx.error_spanned_by(
                &c.ident,
                format!(
                    "SharedLayout cannot be derived for a struct with const parameters: a schema's layout must be fixed; \
                     replace `{}` with a number or a `const` item",
                    c.ident
                ),
            ),
        }
    }
    if generics.params.is_empty()
        && let Some(where_clause) = &generics.where_clause
        && !where_clause.predicates.is_empty()
    {
        cx.error_spanned_by(
            where_clause.where_token,
            "remove this `where` clause: a schema struct has no generic parameters to constrain",
        );
    }
}

fn check_container_attrs(cx: &Ctxt, input: &Input) {
    let attrs = &input.attrs;
    if let Some(align) = &attrs.align
        && !align.value.is_power_of_two()
    {
        cx.error_spanned_by(
            &align.lit,
            format!("`align` must be a power of two, found {}", align.value),
        );
    }
    if let Some(version) = &attrs.version
        && u32::try_from(version.value).is_err()
    {
        cx.error_spanned_by(
            &version.lit,
            format!(
                "`version` must fit in a u32 (at most {}), found {}",
                u32::MAX,
                version.value
            ),
        );
    }
    if let Some(flag) = &attrs.older_writers
        && attrs.extends.is_none()
    {
        cx.error_spanned_by(
            flag,
            "`older_writers` lets programs built with an older version of this schema write segments that hold this one: \
             it needs `extends = OlderVersion`",
        );
    }
    if let Some(old) = &attrs.extends
        && attrs.version.is_none()
    {
        cx.error_spanned_by(
            old,
            "a schema that extends another needs its own `version = N`, higher than the extended schema's",
        );
    }
    match &attrs.name {
        Some(lit) => {
            let name = lit.value();
            if name.is_empty() {
                cx.error_spanned_by(lit, "the schema name must not be empty");
            } else if name.len() > MAX_NAME_LEN {
                cx.error_spanned_by(
                    lit,
                    format!(
                        "the schema name is {} bytes of UTF-8, but the segment header stores at most {MAX_NAME_LEN}: \
                         choose a shorter name",
                        name.len()
                    ),
                );
            } else if let Err(why) = ident_rule(&name, MAX_NAME_LEN) {
                cx.error_spanned_by(
                    lit,
                    format!(
                        "the schema name \"{}\" {why}: it becomes an identifier in the generated C, C# and Python bindings; \
                         write `name = \"{}\"`",
                        escaped(&name),
                        suggest_ident(&name, MAX_NAME_LEN)
                    ),
                );
            }
        }
        // With `extends`, the name is the extended schema's, checked there.
        None if attrs.extends.is_some() => {}
        None => {
            let name = unraw(input.ident());
            if name.len() > MAX_NAME_LEN {
                cx.error_spanned_by(
                    input.ident(),
                    format!(
                        "the schema name defaults to the type name, which is {} bytes of UTF-8, but the segment header \
                         stores at most {MAX_NAME_LEN}: add `#[shm(name = \"...\")]` with a shorter name",
                        name.len()
                    ),
                );
            } else if let Err(why) = ident_rule(&name, MAX_NAME_LEN) {
                cx.error_spanned_by(
                    input.ident(),
                    format!(
                        "the schema name defaults to the type name `{}`, which {why}: it becomes an identifier in the \
                         generated C, C# and Python bindings; add `#[shm(name = \"{}\")]` or rename the type",
                        escaped(&name),
                        suggest_ident(&name, MAX_NAME_LEN)
                    ),
                );
            }
        }
    }
}

fn check_field(cx: &Ctxt, field: &Field) {
    let name = field.name();
    if let Err(why) = ident_rule(&name, MAX_FIELD_NAME_LEN) {
        cx.error_spanned_by(
            field.ident,
            format!(
                "the field name `{}` {why}: it becomes an identifier in the generated C, C# and Python bindings; \
                 rename the field, e.g. to `{}`",
                escaped(&name),
                suggest_ident(&name, MAX_FIELD_NAME_LEN)
            ),
        );
    }
    for attr in &field.original.attrs {
        if attr.path().is_ident("cfg") {
            cx.error_spanned_by(
                attr,
                "`#[cfg]` on a field of a schema struct would make the layout depend on the build configuration, \
                 so differently built processes would disagree on it: declare the field unconditionally",
            );
        }
    }
    check_type(cx, field.ty);
}

/// Reports well-known types that can never be shared, with what to use
/// instead. Types this does not recognise are checked by rustc through the
/// `ShmSafe` bound (whose `on_unimplemented` message says the same things).
fn check_type(cx: &Ctxt, ty: &Type) {
    match ty {
        Type::Array(array) => check_type(cx, &array.elem),
        Type::Paren(inner) => check_type(cx, &inner.elem),
        Type::Group(inner) => check_type(cx, &inner.elem),
        Type::Reference(r) => cx.error_spanned_by(
            r,
            "a reference cannot be placed in shared memory: it is an address in this process only; \
             store the value inline, or store an offset into the segment (`u32`/`u64`)",
        ),
        Type::Ptr(p) => cx.error_spanned_by(
            p,
            "a raw pointer cannot be placed in shared memory: it is an address in this process only; \
             store an offset into the segment (`u32`/`u64`) instead",
        ),
        Type::BareFn(f) => cx.error_spanned_by(
            f,
            "a function pointer cannot be placed in shared memory: it is an address in this process only",
        ),
        Type::Slice(s) => cx.error_spanned_by(
            s,
            "a slice has no fixed size: use an array `[T; N]` (plus a length field if it is not always full)",
        ),
        Type::Tuple(t) if t.elems.is_empty() => cx.error_spanned_by(
            t,
            "a `()` field holds no data: remove it",
        ),
        Type::Tuple(t) => cx.error_spanned_by(
            t,
            "a tuple has no guaranteed layout: use a nested `#[repr(C)]` struct with `#[derive(SharedLayout)]`",
        ),
        Type::TraitObject(t) => cx.error_spanned_by(
            t,
            "a trait object has no fixed size or layout: use a concrete `#[derive(SharedLayout)]` struct",
        ),
        Type::ImplTrait(t) => cx.error_spanned_by(
            t,
            "`impl Trait` is not a type with a fixed layout: use a concrete type",
        ),
        Type::Never(t) => cx.error_spanned_by(t, "`!` cannot be stored in shared memory"),
        Type::Path(p) if p.qself.is_none() => {
            if let Some(msg) = known_bad_path(&p.path) {
                cx.error_spanned_by(p, msg);
            }
        }
        _ => {}
    }
}

/// The message for a well-known unshareable type written as a path, if it
/// is one. Only bare names (`String`) and paths through `std`, `core` and
/// `alloc` (`std::string::String`) are recognised, so a user's own type
/// that happens to be called `String` is left alone.
fn known_bad_path(path: &syn::Path) -> Option<String> {
    let first = path.segments.first()?;
    let last = path.segments.last()?;
    let std_path = path.segments.len() == 1
        || ["std", "core", "alloc"].contains(&first.ident.to_string().as_str());
    if !std_path {
        return None;
    }
    let name = last.ident.to_string();
    let has_args = !matches!(last.arguments, PathArguments::None);
    let generic_arg = || match &last.arguments {
        PathArguments::AngleBracketed(args) => args.args.iter().find_map(|a| match a {
            GenericArgument::Type(t) => Some(quote::quote!(#t).to_string().replace(' ', "")),
            _ => None,
        }),
        _ => None,
    };
    let msg = match (name.as_str(), has_args) {
        ("usize", false) => {
            "`usize` cannot be placed in shared memory: it is 4 bytes in 32-bit processes and 8 in 64-bit ones; \
             use `u64` instead"
                .to_owned()
        }
        ("isize", false) => {
            "`isize` cannot be placed in shared memory: it is 4 bytes in 32-bit processes and 8 in 64-bit ones; \
             use `i64` instead"
                .to_owned()
        }
        ("u128" | "i128", false) => format!(
            "`{name}` cannot be placed in shared memory: its alignment differs between targets and compiler versions; \
             use `[u64; 2]` instead"
        ),
        ("str" | "String", false) => format!(
            "`{name}` cannot be placed in shared memory: its bytes live on this process's heap; \
             use `shm_runtime::FixedStr<N>` instead, UTF-8 text of at most N bytes stored inline, e.g. `name: FixedStr<32>`"
        ),
        ("Vec", _) => format!(
            "`Vec` cannot be placed in shared memory: its elements live on this process's heap; \
             use a fixed-size array plus a length field instead, e.g. `items: [{}; 16], items_len: u32`",
            generic_arg().unwrap_or_else(|| "T".to_owned())
        ),
        ("Box" | "Rc" | "Arc" | "NonNull", _) => format!(
            "`{name}` cannot be placed in shared memory: it is a pointer, an address in this process only; \
             store the value inline, or store an offset into the segment (`u32`/`u64`)"
        ),
        ("Option", _) => format!(
            "`Option` cannot be placed in shared memory: another process may write a tag that is neither `Some` nor `None`; \
             store the value{} together with a separate `u8` flag field instead",
            generic_arg()
                .map(|t| format!(" (`{t}`)"))
                .unwrap_or_default()
        ),
        ("AtomicBool", false) => {
            "`AtomicBool` cannot be placed in shared memory: another process may write a byte other than 0 or 1, \
             and an atomic cannot be checked before use; use `bool` (checked on every read) or `AtomicU8`"
                .to_owned()
        }
        ("AtomicUsize", false) => {
            "`AtomicUsize` cannot be placed in shared memory: its size differs between 32- and 64-bit processes; \
             use `AtomicU64` instead"
                .to_owned()
        }
        ("AtomicIsize", false) => {
            "`AtomicIsize` cannot be placed in shared memory: its size differs between 32- and 64-bit processes; \
             use `AtomicI64` instead"
                .to_owned()
        }
        ("AtomicPtr", _) => {
            "`AtomicPtr` cannot be placed in shared memory: a pointer is an address in this process only; \
             store an offset into the segment in an `AtomicU64` (or `AtomicU32`) instead"
                .to_owned()
        }
        _ => return None,
    };
    Some(msg)
}
