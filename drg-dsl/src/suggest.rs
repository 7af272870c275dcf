//! Suggesting the `sizes` line that makes a model fit data it was not compiled for.
//!
//! Input lengths are compile-time in drg-rs: every size variant is its own type. When a binary
//! meets data whose lengths fit no compiled variant, it cannot simply run at that length, but it
//! can say exactly which line to add. It has its declaration's text
//! (`ModelFamily::DECLARATION`), so the very inference the macro runs can be re-run here with a
//! synthetic variant: the data's lengths (and track counts) for the parameters that set them,
//! the nearest compiled variant's values for every other parameter, and, for the parameters the
//! length constrains (pooling sizes), the values that keep the trunk's flattened features
//! closest to that variant's, so that the fully connected layers keep a similar size. Only a
//! line that the inference accepts is suggested: the final line is parsed back from its own text
//! and inferred together with the declared variants, exactly as it will be when pasted.

use std::fmt;

use proc_macro2::Span;
use syn::{Ident, LitInt};

use crate::args::Param;
use crate::ast::{Declarations, ModelDef, Number, SizeParam, SizeVariant, SizesBlock};
use crate::error::Errors;
use crate::ir::{LayerKind, Model, PoolKind, Shape, StackRole};
use crate::resolve::{resolve_inputs, resolve_outputs, resolve_sizes, resolve_trunks, SpecKind, WidthSpec};

/// A size variant to add to a model's `sizes { .. }` block, with the shapes it gives.
#[derive(Clone, Debug, PartialEq)]
pub struct Suggestion {
    /// The model (`ModelD`).
    pub model: String,
    /// The new variant's name (`len5000`): lower case, derived from the data's lengths, unlike
    /// any declared variant's.
    pub variant: String,
    /// Every size parameter of the line, in the order of the base variant's line, with its value
    /// as it is to be written (`("len", "5_000")`).
    pub params: Vec<(String, String)>,
    /// The compiled variant whose input lengths are nearest to the data's; the parameters the
    /// data does not determine are taken from it.
    pub base: String,
    /// The parameters whose value differs from `base`'s, and why.
    pub changes: Vec<Change>,
    /// The shapes along every trunk (one per input, in declaration order) with this line.
    pub trunks: Vec<TrunkStages>,
}

/// One parameter of the suggested line that differs from the base variant.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub param: String,
    /// The base variant's value as written; `None` when the base variant lacks the parameter.
    pub from: Option<String>,
    pub to: String,
    pub reason: Reason,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// It sets an input length: the data's.
    InputLength,
    /// It sets an output width: the data's track count.
    OutputWidth,
    /// A pooling size, chosen so that the flattened features stay closest to the base's.
    Pooling,
    /// The base's value is invalid at this length (e.g. a kernel longer than the sequence).
    Invalid,
}

/// The shapes along one trunk: its input length, then every stage that changes the shape.
#[derive(Clone, Debug, PartialEq)]
pub struct TrunkStages {
    pub trunk: String,
    pub input_len: usize,
    pub stages: Vec<Stage>,
    /// The features at `flatten` with the suggested line, and with the base variant.
    pub flat_features: usize,
    pub base_flat_features: usize,
}

/// One layer of a trunk: its name and the length (or, once flat, the width) after it; a conv
/// stack lists the length after each of its poolings.
#[derive(Clone, Debug, PartialEq)]
pub struct Stage {
    pub layer: &'static str,
    pub sizes: Vec<usize>,
    /// `Some((built, requested))` for a conv stack that the length truncates (P4).
    pub truncated: Option<(usize, usize)>,
}

impl Suggestion {
    /// The line to paste into the `sizes { .. }` block:
    /// `len5000: len = 5_000, nk = 64, fc = 256, tp = 4;`.
    pub fn sizes_line(&self) -> String {
        let params: Vec<String> = self.params.iter().map(|(n, v)| format!("{n} = {v}")).collect();
        format!("{}: {};", self.variant, params.join(", "))
    }

    /// Why the line differs from the base variant, in one sentence:
    /// ``from size `demo`: len 2_000 → 5_000 (the data's length), tp 3 → 4 (pooling ..)``.
    pub fn explanation(&self) -> String {
        let changes: Vec<String> = self
            .changes
            .iter()
            .map(|c| {
                let from = c.from.as_deref().unwrap_or("(absent)");
                let why = match c.reason {
                    Reason::InputLength => "the data's length".to_string(),
                    Reason::OutputWidth => "the data's track count".to_string(),
                    Reason::Pooling => {
                        let flat: Vec<String> =
                            self.trunks.iter().map(|t| format!("{} vs {}", t.flat_features, t.base_flat_features)).collect();
                        format!("the pooling that keeps the flattened features nearest to `{}`'s: {}", self.base, dedup(flat).join(", "))
                    }
                    Reason::Invalid => format!("`{}`'s value is invalid at this length", self.base),
                };
                format!("{} {from} → {} ({why})", c.param, c.to)
            })
            .collect();
        if changes.is_empty() {
            format!("the values of size `{}`", self.base)
        } else {
            format!("the values of size `{}`, except {}", self.base, changes.join(", "))
        }
    }
}

impl fmt::Display for TrunkStages {
    /// `dna: 5000 → conv 5000 → wpool 1250 → dilated 1250 → convblocks 313 → 79 → 20 → 5 →
    /// flatten 320 → linear 256 → fc 256`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.trunk, self.input_len)?;
        for s in &self.stages {
            let sizes: Vec<String> = s.sizes.iter().map(usize::to_string).collect();
            write!(f, " → {} {}", s.layer, sizes.join(" → "))?;
            if let Some((built, requested)) = s.truncated {
                write!(f, " ({built} of {requested} layers built)")?;
            }
        }
        Ok(())
    }
}

/// The `sizes` line that makes `model` (declared in `declaration`, the text of its whole
/// `drg_model!` invocation) accept data with one length per input (`input_lengths`) and one
/// track count per output (`output_widths`, declaration order; empty when unknown, then the
/// widths are kept), or why no line can.
pub fn suggest_sizes(declaration: &str, model: &str, input_lengths: &[usize], output_widths: &[usize]) -> Result<Suggestion, String> {
    let mut def = model_def(declaration, model)?;
    let compiled = crate::infer::infer(&def).map_err(|e| format!("the declaration of {model} does not infer: {}", messages(&e)))?;
    let plan = Plan::new(&def, &compiled, input_lengths, output_widths)?;
    let mut search = Search { def: &mut def, plan: &plan };
    let mut values = plan.start_values();
    let mut best = search.score(&values);
    // Pooling sizes are always searched: the length constrains them. Any other integer is
    // searched (smaller only) only when the line is still invalid.
    best = search.descend(&mut values, &plan.pooling, best, false);
    if best.errors.is_some() {
        let others: Vec<usize> = (0..values.len())
            .filter(|i| !plan.fixed.contains(i) && !plan.pooling.contains(i))
            .filter(|&i| values[i].1.int().is_some())
            .collect();
        best = search.descend(&mut values, &others, best, true);
    }
    let line_params: Vec<(String, String)> = values.iter().map(|(n, v)| (n.clone(), v.text())).collect();
    if let Some(errors) = best.errors {
        let line = format!("{}: {};", plan.variant, join_params(&line_params));
        return Err(format!(
            "no `sizes` line makes {model} valid at input lengths {input_lengths:?}; the nearest, `{line}`, gives: {errors}"
        ));
    }
    let changes = changes(&values, &plan);
    let suggestion_model = best.model.expect("a valid score carries its model");
    let suggestion = Suggestion {
        model: model.to_string(),
        variant: plan.variant.clone(),
        params: line_params,
        base: plan.base_name.clone(),
        changes,
        trunks: stages(&suggestion_model, &plan.base_flat),
    };
    verify(declaration, model, &suggestion, input_lengths)?;
    Ok(suggestion)
}

/// The model named `model` of a declaration's text, with its pipelines substituted.
pub(crate) fn model_def(declaration: &str, model: &str) -> Result<ModelDef, String> {
    let mut decls: Declarations = syn::parse_str(declaration).map_err(|e| format!("the declaration of {model} does not parse: {e}"))?;
    crate::pipelines::substitute(&decls.pipelines, &mut decls.models)
        .map_err(|e| format!("the pipelines of {model}'s declaration fail: {}", messages(&e)))?;
    let names: Vec<String> = decls.models.iter().map(|m| m.name.to_string()).collect();
    let index = names
        .iter()
        .position(|n| n == model)
        .ok_or_else(|| format!("the declaration declares no model {model} (it declares {})", names.join(", ")))?;
    Ok(decls.models.swap_remove(index))
}

/// A size parameter's value: as the declaration writes it (`1024` stays `1024`), or a whole
/// number the suggestion chose (written `5_000`).
#[derive(Clone)]
enum Value {
    Written(Number),
    Chosen(usize),
}

impl Value {
    /// The value as a whole number, if it is one.
    fn int(&self) -> Option<usize> {
        match self {
            Value::Chosen(n) => Some(*n),
            Value::Written(Number::Int(l)) => l.base10_parse().ok(),
            Value::Written(Number::Float(_)) => None,
        }
    }

    fn text(&self) -> String {
        match self {
            Value::Chosen(n) => grouped(*n),
            Value::Written(Number::Int(l)) => l.to_string(),
            Value::Written(Number::Float(l)) => l.to_string(),
        }
    }

    fn number(&self) -> Number {
        match self {
            Value::Chosen(n) => Number::Int(LitInt::new(&n.to_string(), Span::call_site())),
            Value::Written(n) => n.clone(),
        }
    }

    fn same(&self, other: &Value) -> bool {
        match (self.int(), other.int()) {
            (Some(a), Some(b)) => a == b,
            _ => self.text() == other.text(),
        }
    }
}

/// What the data and the declaration fix before any search.
struct Plan {
    variant: String,
    base_name: String,
    /// The base variant's parameters in its line's order, then the parameters the data sets
    /// that it lacks (`None`).
    base_values: Vec<(String, Option<Value>)>,
    /// Parameters set by the data: (index into the values, value, reason).
    data_set: Vec<(usize, usize, Reason)>,
    /// Indices of the parameters set by the data (never searched).
    fixed: Vec<usize>,
    /// Indices of the parameters used as pooling sizes.
    pooling: Vec<usize>,
    /// The base variant's features at `flatten`, per trunk: what the search aims at.
    base_flat: Vec<usize>,
    /// The layers the base variant builds in each conv stack (all trunks in order): a line
    /// that truncates a stack differently changes the architecture, not only its size.
    base_built: Vec<usize>,
    /// The largest input length: candidates for a pooling size stop there.
    max_len: usize,
}

impl Plan {
    fn new(def: &ModelDef, compiled: &Model, lengths: &[usize], widths: &[usize]) -> Result<Self, String> {
        let model = def.name.to_string();
        // The declaration inferred without error, so resolving it again finds none.
        let mut errs = Errors::new();
        let inputs = resolve_inputs(def, &mut errs);
        let outputs = resolve_outputs(def, &inputs, &mut errs);
        let trunks = resolve_trunks(def, &inputs, &mut errs);
        let declared = resolve_sizes(def, &mut errs);
        if inputs.len() != lengths.len() {
            let names: Vec<String> = inputs.iter().map(|i| i.name.to_string()).collect();
            return Err(format!(
                "{model} has {} input{} ({}), but the data has {}",
                inputs.len(),
                if inputs.len() == 1 { "" } else { "s" },
                names.join(", "),
                lengths.len()
            ));
        }
        if lengths.contains(&0) {
            return Err(format!("the data has an input of length 0 ({lengths:?})"));
        }
        let mut wanted: Vec<(String, usize, String, Reason)> = Vec::new();
        for (input, &len) in inputs.iter().zip(lengths) {
            let what = format!("input `{}`", input.name);
            fix(&mut wanted, &input.len, len, &what, Reason::InputLength)?;
        }
        if !widths.is_empty() {
            if outputs.len() != widths.len() {
                return Err(format!("{model} has {} outputs, but the data has {}", outputs.len(), widths.len()));
            }
            // An output of data width (`ex[_]`) takes any track count; only a width written as
            // a number or a size parameter constrains the line.
            for (output, &width) in outputs.iter().zip(widths) {
                let WidthSpec::Fixed(declared) = &output.width else {
                    continue;
                };
                let what = format!("output `{}`", output.name);
                fix(&mut wanted, declared, width, &what, Reason::OutputWidth)?;
            }
        }

        let base = nearest(compiled, lengths).ok_or_else(|| format!("{model} has no size variant"))?;
        let base_variant = &compiled.variants[base];
        let base_name = base_variant.name.to_string();
        let spec = declared
            .iter()
            .find(|v| v.name == base_variant.name)
            .ok_or_else(|| format!("{model}'s size `{base_name}` is not in its `sizes` block"))?;
        let mut base_values: Vec<(String, Option<Value>)> =
            spec.values.iter().map(|(n, v)| (n.to_string(), Some(Value::Written(v.clone())))).collect();
        let mut data_set = Vec::new();
        for (name, value, _, reason) in &wanted {
            let index = match base_values.iter().position(|(n, _)| n == name) {
                Some(i) => i,
                None => {
                    base_values.push((name.clone(), None));
                    base_values.len() - 1
                }
            };
            data_set.push((index, *value, *reason));
        }
        let fixed: Vec<usize> = data_set.iter().map(|(i, _, _)| *i).collect();
        let mut pooling = Vec::new();
        for trunk in trunks.iter().flatten() {
            for layer in &trunk.layers {
                let size = match &layer.kind {
                    SpecKind::Pool { p, .. } => Some(p),
                    SpecKind::Stack { pool, .. } => pool.as_ref().map(|(_, p)| p),
                    _ => None,
                };
                if let Some(Param::Size(name)) = size {
                    if let Some(i) = base_values.iter().position(|(n, _)| name == n) {
                        if !fixed.contains(&i) && !pooling.contains(&i) {
                            pooling.push(i);
                        }
                    }
                }
            }
        }
        let base_flat = base_variant.trunks.iter().map(flat_features).collect();
        let base_built = built_stack_layers(base_variant);
        Ok(Plan {
            variant: variant_name(lengths, &declared.iter().map(|v| v.name.to_string()).collect::<Vec<_>>()),
            base_name,
            base_values,
            data_set,
            fixed,
            pooling,
            base_flat,
            base_built,
            max_len: lengths.iter().copied().max().unwrap_or(1),
        })
    }

    /// The base variant's values with those the data sets replaced.
    fn start_values(&self) -> Vec<(String, Value)> {
        let mut values: Vec<(String, Value)> =
            self.base_values.iter().map(|(n, v)| (n.clone(), v.clone().unwrap_or(Value::Chosen(0)))).collect();
        for &(i, v, _) in &self.data_set {
            values[i].1 = Value::Chosen(v);
        }
        values
    }
}

/// Records that the size given by `param` must be `value` (for `what`): a parameter is set to
/// it; a literal must already equal it; a parameter set twice must get the same value.
fn fix(
    wanted: &mut Vec<(String, usize, String, Reason)>,
    param: &Param<usize>,
    value: usize,
    what: &str,
    reason: Reason,
) -> Result<(), String> {
    let noun = match reason {
        Reason::InputLength => "length",
        _ => "track count",
    };
    match param {
        Param::Lit(n, _) if *n == value => Ok(()),
        Param::Lit(n, _) => Err(format!(
            "{what} has the {noun} {n}, written as a number in its declaration, and the data's is {value}; no `sizes` line can change it: write a size parameter there (e.g. `len`) and give it a value in every size variant"
        )),
        Param::Size(name) => {
            let name = name.to_string();
            match wanted.iter().find(|(n, _, _, _)| *n == name) {
                Some((_, v, other, _)) if *v != value => Err(format!(
                    "{other} and {what} share the size parameter `{name}`, but the data's {noun}s differ ({v} and {value}); give {what} its own parameter (e.g. `{name}2`) and a value for it in every size variant"
                )),
                Some(_) => Ok(()),
                None => {
                    wanted.push((name, value, what.to_string(), reason));
                    Ok(())
                }
            }
        }
    }
}

/// The compiled variant whose input lengths are nearest to the data's, by ratio (a 5 kb input
/// is nearer to 2 kb than to 40 kb); the first declared one on a tie.
fn nearest(compiled: &Model, lengths: &[usize]) -> Option<usize> {
    let distance = |i: usize| -> f64 {
        compiled.variants[i].trunks.iter().zip(lengths).map(|(t, &l)| (l as f64 / t.input_len as f64).ln().abs()).sum()
    };
    (0..compiled.variants.len()).min_by(|&a, &b| distance(a).total_cmp(&distance(b)))
}

/// `len5000` (one length) or `len5000_3000`, made unique among `taken` with a suffix.
fn variant_name(lengths: &[usize], taken: &[String]) -> String {
    let mut distinct: Vec<String> = Vec::new();
    for l in lengths {
        if !distinct.contains(&l.to_string()) {
            distinct.push(l.to_string());
        }
    }
    let stem = format!("len{}", distinct.join("_"));
    (1..).map(|k| if k == 1 { stem.clone() } else { format!("{stem}_{k}") }).find(|n| !taken.contains(n)).expect("some suffix is free")
}

/// Runs the inference on candidate lines.
struct Search<'a> {
    def: &'a mut ModelDef,
    plan: &'a Plan,
}

/// How good a candidate line is: valid before invalid (fewer errors first), then the conv
/// stacks built as in the base variant, then the flattened features nearest to the base
/// variant's, then the smallest change of the values.
struct Score {
    /// `None` when the line infers; else the text of its errors.
    errors: Option<String>,
    error_count: usize,
    /// Σ over conv stacks of |layers built − the base's|; `usize::MAX` when invalid.
    restructured: usize,
    /// Σ over trunks of |ln(features at `flatten` / the base's)|; infinite when invalid.
    distance: f64,
    /// Σ over the parameters of |ln(value / the base's)|.
    change: f64,
    /// The inferred model, when the line is valid.
    model: Option<Model>,
}

impl Score {
    fn better_than(&self, other: &Score) -> bool {
        let key = |s: &Score| (s.error_count, s.restructured, s.distance, s.change);
        key(self).partial_cmp(&key(other)) == Some(std::cmp::Ordering::Less)
    }
}

impl Search<'_> {
    /// Infers the model with `values` as its only size variant.
    fn score(&mut self, values: &[(String, Value)]) -> Score {
        let span = Span::call_site();
        self.def.sizes = vec![SizesBlock {
            keyword: Ident::new("sizes", span),
            variants: vec![SizeVariant {
                name: Ident::new(&self.plan.variant, span),
                params: values.iter().map(|(n, v)| SizeParam { name: Ident::new(n, span), value: v.number() }).collect(),
            }],
        }];
        let change = self
            .plan
            .base_values
            .iter()
            .zip(values)
            .map(|((_, b), (_, v))| match (b.as_ref().and_then(Value::int), v.int()) {
                (Some(b), Some(v)) if b > 0 && v > 0 => (v as f64 / b as f64).ln().abs(),
                _ => 0.0,
            })
            .sum();
        match crate::infer::infer(self.def) {
            Ok(model) => {
                let restructured =
                    built_stack_layers(&model.variants[0]).iter().zip(&self.plan.base_built).map(|(a, b)| a.abs_diff(*b)).sum();
                let distance = model.variants[0]
                    .trunks
                    .iter()
                    .zip(&self.plan.base_flat)
                    .map(|(t, &b)| (flat_features(t) as f64 / b as f64).ln().abs())
                    .sum();
                Score { errors: None, error_count: 0, restructured, distance, change, model: Some(model) }
            }
            Err(e) => Score {
                error_count: e.clone().into_iter().count(),
                errors: Some(messages(&e)),
                restructured: usize::MAX,
                distance: f64::INFINITY,
                change,
                model: None,
            },
        }
    }

    /// Coordinate descent over the parameters `which`: each in turn takes its best value with
    /// the others fixed, until no parameter improves. `shrink` restricts the candidates to
    /// values below the current one (for parameters that are only searched to become valid).
    fn descend(&mut self, values: &mut [(String, Value)], which: &[usize], mut best: Score, shrink: bool) -> Score {
        for _round in 0..8 {
            let mut improved = false;
            for &i in which {
                let Some(current) = values[i].1.int() else {
                    continue;
                };
                let candidates = if shrink { candidates(current.saturating_sub(1)) } else { candidates(self.plan.max_len.max(current)) };
                for c in candidates.into_iter().filter(|&c| c != current) {
                    let mut trial = values.to_vec();
                    trial[i].1 = Value::Chosen(c);
                    let score = self.score(&trial);
                    if score.better_than(&best) {
                        values[i].1 = Value::Chosen(c);
                        best = score;
                        improved = true;
                    }
                }
            }
            if !improved {
                break;
            }
        }
        best
    }
}

/// Candidate values 1..=`max`: every value up to 64, then steps of a quarter (pooling sizes and
/// kernels are small; beyond 64 only the order of magnitude matters).
fn candidates(max: usize) -> Vec<usize> {
    let mut out: Vec<usize> = (1..=max.min(64)).collect();
    let mut c = 64usize;
    while c < max {
        c = (c + c / 4).min(max);
        out.push(c);
    }
    out
}

/// The features a trunk has right after `flatten`.
fn flat_features(t: &crate::ir::Trunk) -> usize {
    t.layers
        .iter()
        .find_map(|l| match (&l.kind, l.output) {
            (LayerKind::Flatten, Shape::Flat { features }) => Some(features),
            _ => None,
        })
        .unwrap_or(t.features)
}

/// The number of layers built in every conv stack of `variant`, trunk after trunk.
fn built_stack_layers(variant: &crate::ir::Variant) -> Vec<usize> {
    variant
        .trunks
        .iter()
        .flat_map(|t| &t.layers)
        .filter_map(|l| match &l.kind {
            LayerKind::ConvStack(s) => Some(s.layers.len()),
            _ => None,
        })
        .collect()
}

/// The parameters whose value differs from the base's.
fn changes(values: &[(String, Value)], plan: &Plan) -> Vec<Change> {
    values
        .iter()
        .zip(&plan.base_values)
        .enumerate()
        .filter(|(_, ((_, v), (_, b)))| !b.as_ref().is_some_and(|b| b.same(v)))
        .map(|(i, ((name, v), (_, b)))| Change {
            param: name.clone(),
            from: b.as_ref().map(Value::text),
            to: v.text(),
            reason: match plan.data_set.iter().find(|(j, _, _)| *j == i) {
                Some((_, _, r)) => *r,
                None if plan.pooling.contains(&i) => Reason::Pooling,
                None => Reason::Invalid,
            },
        })
        .collect()
}

/// The shapes along every trunk of the (single-variant) `model`.
fn stages(model: &Model, base_flat: &[usize]) -> Vec<TrunkStages> {
    let variant = &model.variants[0];
    variant
        .trunks
        .iter()
        .zip(base_flat)
        .map(|(t, &base_flat_features)| TrunkStages {
            trunk: t.name.to_string(),
            input_len: t.input_len,
            stages: t.layers.iter().filter_map(stage).collect(),
            flat_features: flat_features(t),
            base_flat_features,
        })
        .collect()
}

/// A layer's stage, or `None` for a layer that changes no shape (`gelu`, `dropout`).
fn stage(layer: &crate::ir::Layer) -> Option<Stage> {
    let size = match layer.output {
        Shape::Seq { len, .. } => len,
        Shape::Flat { features } => features,
    };
    let plain = |layer| Some(Stage { layer, sizes: vec![size], truncated: None });
    match &layer.kind {
        LayerKind::Conv(_) => plain("conv"),
        LayerKind::Pool(p) => plain(match p.kind {
            PoolKind::Weighted => "wpool",
            PoolKind::Max => "maxpool",
            PoolKind::Mean => "meanpool",
        }),
        LayerKind::ConvStack(s) => {
            let pooled: Vec<usize> = s.layers.iter().filter_map(|l| l.pool.map(|p| p.out_len)).collect();
            Some(Stage {
                layer: match s.role {
                    StackRole::Dilated => "dilated",
                    StackRole::Blocks => "convblocks",
                },
                sizes: if pooled.is_empty() { vec![size] } else { pooled },
                truncated: (s.layers.len() < s.requested_layers).then_some((s.layers.len(), s.requested_layers)),
            })
        }
        LayerKind::Attention(_) => plain("attention"),
        LayerKind::Flatten => plain("flatten"),
        LayerKind::Linear(_) => plain("linear"),
        LayerKind::Fc(_) => plain("fc"),
        LayerKind::Gelu | LayerKind::Act(_) | LayerKind::Dropout { .. } => None,
    }
}

/// Checks the suggestion the way the user will use it: its line, parsed from its own text,
/// added to the model's declared `sizes` block, must infer together with the declared variants
/// and give the data's input lengths.
fn verify(declaration: &str, model: &str, suggestion: &Suggestion, lengths: &[usize]) -> Result<(), String> {
    let line = suggestion.sizes_line();
    let mut def = model_def(declaration, model)?;
    let probe: ModelDef = syn::parse_str(&format!("struct Probe {{ sizes {{ {line} }} }}"))
        .map_err(|e| format!("the suggested line `{line}` does not parse: {e}"))?;
    let new = probe
        .sizes
        .into_iter()
        .flat_map(|b| b.variants)
        .next()
        .ok_or_else(|| format!("the suggested line `{line}` declares no variant"))?;
    match def.sizes.first_mut() {
        Some(block) => block.variants.push(new),
        None => return Err(format!("{model} has no `sizes` block, so its input lengths are numbers in its declaration")),
    }
    let inferred = crate::infer::infer(&def).map_err(|e| format!("the suggested line `{line}` fails: {}", messages(&e)))?;
    let variant = inferred
        .variants
        .iter()
        .find(|v| v.name == suggestion.variant)
        .ok_or_else(|| format!("the suggested line `{line}` builds no variant"))?;
    let built: Vec<usize> = variant.trunks.iter().map(|t| t.input_len).collect();
    if built != lengths {
        return Err(format!("the suggested line `{line}` gives input lengths {built:?}, not the data's {lengths:?}"));
    }
    Ok(())
}

/// Every message of a combined error, joined with `; `.
pub(crate) fn messages(e: &syn::Error) -> String {
    let all: Vec<String> = e.clone().into_iter().map(|e| e.to_string()).collect();
    all.join("; ")
}

fn join_params(params: &[(String, String)]) -> String {
    let all: Vec<String> = params.iter().map(|(n, v)| format!("{n} = {v}")).collect();
    all.join(", ")
}

/// `5_000`, `40_000`, `100_000`: thousands grouped as the seed declarations write them.
fn grouped(n: usize) -> String {
    let digits = n.to_string();
    if n < 1000 {
        return digits;
    }
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('_');
        }
        out.push(c);
    }
    out
}

/// `items` without consecutive repeats (two trunks `same as` each other report once).
fn dedup(mut items: Vec<String>) -> Vec<String> {
    items.dedup();
    items
}

#[cfg(test)]
#[path = "suggest_tests.rs"]
mod tests;
