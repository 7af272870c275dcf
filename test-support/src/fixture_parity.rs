//! A `drg_model!` model against one of the reference's parity fixtures
//! (`shared/fixtures/<config>.npz`, `shared/fixtures/breadth/<config>.npz`; their README says
//! what each array holds).
//!
//! The seed models (`models/tests/parity.rs`) and the breadth configurations
//! (`drg-core/tests/parity_breadth.rs`) are checked the same way, so the check lives here once.

use drg_core::cli::hyper::CnnString;
use drg_core::dfdx::optim::{Momentum, Sgd, SgdConfig};
use drg_core::dfdx::prelude::*;
use drg_core::import::npz::{read_npz, Npz, Values};
use drg_core::import::{export_gradients, export_state_dict, load_state_dict, LoadOptions, StateDict};
use drg_core::layers::Ctx;
use drg_core::model::DrgModel;
use drg_core::train::loss::loss_sum;

/// `shared/fixtures/<relative>` seen from a crate of this workspace (`CARGO_MANIFEST_DIR` of the
/// calling test crate, one level below the repository root).
pub fn fixture_path(manifest_dir: &str, relative: &str) -> String {
    format!("{manifest_dir}/../../shared/fixtures/{relative}")
}

/// max|a − b| ≤ rel·max|b| + abs, else a panic naming `what` and the worst difference.
pub fn assert_close(what: &str, got: &[f32], want: &[f32], rel: f32, abs: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let worst = got.iter().zip(want).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(worst <= rel * scale + abs, "{what}: max|Δ| = {worst:e} > {rel:e}·{scale:e} + {abs:e}");
}

/// What a fixture check expects beyond the arrays themselves.
#[derive(Debug, Clone, Copy, Default)]
pub struct FixtureCheck<'a> {
    /// Prefixes of the reference's constant buffers that drg-rs computes instead of storing
    /// (the model need not take them, and they are not compared after the SGD step).
    pub constant_buffers: &'a [&'a str],
    /// At least this many recorded stages must be compared (a guard against a fixture or probe
    /// that silently records fewer).
    pub min_stages: usize,
}

/// One input batch of the fixture, `(batch, channels, length)`, with tape `T`.
type Input<T = NoneTape> = Tensor<(usize, usize, usize), f32, Cpu, T>;

fn inputs<T: Tape<f32, Cpu>>(dev: &Cpu, npz: &Npz, n: usize, tape: impl Fn(usize, Input) -> Input<T>) -> Vec<Input<T>> {
    (0..n)
        .map(|i| {
            let (shape, v) = npz.f32(&format!("input/{i}")).unwrap();
            tape(i, dev.tensor_from_vec(v, (shape[0], shape[1], shape[2])))
        })
        .collect()
}

/// `M` against the fixture at `path`, at the seed models' tolerances (fixtures/README.md):
///
/// - the fixture's `--cnn` string (`meta/json`'s `param_string`) agrees with the declaration,
///   key by key, through the binaries' own `--cnn` comparison;
/// - the reference's weights load, every tensor taken (but `constant_buffers`);
/// - eval mode: every recorded stage and every output (relative 1e-5);
/// - train mode (batch statistics, no dropout): the outputs, the summed training loss (each
///   output's own, `OutputSpec::loss`), every parameter gradient, and the state after one SGD
///   step (lr 1e-3, momentum 0.9), running statistics included.
pub fn check_against_fixture<M: DrgModel<Cpu>>(path: &str, check: FixtureCheck) {
    let config = path.rsplit('/').next().unwrap_or(path);
    let npz = read_npz(path).unwrap();
    let dev = Cpu::default();
    // The fixture's track counts, from its targets.
    let widths: Vec<usize> = (0..M::SPEC.outputs.len()).map(|h| npz.f32(&format!("train/target/{h}")).unwrap().0[1]).collect();
    let mut model = M::new(&dev, &widths);
    let sd = StateDict::from_npz(path, "param/").unwrap();
    let constant_buffers = check.constant_buffers;
    let opts = LoadOptions { allow_unused: !constant_buffers.is_empty(), ..LoadOptions::default() };
    let report = load_state_dict(&mut model, &sd, &opts).unwrap_or_else(|e| panic!("{config}: {e}"));
    for key in &report.unused {
        assert!(constant_buffers.iter().any(|p| key.starts_with(p)), "{config}: the model does not take {key}");
    }
    assert_eq!(
        report.loaded.len() + report.unused.len() + report.skipped_counters.len(),
        sd.len(),
        "{config}: not every tensor of the fixture was loaded"
    );
    let n_in = M::SPEC.inputs.len();
    let n_out = M::SPEC.outputs.len();

    // The reference's `--cnn` string of the fixture agrees with the declaration, key by key.
    let meta: Vec<u8> = match &npz.get("meta/json").unwrap().values {
        Values::Int(v) => v.iter().map(|&b| b as u8).collect(),
        other => panic!("{config}: meta/json is {other:?}"),
    };
    let meta: serde_json::Value = serde_json::from_slice(&meta).unwrap();
    let cnn = CnnString::parse(meta["param_string"].as_str().unwrap()).unwrap();
    cnn.check_architecture(&M::SPEC).unwrap_or_else(|e| panic!("{config}: {e}"));

    // Eval mode: every recorded stage of the fixture, and every output.
    let mut ctx = Ctx::eval().with_probe();
    let outs = model.forward(inputs(&dev, &npz, n_in, |_, x| x), &mut ctx);
    let stages = ctx.probe.unwrap().stages;
    let mut compared = 0;
    for (key, _) in npz.arrays.iter().filter(|(k, _)| k.starts_with("eval/stage/")) {
        let name = &key["eval/stage/".len()..];
        let (_, got) = stages.get(name).unwrap_or_else(|| panic!("{config}: stage {name} not recorded; have {:?}", stages.keys()));
        let (_, want) = npz.f32(key).unwrap();
        assert_close(&format!("{config} {name}"), got, &want, 1e-5, 0.0);
        compared += 1;
    }
    assert!(compared >= check.min_stages, "{config}: only {compared} stages compared");
    assert_eq!(outs.len(), n_out);
    for (h, out) in outs.iter().enumerate() {
        let (_, want) = npz.f32(&format!("eval/output/{h}")).unwrap();
        assert_close(&format!("{config} eval/output/{h}"), &out.as_vec(), &want, 1e-5, 0.0);
    }

    // Train mode (batch statistics, no dropout): outputs, summed loss, gradients, SGD step.
    let grads = model.alloc_grads();
    let xs = inputs(&dev, &npz, n_in, |i, x| if i == 0 { x.traced(grads.clone()) } else { x.retaped::<OwnedTape<f32, Cpu>>() });
    let outs = model.forward(xs, &mut Ctx::train(0).without_dropout());
    let mut total: Option<Tensor<Rank0, f32, Cpu, OwnedTape<f32, Cpu>>> = None;
    for (h, out) in outs.into_iter().enumerate() {
        let (_, want) = npz.f32(&format!("train/output/{h}")).unwrap();
        assert_close(&format!("{config} train/output/{h}"), &out.as_vec(), &want, 3e-6, 0.0);
        let (_, target) = npz.f32(&format!("train/target/{h}")).unwrap();
        let l = loss_sum(M::SPEC.outputs[h].loss, out, &target).unwrap();
        total = Some(match total {
            None => l,
            Some(t) => t + l,
        });
    }
    let loss = total.unwrap();
    let (_, want) = npz.f32("train/loss").unwrap();
    assert_close(&format!("{config} train/loss"), &[loss.array()], &want, 3e-6, 0.0);
    let mut grads = loss.backward();
    let expect = StateDict::from_npz(path, "train/grad/").unwrap();
    let g = expect.entries.values().flat_map(|e| e.values.iter()).fold(0.0f32, |m, v| m.max(v.abs()));
    let got = export_gradients(&model, &mut grads);
    for (key, entry) in &expect.entries {
        let have = got.get(key).unwrap_or_else(|| panic!("{config}: no gradient for {key}"));
        assert_close(&format!("{config} grad {key}"), &have.values, &entry.values, 1e-5, 2e-6 * g);
    }
    assert_eq!(got.len(), expect.len(), "{config}: gradient keys differ");

    let mut sgd = Sgd::new(&model, SgdConfig { lr: 1e-3, momentum: Some(Momentum::Classic(0.9)), weight_decay: None });
    // Heads no output reads (model D) have zero gradients, as in the reference; dfdx reports
    // them as unused.
    let _ = sgd.update(&mut model, &grads);
    let after = StateDict::from_npz(path, "train/after_step/").unwrap();
    let now = export_state_dict(&model);
    let compared_after = |k: &str| !k.ends_with("num_batches_tracked") && !constant_buffers.iter().any(|p| k.starts_with(p));
    for (key, entry) in after.entries.iter().filter(|(k, _)| compared_after(k)) {
        let have = now.get(key).unwrap_or_else(|| panic!("{config}: model has no {key}"));
        assert_close(&format!("{config} after_step {key}"), &have.values, &entry.values, 1e-5, 0.0);
    }
}
