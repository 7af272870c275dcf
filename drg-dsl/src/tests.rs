//! Inference tests on token streams: the reference's shapes (basemodel, transmodel, the fixtures'
//! per-configuration reference) and parameter counts (as `models/tests/parameter_counts.rs`
//! checks them on the built models), and the error messages.

use crate::ast::ModelDef;
use crate::infer::{fc_widths, infer, pooling, pooling_steps, same_padding};
use crate::ir::*;
use proc_macro2::TokenStream;
use quote::quote;

fn model(ts: TokenStream) -> Model {
    let def: ModelDef = syn::parse2(ts).expect("parses");
    match infer(&def) {
        Ok(m) => m,
        Err(e) => panic!("unexpected errors: {:?}", e.into_iter().map(|e| e.to_string()).collect::<Vec<_>>()),
    }
}

fn errors(ts: TokenStream) -> Vec<String> {
    let def: ModelDef = syn::parse2(ts).expect("parses");
    match infer(&def) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
    }
}

fn variant<'a>(m: &'a Model, name: &str) -> &'a Variant {
    m.variants.iter().find(|v| v.name == name).expect("variant exists")
}

/// Sequence lengths after each layer of a trunk (flat layers report their width).
fn lengths(t: &Trunk) -> Vec<usize> {
    t.layers
        .iter()
        .map(|l| match l.output {
            Shape::Seq { len, .. } => len,
            Shape::Flat { features } => features,
        })
        .collect()
}

fn stack(t: &Trunk, role: StackRole) -> &ConvStack {
    t.layers
        .iter()
        .find_map(|l| match &l.kind {
            LayerKind::ConvStack(s) if s.role == role => Some(s),
            _ => None,
        })
        .expect("stack present")
}

/// Lengths entering each built stack layer plus the stack's output length.
fn stack_lengths(s: &ConvStack) -> Vec<usize> {
    let mut v: Vec<usize> = s.layers.iter().map(|l| l.len).collect();
    let last = s.layers.last().unwrap();
    v.push(last.pool.map_or(last.len, |p| p.out_len));
    v
}

fn keys(v: &Variant) -> Vec<String> {
    v.parameter_breakdown.iter().map(|(k, _)| k.clone()).collect()
}

fn base_model() -> TokenStream {
    quote! {
        pub struct Base {
            sizes {
                fixture: len = 997, nk = 16, tp = 3, fc = 64, n = 6;
            }
            input dna: onehot(4, len), reverse_complement;
            trunk dna: conv(nk, 15) >> gelu >> wpool(4)
                >> dilated(k = 11, dilations = [1, 2, 4], batchnorm = true)
                >> convblocks(4, k = 11, wpool = tp, batchnorm = true)
                >> flatten >> linear(fc) >> fc(3, dropout = 0.1);
            output ex[n] = head(dna);
        }
    }
}

#[test]
fn basemodel_shapes_paddings_and_counts_match_the_reference() {
    let m = model(quote! {
        pub struct Base {
            sizes {
                n100: len = 40_000, n = 100;
                n88: len = 40_000, n = 88;
            }
            input dna: onehot(4, len), reverse_complement;
            trunk dna: conv(300, 15) >> gelu >> wpool(4)
                >> dilated(k = 11, dilations = [1, 2, 4], batchnorm = true)
                >> convblocks(4, k = 11, wpool = 6, batchnorm = true)
                >> flatten >> linear(1024) >> fc(3, dropout = 0.1);
            output ex[n] = head(dna);
        }
    });
    let v = variant(&m, "n100");
    let t = &v.trunks[0];
    assert_eq!(lengths(t), [40000, 40000, 10000, 10000, 8, 2400, 1024, 1024]);
    let LayerKind::Conv(stem) = &t.layers[0].kind else { panic!() };
    assert_eq!((stem.padding, stem.reverse_complement, stem.bias), ((7, 7), true, true));
    assert_eq!(stem.key, "convolutions.conv1d");
    let LayerKind::Pool(p) = &t.layers[2].kind else { panic!() };
    assert_eq!((p.pad, p.out_len), (0, 10000));

    let dil = stack(t, StackRole::Dilated);
    assert_eq!(dil.layers.iter().map(|l| l.padding).collect::<Vec<_>>(), [(5, 5), (10, 10), (20, 20)]);
    assert!(dil.layers.iter().all(|l| l.pool.is_none()) && !dil.bias && dil.batchnorm);
    assert_eq!(dil.layers[2].bn_key.as_deref(), Some("convolution_layers.convlayers.Bnorm2"));
    assert_eq!(dil.layers[2].conv_key, "convolution_layers.convlayers.Conv2.conv1d");

    let tr = stack(t, StackRole::Blocks);
    assert_eq!(stack_lengths(tr), [10000, 1667, 278, 47, 8]);
    assert_eq!(tr.layers.iter().map(|l| l.pool.unwrap().pad).collect::<Vec<_>>(), [1, 1, 2, 1]);
    assert!(tr.bias && tr.layers.iter().all(|l| l.padding == (5, 5)));
    assert_eq!(tr.key, "trconvolution_layers.convlayers");

    let LayerKind::Fc(fc) = &t.layers[7].kind else { panic!() };
    assert_eq!(fc.widths, [(1024, 1126), (1126, 1126), (1126, 1024)]);
    assert_eq!(fc.keys, ["nfcs.nfcs.Fullyconnected0", "nfcs.nfcs.Fullyconnected1", "nfcs.nfcs.Fullyconnected2"]);
    assert_eq!(fc.dropout, 0.1);

    // The reference's basemodel: 12,989,524 + 1025·n, with this breakdown.
    assert_eq!(v.parameter_count, 13_092_024);
    assert_eq!(variant(&m, "n88").parameter_count, 13_079_724);
    let sum = |pred: &dyn Fn(&str) -> bool| -> usize { v.parameter_breakdown.iter().filter(|(k, _)| pred(k)).map(|(_, n)| n).sum() };
    assert_eq!(sum(&|k| k.starts_with("convolutions.")), 18_300);
    assert_eq!(sum(&|k| k.starts_with("convolution_layers.")), 2_971_800);
    assert_eq!(sum(&|k| k.starts_with("trconvolution_layers.")), 3_963_600);
    assert_eq!(sum(&|k| k.starts_with("nfcs.")), 6_035_824);
    let Heads::Linear { per_trunk, outputs } = &v.heads else { panic!() };
    assert_eq!(per_trunk[0][0].head.key, "classifier.classifier.Linear");
    assert_eq!(outputs[0], LinearOutput::Direct { head: (0, 0) });
}

#[test]
fn transmodel_shapes_and_count_match_the_reference() {
    let m = model(quote! {
        struct Trans {
            input rna: onehot(4, 40_000), reverse_complement;
            trunk rna: conv(300, 15) >> gelu >> wpool(4)
                >> dilated(k = 11, dilations = [1, 2, 4], wpool = 10, every = 3, batchnorm = true)
                >> attention(heads = 4, dim = 1.8)
                >> convblocks(4, k = 11, wpool = 4, batchnorm = true)
                >> flatten >> linear(1024) >> fc(3, dropout = 0.1);
            output ex[100] = head(rna);
        }
    });
    let v = &m.variants[0];
    assert!(v.implicit);
    let t = &v.trunks[0];
    let dil = stack(t, StackRole::Dilated);
    assert_eq!(stack_lengths(dil), [10000, 10000, 10000, 1000]);
    assert_eq!(dil.layers.iter().map(|l| l.pool.is_some()).collect::<Vec<_>>(), [false, false, true]);
    assert_eq!(dil.layers[2].pool.unwrap().pad, 0);
    let LayerKind::Attention(a) = &t.layers[4].kind else { panic!() };
    assert_eq!((a.in_channels, a.embed, a.heads, a.len), (300, 540, 4, 1000));
    assert_eq!(a.key, "distattention.Mheadattention0");
    let tr = stack(t, StackRole::Blocks);
    assert_eq!(tr.channels, 540);
    assert_eq!(stack_lengths(tr), [1000, 250, 63, 16, 4]);
    assert_eq!(tr.layers.iter().map(|l| l.pool.unwrap().pad).collect::<Vec<_>>(), [0, 1, 1, 0]);
    assert_eq!(t.layers[6].output, Shape::Flat { features: 2160 });
    // The reference's transmodel: attention 7,551,360; total 29,168,404 + 1025·100.
    assert_eq!(crate::params::attention(a), 7_551_360);
    assert_eq!(v.parameter_count, 29_270_904);
}

#[test]
fn fixture_base_builds_only_three_trconv_layers() {
    let m = model(base_model());
    let v = variant(&m, "fixture");
    let t = &v.trunks[0];
    assert_eq!(lengths(t)[..3], [997, 997, 250]);
    let tr = stack(t, StackRole::Blocks);
    assert_eq!(tr.requested_layers, 4);
    assert_eq!(stack_lengths(tr), [250, 84, 28, 10]);
    assert_eq!(t.features, 64);
    assert_eq!(t.layers[5].output, Shape::Flat { features: 160 });
    // Parameter count from the fixture's state-dict shapes (fixtures/README.md, base.npz).
    let expected = (16 * 4 * 15 + 16)
        + 3 * (16 * 16 * 11 + 2 * 16)
        + 3 * (16 * 16 * 11 + 16 + 2 * 16)
        + (64 * 160 + 64)
        + (70 * 64 + 70)
        + (70 * 70 + 70)
        + (64 * 70 + 64)
        + (6 * 64 + 6);
    assert_eq!(v.parameter_count, expected);
    assert_eq!(
        keys(v),
        [
            "convolutions.conv1d",
            "convolution_layers.convlayers.Bnorm0",
            "convolution_layers.convlayers.Conv0.conv1d",
            "convolution_layers.convlayers.Bnorm1",
            "convolution_layers.convlayers.Conv1.conv1d",
            "convolution_layers.convlayers.Bnorm2",
            "convolution_layers.convlayers.Conv2.conv1d",
            "trconvolution_layers.convlayers.Bnorm0",
            "trconvolution_layers.convlayers.Conv0.conv1d",
            "trconvolution_layers.convlayers.Bnorm1",
            "trconvolution_layers.convlayers.Conv1.conv1d",
            "trconvolution_layers.convlayers.Bnorm2",
            "trconvolution_layers.convlayers.Conv2.conv1d",
            "nfcs.nfcs.EmbeddtoFully",
            "nfcs.nfcs.Fullyconnected0",
            "nfcs.nfcs.Fullyconnected1",
            "nfcs.nfcs.Fullyconnected2",
            "classifier.classifier.Linear",
        ]
    );
}

#[test]
fn fixture_trans_builds_one_trconv_layer() {
    let m = model(quote! {
        struct Trans {
            input x: onehot(4, 800), reverse_complement;
            trunk x: conv(16, 15) >> gelu >> wpool(4)
                >> dilated(k = 11, dilations = [1, 2, 4], wpool = 5, every = 3, batchnorm = true)
                >> attention(heads = 2, dim = 1.5)
                >> convblocks(2, k = 11, wpool = 4, batchnorm = true)
                >> flatten >> linear(64) >> fc(3, dropout = 0.1);
            output y[6] = head(x);
        }
    });
    let t = &m.variants[0].trunks[0];
    assert_eq!(stack_lengths(stack(t, StackRole::Dilated)), [200, 200, 200, 40]);
    let LayerKind::Attention(a) = &t.layers[4].kind else { panic!() };
    assert_eq!((a.embed, a.heads), (24, 2));
    let tr = stack(t, StackRole::Blocks);
    assert_eq!((tr.requested_layers, tr.layers.len()), (2, 1));
    assert_eq!(stack_lengths(tr), [40, 10]);
    assert_eq!(t.layers[6].output, Shape::Flat { features: 240 });
}

/// The trunk of the use cases, with sizes for the real data and for the fixtures.
fn two_input(outputs: TokenStream) -> TokenStream {
    quote! {
        pub struct Multi {
            sizes {
                full: len = 40_000, nk = 300, fc = 1024, tp = 6, n = 88, emb = 512;
                c: len = 600, nk = 16, fc = 64, tp = 3, n = 6, emb = 32;
                de: len = 560, nk = 16, fc = 64, tp = 3, n = 6, emb = 32;
                f: len = 520, nk = 16, fc = 64, tp = 3, n = 6, emb = 32;
            }
            input dna: onehot(4, len), reverse_complement;
            input rna: onehot(4, len);
            trunk dna: conv(nk, 15) >> gelu >> wpool(4)
                >> dilated(k = 11, dilations = [1, 2, 4], batchnorm = true)
                >> convblocks(4, k = 11, wpool = tp, batchnorm = true)
                >> flatten >> linear(fc) >> fc(3, dropout = 0.1);
            trunk rna: same as dna;
            #outputs
        }
    }
}

#[test]
fn model_c_counts_and_keys() {
    let m = model(two_input(quote! { output ex[n] = mlp(dna, rna, embed = emb); }));
    assert_eq!(m.combination, CombinationKind::Mlp);
    assert_eq!(variant(&m, "full").parameter_count, 30_696_048);
    let v = variant(&m, "c");
    assert_eq!(stack_lengths(stack(&v.trunks[1], StackRole::Blocks)), [150, 50, 17, 6]);
    assert_eq!(v.trunks[1].layers[5].output, Shape::Flat { features: 96 });
    assert!(!v.trunks[1].layers.iter().any(|l| matches!(&l.kind, LayerKind::Conv(c) if c.reverse_complement)));
    let Heads::Mlp { embeddings, combiners, activation } = &v.heads else { panic!() };
    assert_eq!(*activation, Activation::Gelu);
    assert_eq!(embeddings[1].key, "cnns.CNN1.classifier.classifier.Linear");
    assert_eq!((embeddings[1].in_features, embeddings[1].out), (64, Width::Fixed(32)));
    assert_eq!(combiners[0].fc.widths, [(64, 70), (70, 70), (70, 64)]);
    assert_eq!(combiners[0].fc.keys[2], "nclayers.nfcs.Fullyconnected2");
    assert_eq!(combiners[0].fc.dropout, 0.0);
    assert_eq!(combiners[0].head.key, "classifier.classifier.Linear");
    assert!(keys(v).contains(&"cnns.CNN0.trconvolution_layers.convlayers.Conv2.conv1d".to_string()));
    assert!(!keys(v).contains(&"cnns.CNN0.trconvolution_layers.convlayers.Conv3.conv1d".to_string()));
}

fn d_outputs() -> TokenStream {
    quote! {
        output ex[n] = difference(dna, rna);
        output kd[n] = direct(rna), validation = none;
        output kt[n] = direct(dna), validation = none;
    }
}

#[test]
fn model_d_builds_every_head_and_counts_the_unused_ones() {
    let m = model(two_input(d_outputs()));
    assert_eq!(m.combination, CombinationKind::HeadPerOutput);
    assert_eq!(variant(&m, "full").parameter_count, 26_520_248);
    let v = variant(&m, "de");
    assert_eq!(stack_lengths(stack(&v.trunks[0], StackRole::Blocks)), [140, 47, 16, 6]);
    let Heads::Linear { per_trunk, outputs } = &v.heads else { panic!() };
    assert_eq!(per_trunk[0][1].head.key, "cnns.CNN0.classifier.1.classifier.Linear");
    let unused: Vec<&str> = per_trunk.iter().flatten().filter(|h| !h.used).map(|h| h.head.key.as_str()).collect();
    assert_eq!(unused, ["cnns.CNN0.classifier.1.classifier.Linear", "cnns.CNN1.classifier.2.classifier.Linear"]);
    assert_eq!(outputs[0], LinearOutput::Difference { plus: (0, 0), minus: (1, 0) });
    assert_eq!(outputs[1], LinearOutput::Direct { head: (1, 1) });
    assert_eq!(outputs[2], LinearOutput::Direct { head: (0, 2) });
    assert_eq!(m.outputs.iter().map(|o| o.validated).collect::<Vec<_>>(), [true, false, false]);
    // Per trunk: conv + dilated + trconv (3 built) + FC + three 6×64 heads.
    let per_trunk_count = 976 + 3 * (2816 + 32) + 3 * (2816 + 16 + 32) + (64 * 96 + 64) + 4550 + 4970 + 4544 + 3 * 390;
    assert_eq!(v.parameter_count, 2 * per_trunk_count);
}

#[test]
fn model_e_shares_one_head_per_trunk() {
    let m = model(two_input(quote! {
        output ex[n] = difference(dna, rna, shared);
        output kd[n] = direct(rna, shared), validation = none;
        output kt[n] = direct(dna, shared), validation = none;
    }));
    assert_eq!(m.combination, CombinationKind::SharedHead);
    assert_eq!(variant(&m, "full").parameter_count, 26_159_448);
    let Heads::Linear { per_trunk, outputs } = &variant(&m, "de").heads else { panic!() };
    assert_eq!(per_trunk[1].len(), 1);
    assert_eq!(per_trunk[1][0].head.key, "cnns.CNN1.classifier.classifier.Linear");
    assert_eq!(outputs[0], LinearOutput::Difference { plus: (0, 0), minus: (1, 0) });
    assert_eq!(outputs[1], LinearOutput::Direct { head: (1, 0) });
}

#[test]
fn model_f1_and_f2_combiners() {
    let f1 = model(two_input(quote! {
        output ex[n] = mlp(dna, rna, layers = 2, embed = emb);
        output kd[n] = mlp(dna, rna, layers = 2, embed = emb), validation = none;
        output kt[n] = mlp(dna, rna, layers = 2, embed = emb), validation = none;
    }));
    assert_eq!(variant(&f1, "full").parameter_count, 34_223_842);
    let v = variant(&f1, "f");
    assert_eq!(stack_lengths(stack(&v.trunks[0], StackRole::Blocks)), [130, 44, 15, 5]);
    assert_eq!(v.trunks[0].layers[5].output, Shape::Flat { features: 80 });
    let Heads::Mlp { combiners, .. } = &v.heads else { panic!() };
    assert_eq!(combiners[2].fc.keys, ["nclayers.2.nfcs.Fullyconnected0", "nclayers.2.nfcs.Fullyconnected1"]);
    assert_eq!(combiners[2].fc.widths, [(64, 70), (70, 64)]);
    assert_eq!(combiners[2].head.key, "classifier.2.classifier.Linear");

    let f2 = model(two_input(quote! {
        output ex[n] = mlp(dna, rna, layers = 2, embed = emb);
        output kd[n] = mlp(rna, layers = 2, embed = emb), validation = none;
        output kt[n] = mlp(dna, layers = 2, embed = emb), validation = none;
    }));
    assert_eq!(variant(&f2, "full").parameter_count, 30_672_508);
    let Heads::Mlp { combiners, .. } = &variant(&f2, "f").heads else { panic!() };
    assert_eq!(combiners[1].trunks, [1]);
    assert_eq!(combiners[1].fc.widths, [(32, 35), (35, 32)]);
    assert_eq!((combiners[1].head.in_features, combiners[1].head.out), (32, Width::Fixed(6)));
}

/// `act = ..` after an output's head (the reference's `outclass`): the cropped exponentials and
/// powers, the softmax and the layer activations.
#[test]
fn output_activations() {
    let m = model(quote! {
        struct M {
            input dna: onehot(4, 700);
            trunk dna: conv(16, 7) >> flatten;
            output ex[5] = head(dna), act = exp_max;
            output kd[5] = head(dna), validation = none, act = exp;
            output kt[5] = head(dna), validation = none;
            output sm[5] = head(dna), validation = none, act = softmax;
            output sq[5] = head(dna), validation = none, act = squared;
            output th[5] = head(dna), validation = none, act = third;
        }
    });
    let acts: Vec<Option<Activation>> = m.outputs.iter().map(|o| o.activation).collect();
    use Activation::*;
    assert_eq!(acts, [Some(ExpMax), Some(Exp), None, Some(Softmax), Some(Squared), Some(Third)]);
    let names: Vec<&str> = m.outputs.iter().filter_map(|o| o.activation).map(Activation::reference_name).collect();
    assert_eq!(names, ["EXPmax", "EXP", "Softmax", "SQUARED", "THIRD"]);
    let e = errors(quote! {
        struct M {
            input dna: onehot(4, 700);
            trunk dna: conv(16, 7) >> flatten;
            output ex[5] = head(dna), act = cube;
        }
    });
    assert!(
        e.iter().any(|m| m.contains(
            "`act` of an output must be one of: gelu, relu, sigmoid, tanh, id0, exp, exp_max, softmax, squared, third; found `cube`"
        )),
        "{e:?}"
    );
    // The new names are output activations only, not layers or stack activations.
    let e = errors(quote! {
        struct M {
            input dna: onehot(4, 700);
            trunk dna: conv(16, 7) >> softmax >> flatten >> fc(2, act = squared);
            output ex[5] = head(dna);
        }
    });
    assert_eq!(e.len(), 2, "{e:?}");
}

/// `act = ..` on the outputs of a two-input model: on an `mlp` output after its head (its
/// `outclass`); on `difference`/`direct` outputs on the trunks' heads (the reference's
/// `combine_function`), which `shared` heads have once for all outputs and a single output
/// cannot have (the reference sets it to `Linear`).
#[test]
fn output_activations_of_combined_models() {
    let m = model(two_input(quote! {
        output ex[n] = difference(dna, rna), act = squared;
        output kd[n] = direct(rna), validation = none, act = softmax;
        output kt[n] = direct(dna), validation = none;
    }));
    let acts: Vec<Option<Activation>> = m.outputs.iter().map(|o| o.activation).collect();
    assert_eq!(acts, [Some(Activation::Squared), Some(Activation::Softmax), None]);
    let m = model(two_input(quote! {
        output ex[n] = mlp(dna, rna, embed = emb), act = third;
        output kd[n] = mlp(rna, embed = emb), validation = none;
    }));
    assert_eq!(m.outputs[0].activation, Some(Activation::Third));
    model(two_input(quote! {
        output ex[n] = difference(dna, rna, shared), act = exp;
        output kd[n] = direct(rna, shared), validation = none, act = exp;
    }));
    let e = errors(two_input(quote! {
        output ex[n] = difference(dna, rna, shared), act = exp;
        output kd[n] = direct(rna, shared), validation = none;
        output kt[n] = direct(dna, shared), validation = none, act = relu;
    }));
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e[0].contains("output `kd` has none but output `ex` has `act = exp`: `shared` heads are one head per trunk"), "{e:?}");
    assert!(e[1].contains("output `kt` has `act = relu` but output `ex` has `act = exp`"), "{e:?}");
    let e = errors(two_input(quote! { output ex[n] = difference(dna, rna), act = gelu; }));
    assert!(
        e.iter().any(|m| m.contains("`act` on the only output of a model of two inputs: the reference sets `combine_function=Linear` for a single `difference` output")),
        "{e:?}"
    );
}

/// `dropout = p` on the conv stacks (the reference's `conv_dropout`), checked as a probability in
/// whole thousandths.
#[test]
fn conv_stacks_take_a_dropout() {
    let m = model(quote! {
        struct M {
            input dna: onehot(4, 700);
            trunk dna: conv(16, 7) >> gelu >> maxpool(5) >> dilated(k = 5, dilations = [1, 2], dropout = 0.1)
                >> convblocks(2, k = 5) >> flatten;
            output ex[5] = head(dna);
        }
    });
    let t = &m.variants[0].trunks[0];
    assert_eq!(stack(t, StackRole::Dilated).dropout, 0.1);
    assert_eq!(stack(t, StackRole::Blocks).dropout, 0.0);
    let e = errors(quote! {
        struct M {
            input dna: onehot(4, 700);
            trunk dna: conv(16, 7) >> dilated(dilations = [1], dropout = 1.5) >> flatten;
            output ex[5] = head(dna);
        }
    });
    assert!(e.iter().any(|m| m.contains("dropout probability must be in [0, 1), found 1.5")), "{e:?}");
    let e = errors(quote! {
        struct M {
            input dna: onehot(4, 700);
            trunk dna: conv(16, 7) >> convblocks(1, k = 5, dropout = 0.0005) >> flatten;
            output ex[5] = head(dna);
        }
    });
    assert!(e.iter().any(|m| m.contains("dropout 0.0005 is not a whole number of thousandths")), "{e:?}");
}

/// `nfc_layers=[2,3]`: each output's own `linear >> fc` on the shared flattened features, keyed
/// `nfcs.{i}.nfcs.*` before the classifiers, with the reference's widths and counts.
#[test]
fn outputs_with_their_own_layers_get_their_own_stacks() {
    let m = model(quote! {
        struct M {
            input dna: onehot(4, 700), reverse_complement;
            trunk dna: conv(16, 7) >> gelu >> maxpool(5) >> flatten;
            output ex[5] = head(dna >> linear(48) >> fc(2, batchnorm = true));
            output kd[3] = head(dna >> linear(40) >> fc(3)), validation = none;
        }
    });
    let v = &m.variants[0];
    let Heads::Linear { per_trunk, .. } = &v.heads else { panic!("linear heads") };
    let s0 = per_trunk[0][0].stack.as_ref().expect("own stack");
    let s1 = per_trunk[0][1].stack.as_ref().expect("own stack");
    assert_eq!((s0.linear.in_features, s0.linear.out_features), (16 * 140, 48));
    assert_eq!(s0.fc.as_ref().unwrap().widths, [(48, 52), (52, 48)]);
    assert_eq!(s1.fc.as_ref().unwrap().widths, [(40, 44), (44, 44), (44, 40)]);
    assert_eq!(per_trunk[0][1].head.in_features, 40);
    // Batch norm in the first output's stack gives its classifier (only) a `ClassBnorm`.
    assert_eq!(per_trunk[0][0].head.batchnorm.as_deref(), Some("classifier.0.classifier.ClassBnorm"));
    assert_eq!(per_trunk[0][1].head.batchnorm, None);
    assert_eq!(
        keys(v)[1..],
        [
            "nfcs.0.nfcs.EmbeddtoFully",
            "nfcs.0.nfcs.Bnorm_fullyconnected0",
            "nfcs.0.nfcs.Fullyconnected0",
            "nfcs.0.nfcs.Bnorm_fullyconnected1",
            "nfcs.0.nfcs.Fullyconnected1",
            "nfcs.1.nfcs.EmbeddtoFully",
            "nfcs.1.nfcs.Fullyconnected0",
            "nfcs.1.nfcs.Fullyconnected1",
            "nfcs.1.nfcs.Fullyconnected2",
            "classifier.0.classifier.ClassBnorm",
            "classifier.0.classifier.Linear",
            "classifier.1.classifier.Linear",
        ]
    );
    let conv = 16 * 4 * 7 + 16;
    let own0 = (2240 * 48 + 48) + 2 * 48 + (48 * 52 + 52) + 2 * 52 + (52 * 48 + 48);
    let own1 = (2240 * 40 + 40) + (40 * 44 + 44) + (44 * 44 + 44) + (44 * 40 + 40);
    let heads = 2 * 48 + (48 * 5 + 5) + (40 * 3 + 3);
    assert_eq!(v.parameter_count, conv + own0 + own1 + heads);
}

/// The structure of outputs' own layers: all outputs or none, one input, a trunk ending in
/// `flatten`, `linear` then `fc`, only on a head of its own; each error at its token.
#[test]
fn outputs_own_layers_errors() {
    let e = errors(quote! {
        struct M {
            input dna: onehot(4, 700);
            trunk dna: conv(16, 7) >> gelu >> maxpool(5) >> flatten >> linear(8);
            output ex[5] = head(dna >> fc(2) >> linear(4));
            output kd[3] = head(dna), validation = none;
        }
    });
    assert!(e.iter().any(|m| m.contains("output `kd` has no layers of its own but output `ex` has")), "{e:?}");
    assert!(e.iter().any(|m| m.contains("`fc` cannot be layer 1 of output `ex`'s own layers")), "{e:?}");
    assert!(e.iter().any(|m| m.contains("`linear` cannot be layer 2 of output `ex`'s own layers")), "{e:?}");
    assert!(e.iter().any(|m| m.contains("trunk `dna` must end with `flatten` when its outputs have their own layers")), "{e:?}");
    let e = errors(quote! {
        struct M {
            input dna: onehot(4, 700);
            input rna: onehot(4, 700);
            trunk dna: conv(16, 7) >> flatten;
            trunk rna: same as dna;
            output ex[5] = difference(dna >> linear(8), rna);
            output kd[5] = direct(rna >> linear(8)), validation = none;
        }
    });
    assert!(e.iter().any(|m| m.contains("`difference` cannot take its own layers here")), "{e:?}");
    assert!(e.iter().any(|m| m.contains("an output's own layers need a model with one input")), "{e:?}");
    let e = errors(quote! {
        struct M {
            input dna: onehot(4, 700);
            trunk dna: conv(16, 7) >> flatten;
            output ex[5] = head(dna >> linear(fc) >> fc(2));
            output kd[5] = head(dna >> linear(8)), validation = none;
        }
    });
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].contains("unknown size parameter `fc`"), "{e:?}");
    // Widths are checked per size variant, once the structure is sound.
    let e = errors(quote! {
        struct M {
            input dna: onehot(4, 700);
            trunk dna: conv(16, 7) >> flatten;
            output ex[5] = head(dna >> linear(8) >> fc(0));
            output kd[5] = head(dna >> linear(8) >> fc(2, widening = 0.01)), validation = none;
        }
    });
    assert!(e.iter().any(|m| m.contains("`fc(0)` builds no layer")), "{e:?}");
    assert!(e.iter().any(|m| m.contains("`fc` layer 0 would have width 0")), "{e:?}");
}

#[test]
fn model_b_has_one_head_per_output_on_the_shared_trunk() {
    let m = model(quote! {
        struct B {
            input dna: onehot(4, 1024), reverse_complement;
            trunk dna: conv(16, 15) >> gelu >> wpool(4) >> dilated(dilations = [1, 2, 4])
                >> convblocks(4, wpool = 3) >> flatten >> linear(64) >> fc(3);
            output ex[6] = head(dna);
            output kd[6] = head(dna), validation = none;
            output kt[6] = head(dna), validation = none;
        }
    });
    assert!(!m.combined);
    let v = &m.variants[0];
    assert_eq!(stack_lengths(stack(&v.trunks[0], StackRole::Blocks)), [256, 86, 29, 10]);
    assert_eq!(
        keys(v)[keys(v).len() - 3..],
        ["classifier.0.classifier.Linear", "classifier.1.classifier.Linear", "classifier.2.classifier.Linear"]
    );
}

#[test]
fn helper_formulas() {
    assert_eq!(same_padding(15, 1), (7, 7));
    assert_eq!(same_padding(4, 1), (1, 2));
    assert_eq!(same_padding(11, 4), (20, 20));
    let p = pooling(PoolKind::Weighted, 6, 10000);
    assert_eq!((p.pad, p.out_len), (1, 1667));
    assert_eq!(fc_widths(512, 2, 1.1), [(512, 563), (563, 512)]);
    assert_eq!(fc_widths(100, 4, 1.1), [(100, 110), (110, 121), (121, 109), (109, 100)]);
    // Python's int(121 / 1.1) is 109: the division is 109.99999999999999 in f64.
    assert_eq!(fc_widths(64, 1, 1.1), [(64, 64)]);
}

// ------------------------------------------------------------------------------------ errors

fn has(errs: &[String], needle: &str) {
    assert!(errs.iter().any(|e| e.contains(needle)), "no error containing {needle:?} in {errs:#?}");
}

#[test]
fn pooling_larger_than_the_length_names_both_numbers() {
    let errs = errors(quote! {
        struct M {
            input x: onehot(4, 4);
            trunk x: conv(8, 3) >> wpool(6) >> flatten;
            output y[1] = head(x);
        }
    });
    assert_eq!(errs, ["wpool(6) needs length ≥ 6, but the input here has length 4; use a pooling size ≤ 4"]);
}

/// `step = s` (the reference's `pooling_steps`): the padding ⌈(p − L mod s)/2⌉ and the length
/// of the reference's pooling (PyTorch's for max and mean, ⌊(L + 2q − p)/s⌋ + 1; windows of p
/// one after the other for the weighted pool, ⌊(L + 2q)/p⌋), which must be ⌈L/s⌉, the length
/// the reference sizes the next layer for. Values worked out by hand from `cnn.__init__` and
/// `pooling_layer`.
#[test]
fn pooling_steps_follow_the_reference_geometry() {
    // 50 mod 3 = 2: q = ⌈(4 − 2)/2⌉ = 1; (50 + 2 − 4)/3 + 1 = 17 = ⌈50/3⌉
    let p = pooling_steps(PoolKind::Max, 4, 3, 50).unwrap();
    assert_eq!((p.size, p.step, p.pad, p.out_len), (4, 3, 1, 17));
    // 51 mod 2 = 1: q = ⌈(5 − 1)/2⌉ = 2; (51 + 4 − 5)/2 + 1 = 26 = ⌈51/2⌉ (overlapping windows)
    let p = pooling_steps(PoolKind::Mean, 5, 2, 51).unwrap();
    assert_eq!((p.pad, p.out_len), (2, 26));
    // the weighted pool: 17 mod 5 = 2, q = 1, ⌊19/4⌋ = 4 = ⌈17/5⌉
    let p = pooling_steps(PoolKind::Weighted, 4, 5, 17).unwrap();
    assert_eq!((p.pad, p.out_len), (1, 4));
    // a negative q is no padding for the weighted pool: 6 mod 7 = 6, q = ⌈(4 − 6)/2⌉ = −1
    let p = pooling_steps(PoolKind::Weighted, 4, 7, 6).unwrap();
    assert_eq!((p.pad, p.out_len), (0, 1));
    // ... and PyTorch's error for max and mean pooling
    assert!(pooling_steps(PoolKind::Max, 4, 7, 6).unwrap_err().contains("= -1 on each side"));
    // 100 mod 2 = 0: (100 − 4)/2 + 1 = 49 ≠ 50
    assert!(pooling_steps(PoolKind::Max, 4, 2, 100).unwrap_err().contains("gives 49 positions from length 100"));
    // with the step equal to the size, the plain pooling
    assert_eq!(pooling_steps(PoolKind::Weighted, 6, 6, 10000).unwrap(), pooling(PoolKind::Weighted, 6, 10000));

    let m = model(quote! {
        struct M {
            input x: onehot(4, 50);
            trunk x: conv(8, 3) >> gelu >> maxpool(4, step = 3)
                >> dilated(k = 3, dilations = [1, 2], wpool = 3) >> flatten;
            output y[2] = head(x);
        }
    });
    let t = &variant(&m, "default").trunks[0];
    // the stack pools after each layer: 17 → 6 → 2
    assert_eq!(lengths(t), vec![50, 50, 17, 2, 16]);
    match &t.layers[2].kind {
        LayerKind::Pool(p) => assert_eq!((p.kind, p.size, p.step, p.in_len, p.pad, p.out_len), (PoolKind::Max, 4, 3, 50, 1, 17)),
        _ => panic!("not a pooling"),
    }
    // `step = p` is the plain pooling
    let plain = |step: TokenStream| {
        let m = model(quote! {
            struct M {
                input x: onehot(4, 37);
                trunk x: conv(8, 3) >> wpool(4 #step) >> flatten;
                output y[2] = head(x);
            }
        });
        match &variant(&m, "default").trunks[0].layers[1].kind {
            LayerKind::Pool(p) => *p,
            _ => panic!("not a pooling"),
        }
    };
    assert_eq!(plain(quote!(, step = 4)), plain(quote!()));
}

/// A step whose pooling the reference cannot run is an error at the step, naming the lengths
/// and the steps that fit; so is a step of 0.
#[test]
fn pooling_steps_that_do_not_fit_are_errors_at_the_step() {
    let errs = errors(quote! {
        struct M {
            sizes { a: s = 2; }
            input x: onehot(4, 1000);
            trunk x: conv(8, 3) >> gelu >> maxpool(4, step = s) >> flatten;
            output y[6] = head(x);
        }
    });
    has(&errs, "in size variant `a`: `maxpool(4, step = 2)` on length 1000: with step 2 this pooling gives 499 positions from length 1000, but the reference sizes every layer after it for ⌈1000/2⌉ = 500 (its `currlen`), so it cannot run this model; steps that fit here: 3, 4, 5");
    let errs = errors(quote! {
        struct M {
            input x: onehot(4, 1000);
            trunk x: conv(8, 3) >> gelu >> meanpool(2, step = 7) >> flatten;
            output y[6] = head(x);
        }
    });
    has(&errs, "rejects a negative padding");
    let errs = errors(quote! {
        struct M {
            input x: onehot(4, 1000);
            trunk x: conv(8, 3) >> gelu >> wpool(4, step = 0) >> flatten;
            output y[6] = head(x);
        }
    });
    assert_eq!(errs, ["the pooling step must be at least 1, found 0"]);
}

#[test]
fn a_stack_pools_with_one_kind_and_acts_with_a_known_function() {
    let errs = errors(quote! {
        struct M {
            input x: onehot(4, 1000);
            trunk x: conv(8, 3) >> gelu >> maxpool(5)
                >> dilated(k = 5, dilations = [1, 1], wpool = 4, maxpool = 4)
                >> convblocks(2, k = 5, act = softplus)
                >> flatten;
            output y[6] = head(x);
        }
    });
    has(&errs, "`dilated` pools with one kind only: `wpool` is given already, remove `maxpool` (or `wpool`)");
    has(&errs, "`act` of `convblocks` must be one of: gelu, relu, sigmoid, tanh, id0; found `softplus`");
    assert_eq!(errs.len(), 2, "{errs:#?}");
}

#[test]
fn stack_poolings_and_activations_are_inferred() {
    let m = model(quote! {
        struct M {
            input x: onehot(4, 640);
            trunk x: conv(16, 9, bias = false) >> relu >> meanpool(4)
                >> dilated(k = 5, dilations = [1, 2], act = tanh, meanpool = 2)
                >> convblocks(2, k = 5, act = sigmoid, maxpool = 3, every = 2)
                >> flatten >> linear(32) >> fc(2, act = id0);
            output y[4] = head(x);
        }
    });
    let t = &m.variants[0].trunks[0];
    assert!(matches!(t.layers[1].kind, LayerKind::Act(Activation::Relu)));
    let dil = stack(t, StackRole::Dilated);
    assert_eq!(dil.activation, Activation::Tanh);
    assert!(dil.layers.iter().all(|l| l.pool.map(|p| p.kind) == Some(PoolKind::Mean)));
    assert_eq!(stack_lengths(dil), vec![160, 80, 40]);
    let blocks = stack(t, StackRole::Blocks);
    assert_eq!(blocks.activation, Activation::Sigmoid);
    // `every = 2`: only the second layer pools (40 → 14).
    assert_eq!(blocks.layers.iter().map(|l| l.pool.map(|p| (p.kind, p.pad))).collect::<Vec<_>>(), vec![None, Some((PoolKind::Max, 1))]);
    assert_eq!(stack_lengths(blocks), vec![40, 40, 14]);
    let LayerKind::Fc(fc) = &t.layers.last().unwrap().kind else { panic!("fc last") };
    assert_eq!(fc.activation, Activation::Identity);
}

#[test]
fn collects_independent_errors_at_once() {
    let errs = errors(quote! {
        struct M {
            sizes { a: len = 100; b: len = 50, nk = 8; }
            input x: onehot(4, len);
            input x: onehot(4, len);
            input z: onehot(4, len);
            trunk x: conv(nk, 3, bias = 1, k = 3) >> gleu >> dilated(dilation = [1]) >> flatten;
            trunk x: same as q;
            output y[0] = head(w);
            output y[3] = direct(x);
        }
    });
    has(&errs, "duplicate input `x`");
    has(&errs, "duplicate trunk `x`");
    has(&errs, "input `z` has no trunk");
    has(&errs, "`bias` of `conv` must be `true` or `false`, found `1`");
    has(&errs, "duplicate argument `k` for `conv`");
    has(&errs, "unknown layer `gleu`");
    has(&errs, "unknown argument `dilation` for `dilated`; expected one of: k, dilations");
    has(&errs, "`dilated` needs the argument `dilations`");
    has(&errs, "unknown trunk `w` in output `y`");
    has(&errs, "duplicate output `y`");
    assert!(!errs.iter().any(|e| e.contains("not used")), "no cascade from the unresolved output: {errs:#?}");
}

#[test]
fn size_parameters_missing_in_a_variant_name_the_variant() {
    let errs = errors(quote! {
        struct M {
            sizes { a: len = 100, nk = 8; b: len = 50; c: len = 10, nk = 2.5; }
            input x: onehot(4, len);
            trunk x: conv(nk, 3) >> flatten >> linear(nope);
            output y[4] = head(x);
        }
    });
    has(&errs, "size parameter `nk` is not defined in size variant `b`");
    has(&errs, "in size variant `c`: size parameter `nk` is 2.5, but a whole number is needed here");
    has(&errs, "unknown size parameter `nope` (defined: len, nk)");
    assert_eq!(errs.iter().filter(|e| e.contains("nope")).count(), 1, "{errs:#?}");
}

#[test]
fn a_missing_size_parameter_is_reported_with_every_other_error() {
    // `fc` sits after an unknown layer (its trunk never reaches inference) and `fc2` after a
    // pooling that fails (inference stops there): both are still reported, in the same compile.
    let errs = errors(quote! {
        struct M {
            sizes { full: len = 100, nk = 8; demo: len = 50; }
            input x: onehot(4, len);
            input y: onehot(4, len);
            trunk x: conv(nk, 3) >> gelux >> flatten >> linear(fc);
            trunk y: conv(4, 3) >> wpool(200) >> flatten >> linear(fc2);
            output o[2] = difference(x, y);
        }
    });
    assert_eq!(
        errs,
        [
            "unknown layer `gelux`; did you mean `gelu`? layers are: conv, gelu, relu, sigmoid, tanh, id0, wpool, maxpool, meanpool, dilated, convblocks, attention, flatten, linear, fc, dropout",
            "size parameter `nk` is not defined in size variant `demo`; add `nk = ..` to that variant",
            "unknown size parameter `fc` (defined: len, nk)",
            "unknown size parameter `fc2` (defined: len, nk)",
            "in size variant `full`: wpool(200) needs length ≥ 200, but the input here has length 100; use a pooling size ≤ 100",
            "in size variant `demo`: wpool(200) needs length ≥ 200, but the input here has length 50; use a pooling size ≤ 50",
        ]
    );
}

#[test]
fn the_same_message_at_different_calls_of_two_models_is_reported_for_each() {
    // Each model writes its own `wpool(p)`: two mistakes, not one shared by two models.
    let errs = expansion_errors(quote! {
        pub struct X {
            sizes { a: len = 8, p = 16; }
            input dna: onehot(4, len);
            trunk dna: conv(4, 3) >> wpool(p) >> flatten;
            output ex[2] = head(dna);
        }
        pub struct Y {
            sizes { a: len = 8, p = 16; }
            input dna: onehot(4, len);
            trunk dna: conv(4, 3) >> wpool(p) >> flatten;
            output ex[2] = head(dna);
        }
    });
    let message = "in size variant `a`: wpool(16) needs length ≥ 16, but the input here has length 8; use a pooling size ≤ 8";
    assert_eq!(errs, [format!("{message} (in model `X`)"), format!("{message} (in model `Y`)")]);
}

#[test]
fn layer_order_errors() {
    let errs = errors(quote! {
        struct M {
            input x: onehot(4, 100);
            input z: onehot(4, 100);
            trunk x: conv(8, 3) >> flatten >> conv(4, 3);
            trunk z: conv(8, 3) >> linear(4);
            output y[4] = difference(x, z);
        }
    });
    has(&errs, "`conv` needs a sequence (channels × length), but after `flatten` the input here is 800 flat features");
    has(&errs, "`linear` needs flat features, but the input here is a sequence of 8 channels × length 100; add `flatten` before it");
}

#[test]
fn stacks_that_build_nothing_and_huge_flattens_are_rejected() {
    let errs = errors(quote! {
        struct M {
            sizes { small: len = 40; big: len = 1_000_000_000; }
            input x: onehot(4, len);
            trunk x: conv(16, 3) >> wpool(4) >> convblocks(2, k = 11) >> flatten;
            output y[4] = head(x);
        }
    });
    has(&errs, "in size variant `small`: `convblocks` builds no layer: its kernel size k = 11 is longer than the input length 10 here");
    has(&errs, "in size variant `big`: `flatten` gives 16 × 250000000 = 4000000000 features, more than 2^31");
}

#[test]
fn head_structure_errors() {
    let errs = errors(quote! {
        struct M {
            input a: onehot(4, 100);
            input b: onehot(4, 100);
            trunk a: conv(8, 3) >> flatten;
            trunk b: same as a;
            output p[4] = difference(a, b, shared);
            output q[5] = direct(a, shared);
        }
    });
    assert_eq!(errs, ["`shared` heads need equal widths: output `q` has 5 but `p` has 4 (one head per trunk serves every output); drop `shared` or use width 4"]);
    let errs = errors(quote! {
        struct M {
            input a: onehot(4, 100);
            input b: onehot(4, 100);
            trunk a: conv(8, 3) >> flatten;
            trunk b: same as a;
            output p[4] = difference(a, b, shared);
            output r[5] = difference(b, b);
        }
    });
    has(&errs, "`difference` of trunk `b` with itself is always zero");
    has(&errs, "output `r` does not use `shared` but output `p` does");
    let errs = errors(quote! {
        struct M {
            input a: onehot(4, 100);
            trunk a: conv(8, 3) >> flatten;
            output p[4] = mlp(a);
            output q[4] = head(a), validation = none;
        }
    });
    has(&errs, "a model combines either all outputs through `mlp` or none");
}

#[test]
fn attention_with_zero_embedding_and_zero_widths() {
    let errs = errors(quote! {
        struct M {
            input a: onehot(4, 100), reverse_complement;
            trunk a: conv(8, 3) >> attention(heads = 4, dim = 0.1) >> flatten >> linear(0);
            output p[0] = head(a);
        }
    });
    has(&errs, "attention dim = 0.1 gives E = int(0.1 × 8) = 0 channels");
    has(&errs, "an output width must be at least 1, found 0");
}

#[test]
fn reverse_complement_needs_a_stem_and_trunks_must_end_flat() {
    let errs = errors(quote! {
        struct M {
            input a: onehot(4, 100), reverse_complement;
            input b: onehot(4, 100);
            trunk a: gelu >> conv(8, 3) >> flatten;
            trunk b: conv(8, 3);
            output p[4] = mlp(a, b);
        }
    });
    has(&errs, "input `a` has `reverse_complement`, so its trunk must start with `conv(..)`");
    has(&errs, "trunk `b` ends with a sequence (8 channels × length 100); end it with `flatten`");
}

#[test]
fn declaration_level_errors() {
    let errs = errors(quote! {
        struct M {
            sizes { a: len = 10, len = 20; a: len = 5; Big: len = 5; }
            input x: onehot(4, len), complement;
            input y: onehot(4, 10);
            trunk x: conv(8, 3) >> flatten;
            trunk y: same as w;
            trunk q: conv(8, 3) >> flatten;
            output o[4] = head(x), validation = none;
            output p[4] = direct(y), validation = none;
            loss huber;
            loss mse;
        }
    });
    has(&errs, "duplicate size parameter `len` in variant `a`");
    has(&errs, "duplicate size variant `a`");
    has(&errs, "size variant names are lower case: write `big`");
    has(&errs, "unknown input option; the only option is `reverse_complement`");
    has(&errs, "`same as w`: there is no trunk `w`");
    has(&errs, "trunk `q` has no input of the same name");
    has(&errs, "every output has `validation = none`");
    has(
        &errs,
        "unknown loss `huber`; expected one of mse, l1, poisson_nnl, cosine_data, cosine_class, correlation, correlation_class, \
         correlation_sum_data, correlation_mse, mse_correlation, correlation_both, cosine_both",
    );
    has(&errs, "`loss` is given twice");
}

#[test]
fn same_as_cycles_and_repeated_shape_errors_are_reported_once() {
    let errs = errors(quote! {
        struct M {
            input a: onehot(4, 10);
            input b: onehot(4, 10);
            input c: onehot(4, 10);
            trunk a: same as b;
            trunk b: same as a;
            trunk c: conv(4, 3) >> flatten;
            output o[4] = mlp(a, b, c);
        }
    });
    has(&errs, "`same as a` is circular");
    let errs = errors(quote! {
        struct M {
            input a: onehot(4, 10);
            input b: onehot(4, 10);
            trunk a: conv(4, 3) >> wpool(20) >> flatten;
            trunk b: same as a;
            output o[4] = difference(a, b);
        }
    });
    assert_eq!(errs, ["wpool(20) needs length ≥ 20, but the input here has length 10; use a pooling size ≤ 10"]);
}

#[test]
fn absurd_sizes_are_errors_not_overflows() {
    let errs = errors(quote! {
        struct M {
            input a: onehot(4, 10);
            trunk a: conv(4, 3) >> attention(heads = 4, dim = 1e300) >> flatten >> fc(3, widening = 1e300) >> linear(99999999999);
            output o[4] = head(a);
        }
    });
    has(&errs, "attention dim = 1e300 gives E = int(1e300 × 4) channels, more than 2^31");
    let errs = errors(quote! {
        struct M {
            input a: onehot(4, 10);
            trunk a: conv(4, 3) >> flatten >> fc(3, widening = 1e300);
            output o[4] = head(a);
        }
    });
    has(&errs, "`fc` layer 0 would have width");
    let errs = errors(quote! {
        struct M {
            input a: onehot(4, 10);
            trunk a: conv(4, 3) >> flatten >> linear(99999999999) >> fc(0);
            output o[4] = head(a);
        }
    });
    has(&errs, "`linear` width = 99999999999 is absurdly large");
    let errs = errors(quote! {
        struct M {
            input a: onehot(4, 10);
            trunk a: conv(4, 3) >> flatten >> linear(2_000_000_000) >> linear(2_000_000_000);
            output o[4] = head(a);
        }
    });
    has(&errs, "more than 2^40");
    let errs = errors(quote! {
        struct M {
            input a: onehot(4, 10);
            trunk a: conv(4, 3) >> flatten >> fc(0);
            output o[4] = head(a);
        }
    });
    has(&errs, "`fc(0)` builds no layer");
}

#[test]
fn mlp_layers_zero_goes_straight_to_the_head_and_act_can_be_linear() {
    let m = model(quote! {
        struct M {
            input a: onehot(4, 10);
            trunk a: conv(4, 3) >> flatten;
            output o[5] = mlp(a, layers = 0, embed = 7, act = linear);
        }
    });
    let v = &m.variants[0];
    let Heads::Mlp { embeddings, combiners, activation } = &v.heads else { panic!() };
    assert_eq!(*activation, Activation::Identity);
    assert_eq!(embeddings[0].key, "cnns.CNN0.classifier.classifier.Linear");
    assert!(combiners[0].fc.widths.is_empty());
    assert_eq!((combiners[0].head.in_features, combiners[0].head.out), (7, Width::Fixed(5)));
    // conv 4·4·3+4, embedding 40·7+7, head 7·5+5.
    assert_eq!(v.parameter_count, 52 + 287 + 40);
}

#[test]
fn errors_in_a_same_as_copy_name_the_copy_when_they_differ() {
    let errs = errors(quote! {
        struct M {
            input a: onehot(4, 100);
            input b: onehot(4, 10);
            trunk a: conv(4, 3) >> wpool(20) >> flatten;
            trunk b: same as a;
            output o[4] = difference(a, b);
        }
    });
    assert_eq!(
        errs,
        ["wpool(20) needs length ≥ 20, but the input here has length 10; use a pooling size ≤ 10 (in trunk `b`, declared `same as a`)"]
    );
}

/// Every model of an invocation with shared pipelines, after substitution and inference.
fn declared(ts: TokenStream) -> Vec<Model> {
    let mut decls: crate::ast::Declarations = syn::parse2(ts).expect("parses");
    crate::pipelines::substitute(&decls.pipelines, &mut decls.models).expect("substitutes");
    decls.models.iter().map(|d| infer(d).unwrap_or_else(|e| panic!("unexpected errors: {e}"))).collect()
}

/// The errors of a whole invocation, as the macro reports them.
fn expansion_errors(ts: TokenStream) -> Vec<String> {
    match crate::expand::expand(ts) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn a_pipeline_is_its_layers_written_out_with_each_models_sizes() {
    let models = declared(quote! {
        /// The stem, then the basemodel's stacks.
        let stem = conv(nk, 15) >> gelu >> wpool(4);
        let base = stem >> dilated(k = 11, dilations = [1, 2, 4], batchnorm = true) >> convblocks(4, k = 11, wpool = tp, batchnorm = true);
        pub struct A {
            sizes { fixture: len = 997, nk = 16, tp = 3, fc = 64, n = 6; }
            input dna: onehot(4, len), reverse_complement;
            trunk dna: base >> flatten >> linear(fc) >> fc(3, dropout = 0.1);
            output ex[n] = head(dna);
        }
        pub struct B {
            sizes { small: len = 600, nk = 8, tp = 3, fc = 32, n = 4; }
            input dna: onehot(4, len), reverse_complement;
            input rna: onehot(4, len);
            trunk dna: base >> flatten >> linear(fc) >> fc(3, dropout = 0.1);
            trunk rna: same as dna;
            output ex[n] = difference(dna, rna);
        }
    });
    let inline = model(base_model());
    let (a, written) = (variant(&models[0], "fixture"), variant(&inline, "fixture"));
    assert_eq!(models[0].name, "A");
    assert_eq!(lengths(&a.trunks[0]), lengths(&written.trunks[0]));
    assert_eq!(keys(a), keys(written));
    assert_eq!(a.parameter_count, written.parameter_count);
    let b = variant(&models[1], "small");
    assert_eq!(models[1].name, "B");
    assert_eq!(lengths(&b.trunks[0])[..3], [600, 600, 150]);
    assert_eq!(lengths(&b.trunks[1]), lengths(&b.trunks[0]));
    assert_eq!(b.trunks[0].layers.len(), a.trunks[0].layers.len());
}

#[test]
fn pipeline_definition_errors() {
    let body = quote! {
        pub struct M {
            input dna: onehot(4, 100);
            trunk dna: base >> flatten;
            output ex[2] = head(dna);
        }
    };
    let errs = expansion_errors(quote! { let conv = conv(4, 3); let base = gelu; #body });
    assert_eq!(errs, ["`conv` is a layer; give the pipeline another name"]);
    let errs = expansion_errors(quote! { let base = gelu; let base = conv(4, 3); #body });
    assert_eq!(errs, ["pipeline `base` is defined twice"]);
    let errs = expansion_errors(quote! { let base = stem >> gelu; let stem = conv(4, 3); #body });
    assert_eq!(
        errs,
        ["pipeline `stem` is used before its definition (in `base`); a pipeline may use only the pipelines defined before it"]
    );
    let errs = expansion_errors(quote! { let base = conv(4, 3) >> base; #body });
    assert!(errs[0].starts_with("pipeline `base` is used inside its own definition"), "{errs:?}");
    let errs = expansion_errors(quote! {
        let base = conv(4, 3);
        pub struct M {
            input dna: onehot(4, 100);
            trunk dna: base(8) >> flatten;
            output ex[2] = head(dna);
        }
    });
    assert_eq!(errs, ["pipeline `base` takes no arguments: its numbers are size parameters of the model that uses it"]);
    let errs = expansion_errors(quote! { let base = gelu; });
    assert_eq!(errs, ["expected a model: `pub struct Name { .. }`"]);
}

#[test]
fn an_error_in_a_shared_pipeline_is_reported_once_naming_the_models() {
    let errs = expansion_errors(quote! {
        let base = conv(4, 3) >> wpool(p) >> flatten;
        pub struct X {
            sizes { a: len = 8, p = 16; }
            input dna: onehot(4, len);
            trunk dna: base;
            output ex[2] = head(dna);
        }
        pub struct Y {
            sizes { a: len = 8, p = 16; }
            input dna: onehot(4, len);
            trunk dna: base;
            output ex[2] = head(dna), validation = none;
        }
    });
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(
        errs[0].starts_with("in size variant `a`: wpool(16) needs length ≥ 16") && errs[0].ends_with("(in models `X`, `Y`)"),
        "{errs:?}"
    );
    assert!(errs[1].ends_with("(in model `Y`)"), "{errs:?}");
}

#[test]
fn data_widths_are_counted_per_track_and_match_fixed_ones() {
    // Model D's structure with `_` widths: the fixed part is what D has without heads, and each
    // output's heads (one per trunk, every trunk) add features + 1 per track; at 88 tracks the
    // total is the reference's 26,520,248.
    let decl = |w: TokenStream| {
        quote! {
            pub struct D {
                input dna: onehot(4, 40_000), reverse_complement;
                input rna: onehot(4, 40_000);
                trunk dna: conv(300, 15) >> gelu >> wpool(4)
                         >> dilated(k = 11, dilations = [1, 2, 4], batchnorm = true)
                         >> convblocks(4, k = 11, wpool = 6, batchnorm = true)
                         >> flatten >> linear(1024) >> fc(3, dropout = 0.1);
                trunk rna: same as dna;
                output ex[#w] = difference(dna, rna);
                output kd[#w] = direct(rna), validation = none;
                output kt[#w] = direct(dna), validation = none;
            }
        }
    };
    let fixed = model(decl(quote!(88)));
    let data = model(decl(quote!(_)));
    let (f, d) = (&fixed.variants[0], &data.variants[0]);
    assert_eq!(f.parameters_per_track, [0, 0, 0]);
    assert_eq!(d.parameters_per_track, [2 * 1025, 2 * 1025, 2 * 1025]);
    assert_eq!(d.output_widths, [Width::Data { output: 0 }, Width::Data { output: 1 }, Width::Data { output: 2 }]);
    let per_track: usize = d.parameters_per_track.iter().sum();
    assert_eq!(d.parameter_count + 88 * per_track, f.parameter_count);
    assert_eq!(f.parameter_count, 26_520_248);
    // every head reads its output's width
    let Heads::Linear { per_trunk, .. } = &d.heads else { panic!("linear heads") };
    assert_eq!(per_trunk[1][2].head.out, Width::Data { output: 2 });
}

#[test]
fn shared_heads_take_one_kind_of_width() {
    let m = model(quote! {
        pub struct E {
            input dna: onehot(4, 64);
            input rna: onehot(4, 64);
            trunk dna: conv(4, 3) >> flatten >> linear(8);
            trunk rna: same as dna;
            output ex[_] = difference(dna, rna, shared);
            output kd[_] = direct(rna, shared), validation = none;
        }
    });
    // one shared head per trunk, sized by output 0's tracks: 2 trunks × (8 + 1) per track
    assert_eq!(m.variants[0].parameters_per_track, [18, 0]);
    let errs = errors(quote! {
        pub struct E {
            input dna: onehot(4, 64);
            input rna: onehot(4, 64);
            trunk dna: conv(4, 3) >> flatten >> linear(8);
            trunk rna: same as dna;
            output ex[_] = difference(dna, rna, shared);
            output kd[5] = direct(rna, shared), validation = none;
        }
    });
    assert_eq!(errs, ["`shared` heads need one width for every output: write `_` (the data's track count, checked equal when the data is read) for all of them or the same number for all, not `5` here and `_` for `ex`"]);
    // `_` is only a width
    let errs = errors(quote! {
        pub struct M {
            input seq: onehot(4, 64);
            trunk seq: conv(_, 3) >> flatten;
            output ex[_] = head(seq);
        }
    });
    has(&errs, "found `_`");
}

#[test]
fn every_reference_loss_is_selectable_for_training_and_per_output_validation() {
    for (i, loss) in Loss::ALL.into_iter().enumerate() {
        let name = syn::Ident::new(loss.dsl_name(), proc_macro2::Span::call_site());
        let other = Loss::ALL[(i + 5) % Loss::ALL.len()];
        let per_output = syn::Ident::new(other.dsl_name(), proc_macro2::Span::call_site());
        let m = model(two_input(quote! {
            output ex[n] = difference(dna, rna);
            output kd[n] = direct(rna), validation = #per_output;
            output kt[n] = direct(dna), validation = none;
            loss #name;
            validation #name;
        }));
        assert_eq!((m.loss, m.validation), (loss, loss));
        assert_eq!(
            m.outputs.iter().map(|o| (o.validated, o.validation)).collect::<Vec<_>>(),
            [(true, None), (true, Some(other)), (false, None)]
        );
        // the generated code names the LossKind variants, the `--cnn` keys the reference's names
        let code = crate::expand::expand(two_input(quote! {
            output ex[n] = difference(dna, rna);
            output kd[n] = direct(rna), validation = #per_output;
            output kt[n] = direct(dna), validation = none;
            loss #name;
        }))
        .expect("expands")
        .to_string();
        for variant in [loss.kind_variant(), other.kind_variant(), "None"] {
            assert!(code.contains(&format!("LossKind :: {variant}")), "{loss:?}: no LossKind::{variant} in the expansion");
        }
        // without a `validation` line, `ex` validates with the training loss (the reference's
        // `validation_loss` defaults to `loss_function`)
        let list = format!("['{}','{}','None']", loss.reference_name(), other.reference_name());
        assert!(code.contains(&list), "{loss:?}: no validation_loss list {list}");
    }
    let errs = errors(base_model_with(quote! { output ex[n] = head(dna), validation = huber; }));
    has(&errs, "`validation` of an output must be `none` (excluded from early stopping) or one of mse, l1, poisson_nnl,");
}

#[test]
fn an_output_names_its_own_training_loss() {
    let m = model(two_input(quote! {
        output ex[n] = difference(dna, rna), loss = mse;
        output kd[n] = direct(rna), validation = none;
        output kt[n] = direct(dna), loss = correlation, validation = mse;
        loss poisson_nnl;
    }));
    assert_eq!(m.loss, Loss::PoissonNnl);
    assert_eq!(m.outputs.iter().map(|o| o.loss).collect::<Vec<_>>(), [Some(Loss::Mse), None, Some(Loss::Correlation)]);
    let code = crate::expand::expand(two_input(quote! {
        output ex[n] = difference(dna, rna), loss = mse;
        output kd[n] = direct(rna), validation = none;
        output kt[n] = direct(dna), loss = correlation;
        loss poisson_nnl;
    }))
    .expect("expands")
    .to_string();
    // each OutputSpec carries its own loss; the `--cnn` key is the reference's list form
    for (name, variant) in [("ex", "Mse"), ("kd", "PoissonNnl"), ("kt", "Correlationdata")] {
        let spec = format!("name : \"{name}\"");
        let at = code.find(&spec).unwrap_or_else(|| panic!("no OutputSpec for {name}"));
        let rest = &code[at..];
        let end = rest.find('}').unwrap();
        assert!(rest[..end].contains(&format!("loss : :: drg_core :: train :: loss :: LossKind :: {variant}")), "{name}: {}", &rest[..end]);
    }
    assert!(code.contains("['MSE','PoissonNNL','Correlationdata']"), "no loss_function list in {code}");
    // an unknown name is an error at its token
    let errs = errors(base_model_with(quote! { output ex[n] = head(dna), loss = huber; }));
    assert_eq!(errs.len(), 1, "{errs:?}");
    has(&errs, "`loss` of an output must be one of mse, l1, poisson_nnl,");
    has(&errs, "found `huber`");
    let errs = errors(base_model_with(quote! { output ex[n] = head(dna), weight = 2; }));
    has(
        &errs,
        "unknown output option; the options are `validation` (`none` or a loss), `loss` (a loss) and `act` (the activation after the head)",
    );
}

/// The basemodel's trunk with other outputs.
fn base_model_with(outputs: TokenStream) -> TokenStream {
    quote! {
        pub struct Base {
            sizes { fixture: len = 997, nk = 16, tp = 3, fc = 64, n = 6; }
            input dna: onehot(4, len), reverse_complement;
            trunk dna: conv(nk, 15) >> gelu >> wpool(4) >> flatten >> linear(fc) >> fc(3, dropout = 0.1);
            #outputs
        }
    }
}

/// `fixtures/breadth/relu_mean.npz` (`fc_batch_norm=True`): `fc(.., batchnorm = true)` puts a
/// `BatchNorm1d` before each linear layer of the stack and the classifier's `ClassBnorm` before
/// the head, with the reference's keys and its trainable count (11,085: the sum of the fixture's
/// `train/grad/*` sizes, 198 of them the fully connected batch norms' weights and biases).
#[test]
fn fc_batch_norm_keys_and_count_match_the_reference() {
    let m = model(quote! {
        struct ReluMean {
            input seq: onehot(4, 640), reverse_complement;
            trunk seq: conv(16, 9, bias = false) >> relu >> meanpool(4)
                     >> dilated(k = 5, dilations = [1, 2], bias = false, batchnorm = true, act = relu, meanpool = 2)
                     >> convblocks(2, k = 5, bias = true, batchnorm = true, act = relu, maxpool = 3)
                     >> flatten >> linear(32) >> fc(2, dropout = 0.1, act = relu, batchnorm = true);
            output out[4] = head(seq);
        }
    });
    let v = &m.variants[0];
    let LayerKind::Fc(fc) = &v.trunks[0].layers.last().unwrap().kind else { panic!("fc last") };
    assert_eq!(fc.bn_keys, ["nfcs.nfcs.Bnorm_fullyconnected0", "nfcs.nfcs.Bnorm_fullyconnected1"]);
    let Heads::Linear { per_trunk, .. } = &v.heads else { panic!("linear heads") };
    assert_eq!(per_trunk[0][0].head.batchnorm.as_deref(), Some("classifier.classifier.ClassBnorm"));
    let bn: usize =
        v.parameter_breakdown.iter().filter(|(k, _)| k.contains("Bnorm_fully") || k.contains("ClassBnorm")).map(|(_, n)| n).sum();
    assert_eq!(bn, 2 * 32 + 2 * 35 + 2 * 32);
    assert_eq!(v.parameter_count, 11_085);

    // Without `batchnorm`, neither the stack nor the classifier has one.
    let m = model(base_model_with(quote! { output ex[n] = head(dna); }));
    let Heads::Linear { per_trunk, .. } = &m.variants[0].heads else { panic!("linear heads") };
    assert_eq!(per_trunk[0][0].head.batchnorm, None);
    assert!(!keys(&m.variants[0]).iter().any(|k| k.contains("Bnorm_fully") || k.contains("ClassBnorm")));
}

#[test]
fn fc_batch_norm_needs_linear_heads_and_a_boolean() {
    let errs = errors(quote! {
        struct M {
            input a: onehot(4, 100);
            input b: onehot(4, 100);
            trunk a: conv(8, 3) >> gelu >> maxpool(5) >> flatten >> linear(16) >> fc(2, batchnorm = true);
            trunk b: conv(8, 3) >> gelu >> maxpool(5) >> flatten >> linear(16);
            output y[4] = mlp(a, b, embed = 8);
        }
    });
    has(&errs, "`batchnorm = true` of `fc` needs linear heads (`head`, `direct`, `difference`)");
    assert_eq!(errs.len(), 1, "{errs:#?}");
    let errs = errors(quote! {
        struct M {
            input x: onehot(4, 100);
            trunk x: conv(8, 3) >> gelu >> maxpool(5) >> flatten >> linear(16) >> fc(2, batchnorm = 1);
            output y[4] = head(x);
        }
    });
    assert_eq!(errs, ["`batchnorm` of `fc` must be `true` or `false`, found `1`"]);
}

/// `fc(n, residuals = r)` (the reference's `nfc_residuals`, `Res_FullyConnect` in
/// `drg_tools/modules.py`): a bias-free projection `Residuallayer{n}` after every layer n with
/// (n+1) mod r = 0, from the previous skip's width (at first the stack's input) to layer n's
/// output; counted as in/out weights without bias.
#[test]
fn fc_residuals_keys_widths_and_count() {
    let build = |r: usize| {
        model(quote! {
            struct M {
                input seq: onehot(4, 40);
                trunk seq: conv(4, 5) >> gelu >> maxpool(10) >> flatten >> fc(3, residuals = #r);
                output out[2] = head(seq);
            }
        })
    };
    // flatten: 4 × 4 = 16 features; fc(3): 16 → 17 → 17 → 16
    let plain = build(0);
    let LayerKind::Fc(fc) = &plain.variants[0].trunks[0].layers.last().unwrap().kind else { panic!("fc last") };
    assert_eq!((fc.residuals, fc.residual_keys.len()), (0, 0), "residuals = 0 is the reference's default: no skips");
    let base = plain.variants[0].parameter_count;

    let every = build(1);
    let LayerKind::Fc(fc) = &every.variants[0].trunks[0].layers.last().unwrap().kind else { panic!("fc last") };
    assert_eq!(fc.widths, [(16, 17), (17, 17), (17, 16)]);
    let want: Vec<(String, (usize, usize))> = vec![
        ("nfcs.nfcs.Residuallayer0".into(), (16, 17)),
        ("nfcs.nfcs.Residuallayer1".into(), (17, 17)),
        ("nfcs.nfcs.Residuallayer2".into(), (17, 16)),
    ];
    assert_eq!(fc.residual_keys, want);
    assert_eq!(every.variants[0].parameter_count, base + 16 * 17 + 17 * 17 + 17 * 16);

    let second = build(2);
    let LayerKind::Fc(fc) = &second.variants[0].trunks[0].layers.last().unwrap().kind else { panic!("fc last") };
    assert_eq!(fc.residual_keys, vec![("nfcs.nfcs.Residuallayer1".to_string(), (16, 17))], "one skip, over layers 0 and 1");
    assert_eq!(second.variants[0].parameter_count, base + 16 * 17);
}

#[test]
fn fc_residuals_that_do_not_fit_are_errors_at_the_argument() {
    let errs = errors(quote! {
        struct M {
            input seq: onehot(4, 40);
            trunk seq: conv(4, 5) >> gelu >> maxpool(10) >> flatten >> fc(3, residuals = 4);
            output out[2] = head(seq);
        }
    });
    assert_eq!(
        errs,
        ["`residuals = 4` on `fc(3)` adds no skip (a skip follows each full group of 4 layers); use residuals ≤ 3, or leave it out"]
    );
    // After `linear(n)` the skips start before it (the reference's `fclayer_size`), which the
    // reference runs only where the features before it are n wide too.
    let errs = errors(quote! {
        struct M {
            input seq: onehot(4, 40);
            trunk seq: conv(4, 5) >> gelu >> maxpool(10) >> flatten >> linear(12) >> fc(3, residuals = 1);
            output out[2] = head(seq);
        }
    });
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("`residuals` of an `fc` after `linear(12)` needs as many features before `linear(..)` as after it, found 16"),
        "{errs:?}"
    );
    let errs = errors(quote! {
        struct M {
            input seq: onehot(4, 40);
            trunk seq: conv(4, 5) >> gelu >> maxpool(10) >> flatten;
            output out[2] = head(seq >> linear(12) >> fc(2, residuals = 1));
        }
    });
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].starts_with("`residuals` of an `fc` after `linear(12)` needs as many features"), "{errs:?}");
    let errs = errors(quote! {
        struct M {
            input seq: onehot(4, 40);
            trunk seq: conv(4, 5) >> gelu >> maxpool(10) >> flatten >> linear(16) >> dropout(0.1) >> fc(3, residuals = 1);
            output out[2] = head(seq);
        }
    });
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].starts_with("`residuals` of an `fc` needs the `linear(..)` before it to come directly before it"), "{errs:?}");
}

/// `linear(n) >> fc(.., residuals = r)` where the features before `linear(n)` are n wide: the
/// first skip reads them (the reference's `res = x` before `EmbeddtoFully`), in a trunk and in
/// an output's own layers; the projections are those of the stack without `linear`.
#[test]
fn fc_residuals_after_a_linear_of_the_same_width() {
    let m = model(quote! {
        struct M {
            input seq: onehot(4, 40);
            trunk seq: conv(4, 5) >> gelu >> maxpool(10) >> flatten >> linear(16) >> fc(3, residuals = 1);
            output out[2] = head(seq);
        }
    });
    let t = &m.variants[0].trunks[0];
    let LayerKind::Fc(fc) = &t.layers.last().unwrap().kind else { panic!() };
    assert!(fc.skip_before_linear);
    let keys: Vec<(&str, (usize, usize))> = fc.residual_keys.iter().map(|(k, w)| (k.as_str(), *w)).collect();
    assert_eq!(
        keys,
        [("nfcs.nfcs.Residuallayer0", (16, 17)), ("nfcs.nfcs.Residuallayer1", (17, 17)), ("nfcs.nfcs.Residuallayer2", (17, 16))]
    );
    let plain = model(quote! {
        struct M {
            input seq: onehot(4, 40);
            trunk seq: conv(4, 5) >> gelu >> maxpool(10) >> flatten >> fc(3, residuals = 1);
            output out[2] = head(seq);
        }
    });
    let LayerKind::Fc(no_linear) = &plain.variants[0].trunks[0].layers.last().unwrap().kind else { panic!() };
    assert!(!no_linear.skip_before_linear);
    assert_eq!(m.variants[0].parameter_count, plain.variants[0].parameter_count + 16 * 16 + 16);
    let m = model(quote! {
        struct M {
            input seq: onehot(4, 40);
            trunk seq: conv(4, 5) >> gelu >> maxpool(10) >> flatten;
            output a[2] = head(seq >> linear(16) >> fc(2, residuals = 2));
            output b[3] = head(seq >> linear(16) >> fc(2, residuals = 2)), validation = none;
        }
    });
    let Heads::Linear { per_trunk, .. } = &m.variants[0].heads else { panic!() };
    let fc = per_trunk[0][1].stack.as_ref().unwrap().fc.as_ref().unwrap();
    assert!(fc.skip_before_linear);
    assert_eq!(fc.residual_keys, vec![("nfcs.1.nfcs.Residuallayer1".to_string(), (16, 16))]);
}

/// `strides = [..]` / `stride = s` (the reference's `strides` / `trstrides`): ⌈L/s⌉ positions
/// after a layer, and the reference's truncation (a layer needs length ≥ k) on the strided
/// lengths.
#[test]
fn stack_strides_shorten_the_sequence() {
    let m = model(quote! {
        struct M {
            input seq: onehot(4, 50);
            trunk seq: conv(4, 3) >> gelu
                     >> dilated(k = 3, dilations = [1, 2, 1], strides = [2, 1, 3], batchnorm = false)
                     >> convblocks(4, k = 4, stride = 2, batchnorm = false)
                     >> flatten;
            output out[2] = head(seq);
        }
    });
    let t = &m.variants[0].trunks[0];
    let dil = stack(t, StackRole::Dilated);
    assert_eq!(dil.layers.iter().map(|l| (l.len, l.stride)).collect::<Vec<_>>(), [(50, 2), (25, 1), (25, 3)]);
    // 9 → 5 → 3; the third layer (k = 4 > 3) is not built, as in the reference
    let tr = stack(t, StackRole::Blocks);
    assert_eq!(tr.layers.iter().map(|l| (l.len, l.stride)).collect::<Vec<_>>(), [(9, 2), (5, 2)]);
    assert_eq!(tr.requested_layers, 4);
    assert_eq!(t.features, 4 * 3);
}

/// Strides with a pooling in the same stack: the layer's pooling pools its strided output
/// (`Res_Conv1d`: `currlen` after the strided conv, then `ceil(currlen/psize)`), and a pooling
/// larger than the strided length is not built, nor anything after it.
#[test]
fn strided_stacks_pool_the_strided_length() {
    let m = model(quote! {
        struct M {
            input seq: onehot(4, 50);
            trunk seq: conv(4, 3) >> gelu >> convblocks(2, k = 3, stride = 2, maxpool = 2) >> flatten;
            output out[2] = head(seq);
        }
    });
    let t = &variant(&m, "default").trunks[0];
    let s = stack(t, StackRole::Blocks);
    // 50 → stride 2 → 25 → pool 2 (q = 1) → 13 → stride 2 → 7 → pool 2 (q = 1) → 4
    let pools: Vec<(usize, usize, usize)> = s.layers.iter().map(|l| l.pool.map(|p| (p.in_len, p.pad, p.out_len)).unwrap()).collect();
    assert_eq!(pools, vec![(25, 1, 13), (7, 1, 4)]);
    assert_eq!(stack_lengths(s), vec![50, 13, 4]);
    // 20 → stride 4 → 5; a pooling of 6 does not fit: the layer is built without it, and the
    // stack ends there
    let m = model(quote! {
        struct M {
            input seq: onehot(4, 20);
            trunk seq: conv(4, 3) >> gelu >> convblocks(3, k = 3, stride = 4, wpool = 6) >> flatten;
            output out[2] = head(seq);
        }
    });
    let s = stack(&variant(&m, "default").trunks[0], StackRole::Blocks);
    assert_eq!(s.layers.len(), 1);
    assert!(s.layers[0].pool.is_none());
}

#[test]
fn stack_strides_that_do_not_fit_are_errors() {
    let errs = errors(quote! {
        struct M {
            input seq: onehot(4, 50);
            trunk seq: conv(4, 3) >> gelu >> dilated(k = 3, dilations = [1, 2], strides = [2]) >> flatten;
            output out[2] = head(seq);
        }
    });
    assert_eq!(errs, ["`strides` of `dilated` has 1 entries for 2 layers; give one stride per dilation"]);
    let errs = errors(quote! {
        struct M {
            input seq: onehot(4, 50);
            trunk seq: conv(4, 3) >> gelu >> convblocks(2, k = 3, stride = 0) >> flatten;
            output out[2] = head(seq);
        }
    });
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].contains("the stride"), "{errs:?}");
}
