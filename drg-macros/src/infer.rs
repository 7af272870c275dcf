//! Validation and shape inference: [`crate::ast::ModelDef`] → [`crate::ir::Model`].
//!
//! Two phases, each collecting every error it finds:
//! 1. *resolve*: names, layer signatures, argument types, cross-references (trunks ↔ inputs,
//!    outputs → trunks), head-structure consistency. Independent of the size variant.
//! 2. *infer*, per size variant: evaluate size parameters, walk every trunk computing shapes,
//!    paddings and the conv-stack layers the reference actually builds, then the heads and the
//!    parameter count. Messages name the variant when the model has several.
//!
//! Phase 2 runs for every trunk whose layers resolved, even when other parts failed, so one
//! compile shows as many independent mistakes as possible without cascading ones.

use crate::args::{Args, Param, SizeEnv};
use crate::ast::{Call, ModelDef, Number, TrunkBody, Value};
use crate::error::Errors;
use crate::ir::*;
use crate::params;
use proc_macro2::Span;
use std::collections::BTreeSet;
use syn::Ident;

/// Flattened feature vectors above this size are rejected: the first linear layer alone would
/// hold more than 2^31 weights per output unit.
pub(crate) const MAX_FLAT_FEATURES: usize = 1 << 31;

/// Models above this many trainable parameters (about 4 TB of f32 weights) are rejected.
pub(crate) const MAX_PARAMETERS: usize = 1 << 40;

const LAYER_NAMES: &str =
    "conv, gelu, wpool, maxpool, meanpool, dilated, convblocks, attention, flatten, linear, fc, dropout";

/// Infers the complete IR of a declaration, or returns every error found, combined.
pub(crate) fn infer(def: &ModelDef) -> syn::Result<Model> {
    let mut errs = Errors::new();
    let variants = resolve_sizes(def, &mut errs);
    let all_size_names: BTreeSet<String> =
        variants.iter().flat_map(|v| v.values.iter().map(|(n, _)| n.to_string())).collect();
    let inputs = resolve_inputs(def, &mut errs);
    let trunks = resolve_trunks(def, &inputs, &mut errs);
    let outputs = resolve_outputs(def, &inputs, &mut errs);
    let (loss, validation) = resolve_losses(def, &mut errs);
    let combination = combination_kind(&outputs, &mut errs);
    if outputs.len() == def.outputs.len() {
        // Only when every output resolved: otherwise "unused" may be a consequence of a typo.
        check_inputs_used(&inputs, &outputs, &mut errs);
    }
    let combined = inputs.len() > 1 || combination == CombinationKind::Mlp;
    // Heads are inferred only for a structurally valid declaration (their construction relies
    // on the consistency checks above); trunk shapes are inferred regardless.
    let structural_ok = errs.count() == 0;

    let mut ir_variants = Vec::new();
    for (vi, variant) in variants.iter().enumerate() {
        let env = SizeEnv {
            variant: (!variant.implicit).then_some(&variant.name),
            values: &variant.values,
            all_names: &all_size_names,
            first: vi == 0,
        };
        let before = errs.count();
        let mut built_trunks = Vec::new();
        for (ti, input) in inputs.iter().enumerate() {
            let Some(Some(layers)) = trunks.get(ti) else { continue };
            let prefix = if combined { format!("cnns.CNN{ti}.") } else { String::new() };
            if let Some(t) = infer_trunk(input, layers, prefix, &env, &mut errs) {
                built_trunks.push(t);
            }
        }
        let widths: Vec<Option<usize>> =
            outputs.iter().map(|o| positive(&env, &o.width, "an output width", &mut errs)).collect();
        if !structural_ok || errs.count() != before || built_trunks.len() != inputs.len() {
            continue;
        }
        let widths: Vec<usize> = widths.into_iter().map(|w| w.unwrap_or(0)).collect();
        let Some(heads) = infer_heads(combination, &outputs, &built_trunks, &widths, &env, &mut errs) else {
            continue;
        };
        let mut v = Variant {
            name: variant.name.clone(),
            implicit: variant.implicit,
            trunks: built_trunks,
            output_widths: widths,
            heads,
            parameter_count: 0,
            parameter_breakdown: Vec::new(),
        };
        v.parameter_breakdown = params::breakdown(&v);
        v.parameter_count = v.parameter_breakdown.iter().map(|(_, n)| *n).fold(0, usize::saturating_add);
        if v.parameter_count > MAX_PARAMETERS {
            errs.at(def.name.span(), format!("{}the model has {} trainable parameters, more than 2^40; use smaller layers", env.prefix(), v.parameter_count));
            continue;
        }
        ir_variants.push(v);
    }
    errs.finish()?;
    Ok(Model {
        attrs: def.attrs.clone(),
        vis: def.vis.clone(),
        name: def.name.clone(),
        inputs: inputs
            .into_iter()
            .map(|i| Input { attrs: i.attrs, name: i.name, reverse_complement: i.reverse_complement })
            .collect(),
        outputs: outputs
            .into_iter()
            .map(|o| Output {
                attrs: o.attrs,
                width_span: o.width.span(),
                name: o.name,
                validated: o.validated,
                relation: o.relation,
            })
            .collect(),
        loss,
        validation,
        combination,
        combined,
        variants: ir_variants,
    })
}

// ---------------------------------------------------------------------------------------------
// Phase 1: resolve
// ---------------------------------------------------------------------------------------------

struct VariantSpec {
    name: Ident,
    implicit: bool,
    values: Vec<(Ident, Number)>,
}

fn resolve_sizes(def: &ModelDef, errs: &mut Errors) -> Vec<VariantSpec> {
    for extra in def.sizes.iter().skip(1) {
        errs.at(extra.keyword.span(), "only one `sizes { .. }` block is allowed; put every variant in the first one");
    }
    let Some(block) = def.sizes.first() else {
        return vec![VariantSpec { name: Ident::new("default", def.name.span()), implicit: true, values: Vec::new() }];
    };
    if block.variants.is_empty() {
        errs.at(block.keyword.span(), "`sizes` declares no variant; add one, e.g. `full: len = 40_000;`");
    }
    let mut out: Vec<VariantSpec> = Vec::new();
    for v in &block.variants {
        if out.iter().any(|o| o.name == v.name) {
            errs.at(v.name.span(), format!("duplicate size variant `{}`", v.name));
            continue;
        }
        let mut values: Vec<(Ident, Number)> = Vec::new();
        for p in &v.params {
            if values.iter().any(|(n, _)| *n == p.name) {
                errs.at(p.name.span(), format!("duplicate size parameter `{}` in variant `{}`", p.name, v.name));
                continue;
            }
            values.push((p.name.clone(), p.value.clone()));
        }
        out.push(VariantSpec { name: v.name.clone(), implicit: false, values });
    }
    out
}

struct InputSpec {
    attrs: Vec<syn::Attribute>,
    name: Ident,
    channels: Param<usize>,
    len: Param<usize>,
    reverse_complement: bool,
}

fn resolve_inputs(def: &ModelDef, errs: &mut Errors) -> Vec<InputSpec> {
    let mut out: Vec<InputSpec> = Vec::new();
    for input in &def.inputs {
        if out.iter().any(|o| o.name == input.name) {
            errs.at(input.name.span(), format!("duplicate input `{}`", input.name));
            continue;
        }
        if input.kind.name != "onehot" {
            errs.at(
                input.kind.name.span(),
                format!("unknown input kind `{}`; expected `onehot(channels, len)`", input.kind.name),
            );
            continue;
        }
        let args = Args::read(&input.kind, &["channels", "len"], &[], false, "onehot(channels, len)", errs);
        let (Some(channels), Some(len)) = (args.req_usize("channels", errs), args.req_usize("len", errs)) else {
            continue;
        };
        let mut reverse_complement = false;
        for opt in &input.options {
            match (&opt.name, &opt.value) {
                (None, Value::Ident(i)) if i == "reverse_complement" => reverse_complement = true,
                (Some(n), Value::Bool(b)) if n == "reverse_complement" => reverse_complement = b.value,
                (Some(n), v) if n == "reverse_complement" => errs.at(
                    v.span(),
                    format!("`reverse_complement` must be `true` or `false`, found `{}`", v.describe()),
                ),
                (name, v) => errs.at(
                    name.as_ref().map_or(v.span(), |n| n.span()),
                    "unknown input option; the only option is `reverse_complement`",
                ),
            }
        }
        out.push(InputSpec { attrs: input.attrs.clone(), name: input.name.clone(), channels, len, reverse_complement });
    }
    out
}

/// A trunk layer as declared, arguments typed but size parameters not yet evaluated.
struct LayerSpec {
    span: Span,
    name: String,
    kind: SpecKind,
}

enum SpecKind {
    Conv { filters: Param<usize>, k: Param<usize>, bias: bool, dilation: Param<usize> },
    Gelu,
    Pool { kind: PoolKind, p: Param<usize> },
    Stack {
        role: StackRole,
        k: Param<usize>,
        /// One entry per requested layer.
        dilations: StackDilations,
        bias: bool,
        batchnorm: bool,
        wpool: Option<Param<usize>>,
        every: Param<usize>,
    },
    Attention { heads: Param<usize>, dim: Param<f64> },
    Flatten,
    Linear { n: Param<usize> },
    Fc { n_layers: Param<usize>, dropout: Param<f64>, widening: Param<f64> },
    Dropout { p: Param<f64> },
}

enum StackDilations {
    /// `dilated(dilations = [..])`.
    List(Span, Vec<Param<usize>>),
    /// `convblocks(n, dilation = d)`.
    Repeat { n: Param<usize>, dilation: Param<usize> },
}

/// Trunk layer lists by input index; `None` when the trunk is missing or failed to resolve.
fn resolve_trunks(def: &ModelDef, inputs: &[InputSpec], errs: &mut Errors) -> Vec<Option<Vec<LayerSpec>>> {
    let mut seen: Vec<&Ident> = Vec::new();
    for t in &def.trunks {
        if seen.contains(&&t.name) {
            errs.at(t.name.span(), format!("duplicate trunk `{}`", t.name));
        } else {
            seen.push(&t.name);
        }
        if !inputs.iter().any(|i| i.name == t.name) && !def.inputs.iter().any(|i| i.name == t.name) {
            errs.at(
                t.name.span(),
                format!(
                    "trunk `{}` has no input of the same name; declare `input {}: onehot(4, len);` or rename the trunk (inputs: {})",
                    t.name,
                    t.name,
                    names(inputs.iter().map(|i| &i.name))
                ),
            );
        }
    }
    let find = |name: &Ident| def.trunks.iter().find(|t| t.name == *name);
    inputs
        .iter()
        .map(|input| {
            let Some(mut decl) = find(&input.name) else {
                errs.at(
                    input.name.span(),
                    format!("input `{0}` has no trunk; add `trunk {0}: conv(..) >> .. >> flatten;`", input.name),
                );
                return None;
            };
            // Follow `same as` chains.
            let mut visited = vec![&decl.name];
            let calls = loop {
                match &decl.body {
                    TrunkBody::Layers(calls) => break calls,
                    TrunkBody::SameAs { other, .. } => match find(other) {
                        Some(next) if visited.contains(&&next.name) => {
                            errs.at(other.span(), format!("`same as {other}` is circular"));
                            return None;
                        }
                        Some(next) => {
                            visited.push(&next.name);
                            decl = next;
                        }
                        None => {
                            // Reported once, for the trunk that wrote it.
                            if visited.len() == 1 {
                                errs.at(
                                    other.span(),
                                    format!(
                                        "`same as {other}`: there is no trunk `{other}` (trunks: {})",
                                        names(def.trunks.iter().map(|t| &t.name))
                                    ),
                                );
                            }
                            return None;
                        }
                    },
                }
            };
            // A `same as` trunk reuses the other trunk's layers; only resolve (and report) them once.
            if visited.len() > 1 {
                let mut scratch = Errors::new();
                let layers: Vec<_> = calls.iter().filter_map(|c| resolve_layer(c, &mut scratch)).collect();
                return (scratch.count() == 0).then_some(layers);
            }
            let before = errs.count();
            let layers: Vec<_> = calls.iter().filter_map(|c| resolve_layer(c, errs)).collect();
            (errs.count() == before).then_some(layers)
        })
        .collect()
}

fn resolve_layer(call: &Call, errs: &mut Errors) -> Option<LayerSpec> {
    let name = call.name.to_string();
    let before = errs.count();
    let kind = match name.as_str() {
        "conv" => {
            let sig = "conv(filters, k, bias = true, dilation = 1)";
            let a = Args::read(call, &["filters", "k"], &["bias", "dilation"], false, sig, errs);
            let filters = a.req_usize("filters", errs);
            let k = a.req_usize("k", errs);
            let bias = a.bool_or("bias", true, errs);
            let dilation = a.usize_or("dilation", 1, errs);
            SpecKind::Conv { filters: filters?, k: k?, bias, dilation }
        }
        "gelu" | "flatten" => {
            Args::read(call, &[], &[], false, if name == "gelu" { "gelu" } else { "flatten" }, errs);
            if name == "gelu" {
                SpecKind::Gelu
            } else {
                SpecKind::Flatten
            }
        }
        "wpool" | "maxpool" | "meanpool" => {
            let (kind, sig) = match name.as_str() {
                "wpool" => (PoolKind::Weighted, "wpool(p)"),
                "maxpool" => (PoolKind::Max, "maxpool(p)"),
                _ => (PoolKind::Mean, "meanpool(p)"),
            };
            let a = Args::read(call, &["p"], &[], false, sig, errs);
            SpecKind::Pool { kind, p: a.req_usize("p", errs)? }
        }
        "dilated" => {
            let sig = "dilated(k = 11, dilations = [..], bias = false, batchnorm = true, wpool = P, every = 1)";
            let a = Args::read(call, &[], &["k", "dilations", "bias", "batchnorm", "wpool", "every"], false, sig, errs);
            let k = a.usize_or("k", 11, errs);
            let dilations = a.req_usize_list("dilations", errs);
            let bias = a.bool_or("bias", false, errs);
            let batchnorm = a.bool_or("batchnorm", true, errs);
            let wpool = a.opt_usize("wpool", errs);
            let every = a.usize_or("every", 1, errs);
            let (span, list) = dilations?;
            SpecKind::Stack {
                role: StackRole::Dilated,
                k,
                dilations: StackDilations::List(span, list),
                bias,
                batchnorm,
                wpool,
                every,
            }
        }
        "convblocks" => {
            let sig = "convblocks(n, k = 11, bias = true, batchnorm = true, wpool = P, every = 1, dilation = 1)";
            let a = Args::read(call, &["n", "k"], &["bias", "batchnorm", "wpool", "every", "dilation"], false, sig, errs);
            let n = a.req_usize("n", errs);
            let k = a.usize_or("k", 11, errs);
            let bias = a.bool_or("bias", true, errs);
            let batchnorm = a.bool_or("batchnorm", true, errs);
            let wpool = a.opt_usize("wpool", errs);
            let every = a.usize_or("every", 1, errs);
            let dilation = a.usize_or("dilation", 1, errs);
            SpecKind::Stack {
                role: StackRole::Blocks,
                k,
                dilations: StackDilations::Repeat { n: n?, dilation },
                bias,
                batchnorm,
                wpool,
                every,
            }
        }
        "attention" => {
            let a = Args::read(call, &[], &["heads", "dim"], false, "attention(heads = 4, dim = 1.8)", errs);
            SpecKind::Attention { heads: a.usize_or("heads", 4, errs), dim: a.f64_or("dim", 1.8, errs) }
        }
        "linear" => {
            let a = Args::read(call, &["n"], &[], false, "linear(n)", errs);
            SpecKind::Linear { n: a.req_usize("n", errs)? }
        }
        "fc" => {
            let sig = "fc(n_layers, dropout = 0.1, widening = 1.1)";
            let a = Args::read(call, &["n_layers"], &["dropout", "widening"], false, sig, errs);
            let n_layers = a.req_usize("n_layers", errs);
            let dropout = a.f64_or("dropout", 0.1, errs);
            let widening = a.f64_or("widening", 1.1, errs);
            SpecKind::Fc { n_layers: n_layers?, dropout, widening }
        }
        "dropout" => {
            let a = Args::read(call, &["p"], &[], false, "dropout(p)", errs);
            SpecKind::Dropout { p: a.req_f64("p", errs)? }
        }
        other => {
            let hint = closest(other, LAYER_NAMES.split(", "))
                .map(|c| format!("did you mean `{c}`? "))
                .unwrap_or_default();
            errs.at(call.name.span(), format!("unknown layer `{other}`; {hint}layers are: {LAYER_NAMES}"));
            return None;
        }
    };
    (errs.count() == before).then_some(LayerSpec { span: call.name.span(), name, kind })
}

struct OutputSpec {
    attrs: Vec<syn::Attribute>,
    name: Ident,
    width: Param<usize>,
    validated: bool,
    relation: Relation,
    combinator: Ident,
    /// `Some(shared flag)` for head/direct/difference outputs.
    shared: Option<bool>,
    mlp: Option<MlpSpec>,
}

struct MlpSpec {
    layers: Param<usize>,
    embed: Param<usize>,
    widening: Param<f64>,
    act: (String, Span),
}

fn resolve_outputs(def: &ModelDef, inputs: &[InputSpec], errs: &mut Errors) -> Vec<OutputSpec> {
    let mut out: Vec<OutputSpec> = Vec::new();
    for o in &def.outputs {
        if def.outputs.iter().take_while(|p| !std::ptr::eq(*p, o)).any(|p| p.name == o.name) {
            errs.at(o.name.span(), format!("duplicate output `{}`", o.name));
            continue;
        }
        let before = errs.count();
        let width = match &o.width {
            Value::Int(l) => l.base10_parse::<usize>().map(|n| Param::Lit(n, l.span())).map_err(|e| errs.push(e)).ok(),
            Value::Ident(i) => Some(Param::Size(i.clone())),
            v => {
                errs.at(v.span(), format!("an output width must be a whole number or a size parameter, found `{}`", v.describe()));
                None
            }
        };
        let mut validated = true;
        for opt in &o.options {
            match (&opt.name, &opt.value) {
                (Some(n), Value::Ident(v)) if n == "validation" && v == "none" => validated = false,
                (Some(n), Value::Ident(v)) if n == "validation" && v == "default" => validated = true,
                (Some(n), v) if n == "validation" => errs.at(
                    v.span(),
                    format!("`validation` of an output must be `none` (excluded from early stopping), found `{}`", v.describe()),
                ),
                (name, v) => errs.at(
                    name.as_ref().map_or(v.span(), |n| n.span()),
                    "unknown output option; the only option is `validation = none`",
                ),
            }
        }
        let c = &o.combinator;
        let trunk_ref = |v: &Value, errs: &mut Errors| -> Option<usize> {
            let Value::Ident(name) = v else {
                errs.at(v.span(), format!("expected a trunk name, found `{}`", v.describe()));
                return None;
            };
            let found = inputs.iter().position(|i| i.name == *name);
            if found.is_none() {
                errs.at(
                    name.span(),
                    format!("unknown trunk `{name}` in output `{}`; trunks: {}", o.name, names(inputs.iter().map(|i| &i.name))),
                );
            }
            found
        };
        let (relation, shared, mlp) = match c.name.to_string().as_str() {
            kind @ ("head" | "direct" | "difference") => {
                let n = if kind == "difference" { 2 } else { 1 };
                let sig = match kind {
                    "head" => "head(trunk)",
                    "direct" => "direct(trunk) or direct(trunk, shared)",
                    _ => "difference(a, b) or difference(a, b, shared)",
                };
                let a = Args::read(c, &[], &[], true, sig, errs);
                let mut trunks = Vec::new();
                let mut shared = false;
                for v in &a.rest {
                    match v {
                        Value::Ident(i) if i == "shared" && kind != "head" && trunks.len() == n && !shared => shared = true,
                        _ if trunks.len() < n => trunks.push(trunk_ref(v, errs)),
                        _ => errs.at(v.span(), format!("too many arguments: expected `{sig}`")),
                    }
                }
                if trunks.len() < n {
                    errs.at(c.name.span(), format!("`{kind}` needs {n} trunk{}: write `{sig}`", if n == 1 { "" } else { "s" }));
                    (None, None, None)
                } else if let [Some(plus), Some(minus)] = trunks[..] {
                    (Some(Relation::Difference { plus, minus }), Some(shared), None)
                } else if let [Some(trunk)] = trunks[..] {
                    (Some(Relation::Direct { trunk }), Some(shared), None)
                } else {
                    (None, None, None)
                }
            }
            "mlp" => {
                let sig = "mlp(trunk, .., layers = 3, embed = 512, act = gelu, widening = 1.1)";
                let a = Args::read(c, &[], &["layers", "embed", "act", "widening"], true, sig, errs);
                let layers = a.usize_or("layers", 3, errs);
                let embed = a.usize_or("embed", 512, errs);
                let widening = a.f64_or("widening", 1.1, errs);
                let act = a.keyword_or("act", &["gelu", "linear"], "gelu", errs);
                let mut trunks = Vec::new();
                for v in &a.rest {
                    if let Some(t) = trunk_ref(v, errs) {
                        if trunks.contains(&t) {
                            errs.at(v.span(), format!("trunk `{}` is listed twice in `mlp`", inputs[t].name));
                        }
                        trunks.push(t);
                    }
                }
                if a.rest.is_empty() {
                    errs.at(c.name.span(), format!("`mlp` needs at least one trunk: write `{sig}`"));
                }
                (Some(Relation::Mlp { trunks }), None, Some(MlpSpec { layers, embed, widening, act }))
            }
            other => {
                errs.at(
                    c.name.span(),
                    format!("unknown output combinator `{other}`; expected `head(t)`, `direct(t)`, `difference(a, b)` or `mlp(t, ..)`"),
                );
                (None, None, None)
            }
        };
        if errs.count() != before {
            continue;
        }
        let (Some(width), Some(relation)) = (width, relation) else { continue };
        if let Relation::Difference { plus, minus } = relation {
            // Reported after the output is accepted: the rest of the model can still be checked.
            if plus == minus {
                errs.at(c.name.span(), format!("`difference` of trunk `{}` with itself is always zero; name two different trunks", inputs[plus].name));
            }
        }
        out.push(OutputSpec {
            attrs: o.attrs.clone(),
            name: o.name.clone(),
            width,
            validated,
            relation,
            combinator: c.name.clone(),
            shared,
            mlp,
        });
    }
    if def.outputs.is_empty() {
        errs.at(def.name.span(), "the model declares no output; add e.g. `output ex[88] = head(dna);`");
    } else if !def.outputs.is_empty() && out.len() == def.outputs.len() && out.iter().all(|o| !o.validated) {
        errs.at(
            def.outputs[0].name.span(),
            "every output has `validation = none`; at least one output must drive validation and early stopping",
        );
    }
    out
}

fn resolve_losses(def: &ModelDef, errs: &mut Errors) -> (Loss, Loss) {
    let parse = |list: &[Ident], what: &str, default: Loss, errs: &mut Errors| {
        for extra in list.iter().skip(1) {
            errs.at(extra.span(), format!("`{what}` is given twice"));
        }
        match list.first() {
            None => default,
            Some(i) => match i.to_string().as_str() {
                "correlation_mse" => Loss::CorrelationMse,
                "correlation" => Loss::Correlation,
                "mse" => Loss::Mse,
                other => {
                    errs.at(i.span(), format!("unknown {what} `{other}`; expected correlation_mse, correlation or mse"));
                    default
                }
            },
        }
    };
    (
        parse(&def.losses, "loss", Loss::CorrelationMse, errs),
        parse(&def.validations, "validation", Loss::Correlation, errs),
    )
}

/// The model's head structure; mixing structures the reference cannot build is an error.
fn combination_kind(outputs: &[OutputSpec], errs: &mut Errors) -> CombinationKind {
    let kind_of = |o: &OutputSpec| match (o.shared, &o.mlp) {
        (_, Some(_)) => CombinationKind::Mlp,
        (Some(true), _) => CombinationKind::SharedHead,
        _ => CombinationKind::HeadPerOutput,
    };
    let Some(first) = outputs.first() else { return CombinationKind::HeadPerOutput };
    let kind = kind_of(first);
    for o in &outputs[1..] {
        let k = kind_of(o);
        if k == kind {
            continue;
        }
        let msg = if k == CombinationKind::Mlp || kind == CombinationKind::Mlp {
            format!(
                "output `{}` uses `{}` but output `{}` uses `{}`: a model combines either all outputs through `mlp` or none",
                o.name, o.combinator, first.name, first.combinator
            )
        } else {
            format!(
                "output `{}` {} `shared` but output `{}` {}: heads are shared per trunk for all outputs or for none",
                o.name,
                if k == CombinationKind::SharedHead { "uses" } else { "does not use" },
                first.name,
                if kind == CombinationKind::SharedHead { "does" } else { "does not" },
            )
        };
        errs.at(o.combinator.span(), msg);
    }
    // mlp outputs share one embedding per trunk: embed size and activation must agree.
    if kind == CombinationKind::Mlp {
        let first_mlp = first.mlp.as_ref().expect("mlp kind has mlp spec");
        for o in &outputs[1..] {
            let Some(m) = &o.mlp else { continue };
            if m.act.0 != first_mlp.act.0 {
                errs.at(
                    m.act.1,
                    format!("`act = {}` differs from output `{}` (`{}`): every trunk has one embedding head shared by all outputs", m.act.0, first.name, first_mlp.act.0),
                );
            }
        }
    }
    kind
}

fn check_inputs_used(inputs: &[InputSpec], outputs: &[OutputSpec], errs: &mut Errors) {
    if outputs.is_empty() {
        return;
    }
    for (i, input) in inputs.iter().enumerate() {
        let used = outputs.iter().any(|o| match &o.relation {
            Relation::Direct { trunk } => *trunk == i,
            Relation::Difference { plus, minus } => *plus == i || *minus == i,
            Relation::Mlp { trunks } => trunks.contains(&i),
        });
        if !used {
            errs.at(input.name.span(), format!("input `{}` is not used by any output", input.name));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Phase 2: per-variant inference
// ---------------------------------------------------------------------------------------------

/// Evaluates a size that must be ≥ 1 and ≤ [`MAX_FLAT_FEATURES`] (which keeps every product of
/// two sizes within u64 and every parameter count finite).
fn positive(env: &SizeEnv, p: &Param<usize>, what: &str, errs: &mut Errors) -> Option<usize> {
    let n = env.usize(p, errs)?;
    if n == 0 {
        errs.at(p.span(), format!("{}{what} must be at least 1, found 0", env.prefix()));
        return None;
    }
    if n > MAX_FLAT_FEATURES {
        errs.at(p.span(), format!("{}{what} = {n} is absurdly large; it must be at most 2^31", env.prefix()));
        return None;
    }
    Some(n)
}

/// Length-preserving padding (P1/P4): e = d(k−1)+1, left = ⌊e/2⌋ − [e even], right = ⌊e/2⌋.
pub(crate) fn same_padding(kernel: usize, dilation: usize) -> (usize, usize) {
    let e = dilation * (kernel - 1) + 1;
    (e / 2 - usize::from(e % 2 == 0), e / 2)
}

/// Padded pooling (P2): q = ⌈(p − L mod p)/2⌉ if L mod p ≠ 0, output ⌈L/p⌉.
pub(crate) fn pooling(kind: PoolKind, size: usize, in_len: usize) -> Pool {
    let rem = in_len % size;
    let pad = if rem == 0 { 0 } else { (size - rem).div_ceil(2) };
    Pool { kind, size, in_len, pad, out_len: in_len.div_ceil(size) }
}

/// P6 widths of an `n`-layer FC stack starting (and ending) at width `d0`.
pub(crate) fn fc_widths(d0: usize, n: usize, widening: f64) -> Vec<(usize, usize)> {
    let mut d = d0;
    (0..n)
        .map(|i| {
            let out = if i + 1 == n {
                d0
            } else if i < n / 2 {
                (d as f64 * widening) as usize
            } else if n % 2 == 1 && i == n / 2 {
                d
            } else {
                (d as f64 / widening) as usize
            };
            let w = (d, out);
            d = out;
            w
        })
        .collect()
}

struct Roles {
    conv: bool,
    dilated: bool,
    blocks: bool,
    attention: bool,
    linear: bool,
    fc: bool,
}

fn infer_trunk(input: &InputSpec, specs: &[LayerSpec], key_prefix: String, env: &SizeEnv, errs: &mut Errors) -> Option<Trunk> {
    let pre = env.prefix();
    let channels = positive(env, &input.channels, "the input's channel count", errs);
    let len = positive(env, &input.len, "the input length", errs);
    let (channels, len) = (channels?, len?);
    let mut shape = Shape::Seq { channels, len };
    let mut layers = Vec::new();
    let mut roles = Roles { conv: false, dilated: false, blocks: false, attention: false, linear: false, fc: false };
    if input.reverse_complement && !matches!(specs.first(), Some(LayerSpec { kind: SpecKind::Conv { .. }, .. })) {
        let span = specs.first().map_or(input.name.span(), |s| s.span);
        errs.at(span, format!("input `{}` has `reverse_complement`, so its trunk must start with `conv(..)` (the reverse-complement stem)", input.name));
        return None;
    }
    for (index, spec) in specs.iter().enumerate() {
        let fallback = |suffix: &str| format!("{key_prefix}layers.{index}{suffix}");
        let (seq, flat) = match shape {
            Shape::Seq { channels, len } => (Some((channels, len)), None),
            Shape::Flat { features } => (None, Some(features)),
        };
        let needs_seq = |errs: &mut Errors| {
            let Some(f) = flat else { return true };
            errs.at(spec.span, format!("{pre}`{}` needs a sequence (channels × length), but after `flatten` the input here is {f} flat features; move it before `flatten`", spec.name));
            false
        };
        let needs_flat = |errs: &mut Errors| {
            let Some((c, l)) = seq else { return true };
            errs.at(spec.span, format!("{pre}`{}` needs flat features, but the input here is a sequence of {c} channels × length {l}; add `flatten` before it", spec.name));
            false
        };
        let before = errs.count();
        let kind = match &spec.kind {
            SpecKind::Conv { filters, k, bias, dilation } => {
                if !needs_seq(errs) {
                    return None;
                }
                let (filters, k, d) = (
                    positive(env, filters, "`conv` filters", errs),
                    positive(env, k, "`conv` kernel size k", errs),
                    positive(env, dilation, "`conv` dilation", errs),
                );
                let (Some(filters), Some(k), Some(d)) = (filters, k, d) else { return None };
                let (c, _) = seq.unwrap();
                let stem = !roles.conv;
                roles.conv = true;
                LayerKind::Conv(Conv {
                    in_channels: c,
                    out_channels: filters,
                    kernel: k,
                    dilation: d,
                    bias: *bias,
                    padding: same_padding(k, d),
                    reverse_complement: stem && input.reverse_complement,
                    key: if stem { format!("{key_prefix}convolutions.conv1d") } else { fallback(".conv1d") },
                })
            }
            SpecKind::Gelu => LayerKind::Gelu,
            SpecKind::Dropout { p } => {
                let p_val = env.f64(p, errs)?;
                if !(0.0..1.0).contains(&p_val) {
                    errs.at(p.span(), format!("{pre}dropout probability must be in [0, 1), found {p_val}"));
                    return None;
                }
                LayerKind::Dropout { p: p_val }
            }
            SpecKind::Pool { kind, p } => {
                if !needs_seq(errs) {
                    return None;
                }
                let size = positive(env, p, "the pooling size", errs)?;
                let (_, l) = seq.unwrap();
                if size > l {
                    errs.at(p.span(), format!("{pre}{}({size}) needs length ≥ {size}, but the input here has length {l}; use a pooling size ≤ {l}", spec.name));
                    return None;
                }
                LayerKind::Pool(pooling(*kind, size, l))
            }
            SpecKind::Stack { role, k, dilations, bias, batchnorm, wpool, every } => {
                if !needs_seq(errs) {
                    return None;
                }
                let stack = infer_stack(spec, *role, k, dilations, *bias, *batchnorm, wpool.as_ref(), every, seq.unwrap(), &key_prefix, index, &mut roles, env, errs)?;
                LayerKind::ConvStack(stack)
            }
            SpecKind::Attention { heads, dim } => {
                if !needs_seq(errs) {
                    return None;
                }
                let heads = positive(env, heads, "`attention` heads", errs);
                let dim_val = env.f64(dim, errs);
                let (Some(heads), Some(dim_val)) = (heads, dim_val) else { return None };
                let (c, l) = seq.unwrap();
                let embed_f = dim_val * c as f64;
                if !(embed_f >= 1.0) {
                    errs.at(dim.span(), format!("{pre}attention dim = {dim_val:?} gives E = int({dim_val:?} × {c}) = 0 channels; dim must be at least 1/{c} = {:?}", 1.0 / c as f64));
                    return None;
                }
                if embed_f > MAX_FLAT_FEATURES as f64 {
                    errs.at(dim.span(), format!("{pre}attention dim = {dim_val:?} gives E = int({dim_val:?} × {c}) channels, more than 2^31; use a smaller dim"));
                    return None;
                }
                let key = if roles.attention { fallback("") } else { format!("{key_prefix}distattention.Mheadattention0") };
                roles.attention = true;
                LayerKind::Attention(Attention { in_channels: c, heads, embed: embed_f as usize, dim: dim_val, len: l, key })
            }
            SpecKind::Flatten => {
                let Some((c, l)) = seq else {
                    errs.at(spec.span, format!("{pre}`flatten` needs a sequence, but the input here is already flat"));
                    return None;
                };
                match c.checked_mul(l) {
                    Some(f) if f <= MAX_FLAT_FEATURES => LayerKind::Flatten,
                    _ => {
                        errs.at(spec.span, format!("{pre}`flatten` gives {c} × {l} = {} features, more than 2^31; pool more (or use fewer channels) before `flatten`", (c as u128) * (l as u128)));
                        return None;
                    }
                }
            }
            SpecKind::Linear { n } => {
                if !needs_flat(errs) {
                    return None;
                }
                let out = positive(env, n, "`linear` width", errs)?;
                let key = if roles.linear { fallback("") } else { format!("{key_prefix}nfcs.nfcs.EmbeddtoFully") };
                roles.linear = true;
                LayerKind::Linear(Linear { in_features: flat.unwrap(), out_features: out, key })
            }
            SpecKind::Fc { n_layers, dropout, widening } => {
                if !needs_flat(errs) {
                    return None;
                }
                let stem = if roles.fc { fallback(".Fullyconnected") } else { format!("{key_prefix}nfcs.nfcs.Fullyconnected") };
                roles.fc = true;
                if env.usize(n_layers, errs) == Some(0) {
                    errs.at(n_layers.span(), format!("{pre}`fc(0)` builds no layer; remove it or use at least 1 layer"));
                    return None;
                }
                let fc = fc_stack(env, spec.span, n_layers, dropout, widening, flat.unwrap(), Activation::Gelu, &stem, "fc", errs)?;
                LayerKind::Fc(fc)
            }
        };
        if errs.count() != before {
            return None;
        }
        let output = match &kind {
            LayerKind::Conv(c) => Shape::Seq { channels: c.out_channels, len: seq.unwrap().1 },
            LayerKind::Pool(p) => Shape::Seq { channels: seq.unwrap().0, len: p.out_len },
            LayerKind::ConvStack(s) => {
                let last = s.layers.last().expect("stacks have a layer");
                Shape::Seq { channels: s.channels, len: last.pool.map_or(last.len, |p| p.out_len) }
            }
            LayerKind::Attention(a) => Shape::Seq { channels: a.embed, len: a.len },
            LayerKind::Flatten => {
                let (c, l) = seq.unwrap();
                Shape::Flat { features: c * l }
            }
            LayerKind::Linear(l) => Shape::Flat { features: l.out_features },
            LayerKind::Fc(_) | LayerKind::Gelu | LayerKind::Dropout { .. } => shape,
        };
        layers.push(Layer { span: spec.span, input: shape, output, kind });
        shape = output;
    }
    match shape {
        Shape::Flat { features } => Some(Trunk { name: input.name.clone(), key_prefix, input: Shape::Seq { channels, len }, layers, features }),
        Shape::Seq { channels, len } => {
            let span = specs.last().map_or(input.name.span(), |s| s.span);
            errs.at(span, format!("{pre}trunk `{}` ends with a sequence ({channels} channels × length {len}); end it with `flatten` (optionally followed by `linear(..)` and `fc(..)`)", input.name));
            None
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn fc_stack(
    env: &SizeEnv,
    span: Span,
    n_layers: &Param<usize>,
    dropout: &Param<f64>,
    widening: &Param<f64>,
    width: usize,
    activation: Activation,
    key_stem: &str,
    what: &str,
    errs: &mut Errors,
) -> Option<FcStack> {
    let pre = env.prefix();
    let n = env.usize(n_layers, errs);
    let p = env.f64(dropout, errs);
    let w = env.f64(widening, errs);
    let (Some(n), Some(p), Some(w)) = (n, p, w) else { return None };
    if !(0.0..1.0).contains(&p) {
        errs.at(dropout.span(), format!("{pre}dropout probability must be in [0, 1), found {p}"));
        return None;
    }
    if !(w.is_finite() && w > 0.0) {
        errs.at(widening.span(), format!("{pre}`widening` must be a positive number, found {w}"));
        return None;
    }
    let widths = fc_widths(width, n, w);
    if let Some((i, _)) = widths.iter().enumerate().find(|(_, (_, o))| *o == 0) {
        errs.at(span, format!("{pre}`{what}` layer {i} would have width 0 (starting from {width} with widening {w:?}); use a larger width or a widening closer to 1"));
        return None;
    }
    if let Some((i, (_, o))) = widths.iter().enumerate().find(|(_, (_, o))| *o > MAX_FLAT_FEATURES) {
        errs.at(span, format!("{pre}`{what}` layer {i} would have width {o} (widening {w:?}), more than 2^31; use a widening closer to 1"));
        return None;
    }
    let keys = (0..widths.len()).map(|k| format!("{key_stem}{k}")).collect();
    Some(FcStack { widths, dropout: p, activation, keys })
}

#[allow(clippy::too_many_arguments)]
fn infer_stack(
    spec: &LayerSpec,
    role: StackRole,
    k: &Param<usize>,
    dilations: &StackDilations,
    bias: bool,
    batchnorm: bool,
    wpool: Option<&Param<usize>>,
    every: &Param<usize>,
    (channels, len_in): (usize, usize),
    key_prefix: &str,
    index: usize,
    roles: &mut Roles,
    env: &SizeEnv,
    errs: &mut Errors,
) -> Option<ConvStack> {
    let pre = env.prefix();
    let kernel = positive(env, k, "the kernel size k", errs);
    let every = positive(env, every, "`every`", errs);
    let pool_size = wpool.map(|p| positive(env, p, "the pooling size `wpool`", errs));
    let dils: Vec<Option<usize>> = match dilations {
        StackDilations::List(span, list) => {
            if list.is_empty() {
                errs.at(*span, format!("`{}` needs at least one dilation, e.g. `dilations = [1, 2, 4]`", spec.name));
                return None;
            }
            list.iter().map(|d| positive(env, d, "a dilation", errs)).collect()
        }
        StackDilations::Repeat { n, dilation } => {
            let n = positive(env, n, "the number of layers n", errs);
            let d = positive(env, dilation, "the dilation", errs);
            vec![d; n.unwrap_or(0)]
        }
    };
    let (Some(kernel), Some(every)) = (kernel, every) else { return None };
    let pool_size = match pool_size {
        Some(None) => return None,
        Some(Some(p)) => Some(p),
        None => None,
    };
    let Some(dils) = dils.into_iter().collect::<Option<Vec<usize>>>() else { return None };
    if dils.is_empty() {
        return None; // n = 0, reported by `positive`.
    }
    let first_of_role = match role {
        StackRole::Dilated => !std::mem::replace(&mut roles.dilated, true),
        StackRole::Blocks => !std::mem::replace(&mut roles.blocks, true),
    };
    let key = match (role, first_of_role) {
        (StackRole::Dilated, true) => format!("{key_prefix}convolution_layers.convlayers"),
        (StackRole::Blocks, true) => format!("{key_prefix}trconvolution_layers.convlayers"),
        _ => format!("{key_prefix}layers.{index}.convlayers"),
    };
    // P4's construction rule: a layer is not built if the current length < k; a pooling (and
    // everything after it) is not built if it is larger than the current length.
    let mut layers = Vec::new();
    let mut len = len_in;
    for (n, &d) in dils.iter().enumerate() {
        if len < kernel {
            break;
        }
        let mut pool = None;
        let mut stop = false;
        if let Some(p) = pool_size {
            if (n + 1) % every == 0 {
                if p > len {
                    stop = true;
                } else {
                    pool = Some(pooling(PoolKind::Weighted, p, len));
                }
            }
        }
        layers.push(StackLayer {
            index: n,
            dilation: d,
            padding: same_padding(kernel, d),
            len,
            pool,
            bn_key: batchnorm.then(|| format!("{key}.Bnorm{n}")),
            conv_key: format!("{key}.Conv{n}.conv1d"),
        });
        if let Some(p) = pool {
            len = p.out_len;
        }
        if stop {
            break;
        }
    }
    if layers.is_empty() {
        errs.at(spec.span, format!("{pre}`{}` builds no layer: its kernel size k = {kernel} is longer than the input length {len_in} here; use k ≤ {len_in} or pool less before it", spec.name));
        return None;
    }
    Some(ConvStack { role, channels, kernel, bias, batchnorm, requested_layers: dils.len(), layers, key })
}

fn infer_heads(
    kind: CombinationKind,
    outputs: &[OutputSpec],
    trunks: &[Trunk],
    widths: &[usize],
    env: &SizeEnv,
    errs: &mut Errors,
) -> Option<Heads> {
    let single = outputs.len() == 1;
    let classifier = |i: usize| if single { "classifier.classifier.Linear".to_string() } else { format!("classifier.{i}.classifier.Linear") };
    let uses = |o: &OutputSpec, t: usize| match &o.relation {
        Relation::Direct { trunk } => *trunk == t,
        Relation::Difference { plus, minus } => *plus == t || *minus == t,
        Relation::Mlp { trunks } => trunks.contains(&t),
    };
    match kind {
        CombinationKind::HeadPerOutput => {
            let per_trunk = trunks
                .iter()
                .enumerate()
                .map(|(t, trunk)| {
                    outputs
                        .iter()
                        .enumerate()
                        .map(|(i, o)| TrunkHead {
                            head: Head { in_features: trunk.features, out_features: widths[i], key: format!("{}{}", trunk.key_prefix, classifier(i)) },
                            used: uses(o, t),
                        })
                        .collect()
                })
                .collect();
            let outs = outputs
                .iter()
                .enumerate()
                .map(|(i, o)| match o.relation {
                    Relation::Direct { trunk } => LinearOutput::Direct { head: (trunk, i) },
                    Relation::Difference { plus, minus } => LinearOutput::Difference { plus: (plus, i), minus: (minus, i) },
                    Relation::Mlp { .. } => unreachable!("mlp outputs are rejected in linear-head models"),
                })
                .collect();
            Some(Heads::Linear { per_trunk, outputs: outs })
        }
        CombinationKind::SharedHead => {
            let w0 = widths[0];
            let mut ok = true;
            for (i, o) in outputs.iter().enumerate().skip(1) {
                if widths[i] != w0 {
                    errs.at(o.width.span(), format!("{}`shared` heads need equal widths: output `{}` has {} but `{}` has {w0} (one head per trunk serves every output); drop `shared` or use width {w0}", env.prefix(), o.name, widths[i], outputs[0].name));
                    ok = false;
                }
            }
            if !ok {
                return None;
            }
            let per_trunk = trunks
                .iter()
                .enumerate()
                .map(|(t, trunk)| {
                    vec![TrunkHead {
                        head: Head { in_features: trunk.features, out_features: w0, key: format!("{}classifier.classifier.Linear", trunk.key_prefix) },
                        used: outputs.iter().any(|o| uses(o, t)),
                    }]
                })
                .collect();
            let outs = outputs
                .iter()
                .map(|o| match o.relation {
                    Relation::Direct { trunk } => LinearOutput::Direct { head: (trunk, 0) },
                    Relation::Difference { plus, minus } => LinearOutput::Difference { plus: (plus, 0), minus: (minus, 0) },
                    Relation::Mlp { .. } => unreachable!("mlp outputs are rejected in linear-head models"),
                })
                .collect();
            Some(Heads::Linear { per_trunk, outputs: outs })
        }
        CombinationKind::Mlp => {
            let first = outputs[0].mlp.as_ref()?;
            let embed = positive(env, &first.embed, "`embed`", errs)?;
            for o in &outputs[1..] {
                let m = o.mlp.as_ref()?;
                let e = env.usize(&m.embed, errs)?;
                if e != embed {
                    errs.at(m.embed.span(), format!("{}`embed = {e}` differs from output `{}` (embed = {embed}): each trunk has one embedding head shared by all outputs", env.prefix(), outputs[0].name));
                    return None;
                }
            }
            let activation = if first.act.0 == "gelu" { Activation::Gelu } else { Activation::Identity };
            let embeddings = trunks
                .iter()
                .map(|t| Head { in_features: t.features, out_features: embed, key: format!("{}classifier.classifier.Linear", t.key_prefix) })
                .collect();
            let mut combiners = Vec::new();
            for (i, o) in outputs.iter().enumerate() {
                let m = o.mlp.as_ref()?;
                let Relation::Mlp { trunks: used } = &o.relation else { return None };
                let in_features = embed * used.len();
                let stem = if single { "nclayers.nfcs.Fullyconnected".to_string() } else { format!("nclayers.{i}.nfcs.Fullyconnected") };
                let no_dropout = Param::Lit(0.0, m.layers.span());
                let fc = fc_stack(env, o.combinator.span(), &m.layers, &no_dropout, &m.widening, in_features, activation, &stem, "mlp", errs)?;
                let head_in = fc.widths.last().map_or(in_features, |w| w.1);
                combiners.push(Combiner {
                    trunks: used.clone(),
                    in_features,
                    fc,
                    head: Head { in_features: head_in, out_features: widths[i], key: classifier(i) },
                });
            }
            Some(Heads::Mlp { embeddings, activation, combiners })
        }
    }
}

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

fn names<'a>(it: impl Iterator<Item = &'a Ident>) -> String {
    let v: Vec<String> = it.map(|i| format!("`{i}`")).collect();
    if v.is_empty() {
        "none declared".to_string()
    } else {
        v.join(", ")
    }
}

/// The candidate within edit distance 2 of `word`, for "did you mean" hints.
fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let cur = row[j + 1];
                row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
                prev = cur;
            }
        }
        row[b.len()]
    }
    candidates.map(|c| (distance(word, c), c)).filter(|(d, _)| *d <= 2).min_by_key(|(d, _)| *d).map(|(_, c)| c)
}
