//! `#[derive(SharedEnum)]`: a fieldless enum with an integer `repr` and an
//! explicit discriminant on every variant, checked on every read.
//!
//! The syntactic checks (all reported in one compile, each at its token)
//! are here; rustc checks the rest (discriminants unique and in range of
//! the `repr`). The expansion implements `ShmSafe` (the descriptor entry,
//! and a check that the value is one of the discriminants) and
//! `SharedEnum` (conversions to and from the `repr`).

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Data, DeriveInput, Fields, Ident, LitStr};

use crate::ast::unraw;
use crate::check::{MAX_FIELD_NAME_LEN, ident_rule, suggest_ident};
use crate::ctxt::Ctxt;
use crate::expand::private;

/// The `repr`s an enum may have.
const REPRS: &[&str] = &["u8", "u16", "u32", "u64", "i8", "i16", "i32", "i64"];

/// Entry point.
pub fn derive(node: &DeriveInput) -> TokenStream {
    let cx = Ctxt::new();
    let repr = check(&cx, node);
    match cx.check() {
        Ok(()) => expand(node, repr.expect("checked")),
        Err(errors) => {
            let errors = errors.iter().map(syn::Error::to_compile_error);
            quote!(#(#errors)*)
        }
    }
}

/// Every syntactic check; the `repr` if there is one.
fn check(cx: &Ctxt, node: &DeriveInput) -> Option<Ident> {
    let name = unraw(&node.ident);
    let data = match &node.data {
        Data::Enum(data) => data,
        Data::Struct(s) => {
            cx.error_spanned_by(
                s.struct_token,
                "SharedEnum is for fieldless enums; for a struct use `#[derive(SharedLayout)]` with `#[repr(C)]`",
            );
            return None;
        }
        Data::Union(u) => {
            cx.error_spanned_by(
                u.union_token,
                "SharedEnum is for fieldless enums: a union cannot be shared; use a `#[repr(C)]` struct",
            );
            return None;
        }
    };
    if let Err(why) = ident_rule(&name, MAX_FIELD_NAME_LEN) {
        cx.error_spanned_by(
            &node.ident,
            format!(
                "the enum name `{name}` {why}: it becomes an identifier in the generated C, C# and Python bindings; \
                 rename it, e.g. to `{}`",
                suggest_ident(&name, MAX_FIELD_NAME_LEN)
            ),
        );
    }
    if !node.generics.params.is_empty() {
        cx.error_spanned_by(
            &node.generics,
            "SharedEnum cannot be derived for a generic enum: remove the parameters",
        );
    }
    // The repr: exactly one integer type.
    let mut repr: Option<Ident> = None;
    let mut bad_repr = false;
    for attr in node.attrs.iter().filter(|a| a.path().is_ident("repr")) {
        let _ = attr.parse_nested_meta(|meta| {
            let Some(ident) = meta.path.get_ident() else {
                return Ok(());
            };
            let s = ident.to_string();
            if REPRS.contains(&s.as_str()) {
                repr = Some(ident.clone());
            } else if s == "C" || s == "usize" || s == "isize" || s == "u128" || s == "i128" {
                bad_repr = true;
                cx.error_spanned_by(
                    ident,
                    format!(
                        "`#[repr({s})]` has a size that differs between targets or compilers: \
                         use `#[repr(u8)]`, `u16`, `u32`, `u64`, `i8`, `i16`, `i32` or `i64`"
                    ),
                );
            }
            Ok(())
        });
    }
    if repr.is_none() && !bad_repr {
        cx.error_spanned_by(
            &node.ident,
            format!(
                "SharedEnum needs an integer representation, which fixes the field's size in shared memory: \
                 add `#[repr(u8)]` (or `u16`, `u32`, `u64`, `i8`..`i64`) above `enum {name}`"
            ),
        );
    }
    if data.variants.is_empty() {
        cx.error_spanned_by(
            &node.ident,
            format!("`{name}` has no variants: a shared enum needs at least one, e.g. `enum {name} {{ Idle = 0 }}`"),
        );
    }
    for v in &data.variants {
        let vname = unraw(&v.ident);
        if let Err(why) = ident_rule(&vname, MAX_FIELD_NAME_LEN) {
            cx.error_spanned_by(
                &v.ident,
                format!(
                    "the variant name `{vname}` {why}: it becomes an identifier in the generated bindings; \
                     rename it, e.g. to `{}`",
                    suggest_ident(&vname, MAX_FIELD_NAME_LEN)
                ),
            );
        }
        if !matches!(v.fields, Fields::Unit) {
            cx.error_spanned_by(
                &v.fields,
                format!(
                    "variant `{vname}` carries data: a shared enum is one integer, its discriminant; \
                     remove the fields and store the data in fields of the struct next to the enum"
                ),
            );
        } else if v.discriminant.is_none() {
            cx.error_spanned_by(
                &v.ident,
                format!(
                    "variant `{vname}` needs an explicit discriminant, e.g. `{vname} = 0`: the value is what \
                     other processes and languages read, so it must not change when variants are reordered"
                ),
            );
        }
        for attr in &v.attrs {
            if attr.path().is_ident("cfg") {
                cx.error_spanned_by(
                    attr,
                    "`#[cfg]` on a variant of a shared enum would make the set of values depend on the build \
                     configuration: declare the variant unconditionally",
                );
            }
        }
    }
    repr
}

fn expand(node: &DeriveInput, repr: Ident) -> TokenStream {
    let p = private();
    let ident = &node.ident;
    let name = LitStr::new(&unraw(ident), ident.span());
    let Data::Enum(data) = &node.data else {
        unreachable!("checked")
    };
    let variants: Vec<&Ident> = data.variants.iter().map(|v| &v.ident).collect();
    let vnames: Vec<LitStr> = variants
        .iter()
        .map(|v| LitStr::new(&unraw(v), v.span()))
        .collect();
    let prim = match repr.to_string().as_str() {
        "u8" => quote!(U8),
        "u16" => quote!(U16),
        "u32" => quote!(U32),
        "u64" => quote!(U64),
        "i8" => quote!(I8),
        "i16" => quote!(I16),
        "i32" => quote!(I32),
        _ => quote!(I64),
    };
    quote! {
        #[allow(unsafe_code, clippy::undocumented_unsafe_blocks)]
        const _: () = {
            #[automatically_derived]
            impl #ident {
                #[doc(hidden)]
                const __SHM_ENUM: #p::EnumDesc = #p::EnumDesc {
                    name: #name,
                    repr: #p::Prim::#prim,
                    variants: &[#(#p::VariantDesc {
                        name: #vnames,
                        value: #ident::#variants as i64 as u64,
                    }),*],
                };
            }

            #[automatically_derived]
            unsafe impl #p::ShmSafe for #ident {
                const TYPE: #p::TypeDesc = #p::TypeDesc::Enum(&<#ident>::__SHM_ENUM);
                const CHECKED: bool = true;
                fn check(bytes: &[u8]) -> #p::Result<(), #p::Invalid> {
                    let mut b = [0u8; #p::size_of::<#repr>()];
                    b.copy_from_slice(&bytes[..#p::size_of::<#repr>()]);
                    match <#ident as #p::SharedEnum>::from_repr(<#repr>::from_ne_bytes(b)) {
                        #p::Option::Some(_) => #p::Result::Ok(()),
                        #p::Option::None => #p::Result::Err(#p::bad_enum(&<#ident as #p::ShmSafe>::TYPE, bytes)),
                    }
                }
            }

            #[automatically_derived]
            unsafe impl #p::SharedEnum for #ident {
                type Repr = #repr;
                #[inline]
                fn from_repr(v: #repr) -> #p::Option<Self> {
                    #(
                        if v == #ident::#variants as #repr {
                            return #p::Option::Some(#ident::#variants);
                        }
                    )*
                    #p::Option::None
                }
                #[inline]
                fn to_repr(self) -> #repr {
                    self as #repr
                }
            }
        };
    }
}
