//! Shared by the sweep tests (`sweep_local.rs`, `sweep_slurm.rs`): a tiny simulated data set with
//! a 3-set cross-validation file, the sweep's plan over the real model binaries, a single run of
//! one task's command outside the sweep, and the checks of `drg collect`'s joined predictions.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use drg_core::data::simulate::{simulate, write_dataset, DatasetPaths, SimOptions};
use drg_core::import::npz::read_npz;
use drg_core::sweep::plan::{SweepPlan, Task};
use drg_core::sweep::status::{task_state, TaskState};
use drg_core::sweep::SweepOptions;

#[derive(Parser)]
struct Cmd {
    #[command(flatten)]
    o: SweepOptions,
}

pub fn s(p: &Path) -> String {
    p.display().to_string()
}

/// A data set of `genes` genes at the demo size (2 kb inputs, 21 tracks in 3 cell types) and a
/// cross-validation file of 3 sets (the simulator's 10, merged) that together hold every gene.
pub fn dataset(dir: &Path, genes: usize) -> (DatasetPaths, PathBuf, Vec<String>) {
    let o = SimOptions { n_genes: genes, seed: 5, ..SimOptions::default() };
    let sim = simulate(&o).unwrap();
    let paths = write_dataset(&sim, &o, &dir.join("data")).unwrap();
    let cv = dir.join("data/cv3.txt");
    let mut text = String::new();
    for (j, group) in [0..4, 4..7, 7..10].into_iter().enumerate() {
        let names: Vec<&str> = sim.cv_sets[group].iter().flatten().map(|&g| sim.genes[g].as_str()).collect();
        text.push_str(&format!("# Set_{j}\n{}\n", names.join(" ")));
    }
    std::fs::write(&cv, text).unwrap();
    let mut all = sim.genes.clone();
    all.sort();
    (paths, cv, all)
}

/// The model arguments of every task (after `--`): the data, and a short training.
pub fn model_args(data: &DatasetPaths, epochs: usize) -> Vec<String> {
    [
        format!("{},{}", s(&data.dna), s(&data.rna)),
        format!("{},{},{}", s(&data.expression), s(&data.degradation), s(&data.transcription)),
        "--delimiter".into(),
        "\\t".into(),
        "--split_outclasses".into(),
        s(&data.classes),
        "--add_fileclasses".into(),
        "ex,kd,kt".into(),
        "--epochs".into(),
        epochs.to_string(),
        "--warm_up_epochs".into(),
        "0".into(),
        "--optimizer".into(),
        "Adam".into(),
        "--lr".into(),
        "0.001".into(),
        "--no_plots".into(),
    ]
    .into()
}

/// The plan of `drg sweep <options> -- <model args>` over the model binaries of this build.
pub fn plan(options: &[String], model_args: &[String], workdir: &Path) -> SweepPlan {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_model_d")).parent().unwrap().to_path_buf();
    let mut argv = vec!["sweep".to_string(), "--bin-dir".into(), s(&bin_dir)];
    argv.extend(options.iter().cloned());
    argv.push("--".into());
    argv.extend(model_args.iter().cloned());
    let o = Cmd::try_parse_from(argv).unwrap().o;
    SweepPlan::from_options(&o, workdir, &bin_dir).unwrap()
}

/// Runs `task`'s model binary directly (no sweep, no script), as the job script would, into
/// `outdir`, with `threads` training threads; returns its `_pred.npz`.
pub fn single_run(plan: &SweepPlan, task: &Task, outdir: &Path, threads: usize) -> PathBuf {
    std::fs::create_dir_all(outdir).unwrap();
    let bin = &plan.grid.models.iter().find(|m| m.name == task.model).unwrap().binary;
    let [cv, cutoff] = &plan.grid.crossvalidation;
    let out = Command::new(bin)
        .args(&plan.grid.model_args)
        .args(["--crossvalidation", cv, &task.fold.to_string(), cutoff, "--seed", &task.seed.to_string()])
        .args(["--addname", &format!("sd{}", task.seed), "--outdir", &format!("{}/", outdir.display())])
        .args(&plan.grid.added_args)
        .current_dir(&plan.workdir)
        .env("RAYON_NUM_THREADS", threads.to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}: {}", task.label(), String::from_utf8_lossy(&out.stderr));
    the_one(outdir, "_pred.npz")
}

/// The one file of `dir` whose name ends in `suffix`.
pub fn the_one(dir: &Path, suffix: &str) -> PathBuf {
    let found: Vec<PathBuf> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.to_string_lossy().ends_with(suffix)).collect();
    assert_eq!(found.len(), 1, "{}: {found:?}", dir.display());
    found.into_iter().next().unwrap()
}

/// `(names, columns, values)` of a predictions file.
pub fn predictions(path: &Path) -> (Vec<String>, Vec<String>, Vec<f32>) {
    let npz = read_npz(path).unwrap();
    let names = npz.get("names").unwrap().strings().unwrap().to_vec();
    let columns = npz.get("columns").unwrap().strings().unwrap().to_vec();
    let (shape, values) = npz.f32("values").unwrap();
    assert_eq!(shape, [names.len(), columns.len()], "{}", path.display());
    (names, columns, values)
}

/// Every task finished; the joined predictions of every model and seed in `collected` hold each
/// gene of `all_genes` exactly once, and each gene's row is the row of the fold run that tested it.
pub fn check_joined(plan: &SweepPlan, collected: &Path, all_genes: &[String]) {
    for model in &plan.grid.models {
        for &seed in &plan.grid.seeds {
            let joined = collected.join(format!("{}_sd{seed}_pred.npz", model.name));
            let (names, columns, values) = predictions(&joined);
            assert_eq!(names, all_genes, "{}: not every gene exactly once", joined.display());
            let t = columns.len();
            let mut seen = vec![0usize; names.len()];
            for task in plan.tasks().iter().filter(|x| x.model == model.name && x.seed == seed) {
                let TaskState::Done { predictions: path } = task_state(&plan.task_dir(task)) else {
                    panic!("{} did not finish", task.label())
                };
                let (fold_names, fold_columns, fold_values) = predictions(&path);
                assert_eq!(fold_columns, columns);
                for (i, gene) in fold_names.iter().enumerate() {
                    let g = names.binary_search(gene).unwrap();
                    seen[g] += 1;
                    let (a, b) = (&values[g * t..(g + 1) * t], &fold_values[i * t..(i + 1) * t]);
                    assert!(a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()), "{gene}: joined row differs from {}", path.display());
                }
            }
            assert!(seen.iter().all(|&k| k == 1), "{} seed {seed}: genes tested by {seen:?} folds", model.name);
        }
    }
}
