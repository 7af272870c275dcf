//! Named trunk pipelines (`let basemodel = conv(nk, 15) >> .. ;`) shared by the models of one
//! `drg_model!` invocation.
//!
//! Substitution happens on the syntax tree, before any checking: a layer that names a pipeline
//! is replaced by the pipeline's layers, which keep the spans of the definition, so a mistake
//! inside a pipeline is reported at the definition's token (and, by [`crate::expand`], with the
//! models it breaks). A pipeline may use the pipelines defined before it; size parameters in it
//! are looked up in the sizes of each model that uses it.

use std::collections::HashMap;

use crate::ast::{Call, ModelDef, PipelineDef, TrunkBody};
use crate::error::Errors;
use crate::resolve::LAYER_NAMES;

/// Replaces every use of a pipeline in the trunks of `models` by its layers. Errors: a pipeline
/// named like a layer or defined twice, arguments given to a pipeline, and a pipeline used
/// before (or inside) its own definition.
pub(crate) fn substitute(pipelines: &[PipelineDef], models: &mut [ModelDef]) -> syn::Result<()> {
    let mut errs = Errors::new();
    let mut defined: HashMap<String, Vec<Call>> = HashMap::new();
    for p in pipelines {
        let name = p.name.to_string();
        if LAYER_NAMES.split(", ").any(|l| l == name) {
            errs.at(p.name.span(), format!("`{name}` is a layer; give the pipeline another name"));
            continue;
        }
        if defined.contains_key(&name) {
            errs.at(p.name.span(), format!("pipeline `{name}` is defined twice"));
            continue;
        }
        for later in pipelines.iter().skip_while(|q| q.name != p.name) {
            for call in p.layers.iter().filter(|c| c.name == later.name) {
                let what = if later.name == p.name {
                    "inside its own definition".to_string()
                } else {
                    format!("before its definition (in `{name}`)")
                };
                errs.at(
                    call.name.span(),
                    format!("pipeline `{}` is used {what}; a pipeline may use only the pipelines defined before it", later.name),
                );
            }
        }
        let layers = splice(&p.layers, &defined, &mut errs);
        defined.insert(name, layers);
    }
    for model in models.iter_mut() {
        for trunk in &mut model.trunks {
            if let TrunkBody::Layers(layers) = &mut trunk.body {
                *layers = splice(layers, &defined, &mut errs);
            }
        }
        for output in &mut model.outputs {
            output.stack = splice(&output.stack, &defined, &mut errs);
        }
    }
    errs.finish()
}

/// `layers` with every call naming a pipeline replaced by the pipeline's layers.
fn splice(layers: &[Call], defined: &HashMap<String, Vec<Call>>, errs: &mut Errors) -> Vec<Call> {
    let mut out = Vec::with_capacity(layers.len());
    for call in layers {
        match defined.get(&call.name.to_string()) {
            Some(body) => {
                if let Some(arg) = call.args.first() {
                    errs.at(
                        arg.value.span(),
                        format!("pipeline `{}` takes no arguments: its numbers are size parameters of the model that uses it", call.name),
                    );
                }
                out.extend(body.iter().cloned());
            }
            None => out.push(call.clone()),
        }
    }
    out
}
