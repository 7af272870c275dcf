//! The reference's architecture vocabulary beyond the seed's use cases (issue 16), each model
//! declared with `drg_model!` from the `param_string` of its fixture's `meta/json`
//! (`shared/fixtures/breadth/<config>.npz`) and checked as the seed models are in `parity.rs`:
//! imported weights, every recorded stage, the eval outputs, the train-mode outputs and summed
//! training loss, every parameter gradient, and the state after one SGD step (lr 1e-3, momentum
//! 0.9), at the seed's tolerances.

use drg_core::dfdx::prelude::*;
use drg_core::drg_model;
use drg_core::model::DrgModel;
use drg_test_support::{check_against_fixture, fixture_path, FixtureCheck};

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

/// `M` against `fixtures/breadth/<config>.npz` (`drg_test_support::check_against_fixture`: the
/// `--cnn` string, weights, stages, outputs, loss, gradients, SGD step). `M` takes every tensor
/// of the fixture but those starting with one of `constant_buffers` (the reference's constant
/// buffers that drg-rs computes instead of storing).
fn check<M: DrgModel<Cpu>>(config: &str, constant_buffers: &[&str]) {
    let path = fixture_path(env!("CARGO_MANIFEST_DIR"), &format!("breadth/{config}.npz"));
    check_against_fixture::<M>(&path, FixtureCheck { constant_buffers, min_stages: 8 });
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
