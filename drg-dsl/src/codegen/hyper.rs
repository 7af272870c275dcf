//! The reference's `--cnn` keys of one size variant (`num_kernels=300`, `dilations=[1,2,4]`, ...),
//! read off the IR, each with the `drg_model!` text that sets it.
//!
//! A model binary compares every architecture key a user passes in `--cnn` with these (so the
//! reference's command lines run as written, and a key that disagrees with the compiled model is
//! an error naming the declaration's text to change), writes them into the saved model
//! description, and they name the reference's options in `docs/dsl.md`. Values are written the
//! way the reference's strings write them (`True`, `GELU`, `[1,2,4]`, `['difference','direct']`);
//! drg-core compares them semantically (case, spaces, quotes, `1.0` = `1`).

use crate::ir::*;

/// One key: `(key, value, where the declaration sets it)`.
pub(super) type Key = (String, String, String);

fn key(k: &str, v: impl ToString, dsl: impl ToString) -> Key {
    (k.to_string(), v.to_string(), dsl.to_string())
}

fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

/// The reference's name of an output's (or the heads') `act = ..`: `Linear` without one.
fn output_class(act: Option<Activation>) -> &'static str {
    match act {
        None | Some(Activation::Identity) => "Linear",
        Some(a) => a.reference_name(),
    }
}

/// A Python list of quoted names, `['a','b']`.
fn quoted_list(names: &[&str]) -> String {
    format!("[{}]", names.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(","))
}

/// One name where all agree, else the list: how the reference takes a per-output class.
fn one_or_list(names: &[&str]) -> String {
    match names.first() {
        Some(first) if names.iter().all(|n| n == first) => first.to_string(),
        _ => quoted_list(names),
    }
}

fn list(items: &[usize]) -> String {
    format!("[{}]", items.iter().map(usize::to_string).collect::<Vec<_>>().join(","))
}

/// A stack's strides as the reference writes them: one number when every built layer has it,
/// else the list.
fn strides_value(s: &ConvStack) -> String {
    let strides: Vec<usize> = s.layers.iter().map(|l| l.stride).collect();
    match strides.first() {
        Some(&first) if strides.iter().all(|&x| x == first) => first.to_string(),
        _ => list(&strides),
    }
}

/// `weighted_pooling`/`max_pooling`/`mean_pooling` with the reference's prefix (`""`, `dil`,
/// `tr`): which kind a pooling is, as three booleans or sizes.
fn pool_kind_names(prefix: &str) -> [(PoolKind, String); 3] {
    [
        (PoolKind::Weighted, format!("{prefix}weighted_pooling")),
        (PoolKind::Max, format!("{prefix}max_pooling")),
        (PoolKind::Mean, format!("{prefix}mean_pooling")),
    ]
}

/// The keys of the first trunk (the reference configures every trunk of a combined network with
/// the same keys).
fn trunk_keys(trunk: &Trunk, out: &mut Vec<Key>) {
    let mut seen_conv = false;
    let mut seen_pool = false;
    let mut seen_act = false;
    for layer in &trunk.layers {
        match &layer.kind {
            LayerKind::Conv(c) if !seen_conv => {
                seen_conv = true;
                let call = format!("conv({}, {})", c.out_channels, c.kernel);
                out.push(key("num_kernels", c.out_channels, format!("the filters of the trunk's first `{call}`")));
                out.push(key("l_kernels", c.kernel, format!("the kernel size of the trunk's first `{call}`")));
                out.push(key("kernel_bias", py_bool(c.bias), format!("`bias = {}` of the trunk's first `{call}`", c.bias)));
            }
            LayerKind::Gelu | LayerKind::Act(_) if !seen_act => {
                seen_act = true;
                let act = if let LayerKind::Act(a) = &layer.kind { *a } else { Activation::Gelu };
                out.push(key("kernel_function", act.reference_name(), format!("`{}` after the first conv", act.dsl_name())));
            }
            LayerKind::Pool(p) if !seen_pool => {
                seen_pool = true;
                let step = if p.step == p.size { String::new() } else { format!(", step = {}", p.step) };
                let call = match p.kind {
                    PoolKind::Weighted => format!("wpool({}{step})", p.size),
                    PoolKind::Max => format!("maxpool({}{step})", p.size),
                    PoolKind::Mean => format!("meanpool({}{step})", p.size),
                };
                for (kind, name) in pool_kind_names("") {
                    out.push(key(&name, py_bool(kind == p.kind), format!("the pooling after the first conv, `{call}`")));
                }
                out.push(key("pooling_size", p.size, format!("the size of `{call}` after the first conv")));
                out.push(key(
                    "pooling_steps",
                    p.step,
                    format!("the step of `{call}` after the first conv (`step = ..`; the default: its size)"),
                ));
            }
            LayerKind::ConvStack(s) => {
                let (prefix, call, count_key, kernel_key) = match s.role {
                    StackRole::Dilated => ("dil", "dilated(..)", "dilated_convolutions", "l_dilkernels"),
                    StackRole::Blocks => ("tr", "convblocks(..)", "transformer_convolutions", "l_trkernels"),
                };
                match s.role {
                    StackRole::Dilated => {
                        let dilations: Vec<usize> = s.layers.iter().map(|l| l.dilation).collect();
                        out.push(key(count_key, s.requested_layers, "the number of `dilations` of `dilated(..)`"));
                        out.push(key("dilations", list(&dilations), "`dilations = [..]` of `dilated(..)`"));
                        out.push(key("strides", strides_value(s), "`strides = [..]` of `dilated(..)` (the default: 1 for every layer)"));
                    }
                    StackRole::Blocks => {
                        out.push(key(count_key, s.requested_layers, "the first argument of `convblocks(n, ..)`"));
                        let d = s.layers.first().map_or(1, |l| l.dilation);
                        out.push(key("trdilations", d, "`dilation = ..` of `convblocks(..)`"));
                        out.push(key("trstrides", strides_value(s), "`stride = ..` of `convblocks(..)` (the default: 1)"));
                    }
                }
                out.push(key(kernel_key, s.kernel, format!("`k = {}` of `{call}`", s.kernel)));
                out.push(key("conv_batch_norm", py_bool(s.batchnorm), format!("`batchnorm = {}` of `{call}`", s.batchnorm)));
                let act = s.activation;
                out.push(key("net_function", act.reference_name(), format!("`act = {}` of `{call}` (the default: gelu)", act.dsl_name())));
                let pooled: Vec<&StackLayer> = s.layers.iter().filter(|l| l.pool.is_some()).collect();
                let (pool, every) = match pooled.first() {
                    Some(l) => (l.pool, l.index + 1),
                    None => (None, 1),
                };
                for (kind, name) in pool_kind_names(prefix) {
                    let size = pool.filter(|p| p.kind == kind).map_or(0, |p| p.size);
                    let arg = match kind {
                        PoolKind::Weighted => "wpool",
                        PoolKind::Max => "maxpool",
                        PoolKind::Mean => "meanpool",
                    };
                    out.push(key(&name, size, format!("`{arg} = ..` of `{call}` (0: none)")));
                }
                out.push(key(&format!("{prefix}pooling_steps"), every, format!("`every = ..` of `{call}`")));
                out.push(key("conv_dropout", s.dropout, format!("`dropout = {}` of `{call}` (the default: 0.0)", s.dropout)));
            }
            LayerKind::Attention(a) => {
                out.push(key("n_attention", 1, "one `attention(..)` layer"));
                out.push(key("n_distattention", a.heads, format!("`heads = {}` of `attention(..)`", a.heads)));
                out.push(key("dim_distattention", a.dim, format!("`dim = {}` of `attention(..)`", a.dim)));
                out.push(key("attention_dropout", a.dropout, format!("`dropout = {}` of `attention(..)` (the default: 0.0)", a.dropout)));
            }
            LayerKind::Linear(l) => out.push(key("fclayer_size", l.out_features, format!("`linear({})` after `flatten`", l.out_features))),
            LayerKind::Fc(fc) => {
                out.push(key("nfc_layers", fc.widths.len(), format!("`fc({}, ..)`", fc.widths.len())));
                let act = fc.activation;
                out.push(key("net_function", act.reference_name(), format!("`act = {}` of `fc(..)` (the default: gelu)", act.dsl_name())));
                out.push(key("fc_function", act.reference_name(), format!("`act = {}` of `fc(..)` (the default: gelu)", act.dsl_name())));
                out.push(key("fc_dropout", fc.dropout, format!("`dropout = {}` of `fc(..)`", fc.dropout)));
                out.push(key("layer_widening", fc.widening, format!("`widening = {}` of `fc(..)` (the default: 1.1)", fc.widening)));
                let bn = !fc.bn_keys.is_empty();
                out.push(key("fc_batch_norm", py_bool(bn), format!("`batchnorm = {bn}` of `fc(..)` (the default: false)")));
                out.push(key(
                    "nfc_residuals",
                    fc.residuals,
                    format!("`residuals = {}` of `fc(..)` (the default: 0, no skips)", fc.residuals),
                ));
            }
            _ => {}
        }
    }
    for (name, dsl) in [
        ("n_attention", "no `attention(..)` layer"),
        ("dilated_convolutions", "no `dilated(..)` stack"),
        ("transformer_convolutions", "no `convblocks(..)` stack"),
    ] {
        if !out.iter().any(|(k, _, _)| k == name) {
            out.push(key(name, 0, dsl));
        }
    }
}

/// The keys of the outputs' own layers (`head(seq >> linear(48) >> fc(2))`): `nfc_layers` as
/// the reference's list, one entry per output; `fclayer_size` and the stacks' settings from the
/// first output (a list where the outputs' `linear` widths differ).
fn head_stack_keys(heads: &[TrunkHead], out: &mut Vec<Key>) {
    let stacks: Vec<&HeadStack> = heads.iter().filter_map(|h| h.stack.as_ref()).collect();
    let Some(first) = stacks.first() else {
        return;
    };
    let layers: Vec<usize> = stacks.iter().map(|s| s.fc.as_ref().map_or(0, |f| f.widths.len())).collect();
    out.push(key("nfc_layers", list(&layers), "the `fc(n, ..)` of every output's `head(trunk >> linear(..) >> fc(n))`"));
    let sizes: Vec<usize> = stacks.iter().map(|s| s.linear.out_features).collect();
    let size = if sizes.iter().all(|&s| s == sizes[0]) { sizes[0].to_string() } else { list(&sizes) };
    out.push(key("fclayer_size", size, "the `linear(..)` of every output's `head(trunk >> linear(..) >> ..)`"));
    if let Some(fc) = &first.fc {
        let act = fc.activation;
        let at = "of the first output's `fc(..)`";
        out.push(key("net_function", act.reference_name(), format!("`act = {}` {at} (the default: gelu)", act.dsl_name())));
        out.push(key("fc_function", act.reference_name(), format!("`act = {}` {at} (the default: gelu)", act.dsl_name())));
        out.push(key("fc_dropout", fc.dropout, format!("`dropout = {}` {at}", fc.dropout)));
        out.push(key("layer_widening", fc.widening, format!("`widening = {}` {at} (the default: 1.1)", fc.widening)));
        let bn = !fc.bn_keys.is_empty();
        out.push(key("fc_batch_norm", py_bool(bn), format!("`batchnorm = {bn}` {at} (the default: false)")));
        out.push(key("nfc_residuals", fc.residuals, format!("`residuals = {}` {at} (the default: 0, no skips)", fc.residuals)));
    }
}

/// The reference's `dropout`, which (when > 0) sets `conv_dropout`, `fc_dropout` and
/// `attention_dropout` at once: `p` when every conv stack, `attention` and `fc` of the first
/// trunk (and of the outputs' own layers) has `dropout = p` > 0, else 0 (the settings are then
/// the individual keys'; `dropout=0` always agrees, see drg-core's comparison).
fn global_dropout_key(trunk: &Trunk, heads: &Heads) -> Key {
    let mut rates = Vec::new();
    for layer in &trunk.layers {
        match &layer.kind {
            LayerKind::ConvStack(s) => rates.push(s.dropout),
            LayerKind::Fc(fc) => rates.push(fc.dropout),
            LayerKind::Attention(a) => rates.push(a.dropout),
            _ => {}
        }
    }
    if let Heads::Linear { per_trunk, .. } = heads {
        let own = per_trunk.first().into_iter().flatten().filter_map(|h| h.stack.as_ref()?.fc.as_ref());
        rates.extend(own.map(|fc| fc.dropout));
    }
    match rates.first() {
        Some(&p) if p > 0.0 && rates.iter().all(|&r| r == p) => {
            key("dropout", p, format!("`dropout = {p}` on every conv stack, `attention` and `fc`"))
        }
        _ => key("dropout", 0, "no single dropout for every conv stack, `attention` and `fc` (the individual `dropout = ..` settings)"),
    }
}

/// Every key of variant `v` of `model`, each once (a key both stacks set, `conv_batch_norm`,
/// keeps the first stack's value and text).
pub(super) fn reference_keys(model: &Model, v: &Variant) -> Vec<Key> {
    let mut out = Vec::new();
    if let Some(trunk) = v.trunks.first() {
        trunk_keys(trunk, &mut out);
    }
    if let Heads::Linear { per_trunk, .. } = &v.heads {
        head_stack_keys(per_trunk.first().map_or(&[][..], |h| &h[..]), &mut out);
    }
    if let Some(trunk) = v.trunks.first() {
        out.push(global_dropout_key(trunk, &v.heads));
    }
    let mut seen = std::collections::BTreeSet::new();
    out.retain(|(k, _, _)| seen.insert(k.clone()));
    let n_out = model.outputs.len();
    if model.outputs.iter().any(|o| o.loss.is_some()) {
        // per-output training losses: the reference's list form
        let each: Vec<String> = model.outputs.iter().map(|o| format!("'{}'", o.loss.unwrap_or(model.loss).reference_name())).collect();
        out.push(key("loss_function", format!("[{}]", each.join(",")), "each output's `loss = ..`"));
    } else {
        out.push(key("loss_function", model.loss.reference_name(), format!("`loss {}`", model.loss.dsl_name())));
    }
    if model.outputs.iter().any(|o| o.validation.is_some()) {
        // per-output validation losses: the reference's list form, `None` for `validation = none`
        let each: Vec<String> = model
            .outputs
            .iter()
            .map(|o| format!("'{}'", if o.validated { o.validation.unwrap_or(model.validation).reference_name() } else { "None" }))
            .collect();
        out.push(key("validation_loss", format!("[{}]", each.join(",")), "each output's `validation = ..`"));
    } else {
        out.push(key("validation_loss", model.validation.reference_name(), format!("`validation {}`", model.validation.dsl_name())));
    }
    if model.combined {
        let trunks_of = |o: &Output| match &o.relation {
            Relation::Direct { trunk } => vec![*trunk],
            Relation::Difference { plus, minus } => vec![*plus, *minus],
            Relation::Mlp { trunks } => trunks.clone(),
        };
        let lists: Vec<String> = model.outputs.iter().map(|o| list(&trunks_of(o))).collect();
        out.push(key(
            "input_to_combinefunc",
            format!("[{}]", lists.join(",")),
            "the trunks each output names (`difference(dna, rna)`, `mlp(dna, rna, ..)`)",
        ));
        let classes: Vec<&str> = model
            .outputs
            .iter()
            .map(|o| match o.relation {
                Relation::Direct { .. } if model.combination != CombinationKind::Mlp => "direct",
                Relation::Difference { .. } => "difference",
                // An `mlp` output's `act = ..` follows its head (`PredictionHead`'s `outclass`).
                _ => output_class(o.activation),
            })
            .collect();
        out.push(key("outclass", one_or_list(&classes), "each output's combinator (`difference`, `direct`, `mlp`)"));
        match &v.heads {
            Heads::Linear { .. } => {
                let shared = model.combination == CombinationKind::SharedHead;
                out.push(key("shared_embedding", py_bool(shared), "`shared` in the outputs' `difference(..)`/`direct(..)`"));
                // `act = ..` of `difference`/`direct` outputs: the trunks' heads' activation
                // (`combine_function`), one for `shared` heads, a list for one head per output
                // (a single name there is replaced by `Linear` in the reference).
                let acts: Vec<&str> = model.outputs.iter().map(|o| output_class(o.activation)).collect();
                if shared || acts.iter().all(|a| *a == "Linear") {
                    let act = acts.first().copied().unwrap_or("Linear");
                    out.push(key("combine_function", act, "the heads' `act = ..` (`difference`/`direct`; none: `Linear`)"));
                } else {
                    out.push(key("combine_function", quoted_list(&acts), "each output's `act = ..` on its heads (`difference`/`direct`)"));
                }
            }
            Heads::Mlp { embeddings, activation, combiners } => {
                out.push(key("combine_function", output_class(Some(*activation)), "`act = ..` of `mlp(..)`"));
                out.push(key("shared_embedding", "True", "`mlp(..)` (one embedding head per trunk, shared by every output)"));
                if let Some(e) = embeddings.first().and_then(|h| h.out.fixed()) {
                    out.push(key("cnn_embedding", e, format!("`embed = {e}` of `mlp(..)`")));
                }
                if let Some(c) = combiners.first() {
                    out.push(key("n_combine_layers", c.fc.widths.len(), format!("`layers = {}` of `mlp(..)`", c.fc.widths.len())));
                }
            }
        }
    } else if n_out > 0 {
        // The activation after each head (`act = ..`), `Linear` without.
        let classes: Vec<&str> = model.outputs.iter().map(|o| output_class(o.activation)).collect();
        let dsl = if classes.iter().all(|c| *c == classes[0]) {
            "`head(..)` (a linear head) and its `act = ..` (none: `Linear`)"
        } else {
            "each output's `act = ..` after its `head(..)`"
        };
        out.push(key("outclass", one_or_list(&classes), dsl));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::reference_keys;
    use crate::ast::ModelDef;
    use crate::infer::infer;
    use quote::quote;

    /// The keys of a declaration, as `key=value` strings.
    fn keys(ts: proc_macro2::TokenStream) -> Vec<String> {
        let def: ModelDef = syn::parse2(ts).expect("parses");
        let model = infer(&def).unwrap_or_else(|e| panic!("{:?}", e.into_iter().map(|e| e.to_string()).collect::<Vec<_>>()));
        reference_keys(&model, &model.variants[0]).into_iter().map(|(k, v, _)| format!("{k}={v}")).collect()
    }

    /// The reference's documented example, declared as in `drg-core/tests/parity_breadth.rs`
    /// with nothing but what its `--cnn` string says, gives the keys of that string
    /// (`fixtures/breadth/example.npz`'s `param_string`) and the constructor's defaults.
    #[test]
    fn the_reference_example_reads_as_its_cnn_string() {
        let got = keys(quote! {
            pub struct Example {
                input seq: onehot(4, 700);
                trunk seq: conv(16, 7) >> gelu >> maxpool(5)
                         >> dilated(dilations = [1, 1], maxpool = 4)
                         >> flatten >> linear(48) >> fc(2);
                output out[5] = head(seq);
            }
        });
        for want in [
            "loss_function=MSE",
            "validation_loss=MSE",
            "num_kernels=16",
            "l_kernels=7",
            "kernel_bias=True",
            "kernel_function=GELU",
            "max_pooling=True",
            "weighted_pooling=False",
            "pooling_size=5",
            "pooling_steps=5",
            "dilated_convolutions=2",
            "dilations=[1,1]",
            "l_dilkernels=7",
            "conv_batch_norm=False",
            "net_function=GELU",
            "dilmax_pooling=4",
            "dilweighted_pooling=0",
            "dilpooling_steps=1",
            "fclayer_size=48",
            "nfc_layers=2",
            "layer_widening=1.1",
            "fc_dropout=0",
            "fc_batch_norm=False",
            "transformer_convolutions=0",
        ] {
            assert!(got.iter().any(|k| k == want), "missing {want}; have {got:?}");
        }
    }

    /// `maxpool(p, step = s)` after the stem is the reference's `pooling_steps=s`; without
    /// `step` it is `pooling_size`, as the reference's default.
    #[test]
    fn a_pooling_step_is_pooling_steps() {
        let got = keys(quote! {
            pub struct M {
                input seq: onehot(4, 50);
                trunk seq: conv(3, 3) >> gelu >> maxpool(4, step = 3) >> flatten;
                output out[2] = head(seq);
            }
        });
        for want in ["max_pooling=True", "pooling_size=4", "pooling_steps=3"] {
            assert!(got.iter().any(|k| k == want), "missing {want}; have {got:?}");
        }
        let got = keys(quote! {
            pub struct M {
                input seq: onehot(4, 50);
                trunk seq: conv(3, 3) >> gelu >> wpool(5) >> flatten;
                output out[2] = head(seq);
            }
        });
        for want in ["weighted_pooling=True", "pooling_size=5", "pooling_steps=5"] {
            assert!(got.iter().any(|k| k == want), "missing {want}; have {got:?}");
        }
    }

    /// `multiout.npz`: one fully connected stack per output is the reference's `nfc_layers` list.
    #[test]
    fn outputs_with_their_own_layers_give_the_nfc_layers_list() {
        let got = keys(quote! {
            pub struct MultiOut {
                input seq: onehot(4, 700), reverse_complement;
                trunk seq: conv(16, 7) >> gelu >> maxpool(5)
                         >> dilated(dilations = [1, 1], maxpool = 4) >> flatten;
                output a[5] = head(seq >> linear(48) >> fc(2));
                output b[3] = head(seq >> linear(48) >> fc(3)), validation = none;
            }
        });
        for want in ["nfc_layers=[2,3]", "fclayer_size=48", "fc_dropout=0", "fc_batch_norm=False", "net_function=GELU"] {
            assert!(got.iter().any(|k| k == want), "missing {want}; have {got:?}");
        }
        assert_eq!(got.iter().filter(|k| k.starts_with("nfc_layers=")).count(), 1, "{got:?}");
    }

    /// `nfc_residuals` is `residuals = ..` of `fc(..)`, 0 without (also for the outputs' own
    /// stacks, which cannot have skips).
    #[test]
    fn fc_residuals_give_nfc_residuals() {
        let got = keys(quote! {
            pub struct M {
                input seq: onehot(4, 700);
                trunk seq: conv(16, 7) >> gelu >> maxpool(50) >> flatten >> fc(3, residuals = 2);
                output out[5] = head(seq);
            }
        });
        assert!(got.iter().any(|k| k == "nfc_residuals=2"), "{got:?}");
        let got = keys(quote! {
            pub struct M {
                input seq: onehot(4, 700);
                trunk seq: conv(16, 7) >> gelu >> maxpool(50) >> flatten;
                output a[5] = head(seq >> linear(48) >> fc(2));
            }
        });
        assert!(got.iter().any(|k| k == "nfc_residuals=0"), "{got:?}");
    }

    /// `conv_dropout` is the stacks' `dropout`; the reference's global `dropout` is the one rate
    /// every stack and `fc` share, else 0.
    #[test]
    fn dropouts_give_conv_dropout_and_the_global_dropout() {
        let decl = |stack: f64, fc: f64| {
            keys(quote! {
                pub struct M {
                    input seq: onehot(4, 700);
                    trunk seq: conv(16, 7) >> gelu >> maxpool(5) >> dilated(k = 7, dilations = [1, 1], dropout = #stack)
                             >> convblocks(1, k = 5, dropout = #stack) >> flatten >> linear(8) >> fc(2, dropout = #fc);
                    output out[5] = head(seq);
                }
            })
        };
        let same = decl(0.2, 0.2);
        for want in ["conv_dropout=0.2", "fc_dropout=0.2", "dropout=0.2"] {
            assert!(same.iter().any(|k| k == want), "missing {want}; have {same:?}");
        }
        let differ = decl(0.2, 0.1);
        for want in ["conv_dropout=0.2", "fc_dropout=0.1", "dropout=0"] {
            assert!(differ.iter().any(|k| k == want), "missing {want}; have {differ:?}");
        }
    }

    /// `strides` and `trstrides`: one number where every layer has it, else the list.
    #[test]
    fn stack_strides_give_strides_and_trstrides() {
        let got = keys(quote! {
            pub struct M {
                input seq: onehot(4, 700);
                trunk seq: conv(16, 7) >> gelu >> maxpool(5) >> dilated(k = 7, dilations = [1, 2], strides = [1, 2])
                         >> convblocks(2, k = 5, stride = 2) >> flatten;
                output out[5] = head(seq);
            }
        });
        for want in ["strides=[1,2]", "trstrides=2"] {
            assert!(got.iter().any(|k| k == want), "missing {want}; have {got:?}");
        }
        let got = keys(quote! {
            pub struct M {
                input seq: onehot(4, 700);
                trunk seq: conv(16, 7) >> gelu >> maxpool(5) >> dilated(k = 7, dilations = [1, 2]) >> convblocks(2, k = 5) >> flatten;
                output out[5] = head(seq);
            }
        });
        for want in ["strides=1", "trstrides=1"] {
            assert!(got.iter().any(|k| k == want), "missing {want}; have {got:?}");
        }
    }

    /// `attention_dropout` is `dropout = ..` of `attention(..)`; with it, the global `dropout`
    /// covers attention models too (the reference's `dropout > 0` sets all three).
    #[test]
    fn attention_dropout_and_the_global_dropout() {
        let decl = |attention: f64| {
            keys(quote! {
                pub struct M {
                    input seq: onehot(4, 700);
                    trunk seq: conv(16, 7) >> gelu >> maxpool(5) >> dilated(k = 7, dilations = [1, 1], dropout = 0.2)
                             >> attention(heads = 2, dim = 1.5, dropout = #attention)
                             >> convblocks(1, k = 5, dropout = 0.2) >> flatten >> fc(2, dropout = 0.2);
                    output out[5] = head(seq);
                }
            })
        };
        let same = decl(0.2);
        for want in ["attention_dropout=0.2", "conv_dropout=0.2", "fc_dropout=0.2", "dropout=0.2"] {
            assert!(same.iter().any(|k| k == want), "missing {want}; have {same:?}");
        }
        let none = decl(0.0);
        for want in ["attention_dropout=0", "dropout=0"] {
            assert!(none.iter().any(|k| k == want), "missing {want}; have {none:?}");
        }
    }

    /// `relu_mean.npz`'s trunk: activations and the stacks' pooling kinds.
    #[test]
    fn activations_and_stack_poolings_give_their_keys() {
        let got = keys(quote! {
            pub struct ReluMean {
                input seq: onehot(4, 640), reverse_complement;
                trunk seq: conv(16, 9, bias = false) >> relu >> meanpool(4)
                         >> dilated(k = 5, dilations = [1, 2], batchnorm = true, act = relu, meanpool = 2)
                         >> convblocks(2, k = 5, batchnorm = true, act = relu, maxpool = 3)
                         >> flatten >> linear(32) >> fc(2, dropout = 0.1, act = relu, batchnorm = true);
                output out[4] = head(seq);
                loss poisson_nnl;
                validation correlation;
            }
        });
        for want in [
            "loss_function=PoissonNNL",
            "validation_loss=Correlationdata",
            "kernel_bias=False",
            "kernel_function=ReLU",
            "net_function=ReLU",
            "fc_function=ReLU",
            "max_pooling=False",
            "mean_pooling=True",
            "dilmean_pooling=2",
            "dilmax_pooling=0",
            "trmax_pooling=3",
            "trmean_pooling=0",
            "conv_batch_norm=True",
            "fc_batch_norm=True",
            "l_trkernels=5",
        ] {
            assert!(got.iter().any(|k| k == want), "missing {want}; have {got:?}");
        }
    }
}
