//! Fast ISM (issue 13 point 3) against naive ISM: every variant of a window, on fixture-size
//! copies of seed models B (one input, reverse complement, three heads), C (two inputs, combiner
//! heads) and D (two inputs, difference of heads), declared here as `models/src/lib.rs` declares
//! them, with random weights and a padding (all-zero) position inside the windows; and the
//! fallback for a model with attention.

use drg_core::data::Dataset;
use drg_core::dfdx::prelude::*;
use drg_core::drg_model;
use drg_core::explain::attribution::{ism_naive, Window};
use drg_core::explain::ism_fast::FastIsm;
use drg_core::explain::tracks::TrackGroups;
use drg_core::import::{export_state_dict, load_state_dict, LoadOptions};
use drg_core::model::{DrgModel, ModelFamily};
use drg_test_support::RandomData;

drg_model! {
    let basemodel = conv(nk, 15) >> gelu >> wpool(4)
        >> dilated(k = 11, dilations = [1, 2, 4], batchnorm = true)
        >> convblocks(4, k = 11, wpool = tp, batchnorm = true)
        >> flatten >> linear(fc) >> fc(3, dropout = 0.1);

    /// Seed model B at its fixture size.
    pub struct ModelB {
        sizes {
            fixture: len = 1_024, nk = 16, fc = 64, tp = 3;
        }
        input dna: onehot(4, len), reverse_complement;
        trunk dna: basemodel;
        output ex[_] = head(dna);
        output kd[_] = head(dna), validation = none;
        output kt[_] = head(dna), validation = none;
    }

    /// Seed model C at its fixture size.
    pub struct ModelC {
        sizes {
            fixture: len = 600, nk = 16, fc = 64, tp = 3, emb = 32;
        }
        input dna: onehot(4, len), reverse_complement;
        input rna: onehot(4, len);
        trunk dna: basemodel;
        trunk rna: same as dna;
        output ex[_] = mlp(dna, rna, layers = 3, embed = emb);
    }

    /// Seed model D at its fixture size.
    pub struct ModelD {
        sizes {
            fixture: len = 560, nk = 16, fc = 64, tp = 3;
        }
        input dna: onehot(4, len), reverse_complement;
        input rna: onehot(4, len);
        trunk dna: basemodel;
        trunk rna: same as dna;
        output ex[_] = difference(dna, rna);
        output kd[_] = direct(rna), validation = none;
        output kt[_] = direct(dna), validation = none;
    }

    /// The attention variant of model A at its fixture size.
    pub struct ModelAAttention {
        sizes {
            fixture: len = 800, nk = 16, fc = 64, dp = 5, heads = 2, dim = 1.5, blocks = 2, tp = 4;
        }
        input rna: onehot(4, len), reverse_complement;
        trunk rna: conv(nk, 15) >> gelu >> wpool(4)
                 >> dilated(k = 11, dilations = [1, 2, 4], wpool = dp, every = 3, batchnorm = true)
                 >> attention(heads = heads, dim = dim)
                 >> convblocks(blocks, k = 11, wpool = tp, batchnorm = true)
                 >> flatten >> linear(fc) >> fc(3, dropout = 0.1);
        output ex[_] = head(rna);
    }
}

/// Random one-hot inputs of the shapes `M` declares (position `pad` all zero, as padding), and
/// random targets, 5 tracks per output.
fn random_data<M: DrgModel<Cpu>>(n: usize, pad: usize) -> Dataset {
    drg_test_support::random_data::<M, Cpu>(n, &RandomData { seed: 11, zero_position: Some(pad), ..RandomData::default() })
}

/// Fast ISM equals naive ISM (batch 1: each variant predicted on its own) at every variant of
/// `window` of genes 0 and 2, on both inputs; returns the largest |naive| value seen.
fn fast_equals_naive<M: DrgModel<Cpu>>(declaration: &str, window: Window, pad: usize) -> f64 {
    let dev = Cpu::seed_from_u64(7);
    let data = random_data::<M>(3, pad);
    let mut model = M::new(&dev, &data.n_tracks());
    // PyTorch's initialisation makes a deep random model all but constant: stronger weights
    // give ISM values well above float rounding
    let mut sd = export_state_dict(&model);
    for (key, e) in sd.entries.iter_mut() {
        if key.ends_with(".weight") && e.shape.len() >= 2 {
            e.values.iter_mut().for_each(|v| *v *= 3.0);
        }
    }
    load_state_dict(&mut model, &sd, &LoadOptions::default()).unwrap();
    let total: usize = data.n_tracks().iter().sum();
    let groups = TrackGroups { names: vec!["C1".into(), "mean".into()], members: vec![vec![1], vec![0, total - 1]] };
    let rows = [2, 0];
    let naive = ism_naive(&mut model, &dev, &data, &rows, &groups, window, 1).unwrap();
    let fast = FastIsm::new(&model, declaration).unwrap().run(&data, &rows, &groups, window).unwrap();
    let mut scale = 0f64;
    for (k, (n, f)) in naive.iter().zip(&fast).enumerate() {
        assert_eq!(n.len(), f.len());
        let s = n.iter().fold(0f64, |m, v| m.max(v.abs()));
        assert!(s > 1e-5, "input {k}: naive ISM is all but zero ({s}), the comparison would be empty");
        for (i, (a, b)) in n.iter().zip(f).enumerate() {
            assert!((a - b).abs() <= 2e-4 * s + 1e-6, "{} input {k} value {i}: naive {a}, fast {b} (scale {s})", M::SPEC.name);
        }
        eprintln!(
            "{} input {k}: largest |ISM| {s}, largest difference {}",
            M::SPEC.name,
            n.iter().zip(f).fold(0f64, |m, (a, b)| m.max((a - b).abs()))
        );
        scale = scale.max(s);
    }
    scale
}

#[test]
fn fast_ism_equals_naive_ism_on_model_b() {
    // from the sequence's first base: the edge windows and their padding
    fast_equals_naive::<ModelBFixture>(ModelB::DECLARATION, Window { start: 0, end: 21 }, 9);
}

#[test]
fn fast_ism_equals_naive_ism_on_two_input_models() {
    fast_equals_naive::<ModelDFixture>(ModelD::DECLARATION, Window { start: 290, end: 310 }, 300);
    fast_equals_naive::<ModelCFixture>(ModelC::DECLARATION, Window { start: 580, end: 600 }, 590);
}

#[test]
fn attention_falls_back_to_naive_ism_with_a_reason() {
    let dev = Cpu::seed_from_u64(7);
    let model = ModelAAttentionFixture::new(&dev, &[5]);
    let why = FastIsm::new(&model, ModelAAttention::DECLARATION).err().expect("attention has no fast ISM");
    assert!(why.0.contains("attention"), "{}", why.0);
}
