//! Naive against fast ISM (issue 13 point 3) on seed model B, declared here as
//! `models/src/lib.rs` declares it (so that the bench builds without the model binaries), with
//! random weights (PyTorch's initialisation, weight matrices × 3) on one random 1-hot gene, CPU device.
//!
//! What is timed, per size: `ism_naive` (every variant predicted in full through the model's own
//! forward pass, 32 variants per batch at demo size and 8 at full size, plus the reference prediction) and
//! `FastIsm::new` + `FastIsm::run` (the plan from the declaration and the weights, the reference
//! pass that caches every trunk node, then every variant through the changed stretches only) on
//! the same window of the same gene, for the mean over tracks 0–4 of output `ex`; both wall
//! clock, the fastest of 5 runs at demo size, one run at full size. It also prints the largest |fast − naive| against the largest |naive|.
//!
//! Run: `cargo bench -p drg-core --bench ism` (arguments pick what runs: `demo`, `full`; default
//! both). Demo: a 100 bp window (`--sequence_attributions ism ... --attribution_window 950:1050`).
//! Full (40 kb): naive on a 10 bp window (30 variants: about 3 s each on 2 cores), fast on the
//! same window and on 100 bp.

use std::time::Instant;

use drg_core::data::{Dataset, Matrix, SeqSet, Split};
use drg_core::dfdx::prelude::*;
use drg_core::drg_model;
use drg_core::explain::attribution::{ism_naive, Window};
use drg_core::explain::ism_fast::FastIsm;
use drg_core::explain::tracks::TrackGroups;
use drg_core::import::{export_state_dict, load_state_dict, LoadOptions};
use drg_core::model::{DrgModel, ModelFamily};
use rand::{Rng, SeedableRng};

drg_model! {
    let basemodel = conv(nk, 15) >> gelu >> wpool(4)
        >> dilated(k = 11, dilations = [1, 2, 4], batchnorm = true)
        >> convblocks(4, k = 11, wpool = tp, batchnorm = true)
        >> flatten >> linear(fc) >> fc(3, dropout = 0.1);

    /// Seed model B.
    pub struct ModelB {
        sizes {
            full: len = 40_000, nk = 300, fc = 1024, tp = 6;
            demo: len = 2_000, nk = 64, fc = 256, tp = 3;
        }
        input dna: onehot(4, len), reverse_complement;
        trunk dna: basemodel;
        output ex[_] = head(dna);
        output kd[_] = head(dna), validation = none;
        output kt[_] = head(dna), validation = none;
    }
}

/// Variants per naive batch: 32 at demo size (as the model binaries' default batch), 8 at full
/// size (a 40 kb batch of 32 holds several GB per layer).
fn naive_batch(len: usize) -> usize {
    if len > 10_000 {
        8
    } else {
        32
    }
}

/// One random gene of `len` bp and 5 random tracks per output.
fn one_gene<M: DrgModel<Cpu>>() -> Dataset {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let genes = vec!["g0".to_string()];
    let inputs = M::SPEC
        .inputs
        .iter()
        .map(|s| {
            let mut data = vec![0f32; 4 * s.length];
            for p in 0..s.length {
                data[rng.gen_range(0..4) * s.length + p] = 1.0;
            }
            SeqSet::from_channel_first(format!("{}.npz", s.name).into(), genes.clone(), s.length, &data, s.reverse_complement).unwrap()
        })
        .collect();
    let outputs: Vec<Matrix> = M::SPEC
        .outputs
        .iter()
        .map(|o| Matrix {
            file: format!("{}.csv", o.name).into(),
            genes: genes.clone(),
            track_names: (0..5).map(|t| format!("C{t}")).collect(),
            values: (0..5).map(|_| rng.gen_range(0.0f32..3.0)).collect(),
        })
        .collect();
    Dataset {
        track_classes: outputs.iter().map(|m| vec!["0".to_string(); m.n_tracks()]).collect(),
        eval_track_names: outputs.iter().map(|m| m.track_names.clone()).collect(),
        split: Split { train: vec![], val: vec![], test: vec![0] },
        genes,
        inputs,
        outputs,
    }
}

/// The smallest wall-clock time of `reps` runs of `f` (the least disturbed by the other load of
/// a shared machine), and the last result.
fn fastest<R>(reps: usize, mut f: impl FnMut() -> R) -> (f64, R) {
    let mut best = f64::INFINITY;
    let mut last = None;
    for _ in 0..reps {
        let t = Instant::now();
        last = Some(f());
        best = best.min(t.elapsed().as_secs_f64());
    }
    (best, last.expect("at least one run"))
}

/// Times fast ISM on `window`, and naive ISM too when `naive` is set (each the fastest of `reps`
/// runs).
fn compare<M: DrgModel<Cpu>>(size: &str, window: Window, naive: bool, reps: usize) {
    let dev = Cpu::seed_from_u64(0);
    let data = one_gene::<M>();
    let mut model = M::new(&dev, &data.n_tracks());
    // as in tests/ism_fast.rs: stronger weights than PyTorch's initialisation, so that the ISM
    // values stand well above float rounding and the comparison means something
    let mut sd = export_state_dict(&model);
    for (key, e) in sd.entries.iter_mut() {
        if key.ends_with(".weight") && e.shape.len() >= 2 {
            e.values.iter_mut().for_each(|v| *v *= 3.0);
        }
    }
    load_state_dict(&mut model, &sd, &LoadOptions::default()).unwrap();
    let groups = TrackGroups { names: vec!["ex".into()], members: vec![(0..5).collect()] };
    let variants = 3 * window.len();
    let (fast_s, fast) = fastest(reps, || {
        let fast = FastIsm::new(&model, ModelB::DECLARATION).expect("model B has a fast ISM plan");
        fast.run(&data, &[0], &groups, window).unwrap()
    });
    println!(
        "{size}: window {}:{} ({variants} variants): fast ISM {fast_s:.2} s, {:.2} ms per variant (fastest of {reps})",
        window.start,
        window.end,
        1e3 * fast_s / variants as f64
    );
    if naive {
        let batch = naive_batch(data.lengths()[0]);
        let (naive_s, slow) = fastest(reps, || ism_naive(&mut model, &dev, &data, &[0], &groups, window, batch).unwrap());
        let scale = slow[0].iter().fold(0f64, |m, v| m.max(v.abs()));
        let diff = slow[0].iter().zip(&fast[0]).fold(0f64, |m, (a, b)| m.max((a - b).abs()));
        println!(
            "{size}: window {}:{} ({variants} variants): naive ISM {naive_s:.2} s, {:.1} ms per variant (fastest of {reps}); fast is {:.1}x faster; largest |fast − naive| {diff:.2e} (largest |naive| {scale:.2e})",
            window.start,
            window.end,
            1e3 * naive_s / variants as f64,
            naive_s / fast_s
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let all = args.is_empty() || args.iter().all(|a| a == "fast");
    // `fast`: fast ISM only (for profiling)
    let naive = !args.iter().any(|a| a == "fast");
    if all || args.iter().any(|a| a == "demo") {
        compare::<ModelBDemo<f32, Cpu>>("demo", Window { start: 950, end: 1050 }, naive, 5);
    }
    if all || args.iter().any(|a| a == "full") {
        compare::<ModelBFull<f32, Cpu>>("full", Window { start: 19_995, end: 20_005 }, naive, 1);
        compare::<ModelBFull<f32, Cpu>>("full", Window { start: 19_950, end: 20_050 }, false, 1);
    }
}
