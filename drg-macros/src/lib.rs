//! The `drg_model!` macro of drg-rs: declare a sequence-to-expression network as typed Rust.
//!
//! This crate is only the proc-macro entry point (as serde_derive and sqlx-macros are): the
//! language itself (parse → shared pipelines → resolve → infer → IR → codegen) lives in the
//! ordinary library `drg-dsl`, where it is unit-tested on token streams and where drg-core can
//! run the same inference at run time. The language is documented on [`drg_model!`] and in
//! `docs/dsl.md`.

#[doc = include_str!("../../docs/dsl.md")]
#[proc_macro]
pub fn drg_model(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    drg_dsl::expand(input.into()).unwrap_or_else(drg_dsl::syn::Error::into_compile_error).into()
}
