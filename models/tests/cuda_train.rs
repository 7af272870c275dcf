//! Training on a GPU (feature `cuda`; needs a machine with one: `scripts/cuda-build.sh` builds this
//! test where there is no CUDA, to be run where there is).
//!
//! The CUDA device runs the public-op composites instead of the host kernels, so its numbers
//! agree with the CPU's to rounding, not bit for bit. A run is therefore compared with the CPU
//! *across a checkpoint*: the CPU trains the epoch-0 pass and one epoch (the optimizer's momentum
//! buffers then exist), the run resumes on the GPU — weights, best weights and optimizer buffers
//! go to the device by name — and its remaining loss lines and test predictions must match the
//! uninterrupted CPU run's closely. A run started on the GPU must run to the end and write every file.
#![cfg(feature = "cuda")]

mod common;

use common::random_data;
use drg_core::device::Cuda;
use drg_core::dfdx::prelude::*;
use drg_core::model::DrgModel;
use drg_core::train::schedule::ScheduleConfig;
use drg_core::train::{train, OutputPaths, ReportOptions, TrainConfig};
use drg_models::*;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-3 * a.abs().max(b.abs()).max(1e-3)
}

fn resume_on_the_gpu<M: DrgModel<Cpu>>() {
    let data = random_data::<M, _>(28);
    let dir = tempfile::tempdir().unwrap();
    let out = |name: &str| OutputPaths::new(&format!("{}/", dir.path().display()), name);
    let cfg = TrainConfig {
        schedule: ScheduleConfig { epochs: 4, warm_up_epochs: 1, ..ScheduleConfig::default() },
        reports: ReportOptions { save_predictions: true, ..ReportOptions::default() },
        progress: false,
        verbose: false,
        ..TrainConfig::reference(1e-3)
    };
    let cpu = train::<M, Cpu>(&data, &cfg, &out("cpu")).unwrap();
    assert!(!train::<M, Cpu>(&data, &TrainConfig { stop_after_passes: Some(2), ..cfg.clone() }, &out("moved")).unwrap().completed);
    let gpu = train::<M::On<Cuda>, Cuda>(&data, &TrainConfig { resume: true, ..cfg.clone() }, &out("moved")).unwrap();
    assert_eq!(gpu.lines.len(), cpu.lines.len(), "{}", M::SPEC.name);
    for (g, c) in gpu.lines.iter().zip(&cpu.lines) {
        assert_eq!(g.epoch, c.epoch);
        for (x, y) in [(g.train, c.train), (g.val, c.val), (g.orig_val, c.orig_val)] {
            assert!(close(x, y), "{} epoch {}: GPU {x} vs CPU {y}", M::SPEC.name, g.epoch);
        }
    }
    let (gp, cp) = (gpu.evaluation.unwrap().preds, cpu.evaluation.unwrap().preds);
    assert_eq!(gp.len(), cp.len());
    for (x, y) in gp.iter().zip(&cp) {
        assert!(close(*x as f64, *y as f64), "{}: prediction GPU {x} vs CPU {y}", M::SPEC.name);
    }

    // A run started on the GPU: finite losses, every file written.
    let fresh = train::<M::On<Cuda>, Cuda>(&data, &cfg, &out("gpu")).unwrap();
    assert!(fresh.lines.iter().all(|l| l.train.is_finite() && l.val.is_finite()), "{:?}", fresh.lines);
    for f in ["_pred.npz", "_loss.txt", "_parameter.safetensors", "_model_params.json"] {
        assert!(out("gpu").file(f).exists(), "{f}");
    }
}

#[test]
fn model_d_resumes_on_the_gpu_where_the_cpu_left_off() {
    resume_on_the_gpu::<ModelDFixture>();
}

#[test]
fn attention_model_resumes_on_the_gpu_where_the_cpu_left_off() {
    resume_on_the_gpu::<ModelAAttentionFixture>();
}
