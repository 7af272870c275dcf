//! The `drg_model!` macro of drg-rs: declare a sequence-to-expression network as typed Rust.
//!
//! Pipeline (one file per step): `parse` turns tokens into a syntax tree (`ast`); `pipelines`
//! substitutes the named trunk pipelines an invocation shares between its models; `resolve`
//! checks names, arguments and references; `infer` (with `heads` and `params`) computes every
//! shape and parameter count per size variant into the IR (`ir`); `codegen` turns the IR into
//! items. All errors are collected and reported together, each at the user's token. The language is documented on [`drg_model!`] and in `docs/dsl.md`.

mod args;
mod ast;
mod codegen;
mod error;
mod expand;
mod heads;
mod infer;
mod ir;
mod params;
mod parse;
mod pipelines;
mod resolve;
#[cfg(test)]
mod tests;

#[doc = include_str!("../../docs/dsl.md")]
#[proc_macro]
pub fn drg_model(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    expand::expand(input.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
