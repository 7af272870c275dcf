//! A compiled model's IR re-inferred from its declaration's text (`ModelFamily::DECLARATION`),
//! for code in drg-core that walks a model's layers at run time (fast in-silico mutagenesis
//! recomputes only the stretch a mutation changes, with every length and key from the IR).

use crate::ir::Model;
use crate::suggest::{messages, model_def};

/// The IR of model `model` of `declaration` (the text of a `drg_model!` invocation), every size
/// variant resolved; an error line when the text does not parse or infer.
pub fn declared_model(declaration: &str, model: &str) -> Result<Model, String> {
    let def = model_def(declaration, model)?;
    crate::infer::infer(&def).map_err(|e| format!("the declaration of {model} does not infer: {}", messages(&e)))
}
