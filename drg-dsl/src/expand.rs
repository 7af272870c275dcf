//! The macro pipeline: parse → substitute shared pipelines → infer (validate, shapes, parameter
//! counts) → generate, for every model of the invocation.

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
        match crate::infer::infer(def) {
            Ok(model) => out.extend(crate::codegen::generate(&model, &source)),
            Err(e) => failures.add(&def.name.to_string(), e),
        }
    }
    match failures.finish(decls.models.len() > 1) {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// The errors of several models, each reported once: a mistake in a shared pipeline shows up in
/// every model that uses it, at the same token, and is reported once naming those models.
#[derive(Default)]
struct ModelErrors {
    /// (span as Debug, message) → (the error, the models it occurs in), in first-seen order.
    errors: Vec<((String, String), syn::Error, Vec<String>)>,
}

impl ModelErrors {
    fn add(&mut self, model: &str, error: syn::Error) {
        for e in error {
            let key = (format!("{:?}", e.span()), e.to_string());
            match self.errors.iter_mut().find(|(k, _, _)| *k == key) {
                Some((_, _, models)) => models.push(model.to_string()),
                None => self.errors.push((key, e, vec![model.to_string()])),
            }
        }
    }

    /// All errors combined; with `name_models`, each message ends with the models it concerns.
    fn finish(self, name_models: bool) -> Option<syn::Error> {
        let mut all: Option<syn::Error> = None;
        for (_, e, models) in self.errors {
            let e = if name_models {
                let names: Vec<String> = models.iter().map(|m| format!("`{m}`")).collect();
                let which = if names.len() == 1 { "model" } else { "models" };
                syn::Error::new(e.span(), format!("{e} (in {which} {})", names.join(", ")))
            } else {
                e
            };
            match &mut all {
                Some(a) => a.combine(e),
                None => all = Some(e),
            }
        }
        all
    }
}
