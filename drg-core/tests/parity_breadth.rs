//! The reference's architecture vocabulary beyond the seed's use cases (issue 16), each model
//! declared with `drg_model!` from the `param_string` of its fixture's `meta/json`
//! (`shared/fixtures/breadth/<config>.npz`) and checked as the seed models are in `parity.rs`:
//! imported weights, every recorded stage, the eval outputs, the train-mode outputs and summed
//! training loss, every parameter gradient, and the state after one SGD step (lr 1e-3, momentum
//! 0.9), at the seed's tolerances.

use drg_core::cli::hyper::CnnString;
use drg_core::dfdx::optim::{Momentum, Sgd, SgdConfig};
use drg_core::dfdx::prelude::*;
use drg_core::drg_model;
use drg_core::import::npz::{read_npz, Npz, Values};
use drg_core::import::{export_gradients, export_state_dict, load_state_dict, LoadOptions, StateDict};
use drg_core::layers::Ctx;
use drg_core::model::DrgModel;
use drg_core::train::loss::loss_sum;

drg_model! {
    /// The reference's documented single-input example (`examples/Train_single_input.md`):
    /// `loss_function=MSE+validation_loss=MSE+num_kernels=16+l_kernels=7+pooling_size=5+
    /// dilated_convolutions=2+dilmax_pooling=4+fclayer_size=48+nfc_layers=2`, everything else at
    /// the constructor's defaults, which are `drg_model!`'s: `l_dilkernels` = `l_kernels`,
    /// dilated convs without bias and batch norm, no dropout, loss and validation `MSE`. The
    /// layers the DSL does not imply are written as the string's defaults: max pooling after
    /// the first layer, GELU, dilations 1.
    pub struct Example {
        input seq: onehot(4, 700);
        trunk seq: conv(16, 7) >> gelu >> maxpool(5)
                 >> dilated(dilations = [1, 1], maxpool = 4)
                 >> flatten >> linear(48) >> fc(2);
        output out[5] = head(seq);
    }

    /// `fixtures/breadth/relu_mean.npz`: `kernel_function=ReLU+net_function=ReLU+
    /// max_pooling=False+mean_pooling=True+pooling_size=4+dilations=[1,2]+l_dilkernels=5+
    /// dilmean_pooling=2+conv_batch_norm=True+transformer_convolutions=2+l_trkernels=5+
    /// trmax_pooling=3+fclayer_size=32+nfc_layers=2+fc_batch_norm=True+kernel_bias=False+
    /// fc_dropout=0.1`, loss `PoissonNNL`, reverse complement on. `fc(.., batchnorm = true)`
    /// gives the stack's `Bnorm_fullyconnected{k}` and the classifier's `ClassBnorm`.
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

    /// `fixtures/breadth/multiout.npz`: `loss_function=Correlationmse+validation_loss=
    /// ['Correlationdata','None']+num_kernels=16+l_kernels=7+pooling_size=5+dilated_convolutions=2+
    /// dilmax_pooling=4+fclayer_size=48+nfc_layers=[2,2]`, two outputs of 5 and 3 tracks, reverse
    /// complement on. The `nfc_layers` list gives every output its own fully connected stack
    /// (`nfcs.{i}.nfcs.*`) on the shared flattened features, written inside its `head(..)`.
    pub struct MultiOut {
        input seq: onehot(4, 700), reverse_complement;
        trunk seq: conv(16, 7) >> gelu >> maxpool(5)
                 >> dilated(dilations = [1, 1], maxpool = 4) >> flatten;
        output first[5] = head(seq >> linear(48) >> fc(2));
        output second[3] = head(seq >> linear(48) >> fc(2)), validation = none;
        loss correlation_mse;
        validation correlation;
    }
}

fn fixture_path(config: &str) -> String {
    format!("{}/../../shared/fixtures/breadth/{config}.npz", env!("CARGO_MANIFEST_DIR"))
}

/// max|a − b| ≤ rel·max|b| + abs.
fn assert_close(what: &str, got: &[f32], want: &[f32], rel: f32, abs: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let worst = got.iter().zip(want).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(worst <= rel * scale + abs, "{what}: max|Δ| = {worst:e} > {rel:e}·{scale:e} + {abs:e}");
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

/// `M` against `fixtures/breadth/<config>.npz`; the training loss is the declaration's. `M`
/// takes every tensor of the fixture but those starting with one of `constant_buffers` (the
/// reference's constant buffers that drg-rs computes instead of storing).
fn check<M: DrgModel<Cpu>>(config: &str, constant_buffers: &[&str]) {
    let path = fixture_path(config);
    let npz = read_npz(&path).unwrap();
    let dev = Cpu::default();
    let widths: Vec<usize> = (0..M::SPEC.outputs.len()).map(|h| npz.f32(&format!("train/target/{h}")).unwrap().0[1]).collect();
    let mut model = M::new(&dev, &widths);
    let sd = StateDict::from_npz(&path, "param/").unwrap();
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
    assert!(compared >= 8, "{config}: only {compared} stages compared");
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
        let l = loss_sum(M::SPEC.loss, out, &target).unwrap();
        total = Some(match total {
            None => l,
            Some(t) => t + l,
        });
    }
    let loss = total.unwrap();
    let (_, want) = npz.f32("train/loss").unwrap();
    assert_close(&format!("{config} train/loss"), &[loss.array()], &want, 3e-6, 0.0);
    let mut grads = loss.backward();
    let expect = StateDict::from_npz(&path, "train/grad/").unwrap();
    let g = expect.entries.values().flat_map(|e| e.values.iter()).fold(0.0f32, |m, v| m.max(v.abs()));
    let got = export_gradients(&model, &mut grads);
    for (key, entry) in &expect.entries {
        let have = got.get(key).unwrap_or_else(|| panic!("{config}: no gradient for {key}"));
        assert_close(&format!("{config} grad {key}"), &have.values, &entry.values, 1e-5, 2e-6 * g);
    }
    assert_eq!(got.len(), expect.len(), "{config}: gradient keys differ");

    let mut sgd = Sgd::new(&model, SgdConfig { lr: 1e-3, momentum: Some(Momentum::Classic(0.9)), weight_decay: None });
    let _ = sgd.update(&mut model, &grads);
    let after = StateDict::from_npz(&path, "train/after_step/").unwrap();
    let now = export_state_dict(&model);
    let compared_after = |k: &str| !k.ends_with("num_batches_tracked") && !constant_buffers.iter().any(|p| k.starts_with(p));
    for (key, entry) in after.entries.iter().filter(|(k, _)| compared_after(k)) {
        let have = now.get(key).unwrap_or_else(|| panic!("{config}: model has no {key}"));
        assert_close(&format!("{config} after_step {key}"), &have.values, &entry.values, 1e-5, 0.0);
    }
}

/// ReLU, mean pooling, the dilated stack's mean pooling with its residual pooling, the
/// transformer convs' max pooling, conv batch norm, a stem without bias, and batch norm in the
/// fully connected stack and the classifier (`fc_batch_norm=True`): every stage, outputs,
/// PoissonNNL loss, gradients, the SGD step and the running statistics of every batch norm.
#[test]
fn relu_mean_matches_fixture() {
    // The residual mean pooling's constant `1/p` weight and its count buffer: drg-rs computes
    // the mean instead.
    check::<ReluMeanDefault>("relu_mean", &["convolution_layers.convlayers.ResiduallayerConv1.rconv.pool0."]);
}

/// One fully connected stack per output (`nfc_layers=[2,2]`): the stages `after_fc0` and
/// `after_fc1` (each output's stack), both outputs, the summed loss of the two heads, the
/// gradients of both stacks and the SGD step.
#[test]
fn per_output_stacks_match_fixture() {
    check::<MultiOutDefault>("multiout", &[]);
}

#[test]
fn reference_example_matches_fixture() {
    check::<ExampleDefault>("example", &[]);
}
