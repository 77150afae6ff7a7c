//! Parsing of `#[shm(...)]` and `#[repr(...)]` attributes.
//!
//! This module only parses: it records what was written (with spans, for
//! error messages and for `quote_spanned!`), reports malformed, unknown and
//! duplicate attributes, and leaves the judgement of the values (is the
//! alignment a power of two, does the name fit the header...) to
//! [`crate::check`].

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Attribute, Lit, LitInt, LitStr, Path};

use crate::ctxt::Ctxt;

/// Container attributes, in the order they are listed in error messages.
const CONTAINER_ATTRS: &[&str] = &[
    "size",
    "align",
    "version",
    "name",
    "extends",
    "capacity",
    "older_writers",
];
/// Field attributes.
const FIELD_ATTRS: &[&str] = &["offset"];

/// An integer literal from an attribute, with its value.
pub struct IntAttr {
    /// The literal as written, for spans.
    pub lit: LitInt,
    /// Its value.
    pub value: u64,
}

/// The `#[shm(...)]` attributes of the struct.
#[derive(Default)]
pub struct Container {
    /// `#[shm(size = N)]`: asserted `size_of`.
    pub size: Option<IntAttr>,
    /// `#[shm(align = N)]`: asserted `align_of`.
    pub align: Option<IntAttr>,
    /// `#[shm(version = N)]`: schema version.
    pub version: Option<IntAttr>,
    /// `#[shm(name = "...")]`: stable schema name.
    pub name: Option<LitStr>,
    /// `#[shm(extends = Old)]`: the older version of this schema.
    pub extends: Option<Path>,
    /// `#[shm(capacity = N)]`: room for the payload in new segments.
    pub capacity: Option<IntAttr>,
    /// `#[shm(older_writers)]`: the `older_writers` token.
    pub older_writers: Option<Path>,
}

/// The `#[shm(...)]` attributes of one field.
#[derive(Default)]
pub struct Field {
    /// `#[shm(offset = N)]`: asserted `offset_of`.
    pub offset: Option<IntAttr>,
}

/// What the `#[repr(...)]` attributes of the item say.
#[derive(Default)]
pub struct Repr {
    /// The first `#[repr(...)]` attribute, if any.
    pub first_attr: Option<Attribute>,
    /// The `C` token.
    pub c: Option<Span>,
    /// Representations `SharedLayout` rejects: (name as written, span).
    pub rejected: Vec<(String, Span)>,
}

impl Container {
    /// Parses the `#[shm(...)]` attributes of the struct.
    pub fn from_attrs(cx: &Ctxt, attrs: &[Attribute]) -> Self {
        let mut out = Container::default();
        for attr in shm_attrs(cx, attrs) {
            let res = attr.parse_nested_meta(|meta| {
                let key = path_to_string(&meta.path);
                match key.as_str() {
                    "size" => set_int(cx, &mut out.size, &meta, &key),
                    "align" => set_int(cx, &mut out.align, &meta, &key),
                    "version" => set_int(cx, &mut out.version, &meta, &key),
                    "name" => set_str(cx, &mut out.name, &meta, &key),
                    "extends" => set_path(cx, &mut out.extends, &meta, &key),
                    "capacity" => set_int(cx, &mut out.capacity, &meta, &key),
                    "older_writers" => set_flag(cx, &mut out.older_writers, &meta, &key),
                    _ => {
                        let msg = if FIELD_ATTRS.contains(&key.as_str()) {
                            format!(
                                "`{key}` is a field attribute: put `#[shm({key} = ...)]` on the field"
                            )
                        } else {
                            unknown_message(&key, CONTAINER_ATTRS)
                        };
                        cx.error_spanned_by(&meta.path, msg);
                        skip_value(&meta)
                    }
                }
            });
            if let Err(err) = res {
                cx.syn_error(err);
            }
        }
        out
    }
}

impl Field {
    /// Parses the `#[shm(...)]` attributes of one field.
    pub fn from_attrs(cx: &Ctxt, attrs: &[Attribute]) -> Self {
        let mut out = Field::default();
        for attr in shm_attrs(cx, attrs) {
            let res = attr.parse_nested_meta(|meta| {
                let key = path_to_string(&meta.path);
                match key.as_str() {
                    "offset" => set_int(cx, &mut out.offset, &meta, &key),
                    _ => {
                        let msg = if CONTAINER_ATTRS.contains(&key.as_str()) {
                            format!(
                                "`{key}` is a struct attribute, not a field attribute: put it in `#[shm(...)]` above the struct"
                            )
                        } else {
                            format!("unknown field attribute `{key}`; expected `offset`")
                        };
                        cx.error_spanned_by(&meta.path, msg);
                        skip_value(&meta)
                    }
                }
            });
            if let Err(err) = res {
                cx.syn_error(err);
            }
        }
        out
    }
}

impl Repr {
    /// Reads every `#[repr(...)]` attribute.
    ///
    /// Malformed `repr` attributes are left for rustc to report.
    pub fn from_attrs(attrs: &[Attribute]) -> Self {
        let mut out = Repr::default();
        for attr in attrs.iter().filter(|a| a.path().is_ident("repr")) {
            out.first_attr.get_or_insert_with(|| attr.clone());
            // A parse error here is a malformed `repr`, which rustc reports
            // itself; whatever was read before it is still used.
            let _ = attr.parse_nested_meta(|meta| {
                let name = path_to_string(&meta.path);
                match name.as_str() {
                    "C" => {
                        out.c.get_or_insert(meta.path.span());
                    }
                    // `align(N)` is fine with `C`; its effect is checked
                    // through `align_of` like everything else.
                    "align" => {}
                    _ => out.rejected.push((name, meta.path.span())),
                }
                skip_value(&meta)
            });
        }
        out
    }
}

/// The `#[shm]` attributes among `attrs`; reports any that is not a list.
fn shm_attrs<'a>(cx: &'a Ctxt, attrs: &'a [Attribute]) -> impl Iterator<Item = &'a Attribute> {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("shm"))
        .filter(move |a| {
            let is_list = matches!(a.meta, syn::Meta::List(_));
            if !is_list {
                cx.error_spanned_by(
                    a,
                    "expected a list of attributes, e.g. `#[shm(size = 64, version = 2)]`",
                );
            }
            is_list
        })
}

/// "unknown attribute `x`; expected one of ...".
fn unknown_message(key: &str, expected: &[&str]) -> String {
    let list = expected
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "unknown attribute `{key}`; expected one of {list}{}",
        did_you_mean(key, expected)
    )
}

/// " (did you mean `size`?)" if `key` looks like a misspelling of one of
/// `expected`, else "".
fn did_you_mean(key: &str, expected: &[&str]) -> String {
    expected
        .iter()
        .map(|k| (edit_distance(key, k), k))
        .filter(|(d, k)| *d <= 2 && *d < k.len())
        .min()
        .map(|(_, k)| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default()
}

/// Levenshtein distance between `a` and `b`, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != *cb);
            cur.push(substitute.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Parses `key = <integer>` into `slot`, reporting duplicates and non-integers.
fn set_int(
    cx: &Ctxt,
    slot: &mut Option<IntAttr>,
    meta: &ParseNestedMeta,
    key: &str,
) -> syn::Result<()> {
    let lit: Lit = meta.value()?.parse()?;
    let Lit::Int(lit) = lit else {
        cx.error_spanned_by(
            &lit,
            format!("expected an integer literal, e.g. `{key} = 64`"),
        );
        return Ok(());
    };
    let value = match lit.base10_parse::<u64>() {
        Ok(v) => v,
        Err(_) => {
            cx.error_spanned_by(&lit, format!("`{key}` must fit in a u64"));
            return Ok(());
        }
    };
    if slot.is_some() {
        cx.error_spanned_by(&meta.path, duplicate_message(key));
    } else {
        *slot = Some(IntAttr { lit, value });
    }
    Ok(())
}

/// Parses `key = "<string>"` into `slot`, reporting duplicates and non-strings.
fn set_str(
    cx: &Ctxt,
    slot: &mut Option<LitStr>,
    meta: &ParseNestedMeta,
    key: &str,
) -> syn::Result<()> {
    let lit: Lit = meta.value()?.parse()?;
    let Lit::Str(lit) = lit else {
        cx.error_spanned_by(
            &lit,
            format!("expected a string literal, e.g. `{key} = \"Telemetry\"`"),
        );
        return Ok(());
    };
    if slot.is_some() {
        cx.error_spanned_by(&meta.path, duplicate_message(key));
    } else {
        *slot = Some(lit);
    }
    Ok(())
}

/// Parses `key = <path>` (a type, e.g. `SensorV1` or `crate::v1::Sensor`)
/// into `slot`, reporting duplicates and other values.
fn set_path(
    cx: &Ctxt,
    slot: &mut Option<Path>,
    meta: &ParseNestedMeta,
    key: &str,
) -> syn::Result<()> {
    let expr: syn::Expr = meta.value()?.parse()?;
    let syn::Expr::Path(syn::ExprPath {
        qself: None, path, ..
    }) = expr
    else {
        cx.error_spanned_by(
            &expr,
            format!("expected the older schema's type, e.g. `{key} = SensorV1`"),
        );
        return Ok(());
    };
    if slot.is_some() {
        cx.error_spanned_by(&meta.path, duplicate_message(key));
    } else {
        *slot = Some(path);
    }
    Ok(())
}

/// Parses a bare `key` into `slot`, reporting duplicates and values.
fn set_flag(
    cx: &Ctxt,
    slot: &mut Option<Path>,
    meta: &ParseNestedMeta,
    key: &str,
) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) || meta.input.peek(syn::token::Paren) {
        cx.error_spanned_by(
            &meta.path,
            format!("`{key}` takes no value: write `#[shm({key})]`"),
        );
        return skip_value(meta);
    }
    if slot.is_some() {
        cx.error_spanned_by(&meta.path, duplicate_message(key));
    } else {
        *slot = Some(meta.path.clone());
    }
    Ok(())
}

fn duplicate_message(key: &str) -> String {
    format!("duplicate attribute `{key}`: it may be given only once")
}

/// Consumes the value of an attribute that is being rejected, so parsing can
/// continue with the next one: `= expr`, `(tokens)` or nothing.
fn skip_value(meta: &ParseNestedMeta) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        meta.value()?.parse::<syn::Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        meta.input.parse::<proc_macro2::Group>()?;
    }
    Ok(())
}

/// `a::b` for a path, without the spaces `ToTokens` would put in.
pub fn path_to_string(path: &Path) -> String {
    let segments = path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::");
    if path.leading_colon.is_some() {
        format!("::{segments}")
    } else {
        segments
    }
}

#[cfg(test)]
mod tests {
    use super::{did_you_mean, edit_distance};

    #[test]
    fn suggestions() {
        assert_eq!(edit_distance("sise", "size"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("ofset", "offset"), 1);
        assert_eq!(
            did_you_mean("sise", &["size", "align"]),
            " (did you mean `size`?)"
        );
        assert_eq!(did_you_mean("colour", &["size", "align"]), "");
    }
}
