#![doc = include_str!("../../docs/dsl.md")]

mod args;
mod ast;
mod codegen;
mod error;
mod expand;
mod infer;
mod ir;
mod params;
mod parse;
#[cfg(test)]
mod tests;

/// Declares a sequence-to-expression model; see the crate documentation for the grammar and
/// an example of every use case.
#[proc_macro]
pub fn drg_model(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    expand::expand(input.into()).unwrap_or_else(syn::Error::into_compile_error).into()
}
