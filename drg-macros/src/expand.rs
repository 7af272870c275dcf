//! The macro pipeline: parse → infer (validate, shapes, parameter counts) → generate.

use proc_macro2::TokenStream;

pub(crate) fn expand(input: TokenStream) -> syn::Result<TokenStream> {
    let def: crate::ast::ModelDef = syn::parse2(input)?;
    let model = crate::infer::infer(&def)?;
    Ok(crate::codegen::generate(&model))
}
