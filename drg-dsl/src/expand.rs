//! The macro pipeline: parse → substitute shared pipelines → infer (validate, shapes, parameter
//! counts) → generate, for every model of the invocation.

use crate::error::{Errors, Reported};
use proc_macro2::TokenStream;

/// Expands one `drg_model!` invocation into its items, or every error found, combined.
pub fn expand(input: TokenStream) -> syn::Result<TokenStream> {
    // The invocation's text goes into every family (`ModelFamily::DECLARATION`), so that a
    // binary can re-run the inference for input lengths it was not compiled for.
    let source = input.to_string();
    let mut decls: crate::ast::Declarations = syn::parse2(input)?;
    crate::pipelines::substitute(&decls.pipelines, &mut decls.models)?;
    let mut out = TokenStream::new();
    let mut failures = ModelErrors::default();
    for def in &decls.models {
        match crate::infer::infer_collecting(def) {
            Ok(model) => out.extend(crate::codegen::generate(&model, &source)),
            Err(errs) => failures.add(&def.name.to_string(), errs),
        }
    }
    match failures.finish(decls.models.len() > 1) {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// The errors of several models, each reported once: a mistake in a shared pipeline shows up in
/// every model that uses it, for the same layer call and with the same message, and is reported
/// once naming those models. Errors of no layer call, or of different calls, are never merged.
#[derive(Default)]
struct ModelErrors {
    /// Each error with the call it concerns and the models it occurs in, in first-seen order.
    errors: Vec<(Reported, Vec<String>)>,
}

impl ModelErrors {
    fn add(&mut self, model: &str, errs: Errors) {
        for r in errs.into_reported() {
            let same =
                |(k, _): &&mut (Reported, Vec<String>)| r.site.is_some() && k.site == r.site && k.error.to_string() == r.error.to_string();
            match self.errors.iter_mut().find(same) {
                Some((_, models)) => models.push(model.to_string()),
                None => self.errors.push((r, vec![model.to_string()])),
            }
        }
    }

    /// All errors combined; with `name_models`, each message ends with the models it concerns.
    fn finish(self, name_models: bool) -> Option<syn::Error> {
        let mut all: Option<syn::Error> = None;
        for (r, models) in self.errors {
            let e = if name_models {
                let names: Vec<String> = models.iter().map(|m| format!("`{m}`")).collect();
                let which = if names.len() == 1 { "model" } else { "models" };
                syn::Error::new(r.error.span(), format!("{} (in {which} {})", r.error, names.join(", ")))
            } else {
                r.error
            };
            match &mut all {
                Some(a) => a.combine(e),
                None => all = Some(e),
            }
        }
        all
    }
}
