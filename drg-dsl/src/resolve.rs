//! Phase 1 of inference: resolving a declaration independently of size variants.
//!
//! Names, layer signatures, argument types and cross-references (trunks ↔ inputs, outputs →
//! trunks) are checked here, once, and the head structure is checked for consistency. Numbers
//! that name size parameters stay symbolic ([`Param`]) until [`crate::infer`] evaluates them
//! per variant.

use crate::args::{Args, Param};
use crate::ast::{Call, ModelDef, Number, Site, TrunkBody, Value};
use crate::error::Errors;
use crate::ir::{Activation, CombinationKind, Loss, PoolKind, Relation, StackRole};
use proc_macro2::Span;
use syn::Ident;

pub(crate) const LAYER_NAMES: &str =
    "conv, gelu, relu, sigmoid, tanh, id0, wpool, maxpool, meanpool, dilated, convblocks, attention, flatten, linear, fc, dropout";

pub(crate) struct VariantSpec {
    pub(crate) name: Ident,
    pub(crate) implicit: bool,
    pub(crate) values: Vec<(Ident, Number)>,
}

pub(crate) fn resolve_sizes(def: &ModelDef, errs: &mut Errors) -> Vec<VariantSpec> {
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
        let text = v.name.to_string();
        if text.chars().any(|c| c.is_uppercase()) {
            // Variant names become parts of item names (`model_d_full`).
            errs.at(v.name.span(), format!("size variant names are lower case: write `{}`", text.to_lowercase()));
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

pub(crate) struct InputSpec {
    pub(crate) attrs: Vec<syn::Attribute>,
    pub(crate) name: Ident,
    pub(crate) channels: Param<usize>,
    pub(crate) len: Param<usize>,
    pub(crate) reverse_complement: bool,
}

pub(crate) fn resolve_inputs(def: &ModelDef, errs: &mut Errors) -> Vec<InputSpec> {
    let mut out: Vec<InputSpec> = Vec::new();
    for input in &def.inputs {
        if out.iter().any(|o| o.name == input.name) {
            errs.at(input.name.span(), format!("duplicate input `{}`", input.name));
            continue;
        }
        if input.kind.name != "onehot" {
            errs.at(input.kind.name.span(), format!("unknown input kind `{}`; expected `onehot(channels, len)`", input.kind.name));
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
                (Some(n), v) if n == "reverse_complement" => {
                    errs.at(v.span(), format!("`reverse_complement` must be `true` or `false`, found `{}`", v.describe()))
                }
                (name, v) => {
                    errs.at(name.as_ref().map_or(v.span(), |n| n.span()), "unknown input option; the only option is `reverse_complement`")
                }
            }
        }
        out.push(InputSpec { attrs: input.attrs.clone(), name: input.name.clone(), channels, len, reverse_complement });
    }
    out
}

/// A trunk layer as declared, arguments typed but size parameters not yet evaluated.
pub(crate) struct LayerSpec {
    pub(crate) span: Span,
    /// The call as written, for errors raised while inferring it.
    pub(crate) site: Site,
    pub(crate) name: String,
    pub(crate) kind: SpecKind,
}

pub(crate) enum SpecKind {
    Conv {
        filters: Param<usize>,
        k: Param<usize>,
        bias: bool,
        dilation: Param<usize>,
    },
    Gelu,
    /// `relu`, `sigmoid`, `tanh`, `id0`.
    Act(Activation),
    Pool {
        kind: PoolKind,
        p: Param<usize>,
        /// `step = s`: the stride between windows (the reference's `pooling_steps`); `None`: p.
        step: Option<Param<usize>>,
    },
    Stack {
        role: StackRole,
        k: Param<usize>,
        /// One entry per requested layer.
        dilations: StackDilations,
        bias: bool,
        batchnorm: bool,
        act: Activation,
        /// The pooling inside the stack (`wpool`, `maxpool` or `meanpool`), at most one.
        pool: Option<(PoolKind, Param<usize>)>,
        every: Param<usize>,
        /// `dropout = p`: the reference's `conv_dropout` after every layer's skip-add.
        dropout: Param<f64>,
        /// `strides = [..]` (`dilated`) or `stride = s` (`convblocks`): the reference's `strides`
        /// / `trstrides`; `None`: 1 for every layer.
        strides: Option<StackStrides>,
    },
    Attention {
        heads: Param<usize>,
        dim: Param<f64>,
        /// `dropout = p`: the reference's `attention_dropout`.
        dropout: Param<f64>,
    },
    Flatten,
    Linear {
        n: Param<usize>,
    },
    Fc {
        n_layers: Param<usize>,
        dropout: Param<f64>,
        widening: Param<f64>,
        act: Activation,
        /// `batchnorm = true` (the reference's `fc_batch_norm`), with the span of `true`.
        batchnorm: Option<Span>,
        /// `residuals = r` (the reference's `nfc_residuals`): a skip after every r-th layer.
        residuals: Option<Param<usize>>,
    },
    Dropout {
        p: Param<f64>,
    },
}

/// The strides of a conv stack's layers as written.
pub(crate) enum StackStrides {
    /// `dilated(.., strides = [..])`: one per dilation.
    List(Span, Vec<Param<usize>>),
    /// `convblocks(.., stride = s)`: every layer's.
    One(Param<usize>),
}

pub(crate) enum StackDilations {
    /// `dilated(dilations = [..])`.
    List(Span, Vec<Param<usize>>),
    /// `convblocks(n, dilation = d)`.
    Repeat { n: Param<usize>, dilation: Param<usize> },
}

/// A trunk's layers, resolved.
pub(crate) struct ResolvedTrunk {
    pub(crate) layers: Vec<LayerSpec>,
    /// For `same as`: the trunk whose layers (and tokens) these are.
    pub(crate) same_as: Option<Ident>,
}

/// Trunks by input index; `None` when the trunk is missing or failed to resolve.
pub(crate) fn resolve_trunks(def: &ModelDef, inputs: &[InputSpec], errs: &mut Errors) -> Vec<Option<ResolvedTrunk>> {
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
                errs.at(input.name.span(), format!("input `{0}` has no trunk; add `trunk {0}: conv(..) >> .. >> flatten;`", input.name));
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
                let layers = resolve_trunk_layers(calls, &mut scratch);
                return layers.map(|layers| ResolvedTrunk { layers, same_as: Some(decl.name.clone()) });
            }
            resolve_trunk_layers(calls, errs).map(|layers| ResolvedTrunk { layers, same_as: None })
        })
        .collect()
}

/// What a conv stack's omitted `k` means: the kernel size of the trunk's stem, its first `conv`
/// (the reference's `l_dilkernels` and `l_trkernels` default to `l_kernels`).
#[derive(Clone)]
enum StemKernel {
    /// The trunk's first `conv` comes before the stack: its k.
    Known(Param<usize>),
    /// The first `conv` has an error of its own (reported there); the trunk fails anyway.
    Broken,
    /// No `conv` comes before the stack, or the layer is not in a trunk.
    Absent,
}

/// A trunk's layers in order, every one resolved (and reporting its errors) also after one that
/// fails; `None` when any has an error.
fn resolve_trunk_layers(calls: &[Call], errs: &mut Errors) -> Option<Vec<LayerSpec>> {
    let mut stem = StemKernel::Absent;
    let mut layers = Vec::new();
    for call in calls {
        let layer = resolve_layer(call, &stem, errs);
        if call.name == "conv" && matches!(stem, StemKernel::Absent) {
            stem = match &layer {
                Some(LayerSpec { kind: SpecKind::Conv { k, .. }, .. }) => StemKernel::Known(k.clone()),
                _ => StemKernel::Broken,
            };
        }
        layers.push(layer);
    }
    layers.into_iter().collect()
}

/// The layer `call` with its arguments checked, or `None` when it has an error (every error of
/// the call is reported).
fn resolve_layer(call: &Call, stem: &StemKernel, errs: &mut Errors) -> Option<LayerSpec> {
    let (kind, clean) = errs.for_call(call.site, |errs| errs.check(|errs| layer_kind(call, stem, errs)));
    let kind = kind.filter(|_| clean)?;
    Some(LayerSpec { span: call.name.span(), site: call.site, name: call.name.to_string(), kind })
}

/// The `k` of a conv stack: as written, else the stem's (see [`StemKernel`]); with no stem
/// before the stack, an error at the stack's name asking for `k`.
fn stack_kernel(a: &Args, call: &Call, stem: &StemKernel, errs: &mut Errors) -> Param<usize> {
    // Any value will do where the call has an error: the call is rejected.
    let placeholder = Param::Lit(1, call.name.span());
    if a.has("k") {
        return a.opt_usize("k", errs).unwrap_or(placeholder);
    }
    match stem {
        // The stem's size parameter is evaluated per variant; a literal points at this call.
        StemKernel::Known(Param::Lit(k, _)) => Param::Lit(*k, call.name.span()),
        StemKernel::Known(p) => p.clone(),
        StemKernel::Broken => placeholder,
        StemKernel::Absent => {
            errs.at(
                call.name.span(),
                format!(
                    "`{}` without `k = ..` takes the kernel size of the trunk's first `conv` (the reference's `l_kernels`), but no `conv` comes before it; write `k = ..`",
                    call.name
                ),
            );
            placeholder
        }
    }
}

/// What the layer `call` is, from its name and arguments; `None` when a required part is missing
/// or unusable (the caller also rejects a call with any other error).
fn layer_kind(call: &Call, stem: &StemKernel, errs: &mut Errors) -> Option<SpecKind> {
    let name = call.name.to_string();
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
        "relu" | "sigmoid" | "tanh" | "id0" => {
            let act = Activation::from_dsl(&name).expect("an activation name");
            Args::read(call, &[], &[], false, act.dsl_name(), errs);
            SpecKind::Act(act)
        }
        "wpool" | "maxpool" | "meanpool" => {
            let (kind, sig) = match name.as_str() {
                "wpool" => (PoolKind::Weighted, "wpool(p, step = p)"),
                "maxpool" => (PoolKind::Max, "maxpool(p, step = p)"),
                _ => (PoolKind::Mean, "meanpool(p, step = p)"),
            };
            let a = Args::read(call, &["p"], &["step"], false, sig, errs);
            let step = a.opt_usize("step", errs);
            SpecKind::Pool { kind, p: a.req_usize("p", errs)?, step }
        }
        "dilated" => {
            let sig = "dilated(k = <the stem's k>, dilations = [..], bias = false, batchnorm = false, act = gelu, wpool | maxpool | meanpool = P, every = 1, dropout = 0.0, strides = [1, ..])";
            let a = Args::read(
                call,
                &[],
                &["k", "dilations", "bias", "batchnorm", "act", "wpool", "maxpool", "meanpool", "every", "dropout", "strides"],
                false,
                sig,
                errs,
            );
            let act = activation_arg(&a, errs);
            let k = stack_kernel(&a, call, stem, errs);
            let dilations = a.req_usize_list("dilations", errs);
            let bias = a.bool_or("bias", false, errs);
            let batchnorm = a.bool_or("batchnorm", false, errs);
            let pool = stack_pool(&a, "dilated", errs);
            let every = a.usize_or("every", 1, errs);
            let dropout = a.f64_or("dropout", 0.0, errs);
            // an error in the list is reported; the stack then has no strides
            let strides =
                if a.has("strides") { a.req_usize_list("strides", errs).map(|(span, list)| StackStrides::List(span, list)) } else { None };
            let (span, list) = dilations?;
            SpecKind::Stack {
                role: StackRole::Dilated,
                k,
                dilations: StackDilations::List(span, list),
                bias,
                batchnorm,
                act,
                pool,
                every,
                dropout,
                strides,
            }
        }
        "convblocks" => {
            let sig = "convblocks(n, k = <the stem's k>, bias = true, batchnorm = false, act = gelu, wpool | maxpool | meanpool = P, every = 1, dilation = 1, dropout = 0.0, stride = 1)";
            let a = Args::read(
                call,
                &["n", "k"],
                &["bias", "batchnorm", "act", "wpool", "maxpool", "meanpool", "every", "dilation", "dropout", "stride"],
                false,
                sig,
                errs,
            );
            let act = activation_arg(&a, errs);
            let n = a.req_usize("n", errs);
            let k = stack_kernel(&a, call, stem, errs);
            let bias = a.bool_or("bias", true, errs);
            let batchnorm = a.bool_or("batchnorm", false, errs);
            let pool = stack_pool(&a, "convblocks", errs);
            let every = a.usize_or("every", 1, errs);
            let dilation = a.usize_or("dilation", 1, errs);
            let dropout = a.f64_or("dropout", 0.0, errs);
            let strides = a.opt_usize("stride", errs).map(StackStrides::One);
            SpecKind::Stack {
                role: StackRole::Blocks,
                k,
                dilations: StackDilations::Repeat { n: n?, dilation },
                bias,
                batchnorm,
                act,
                pool,
                every,
                dropout,
                strides,
            }
        }
        "attention" => {
            // The reference's `n_distattention` defaults to 0, with which its forward pass skips
            // the attention: there is no default number of heads to take.
            let a = Args::read(call, &[], &["heads", "dim", "dropout"], false, "attention(heads = H, dim = 2.5, dropout = 0.0)", errs);
            let heads = a.req_usize("heads", errs);
            let dropout = a.f64_or("dropout", 0.0, errs);
            SpecKind::Attention { heads: heads?, dim: a.f64_or("dim", 2.5, errs), dropout }
        }
        "linear" => {
            let a = Args::read(call, &["n"], &[], false, "linear(n)", errs);
            SpecKind::Linear { n: a.req_usize("n", errs)? }
        }
        "fc" => {
            let sig = "fc(n_layers, dropout = 0.0, widening = 1.1, act = gelu, batchnorm = false, residuals = 0)";
            let a = Args::read(call, &["n_layers"], &["dropout", "widening", "act", "batchnorm", "residuals"], false, sig, errs);
            let act = activation_arg(&a, errs);
            let n_layers = a.req_usize("n_layers", errs);
            let dropout = a.f64_or("dropout", 0.0, errs);
            let widening = a.f64_or("widening", 1.1, errs);
            let batchnorm = a.opt_bool("batchnorm", errs).and_then(|(on, span)| on.then_some(span));
            let residuals = a.opt_usize("residuals", errs);
            SpecKind::Fc { n_layers: n_layers?, dropout, widening, act, batchnorm, residuals }
        }
        "dropout" => {
            let a = Args::read(call, &["p"], &[], false, "dropout(p)", errs);
            SpecKind::Dropout { p: a.req_f64("p", errs)? }
        }
        other => {
            let hint = closest(other, LAYER_NAMES.split(", ")).map(|c| format!("did you mean `{c}`? ")).unwrap_or_default();
            errs.at(call.name.span(), format!("unknown layer `{other}`; {hint}layers are: {LAYER_NAMES}"));
            return None;
        }
    };
    Some(kind)
}

/// The width of an output as declared.
pub(crate) enum WidthSpec {
    /// `ex[88]` or `ex[n]` (a size parameter).
    Fixed(Param<usize>),
    /// `ex[_]`: the data's track count.
    Data(Span),
}

impl WidthSpec {
    pub(crate) fn span(&self) -> Span {
        match self {
            WidthSpec::Fixed(p) => p.span(),
            WidthSpec::Data(s) => *s,
        }
    }
}

pub(crate) struct OutputSpec {
    pub(crate) attrs: Vec<syn::Attribute>,
    pub(crate) name: Ident,
    pub(crate) width: WidthSpec,
    pub(crate) validated: bool,
    /// `validation = <loss>`: this output's validation loss instead of the model's.
    pub(crate) validation: Option<Loss>,
    /// `loss = <loss>`: this output's training loss instead of the model's.
    pub(crate) loss: Option<Loss>,
    /// `act = ..`: the activation after the output's head (the reference's `outclass`, or its
    /// `combine_function` for `difference`/`direct` outputs of a combined model), with the span
    /// of its value.
    pub(crate) activation: Option<(Activation, proc_macro2::Span)>,
    pub(crate) relation: Relation,
    pub(crate) combinator: Ident,
    /// `Some(shared flag)` for head/direct/difference outputs.
    pub(crate) shared: Option<bool>,
    pub(crate) mlp: Option<MlpSpec>,
    /// `head(trunk >> linear(n) >> fc(..))`: the output's own layers (checked by
    /// [`crate::head_stacks`]); empty for `head(trunk)`.
    pub(crate) stack: Vec<LayerSpec>,
}

pub(crate) struct MlpSpec {
    pub(crate) layers: Param<usize>,
    pub(crate) embed: Param<usize>,
    pub(crate) widening: Param<f64>,
    pub(crate) act: (String, Span),
}

pub(crate) fn resolve_outputs(def: &ModelDef, inputs: &[InputSpec], errs: &mut Errors) -> Vec<OutputSpec> {
    let mut out: Vec<OutputSpec> = Vec::new();
    for o in &def.outputs {
        if def.outputs.iter().take_while(|p| !std::ptr::eq(*p, o)).any(|p| p.name == o.name) {
            errs.at(o.name.span(), format!("duplicate output `{}`", o.name));
            continue;
        }
        let c = &o.combinator;
        // The output is used only when nothing in it is wrong.
        let ((width, validated, validation, loss, activation, relation, shared, mlp, stack), clean) = errs.check(|errs| {
            let width = match &o.width {
                Value::Int(l) => {
                    l.base10_parse::<usize>().map(|n| WidthSpec::Fixed(Param::Lit(n, l.span()))).map_err(|e| errs.push(e)).ok()
                }
                Value::Ident(i) => Some(WidthSpec::Fixed(Param::Size(i.clone()))),
                Value::Infer(s) => Some(WidthSpec::Data(*s)),
                v => {
                    errs.at(
                        v.span(),
                        format!(
                            "an output width must be a whole number, a size parameter or `_` (the data's track count), found `{}`",
                            v.describe()
                        ),
                    );
                    None
                }
            };
            let (mut validated, mut validation, mut loss) = (true, None, None);
            let mut activation: Option<(Activation, proc_macro2::Span)> = None;
            for opt in &o.options {
                match (&opt.name, &opt.value) {
                    (Some(n), Value::Ident(v)) if n == "validation" && v == "none" => validated = false,
                    (Some(n), Value::Ident(v)) if n == "validation" && Loss::from_dsl_name(&v.to_string()).is_some() => {
                        validation = Loss::from_dsl_name(&v.to_string())
                    }
                    (Some(n), v) if n == "validation" => errs.at(
                        v.span(),
                        format!(
                            "`validation` of an output must be `none` (excluded from early stopping) or one of {}, found `{}`",
                            Loss::dsl_names(),
                            v.describe()
                        ),
                    ),
                    (Some(n), Value::Ident(v)) if n == "loss" && Loss::from_dsl_name(&v.to_string()).is_some() => {
                        loss = Loss::from_dsl_name(&v.to_string())
                    }
                    (Some(n), v) if n == "loss" => {
                        errs.at(v.span(), format!("`loss` of an output must be one of {}, found `{}`", Loss::dsl_names(), v.describe()))
                    }
                    (Some(n), v) if n == "act" => {
                        let found = Activation::OUTPUT_NAMES.iter().find(|(name, _)| matches!(v, Value::Ident(i) if i == name));
                        match found {
                            Some((_, a)) => activation = Some((*a, v.span())),
                            None => {
                                let names: Vec<&str> = Activation::OUTPUT_NAMES.iter().map(|(n, _)| *n).collect();
                                errs.at(v.span(), format!("`act` of an output must be one of: {}; found `{}`", names.join(", "), v.describe()))
                            }
                        }
                    }
                    (name, v) => errs.at(
                        name.as_ref().map_or(v.span(), |n| n.span()),
                        "unknown output option; the options are `validation` (`none` or a loss), `loss` (a loss) and `act` (the activation after the head)",
                    ),
                }
            }
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
            // The output's own layers: only a head of one trunk that no other output shares.
            let stack: Vec<Option<LayerSpec>> = o.stack.iter().map(|call| resolve_layer(call, &StemKernel::Absent, errs)).collect();
            if let Some(first) = o.stack.first() {
                let single_head = matches!(relation, Some(Relation::Direct { .. })) && shared == Some(false);
                if relation.is_some() && !single_head {
                    errs.at(
                        first.name.span(),
                        format!(
                            "`{}` cannot take its own layers here: only `head(trunk >> ..)` or `direct(trunk >> ..)` without `shared` does (the reference's `nfc_layers` list gives each output's head its own fully connected stack)",
                            c.name
                        ),
                    );
                }
            }
            let stack: Option<Vec<LayerSpec>> = stack.into_iter().collect();
            // In a model of one input the activation follows the output's head (`outclass`); in
            // a combined model it follows an `mlp`'s head (its `outclass`) or, for `difference`
            // and `direct`, each trunk head the output reads (`combine_function`): checked by
            // [`check_output_activations`] once the model's structure is known.

            (width, validated, validation, loss, activation, relation, shared, mlp, stack)
        });
        if !clean {
            continue;
        }
        let (Some(width), Some(relation), Some(stack)) = (width, relation, stack) else {
            continue;
        };
        if let Relation::Difference { plus, minus } = relation {
            // Reported after the output is accepted: the rest of the model can still be checked.
            if plus == minus {
                errs.at(
                    c.name.span(),
                    format!("`difference` of trunk `{}` with itself is always zero; name two different trunks", inputs[plus].name),
                );
            }
        }
        out.push(OutputSpec {
            attrs: o.attrs.clone(),
            name: o.name.clone(),
            width,
            validated,
            validation,
            loss,
            activation,
            relation,
            combinator: c.name.clone(),
            shared,
            mlp,
            stack,
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

/// The model's training loss (default `mse`, the reference's `loss_function='MSE'`) and its
/// `validation` line, if any (without one, every output validates with its own training loss, as
/// the reference's `validation_loss` defaults to `loss_function`).
pub(crate) fn resolve_losses(def: &ModelDef, errs: &mut Errors) -> (Loss, Option<Loss>) {
    let parse = |list: &[Ident], what: &str, default: Loss, errs: &mut Errors| {
        for extra in list.iter().skip(1) {
            errs.at(extra.span(), format!("`{what}` is given twice"));
        }
        match list.first() {
            None => default,
            Some(i) => Loss::from_dsl_name(&i.to_string()).unwrap_or_else(|| {
                errs.at(i.span(), format!("unknown {what} `{i}`; expected one of {}", Loss::dsl_names()));
                default
            }),
        }
    };
    let loss = parse(&def.losses, "loss", Loss::Mse, errs);
    let validation = (!def.validations.is_empty()).then(|| parse(&def.validations, "validation", loss, errs));
    (loss, validation)
}

/// The model's head structure; mixing structures the reference cannot build is an error.
pub(crate) fn combination_kind(outputs: &[OutputSpec], errs: &mut Errors) -> CombinationKind {
    let kind_of = |o: &OutputSpec| match (o.shared, &o.mlp) {
        (_, Some(_)) => CombinationKind::Mlp,
        (Some(true), _) => CombinationKind::SharedHead,
        _ => CombinationKind::HeadPerOutput,
    };
    let Some(first) = outputs.first() else {
        return CombinationKind::HeadPerOutput;
    };
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
    if let Some(first_mlp) = &first.mlp {
        for o in &outputs[1..] {
            let Some(m) = &o.mlp else { continue };
            if m.act.0 != first_mlp.act.0 {
                errs.at(
                    m.act.1,
                    format!(
                        "`act = {}` differs from output `{}` (`{}`): every trunk has one embedding head shared by all outputs",
                        m.act.0, first.name, first_mlp.act.0
                    ),
                );
            }
        }
    }
    kind
}

/// `act = ..` on the outputs of a combined model of linear heads (`difference`/`direct`): the
/// reference has no activation after its relations (`simple_multi_output` in
/// `drg_tools/modules.py`); what it has is `combine_function`, the `outclass` of every trunk's
/// head (`cnn(.., outclass = combine_function)` in `drg_tools/cnn_model_multi.py`), applied
/// before the relation. With one head per output (`shared_embedding=False`) it takes one per
/// output only as a list; with `shared` heads it is one function for all outputs; with a single
/// output (`n_classes` one number) the reference sets it to `Linear`.
pub(crate) fn check_output_activations(inputs: &[InputSpec], outputs: &[OutputSpec], kind: CombinationKind, errs: &mut Errors) {
    if inputs.len() < 2 || kind == CombinationKind::Mlp {
        return;
    }
    let act = |o: &OutputSpec| o.activation.filter(|(a, _)| *a != Activation::Identity);
    if let [only] = outputs {
        if let Some((_, span)) = only.activation {
            errs.at(
                span,
                format!(
                    "`act` on the only output of a model of two inputs: the reference sets `combine_function=Linear` for a single `{}` output",
                    only.combinator
                ),
            );
        }
        return;
    }
    if kind != CombinationKind::SharedHead {
        return;
    }
    let Some(first) = outputs.first() else { return };
    let want = act(first).map(|(a, _)| a);
    for o in &outputs[1..] {
        if act(o).map(|(a, _)| a) == want {
            continue;
        }
        let span = o.activation.map_or(o.combinator.span(), |(_, s)| s);
        let name = |a: Option<Activation>| a.map_or("none".to_string(), |a| format!("`act = {}`", a.dsl_name()));
        errs.at(
            span,
            format!(
                "output `{}` has {} but output `{}` has {}: `shared` heads are one head per trunk, and their activation (the reference's `combine_function`) is one for all outputs",
                o.name,
                name(act(o).map(|(a, _)| a)),
                first.name,
                name(want)
            ),
        );
    }
}

pub(crate) fn check_inputs_used(inputs: &[InputSpec], outputs: &[OutputSpec], errs: &mut Errors) {
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

/// The pooling inside a conv stack: at most one of `wpool`, `maxpool`, `meanpool` (the
/// reference's `dilweighted_pooling` / `dilmax_pooling` / `dilmean_pooling`, and `tr..`); a
/// second one is an error at its value.
fn stack_pool(a: &Args, layer: &str, errs: &mut Errors) -> Option<(PoolKind, Param<usize>)> {
    let mut found: Option<(PoolKind, Param<usize>, &str)> = None;
    for (name, kind) in [("wpool", PoolKind::Weighted), ("maxpool", PoolKind::Max), ("meanpool", PoolKind::Mean)] {
        if let Some(p) = a.opt_usize(name, errs) {
            match &found {
                Some((_, _, first)) => errs.at(
                    p.span(),
                    format!("`{layer}` pools with one kind only: `{first}` is given already, remove `{name}` (or `{first}`)"),
                ),
                None => found = Some((kind, p, name)),
            }
        }
    }
    found.map(|(kind, p, _)| (kind, p))
}

/// `act = gelu | relu | sigmoid | tanh | id0` of a conv stack or `fc` (default `gelu`, the
/// reference's `net_function` default).
fn activation_arg(a: &Args, errs: &mut Errors) -> Activation {
    let names: Vec<&'static str> = Activation::NAMES.iter().map(|(n, _)| *n).collect();
    let (name, _) = a.keyword_or("act", &names, "gelu", errs);
    Activation::from_dsl(&name).unwrap_or(Activation::Gelu)
}
