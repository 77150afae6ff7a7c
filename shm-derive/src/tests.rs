//! Unit tests of the expansion, run outside of a compiler (proc-macro2
//! falls back to its own implementation). What the generated code does is
//! tested in `ui-tests`.

use proc_macro2::TokenStream;
use syn::{DeriveInput, parse_quote};

use crate::expand;

fn derive(input: DeriveInput) -> String {
    expand::derive(&input).to_string()
}

fn compile_errors(out: &str) -> Vec<String> {
    let ts: TokenStream = out.parse().expect("valid tokens");
    let mut errors = Vec::new();
    let mut tokens = ts.into_iter().peekable();
    while let Some(tt) = tokens.next() {
        if tt.to_string() == "compile_error" {
            // `compile_error` `!` `{ "message" }`
            tokens.next();
            if let Some(group) = tokens.next() {
                errors.push(group.to_string());
            }
        }
    }
    errors
}

#[test]
fn valid_struct_expands_to_impls_and_accessors() {
    let out = derive(parse_quote! {
        #[repr(C)]
        #[shm(size = 8, version = 3, name = "pair")]
        pub struct Pair {
            pub a: u32,
            _pad: [u8; 4],
        }
    });
    assert!(compile_errors(&out).is_empty(), "{out}");
    for expected in [
        "pub struct PairFields",
        "HasField < 0usize > for Pair",
        "HasField < 1usize > for Pair",
        "unsafe impl :: shm_runtime :: __private :: SharedLayout for Pair",
        "name : \"pair\"",
        "version : 3u32",
        "fn a (self)",
    ] {
        assert!(out.contains(expected), "missing `{expected}` in {out}");
    }
    // Explicit padding has no accessor.
    assert!(!out.contains("fn _pad"), "{out}");
}

#[test]
fn every_mistake_is_reported_with_a_stub() {
    let out = derive(parse_quote! {
        #[shm(sise = 1, size = 2, size = 3)]
        pub struct S {
            pub a: usize,
            pub b: Vec<u8>,
            #[shm(offset = 0, offset = 1)]
            pub c: &'static u8,
        }
    });
    let errors = compile_errors(&out);
    assert_eq!(errors.len(), 7, "{errors:#?}");
    assert!(errors[0].contains("unknown attribute `sise`"));
    assert!(errors[1].contains("duplicate attribute `size`"));
    assert!(errors[2].contains("needs `#[repr(C)]`"));
    assert!(errors[3].contains("`usize`"));
    assert!(errors[4].contains("`Vec`") && errors[4].contains("[u8; 16]"));
    assert!(errors[5].contains("duplicate attribute `offset`"));
    assert!(errors[6].contains("reference"));
    // The stub keeps other uses of `S` from failing too.
    assert!(out.contains("pub struct SFields"), "{out}");
    assert!(out.contains("SharedLayout for S"), "{out}");
}

#[test]
fn generic_structs_get_no_stub() {
    let out = derive(parse_quote! {
        #[repr(C)]
        pub struct S<T> { pub a: T }
    });
    assert_eq!(compile_errors(&out).len(), 1);
    assert!(!out.contains("SharedLayout for"), "{out}");
}

#[test]
fn user_types_named_like_std_ones_are_left_to_rustc() {
    let out = derive(parse_quote! {
        #[repr(C)]
        pub struct S { pub a: my::String, pub b: [crate::Box; 2] }
    });
    assert!(compile_errors(&out).is_empty(), "{out}");
}

#[test]
fn nested_bad_types_are_found() {
    let out = derive(parse_quote! {
        #[repr(C)]
        pub struct S { pub a: [[core::primitive::usize; 2]; 3], pub b: (u8, u8) }
    });
    let errors = compile_errors(&out);
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(errors[0].contains("`usize`"));
    assert!(errors[1].contains("tuple"));
}

#[test]
fn schema_name_limits() {
    let long = "x".repeat(49);
    let ident = syn::Ident::new(&long, proc_macro2::Span::call_site());
    let out = derive(parse_quote! {
        #[repr(C)]
        pub struct #ident { pub a: u8 }
    });
    let errors = compile_errors(&out);
    assert_eq!(errors.len(), 1);
    assert!(errors[0].contains("49 bytes"), "{errors:?}");

    let out = derive(parse_quote! {
        #[repr(C)]
        #[shm(name = "", align = 6, version = 4294967296)]
        pub struct S { pub a: u8 }
    });
    let errors = compile_errors(&out);
    assert_eq!(errors.len(), 3, "{errors:#?}");
}

#[test]
fn names_must_be_identifiers_in_every_target_language() {
    use crate::check::{ident_rule, suggest_ident};
    for bad in [
        "com.example",
        "a-b",
        "größe",
        "a\u{2028}b",
        "x\u{202e}",
        "??/",
        "\u{1f600}",
        "1a",
        "a__b",
        "_Bool",
        "_",
    ] {
        assert!(ident_rule(bad, 48).is_err(), "{bad:?}");
        let s = suggest_ident(bad, 48);
        assert_eq!(ident_rule(&s, 48), Ok(()), "{bad:?} -> {s:?}");
    }
    assert_eq!(
        suggest_ident("com.example.telemetry", 48),
        "com_example_telemetry"
    );
    assert_eq!(suggest_ident("größe", 48), "gr_e");
    let out = derive(parse_quote! {
        #[repr(C)]
        #[shm(name = "my app")]
        pub struct S { pub größe: u8, pub r#type: u8, pub a__b: u8 }
    });
    let errors = compile_errors(&out);
    assert_eq!(errors.len(), 3, "{errors:#?}");
    assert!(errors[0].contains("my_app"), "{errors:?}");
    assert!(errors[1].contains("gr_e"), "{errors:?}");
    assert!(errors[2].contains("`__`"), "{errors:?}");
}
