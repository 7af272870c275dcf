//! Every seed model, at its `fixture` size, against the reference implementation's own numbers
//! (`shared/fixtures/<config>.npz`), through the weight importer: the fixture's `--cnn` string
//! against the declaration, the eval-mode forward pass stage by stage, the outputs, the
//! train-mode outputs and summed loss, every parameter gradient, and the state after one SGD
//! step. Tolerances as fixtures/README.md recommends.

use drg_core::dfdx::prelude::*;
use drg_core::model::DrgModel;
use drg_models::*;
use drg_test_support::{check_against_fixture, fixture_path, FixtureCheck};

/// `M` against `fixtures/<config>.npz` (`drg_test_support::check_against_fixture`: the `--cnn`
/// string, weights, every stage (at least 12), outputs, loss, gradients, SGD step).
fn check<M: DrgModel<Cpu>>(config: &str) {
    let path = fixture_path(env!("CARGO_MANIFEST_DIR"), &format!("{config}.npz"));
    check_against_fixture::<M>(&path, FixtureCheck { constant_buffers: &[], min_stages: 12 });
}

#[test]
fn model_a_matches_basemodel_fixture() {
    check::<ModelAFixture>("base");
}

#[test]
fn model_a_attention_matches_transmodel_fixture() {
    check::<ModelAAttentionFixture>("trans");
}

#[test]
fn model_b_matches_fixture() {
    check::<ModelBFixture>("B");
}

#[test]
fn model_c_matches_fixture() {
    check::<ModelCFixture>("C");
}

#[test]
fn model_d_matches_fixture() {
    check::<ModelDFixture>("D");
}

#[test]
fn model_e_matches_fixture() {
    check::<ModelEFixture>("E");
}

#[test]
fn model_f1_matches_fixture() {
    check::<ModelF1Fixture>("F1");
}

#[test]
fn model_f2_matches_fixture() {
    check::<ModelF2Fixture>("F2");
}
