//! `drg sweep --local` with the real model binaries, then `drg collect`: 2 models × 3 folds × 1
//! seed on a tiny simulated data set (one epoch each). The joined predictions hold every gene
//! exactly once and equal the fold runs' rows; a fold run equals the same command run on its own.
//! The SLURM path of the same sweep is `sweep_slurm.rs`.

mod sweep_support;

use drg_core::sweep::collect::collect;
use drg_core::sweep::local::run_local;
use drg_core::sweep::write_plan;
use sweep_support::*;

#[test]
fn a_local_sweep_is_collected_into_joined_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let (data, cv, all_genes) = dataset(dir.path(), 60);
    let out = dir.path().join("sweep");
    let options: Vec<String> = ["--models", "model_d,model_e", "--crossvalidation", &s(&cv), "10", "--seeds", "3", "--outdir", &s(&out)]
        .iter()
        .map(|x| x.to_string())
        .collect();
    let plan = plan(&options, &model_args(&data, 1), dir.path());
    write_plan(&plan).unwrap();
    let outcomes = run_local(&plan, 2, 1, |_| {}).unwrap();
    for o in &outcomes {
        assert!(o.succeeded(), "{}: {}", o.task.label(), std::fs::read_to_string(&o.log).unwrap());
    }

    let collected = out.join("collected");
    let c = collect(&plan, &collected).unwrap();
    assert!(c.missing.is_empty());
    check_joined(&plan, &collected, &all_genes);
    // 2 models × 9 classes (3 cell types × ex, kd, kt), one seed: no ensemble.
    assert_eq!(c.rows.len(), 18);
    assert!(c.rows.iter().all(|r| r.per_seed.len() == 1 && r.ensemble.is_none() && r.genes > 0 && r.per_seed[0].1.is_finite()));

    // A task of the sweep computes what its command computes on its own.
    let task = &plan.tasks()[4];
    let alone = single_run(&plan, task, &dir.path().join("alone"), 1);
    let in_sweep = the_one(&plan.task_dir(task), "_pred.npz");
    assert_eq!(predictions(&alone), predictions(&in_sweep), "{}", task.label());
}
