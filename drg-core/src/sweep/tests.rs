//! Tests of the sweep with stand-in model binaries (bash scripts that record their command line)
//! and predictions written by the test: the plan's checks, the job script's tasks as the binaries
//! see them, reruns and failures, and `collect` against independent computations.

use std::path::{Path, PathBuf};

use clap::Parser;

use super::collect::collect;
use super::local::run_local;
use super::plan::SweepPlan;
use super::status::{task_state, TaskState};
use super::{write_plan, SweepOptions};
use crate::data::simulate::{simulate, write_dataset, DatasetPaths, SimOptions};
use crate::data::{self, CvSpec, DataSpec, InputSpec};
use crate::eval::report_files::write_predictions_npz;
use crate::import::npz::read_npz;

#[derive(Parser)]
struct Cmd {
    #[command(flatten)]
    o: SweepOptions,
}

fn parse(args: &[String]) -> SweepOptions {
    Cmd::try_parse_from(std::iter::once("sweep".to_string()).chain(args.iter().cloned())).unwrap().o
}

/// A stand-in model binary: writes its arguments (one per line), its thread count and its
/// working folder into `<outdir>args.txt`, creates `<outdir>run_pred.npz`, and exits with the
/// status in the file `fail/fail_<fold>_<seed>` of its working folder when that exists.
fn fake_binary(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let body = r#"#!/bin/bash
out=""; fold=""; seed=""
prev=""; for a in "$@"; do
  [ "$prev" = --outdir ] && out=$a
  [ "$prev" = --seed ] && seed=$a
  [ "$prev" = --crossvalidation ] && cvfile=$a
  prev=$a
done
fold=$(printf '%s\n' "$@" | grep -A1 -x -- "$cvfile" | sed -n 2p)
printf '%s\n' "$@" > "${out}args.txt"
echo "threads=$RAYON_NUM_THREADS cwd=$PWD" > "${out}env.txt"
if [ -e "fail/fail_${fold}_${seed}" ]; then exit "$(cat "fail/fail_${fold}_${seed}")"; fi
touch "${out}run_pred.npz"
"#;
    std::fs::write(&path, body).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// A tiny simulated data set and a cross-validation file of 3 sets (the simulator's 10 merged
/// into 3) that together hold every gene.
fn dataset(dir: &Path) -> (DatasetPaths, PathBuf) {
    let o = SimOptions { n_genes: 30, dna_length: 600, rna_length: 300, seed: 4, ..SimOptions::default() };
    let sim = simulate(&o).unwrap();
    let paths = write_dataset(&sim, &o, &dir.join("data")).unwrap();
    let cv = dir.join("data/cv3.txt");
    let mut text = String::new();
    for (j, group) in [0..4, 4..7, 7..10].into_iter().enumerate() {
        let names: Vec<&str> = sim.cv_sets[group].iter().flatten().map(|&g| sim.genes[g].as_str()).collect();
        text.push_str(&format!("# Set_{j}\n{}\n", names.join(" ")));
    }
    std::fs::write(&cv, text).unwrap();
    (paths, cv)
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// The sweep command line over `data` with the fake binaries in `bin`, plus `extra` options and
/// `model_extra` model arguments.
fn sweep_args(data: &DatasetPaths, cv: &Path, bin: &Path, out: &Path, extra: &[&str], model_extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> =
        ["--models", "model_x,model_y", "--crossvalidation", &s(cv), "10", "--seeds", "1,2", "--outdir", &s(out), "--bin-dir", &s(bin)]
            .iter()
            .map(|x| x.to_string())
            .collect();
    a.extend(extra.iter().map(|x| x.to_string()));
    a.push("--".into());
    a.push(format!("{},{}", s(&data.dna), s(&data.rna)));
    a.push(format!("{},{},{}", s(&data.expression), s(&data.degradation), s(&data.transcription)));
    a.extend(
        ["--delimiter", "\\t", "--split_outclasses", &s(&data.classes), "--add_fileclasses", "ex,kd,kt"].iter().map(|x| x.to_string()),
    );
    a.extend(model_extra.iter().map(|x| x.to_string()));
    a
}

fn plan_of(args: &[String], workdir: &Path, exe_dir: &Path) -> anyhow::Result<SweepPlan> {
    SweepPlan::from_options(&parse(args), workdir, exe_dir)
}

#[test]
fn the_plan_checks_the_command_line_before_writing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let (data, cv) = dataset(dir.path());
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    fake_binary(&bin, "model_x");
    fake_binary(&bin, "model_y");
    let out = dir.path().join("sweep");
    let err = |extra: &[&str], model_extra: &[&str]| {
        format!("{:#}", plan_of(&sweep_args(&data, &cv, &bin, &out, extra, model_extra), dir.path(), &bin).unwrap_err())
    };

    let p = plan_of(&sweep_args(&data, &cv, &bin, &out, &[], &[]), dir.path(), &bin).unwrap();
    assert_eq!(p.grid.folds, [0, 1, 2], "every set of the file by default");
    assert_eq!(p.tasks().len(), 12);
    assert_eq!(p.describe(), "2 models (model_x, model_y) x 3 folds (0-2) x 2 seeds (1,2) = 12 tasks");
    assert_eq!(p.grid.added_args, ["--resume", "--save_predictions", "--save_correlation_perclass", "--save_correlation_perpoint"]);
    let t = &p.tasks()[7];
    assert_eq!((t.model.as_str(), t.fold, t.seed), ("model_y", 0, 2));
    // Flags the user gave are not added twice; a GPU brings --device cuda:0.
    let p =
        plan_of(&sweep_args(&data, &cv, &bin, &out, &["--gres", "gpu:1"], &["--save_predictions", "--resume"]), dir.path(), &bin).unwrap();
    assert_eq!(p.grid.added_args, ["--save_correlation_perclass", "--save_correlation_perpoint", "--device", "cuda:0"]);

    assert!(nothing_written(&out));
    let e = err(&[], &["--seed", "3"]);
    assert!(e.starts_with("--seed after `--`: drg sweep sets it for every task (give the seeds to drg sweep"), "{e}");
    let e = err(&[], &["--outdir=x/"]);
    assert!(e.starts_with("--outdir after `--`: drg sweep sets it"), "{e}");
    let e = err(&[], &["--bogus"]);
    assert!(e.starts_with("the model arguments after `--`: unexpected argument '--bogus'"), "{e}");
    let e = err(&["--folds", "1-3"], &[]);
    assert!(e.contains("--folds: fold 3 does not exist") && e.contains("has 3 sets (folds 0-2)"), "{e}");
    let e = err(&["--time", "2 days"], &[]);
    assert!(e.starts_with("--time '2 days': not a SLURM time"), "{e}");
    let e = err(&["--device", "cuda:1"], &["--device", "cuda:0"]);
    assert!(e.contains("give it once"), "{e}");
    let mut a = sweep_args(&data, &cv, &bin, &out, &[], &[]);
    a[1] = "model_x,model_z".into();
    let e = format!("{:#}", plan_of(&a, dir.path(), &bin).unwrap_err());
    assert!(e.starts_with("--models: no model binary") && e.contains("model_z (there: model_x, model_y;"), "{e}");
    let bad = data.expression.with_file_name("missing.tsv");
    let a: Vec<String> =
        sweep_args(&data, &cv, &bin, &out, &[], &[]).into_iter().map(|x| x.replace(&s(&data.expression), &s(&bad))).collect();
    let e = format!("{:#}", plan_of(&a, dir.path(), &bin).unwrap_err());
    assert_eq!(e, format!("{}: no such file (a data file after `--`)", bad.display()));
    let spaced = dir.path().join("my sweep");
    let e = format!("{:#}", plan_of(&sweep_args(&data, &cv, &bin, &spaced, &[], &[]), dir.path(), &bin).unwrap_err());
    assert!(e.contains("cannot go into the job script's #SBATCH lines"), "{e}");
    assert!(nothing_written(&out));

    // A folder holding another sweep is refused; the same grid with other resources is not.
    write_plan(&plan_of(&sweep_args(&data, &cv, &bin, &out, &[], &[]), dir.path(), &bin).unwrap()).unwrap();
    write_plan(&plan_of(&sweep_args(&data, &cv, &bin, &out, &["--time", "90"], &[]), dir.path(), &bin).unwrap()).unwrap();
    let mut one_seed = sweep_args(&data, &cv, &bin, &out, &[], &[]);
    assert_eq!(one_seed[6], "1,2");
    one_seed[6] = "1".into();
    let e = format!("{:#}", write_plan(&plan_of(&one_seed, dir.path(), &bin).unwrap()).unwrap_err());
    assert!(e.contains("sweep.json: holds a sweep with other models, folds, seeds"), "{e}");
}

fn nothing_written(out: &Path) -> bool {
    !out.exists()
}

#[test]
fn every_task_runs_its_model_fold_and_seed_and_finished_tasks_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let (data, cv) = dataset(dir.path());
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    fake_binary(&bin, "model_x");
    fake_binary(&bin, "model_y");
    let out = dir.path().join("sweep");
    // A quote and spaces survive the script's quoting.
    let cnn = "lr=0.001+note='a b' \"c\"";
    let args = sweep_args(&data, &cv, &bin, &out, &["--max-parallel", "3"], &["--cnn", cnn]);
    let plan = plan_of(&args, dir.path(), &bin).unwrap();
    let script = write_plan(&plan).unwrap();
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(text.contains("#SBATCH --array=0-11%3\n") && text.contains("#SBATCH --cpus-per-task=4\n"), "{text}");

    let fail = dir.path().join("fail");
    std::fs::create_dir(&fail).unwrap();
    std::fs::write(fail.join("fail_1_2"), "3").unwrap();
    let mut lines = 0;
    let outcomes = run_local(&plan, 3, 2, |_| lines += 1).unwrap();
    assert_eq!((outcomes.len(), lines), (12, 12));
    for (o, t) in outcomes.iter().zip(plan.tasks()) {
        assert_eq!(o.task, t);
        let d = plan.task_dir(&t);
        let failing = t.fold == 1 && t.seed == 2;
        assert_eq!(o.status, Some(if failing { 3 } else { 0 }), "{}", t.label());
        let mut want: Vec<String> = args[args.iter().position(|a| a == "--").unwrap() + 1..].to_vec();
        want.extend(["--crossvalidation".into(), s(&cv), t.fold.to_string(), "10".into(), "--seed".into(), t.seed.to_string()]);
        want.extend(["--addname".into(), format!("sd{}", t.seed), "--outdir".into(), format!("{}/", d.display())]);
        want.extend(plan.grid.added_args.iter().cloned());
        let got: Vec<String> = std::fs::read_to_string(d.join("args.txt")).unwrap().lines().map(str::to_string).collect();
        assert_eq!(got, want, "{}", t.label());
        assert_eq!(std::fs::read_to_string(d.join("env.txt")).unwrap(), format!("threads=2 cwd={}\n", dir.path().display()));
        assert_eq!(std::fs::read_to_string(d.join("attempts")).unwrap().lines().count(), 1);
        if failing {
            assert_eq!(task_state(&d), TaskState::Failed { exit_code: "3".into() });
        } else {
            assert_eq!(task_state(&d), TaskState::Done { predictions: d.join("run_pred.npz") });
        }
    }
    // Run again: the finished tasks are skipped, the failed ones run again (and now succeed).
    std::fs::remove_file(fail.join("fail_1_2")).unwrap();
    let again = run_local(&plan, 2, 1, |_| {}).unwrap();
    assert!(again.iter().all(|o| o.succeeded()));
    for t in plan.tasks() {
        let attempts = std::fs::read_to_string(plan.task_dir(&t).join("attempts")).unwrap().lines().count();
        assert_eq!(attempts, if t.fold == 1 && t.seed == 2 { 2 } else { 1 }, "{}", t.label());
        assert!(task_state(&plan.task_dir(&t)).is_done());
    }
    let log = std::fs::read_to_string(plan.logs_dir().join("local_0.out")).unwrap();
    assert!(log.contains("task 0 (model_x, fold 0, seed 1) finished before; skipped"), "{log}");
}

/// Pearson r in f64, straight from the definition.
fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        ab += (x - ma) * (y - mb);
        aa += (x - ma) * (x - ma);
        bb += (y - mb) * (y - mb);
    }
    ab / (aa * bb).sqrt()
}

fn read_pairs(path: &Path) -> Vec<(String, f64)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let (a, b) = l.split_once(' ').unwrap();
            (a.to_string(), b.parse().unwrap())
        })
        .collect()
}

#[test]
fn collect_joins_the_folds_scores_them_and_lists_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let (data, cv) = dataset(dir.path());
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    fake_binary(&bin, "model_x");
    fake_binary(&bin, "model_y");
    let out = dir.path().join("sweep");
    let plan = plan_of(&sweep_args(&data, &cv, &bin, &out, &[], &[]), dir.path(), &bin).unwrap();
    write_plan(&plan).unwrap();

    // The data as a model binary sees it, fold by fold.
    let mut spec = DataSpec::new(
        vec![InputSpec::new(&data.dna, true), InputSpec::new(&data.rna, false)],
        vec![data.expression.clone(), data.degradation.clone(), data.transcription.clone()],
    );
    spec.delimiter = '\t';
    spec.class_file = Some(data.classes.clone());
    spec.file_tags = Some(vec!["ex".into(), "kd".into(), "kt".into()]);
    let fold_data = |f: usize| data::load(&DataSpec { cv: CvSpec::File { path: cv.clone(), fold: f }, ..spec.clone() }).unwrap();
    let ds = fold_data(0);
    let tracks: Vec<String> = ds.eval_track_names.concat();
    let classes: Vec<String> = ds.track_classes.concat();
    let t = tracks.len();
    let truth: Vec<f64> =
        crate::train::data_fit::targets_side_by_side(&ds, &(0..ds.n_genes()).collect::<Vec<_>>()).into_iter().map(f64::from).collect();
    // A made-up prediction of gene g by one model and seed: the truth, scaled, plus a wobble.
    let predict = |model: usize, seed: u64, g: usize, k: usize| -> f32 {
        (truth[g * t + k] * (0.5 + 0.2 * model as f64) + 0.3 * ((g * 7 + k * 3) as f64 + seed as f64 * 1.7).sin()) as f32
    };
    for task in plan.tasks() {
        let d = plan.task_dir(&task);
        std::fs::create_dir_all(&d).unwrap();
        let split = fold_data(task.fold as usize).split;
        let m = usize::from(task.model == "model_y");
        let names: Vec<String> = split.test.iter().map(|&g| ds.genes[g].clone()).collect();
        let values: Vec<f32> =
            split.test.iter().flat_map(|&g| (0..t).map(move |k| (g, k))).map(|(g, k)| predict(m, task.seed, g, k)).collect();
        write_predictions_npz(&format!("{}/run_f{}", d.display(), task.fold), &names, &values, &tracks).unwrap();
        std::fs::write(d.join("done"), "").unwrap();
    }

    let target = out.join("collected");
    let c = collect(&plan, &target).unwrap();
    assert!(c.missing.is_empty());
    assert_eq!(c.notes[0], format!("model_x seed 1: {} genes of {} joined from folds 0,1,2", ds.n_genes(), ds.n_genes()));
    // The joined predictions: every gene once, in data order, each row the fold's own row.
    for (m, model) in ["model_x", "model_y"].iter().enumerate() {
        for seed in [1u64, 2] {
            let npz = read_npz(target.join(format!("{model}_sd{seed}_pred.npz"))).unwrap();
            assert_eq!(npz.get("names").unwrap().strings().unwrap(), ds.genes.as_slice());
            assert_eq!(npz.get("columns").unwrap().strings().unwrap(), tracks.as_slice());
            let (shape, v) = npz.f32("values").unwrap();
            assert_eq!(shape, [ds.n_genes(), t]);
            for g in 0..ds.n_genes() {
                for k in 0..t {
                    assert_eq!(v[g * t + k].to_bits(), predict(m, seed, g, k).to_bits());
                }
            }
        }
        // The ensemble is the mean over seeds.
        let (_, e) = read_npz(target.join(format!("{model}_ensemble_pred.npz"))).unwrap().f32("values").unwrap();
        for g in 0..ds.n_genes() {
            for k in 0..t {
                let want = (predict(m, 1, g, k) as f64 + predict(m, 2, g, k) as f64) / 2.0;
                assert!((e[g * t + k] as f64 - want).abs() < 1e-6);
            }
        }
    }
    // Correlation files of the joined predictions against the definition (4 decimals).
    let class = &classes[0];
    let members: Vec<usize> = (0..t).filter(|&k| &classes[k] == class).collect();
    let per_track = read_pairs(&target.join(format!("model_y_sd2_clss_corr_tcl{class}.txt")));
    assert_eq!(per_track.len(), members.len());
    for (&k, (name, value)) in members.iter().zip(&per_track) {
        assert_eq!(name, &tracks[k]);
        let measured: Vec<f64> = (0..ds.n_genes()).map(|g| truth[g * t + k]).collect();
        let predicted: Vec<f64> = (0..ds.n_genes()).map(|g| predict(1, 2, g, k) as f64).collect();
        assert!((value - (1.0 - pearson(&measured, &predicted))).abs() <= 0.5e-4 + 1e-12, "{name}: {value}");
    }
    let per_gene = read_pairs(&target.join(format!("model_y_sd2_pnt_corr_tcl{class}.txt")));
    assert_eq!(per_gene.len(), ds.n_genes());
    for (g, (name, value)) in per_gene.iter().enumerate() {
        assert_eq!(name, &ds.genes[g]);
        let measured: Vec<f64> = members.iter().map(|&k| truth[g * t + k]).collect();
        let predicted: Vec<f64> = members.iter().map(|&k| predict(1, 2, g, k) as f64).collect();
        assert!((value - (1.0 - pearson(&measured, &predicted))).abs() <= 0.5e-4 + 1e-12, "{name}: {value}");
    }
    // The table: per-seed means of per-gene r, and the baseline (each gene's fold's training mean).
    let row = c.rows.iter().find(|r| r.model == "model_x" && &r.class == class).unwrap();
    let mean_r = |pred: &dyn Fn(usize, usize) -> f64| -> f64 {
        (0..ds.n_genes())
            .map(|g| {
                pearson(
                    &members.iter().map(|&k| truth[g * t + k]).collect::<Vec<_>>(),
                    &members.iter().map(|&k| pred(g, k)).collect::<Vec<_>>(),
                )
            })
            .sum::<f64>()
            / ds.n_genes() as f64
    };
    for (seed, r) in &row.per_seed {
        assert!((r - mean_r(&|g, k| predict(0, *seed, g, k) as f64)).abs() < 1e-9, "seed {seed}");
    }
    let profiles: Vec<(Vec<usize>, Vec<f64>)> = (0..3)
        .map(|f| {
            let split = fold_data(f).split;
            let profile = (0..t).map(|k| split.train.iter().map(|&g| truth[g * t + k]).sum::<f64>() / split.train.len() as f64).collect();
            (split.test, profile)
        })
        .collect();
    let baseline_of = |g: usize, k: usize| profiles.iter().find(|(test, _)| test.contains(&g)).unwrap().1[k];
    assert!((row.baseline - mean_r(&baseline_of)).abs() < 1e-9, "{} vs {}", row.baseline, mean_r(&baseline_of));
    let ens = row.ensemble.unwrap();
    assert!((ens - mean_r(&|g, k| (predict(0, 1, g, k) as f64 + predict(0, 2, g, k) as f64) / 2.0)).abs() < 1e-5);
    let tsv = std::fs::read_to_string(target.join("summary.tsv")).unwrap();
    assert_eq!(tsv.lines().count(), 1 + 2 * 9, "{tsv}");
    assert!(target.join("summary.svg").exists());
    assert_eq!(std::fs::read_to_string(target.join("missing_tasks.tsv")).unwrap().lines().count(), 1);

    // One task unfinished, one failed: listed, and their seeds left out of the joined results.
    let tasks = plan.tasks();
    let (unfinished, failed) = (&tasks[3], &tasks[8]);
    std::fs::remove_file(plan.task_dir(unfinished).join("done")).unwrap();
    std::fs::remove_file(plan.task_dir(failed).join("done")).unwrap();
    std::fs::write(plan.task_dir(failed).join("exit_code"), "1\n").unwrap();
    let c = collect(&plan, &target).unwrap();
    assert_eq!(c.missing.iter().map(|(t, _)| t.index).collect::<Vec<_>>(), [3, 8]);
    assert!(
        c.notes.contains(&format!("model_x seed {}: left out, fold(s) {} not finished", unfinished.seed, unfinished.fold)),
        "{:?}",
        c.notes
    );
    let row = c.rows.iter().find(|r| r.model == "model_x").unwrap();
    assert_eq!((row.per_seed.len(), row.ensemble), (1, None));
    let missing = std::fs::read_to_string(target.join("missing_tasks.tsv")).unwrap();
    assert!(
        missing.lines().nth(2).unwrap().starts_with(&format!("8\tmodel_y\t{}\t{}\tfailed (exit status 1", failed.fold, failed.seed)),
        "{missing}"
    );

    // Predictions of other genes than the fold's test set are an error naming the file.
    let d = plan.task_dir(&tasks[0]);
    let names: Vec<String> = ds.genes[..3].to_vec();
    let path = write_predictions_npz(&format!("{}/run_f0", d.display()), &names, &vec![0.0; 3 * t], &tracks).unwrap();
    let e = format!("{:#}", collect(&plan, &target).unwrap_err());
    assert_eq!(
        e,
        format!(
            "{}: its 3 genes are not the {} genes of fold 0's test set in the data (a run on other data, or another cross-validation file?)",
            path.display(),
            fold_data(0).split.test.len()
        )
    );
}
