//! Every model binary, run as a user runs it, on a tiny simulated dataset in the reference's file
//! formats (demo size: 2 kb inputs, 21 tracks): it trains for a few epochs, the training loss
//! falls, and every output file is written and parses back. Bad input gives one error line and
//! exit code 1.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use drg_core::data::matrix::read_matrix;
use drg_core::data::simulate::{simulate, write_dataset, DatasetPaths, SimOptions};
use drg_core::import::npz::read_npz;

/// A small dataset with the built-in dataset's shapes (3 cell types × 7 conditions, 2 kb).
fn tiny_dataset(dir: &Path) -> DatasetPaths {
    let o = SimOptions { n_genes: 60, seed: 5, ..SimOptions::default() };
    let sim = simulate(&o).unwrap();
    write_dataset(&sim, &o, dir).unwrap()
}

fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(bin).args(args).env("CI", "1").output().expect("run model binary")
}

/// `(epoch, train loss)` of every line of a `_loss.txt`.
fn train_losses(path: &Path) -> Vec<(usize, f64)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 5, "{}: {l}", path.display());
            (f[0].parse().unwrap(), f[3].parse().unwrap())
        })
        .collect()
}

fn files_with(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.to_string_lossy().ends_with(suffix)).collect();
    v.sort();
    v
}

fn check_binary(bin: &str, inputs: &[&Path], outputs: &[&Path], data: &DatasetPaths) {
    let out = tempfile::tempdir().unwrap();
    let outdir = format!("{}/", out.path().display());
    let join = |ps: &[&Path]| ps.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(",");
    let (ins, outs) = (join(inputs), join(outputs));
    let classes = data.classes.display().to_string();
    let cv = data.crossvalidation.display().to_string();
    let res = run(
        bin,
        &[
            &ins,
            &outs,
            "--outdir",
            &outdir,
            "--delimiter",
            "\\t",
            "--split_outclasses",
            &classes,
            "--crossvalidation",
            &cv,
            "1",
            "10",
            "--save_correlation_perclass",
            "--save_correlation_perpoint",
            "--save_predictions",
            "--epochs",
            "4",
            "--warm_up_epochs",
            "0",
            "--optimizer",
            "Adam",
            "--lr",
            "0.001",
            "--quiet",
        ],
    );
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert!(res.status.success(), "{bin} failed: {stderr}");
    let stdout = String::from_utf8_lossy(&res.stdout);
    assert_eq!(stdout.matches("baseline r").count(), 1, "{bin}: not exactly one summary table in {stdout}");

    let loss = files_with(out.path(), "_loss.txt");
    assert_eq!(loss.len(), 1, "{bin}: {loss:?}");
    let lines = train_losses(&loss[0]);
    assert!(lines.len() >= 5, "{bin}: {lines:?}");
    let first = lines[0].1;
    let best = lines[1..].iter().map(|l| l.1).fold(f64::INFINITY, f64::min);
    assert!(best < first, "{bin}: training loss did not fall: {lines:?}");

    // Per-class and per-gene correlation files: `name value` lines with finite or nan values.
    let perclass =
        files_with(out.path(), ".txt").into_iter().filter(|p| p.to_string_lossy().contains("_clss_corr_tcl")).collect::<Vec<_>>();
    let perpoint = files_with(out.path(), ".txt").into_iter().filter(|p| p.to_string_lossy().contains("_pnt_corr_tcl")).collect::<Vec<_>>();
    assert!(!perclass.is_empty() && perclass.len() == perpoint.len(), "{bin}: {perclass:?} {perpoint:?}");
    for f in perclass.iter().chain(&perpoint) {
        for line in std::fs::read_to_string(f).unwrap().lines() {
            let (name, value) = line.split_once(' ').unwrap_or_else(|| panic!("{}: {line}", f.display()));
            assert!(!name.is_empty());
            let v: f64 = value.parse().unwrap_or_else(|_| panic!("{}: {line}", f.display()));
            assert!(v.is_nan() || (-1e-9..=2.0 + 1e-9).contains(&v), "{}: {line}", f.display());
        }
    }
    // Predictions: names × tracks of every output.
    let pred = files_with(out.path(), "_pred.npz");
    assert_eq!(pred.len(), 1, "{bin}");
    let npz = read_npz(&pred[0]).unwrap();
    let names = npz.get("names").unwrap().strings().unwrap().len();
    let (shape, values) = npz.f32("values").unwrap();
    let tracks: usize = outputs.iter().map(|p| read_matrix(p, '\t').unwrap().n_tracks()).sum();
    assert_eq!(shape, vec![names, tracks], "{bin}");
    assert!(values.iter().all(|v| v.is_finite()), "{bin}");
    assert_eq!(npz.get("columns").unwrap().strings().unwrap().len(), tracks);
    // Weights, model description and plots.
    for suffix in ["_parameter.safetensors", "_model_params.json", "_loss.svg"] {
        assert_eq!(files_with(out.path(), suffix).len(), 1, "{bin}: no {suffix}");
    }
}

#[test]
fn every_model_binary_trains_and_writes_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = tiny_dataset(dir.path());
    let (dna, rna) = (d.dna.as_path(), d.rna.as_path());
    let (ex, kd, kt) = (d.expression.as_path(), d.degradation.as_path(), d.transcription.as_path());
    check_binary(env!("CARGO_BIN_EXE_model_a"), &[rna], &[ex], &d);
    check_binary(env!("CARGO_BIN_EXE_model_a_attention"), &[rna], &[ex], &d);
    check_binary(env!("CARGO_BIN_EXE_model_b"), &[dna], &[ex, kd, kt], &d);
    check_binary(env!("CARGO_BIN_EXE_model_c"), &[dna, rna], &[ex], &d);
    for bin in
        [env!("CARGO_BIN_EXE_model_d"), env!("CARGO_BIN_EXE_model_e"), env!("CARGO_BIN_EXE_model_f1"), env!("CARGO_BIN_EXE_model_f2")]
    {
        check_binary(bin, &[dna, rna], &[ex, kd, kt], &d);
    }
}

#[test]
fn data_of_a_length_the_model_was_not_compiled_for_is_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let o = SimOptions { n_genes: 40, dna_length: 1_500, rna_length: 1_500, seed: 2, ..SimOptions::default() };
    let d = write_dataset(&simulate(&o).unwrap(), &o, dir.path()).unwrap();
    let (ins, outs) = (
        format!("{},{}", d.dna.display(), d.rna.display()),
        format!("{},{},{}", d.expression.display(), d.degradation.display(), d.transcription.display()),
    );
    let res = run(env!("CARGO_BIN_EXE_model_d"), &[&ins, &outs, "--delimiter", "\\t", "--quiet"]);
    assert_eq!(res.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&res.stderr);
    // One error: its first line says what does not fit, the lines after it how to fix it (the
    // `sizes` line to add and the command that rebuilds and reruns).
    let first = stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("error: ") && first.contains("1500") && first.contains("dna=2000") && first.contains("dna=40000"),
        "{stderr}"
    );
    assert_eq!(stderr.matches("error").count(), 1, "{stderr}");
    assert!(
        stderr.contains("len1500: len = 1_500, nk = 64, fc = 256, tp = ") && stderr.contains("cargo run --release --bin model_d -- "),
        "{stderr}"
    );

    // CUDA in a build without it: one line saying how to get it, before any data is read.
    if !cfg!(feature = "cuda") {
        let out = tempfile::tempdir().unwrap();
        let outdir = format!("{}/", out.path().display());
        let res = run(env!("CARGO_BIN_EXE_model_d"), &[&ins, &outs, "--device", "cuda:0", "--outdir", &outdir, "--quiet"]);
        assert_eq!(res.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&res.stderr);
        assert!(
            stderr.starts_with("error: device cuda:0: this binary was built without CUDA") && stderr.contains("--features cuda"),
            "{stderr}"
        );
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
    }

    // A missing file: one line naming it.
    let res = run(env!("CARGO_BIN_EXE_model_d"), &["/nonexistent/dna.npz,/nonexistent/rna.npz", &outs, "--quiet"]);
    assert_eq!(res.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert!(stderr.starts_with("error: ") && stderr.contains("/nonexistent/dna.npz") && stderr.trim_end().lines().count() == 1, "{stderr}");
}

/// The explanation flags (issue 13) on model B after two epochs of training, then again on the
/// saved weights with `--predictnew`: the attribution npz files in the reference's layout, the
/// kernels as MEME, SVG logos; and bad input (an unknown track, a window outside the sequence,
/// weights of another architecture) is one error line with nothing written.
#[test]
fn explanation_flags_write_their_files_and_reject_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let d = tiny_dataset(dir.path());
    let out = tempfile::tempdir().unwrap();
    let outdir = format!("{}/", out.path().display());
    let ins = d.dna.display().to_string();
    let outs = format!("{},{},{}", d.expression.display(), d.degradation.display(), d.transcription.display());
    let cv = d.crossvalidation.display().to_string();
    let common = |outdir: &str| -> Vec<String> {
        [&ins, &outs, "--outdir", outdir, "--delimiter", "\\t", "--crossvalidation", &cv, "1", "10", "--quiet"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    let run_with = |bin: &str, outdir: &str, extra: &[&str]| {
        let mut args = common(outdir);
        args.extend(extra.iter().map(|s| s.to_string()));
        run(bin, &args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let model_b = env!("CARGO_BIN_EXE_model_b");
    let train_flags = ["--epochs", "2", "--warm_up_epochs", "0", "--optimizer", "Adam", "--lr", "0.001"];
    let explain = ["--sequence_attributions", "grad", "all", "--attribution_window", "900:1000", "--save_kernel_filters"];
    let res = run_with(model_b, &outdir, &[&train_flags[..], &explain[..]].concat());
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    let grad = files_with(out.path(), "_gradall.npz");
    assert_eq!(grad.len(), 1, "{:?}", std::fs::read_dir(out.path()).unwrap().collect::<Vec<_>>());
    let npz = read_npz(&grad[0]).unwrap();
    let genes = npz.get("names").unwrap().strings().unwrap();
    assert_eq!(genes.len(), 6, "the test set of cross-validation set 1 of 10");
    let (shape, values) = npz.f32("values").unwrap();
    assert_eq!(shape, vec![6, 63, 4, 100], "6 genes, 3 outputs × 21 tracks, 4 bases, 100 bp");
    assert_eq!(npz.get("experiments").unwrap().strings().unwrap().len(), 63);
    // the zero-mean gauge: every position sums to 0 over the 4 bases, and the map is not empty
    for block in values.chunks_exact(400) {
        for p in 0..100 {
            let s: f32 = (0..4).map(|c| block[c * 100 + p]).sum();
            assert!(s.abs() < 1e-5, "{s}");
        }
    }
    assert!(values.iter().any(|v| v.abs() > 0.0));
    // the seqlet motifs of the map: a MEME file beside it (6 genes give no cluster of 10 seqlets;
    // the motifs themselves are checked in drg-core/tests/explain_models.rs)
    let seqlets = std::fs::read_to_string(&files_with(out.path(), "_gradall_seqlet_motifs.meme")[0]).unwrap();
    assert!(seqlets.starts_with("MEME version 4 \nALPHABET= ACGT"), "{seqlets}");
    let meme = std::fs::read_to_string(&files_with(out.path(), "_kernelweights.meme")[0]).unwrap();
    assert!(meme.starts_with("MEME version"), "{meme}");
    assert_eq!(meme.matches("\nMOTIF filter").count(), 64);

    // ISM of two tracks in a 10 bp window on the saved weights, with logos
    let weights = files_with(out.path(), "_parameter.safetensors").remove(0).display().to_string();
    let ism = ["--sequence_attributions", "ism", "0,3", "--attribution_window", "1000:1010", "--attribution_logos"];
    let res = run_with(model_b, &outdir, &[&["--predictnew", weights.as_str()][..], &ism[..]].concat());
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    // model B has no attention: fast ISM, no fallback line (its values: drg-core/tests/ism_fast.rs)
    assert!(!String::from_utf8_lossy(&res.stderr).contains("no fast ISM"), "{}", String::from_utf8_lossy(&res.stderr));
    let npz = read_npz(&files_with(out.path(), "_ism0-3.npz")[0]).unwrap();
    let ism_values = npz.get("values").unwrap();
    assert!(matches!(ism_values.values, drg_core::import::npz::Values::F64(_)), "ISM values are float64, as the reference's");
    let (shape, values) = (ism_values.shape.clone(), ism_values.to_f64().unwrap());
    assert_eq!(shape, vec![6, 2, 4, 10]);
    assert!(values.iter().all(|v| v.is_finite()) && values.iter().any(|v| v.abs() > 0.0));
    let logos = files_with(out.path(), "_dna.svg");
    assert_eq!(logos.len(), 6 * 2, "{logos:?}");
    assert!(std::fs::read_to_string(&logos[0]).unwrap().starts_with("<svg"));

    // bad input: one error line naming the problem, nothing written
    let cases: [(&str, Vec<&str>, &str); 3] = [
        (model_b, vec!["--predictnew", &weights, "--sequence_attributions", "grad", "nosuchtrack"], "unknown track 'nosuchtrack'"),
        (
            model_b,
            vec!["--predictnew", &weights, "--sequence_attributions", "ism", "0", "--attribution_window", "1990:2100"],
            "outside the sequence",
        ),
        (env!("CARGO_BIN_EXE_model_c"), vec!["--predictnew", &weights, "--sequence_attributions", "grad", "0"], &weights),
    ];
    for (bin, extra, want) in cases {
        let empty = tempfile::tempdir().unwrap();
        let empty_dir = format!("{}/", empty.path().display());
        let mut args = common(&empty_dir);
        if bin.ends_with("model_c") {
            args[0] = format!("{},{}", d.dna.display(), d.rna.display());
            args[1] = d.expression.display().to_string();
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let res = run(bin, &args.iter().map(String::as_str).collect::<Vec<_>>());
        let stderr = String::from_utf8_lossy(&res.stderr);
        assert_eq!(res.status.code(), Some(1), "{extra:?}: {stderr}");
        assert!(stderr.starts_with("error: ") && stderr.contains(want), "{extra:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{extra:?}: {stderr}");
        assert_eq!(std::fs::read_dir(empty.path()).unwrap().count(), 0, "{extra:?} wrote files");
    }
}
