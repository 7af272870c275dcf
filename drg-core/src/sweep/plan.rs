//! A sweep's plan: the grid (models × folds × seeds over one data set and one set of model
//! arguments), the resources of each task, and where everything goes. `drg sweep` builds it
//! from the command line, checks it (binaries, data files, folds) before anything is written or
//! submitted, and saves it as `<outdir>/sweep.json`, which `drg collect` reads back.
//!
//! Layout of a sweep folder:
//! * `sweep.json` (this plan) and `sweep.sh` (the job array script, [`super::script`]);
//! * `runs/<model>/fold<F>_sd<S>/`: one task's run (the model binary's files, and the script's
//!   `attempts`, `exit_code` and `done`);
//! * `logs/`: SLURM's (`%x_%A_%a.out`) or `--local`'s (`local_<task>.out`) task logs;
//! * `jobs.txt`: the job ids of `--submit`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Parser;
use serde::{Deserialize, Serialize};

use super::grid::{format_list, parse_list};
use super::options::SweepOptions;
use super::resources::Resources;
use crate::cli::args::RunArgs;
use crate::eval::atomic_file::write_bytes_atomically;

pub const PLAN_FILE: &str = "sweep.json";
pub const SCRIPT_FILE: &str = "sweep.sh";
/// Bumped when the plan's layout changes; older plans are refused with a clear message.
const FORMAT: u32 = 1;

/// One model of the grid: its name (the binary's file name) and the binary's absolute path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelBinary {
    pub name: String,
    pub binary: PathBuf,
}

/// What defines the tasks. Two sweeps with equal grids run the same tasks (resources may differ:
/// a sweep is resubmitted with a longer `--time`, say).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grid {
    pub models: Vec<ModelBinary>,
    /// `--crossvalidation FILE_OR_N CUTOFF`: every task gets `--crossvalidation FILE_OR_N <fold> CUTOFF`.
    pub crossvalidation: [String; 2],
    pub folds: Vec<u64>,
    pub seeds: Vec<u64>,
    /// The model binary's data files and options, as given after `--` (paths relative to `workdir`).
    pub model_args: Vec<String>,
    /// Options every task adds after the per-task ones (`--resume --save_predictions ...`).
    pub added_args: Vec<String>,
}

/// Everything `drg sweep` decided; see the module docs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepPlan {
    pub format: u32,
    /// The drg version that wrote the plan.
    pub drg_version: String,
    /// The folder `drg sweep` ran in: tasks run there, so relative data paths keep their meaning.
    pub workdir: PathBuf,
    /// The sweep folder (absolute).
    pub outdir: PathBuf,
    pub grid: Grid,
    pub resources: Resources,
}

/// One array task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// The array index (`SLURM_ARRAY_TASK_ID`).
    pub index: usize,
    pub model: String,
    pub fold: u64,
    pub seed: u64,
}

impl Task {
    pub fn label(&self) -> String {
        format!("task {} ({}, fold {}, seed {})", self.index, self.model, self.fold, self.seed)
    }
}

/// Options of the model binary that a sweep sets per task itself.
const OWNED_BY_SWEEP: [(&str, &str); 6] = [
    ("--crossvalidation", "give it to drg sweep, without the fold: --crossvalidation FILE CUTOFF"),
    ("--seed", "give the seeds to drg sweep: --seeds 1,2,3"),
    ("--addname", "drg sweep names every run sd<seed>"),
    ("--outdir", "drg sweep writes every run into <outdir>/runs/<model>/fold<F>_sd<S>/"),
    ("--outname", "drg sweep writes every run into <outdir>/runs/<model>/fold<F>_sd<S>/"),
    ("--predictnew", "a sweep trains"),
];

impl SweepPlan {
    /// Builds and checks the plan of `opts`; `workdir` is the current folder and `exe_dir` the
    /// folder of the running `drg` (where cargo puts the model binaries too).
    pub fn from_options(opts: &SweepOptions, workdir: &Path, exe_dir: &Path) -> anyhow::Result<Self> {
        let resources = opts.resources();
        resources.check().map_err(anyhow::Error::msg)?;
        let abs = |p: &Path| if p.is_absolute() { p.to_path_buf() } else { workdir.join(p) };
        let outdir = abs(&opts.outdir);
        for (what, p) in [("--outdir", &outdir), ("the current folder", &workdir.to_path_buf())] {
            let s = p.to_string_lossy();
            if s.chars().any(|c| c.is_whitespace() || matches!(c, '%' | '\'' | '"' | '\\')) {
                anyhow::bail!(
                    "{what} {s}: a path with spaces, quotes, '\\' or '%' cannot go into the job script's #SBATCH lines; use another folder"
                );
            }
        }

        let model_args = check_model_args(&opts.model_args, workdir)?;
        let bin_dir = opts.bin_dir.as_deref().map(abs).unwrap_or_else(|| exe_dir.to_path_buf());
        let mut models = Vec::new();
        for m in &opts.models {
            let model = find_binary(m, &bin_dir, workdir)?;
            if models.iter().any(|x: &ModelBinary| x.name == model.name) {
                anyhow::bail!("--models: {} is listed twice", model.name);
            }
            models.push(model);
        }

        let [cv, cutoff] = [&opts.crossvalidation[0], &opts.crossvalidation[1]];
        let sets = match cv.parse::<u64>() {
            Ok(n) if n >= 2 => n,
            Ok(n) => anyhow::bail!("--crossvalidation {n} {cutoff}: need at least 2 folds"),
            Err(_) => cv_set_count(&abs(Path::new(cv)))?,
        };
        if cutoff.parse::<f64>().is_err() {
            anyhow::bail!("--crossvalidation {cv} {cutoff}: the cutoff '{cutoff}' is not a number");
        }
        let folds = match &opts.folds {
            Some(f) => parse_list("--folds", f).map_err(anyhow::Error::msg)?,
            None => (0..sets).collect(),
        };
        if let Some(&bad) = folds.iter().find(|&&f| f >= sets) {
            anyhow::bail!("--folds: fold {bad} does not exist: {cv} has {sets} sets (folds 0-{})", sets - 1);
        }
        let seeds = parse_list("--seeds", &opts.seeds).map_err(anyhow::Error::msg)?;

        let parsed = parse_run_args(&model_args)?;
        let mut added_args = vec![];
        for (set, flag) in [
            (parsed.resume, "--resume"),
            (parsed.save_predictions, "--save_predictions"),
            (parsed.save_correlation_perclass, "--save_correlation_perclass"),
            (parsed.save_correlation_perpoint, "--save_correlation_perpoint"),
        ] {
            if !set {
                added_args.push(flag.to_string());
            }
        }
        let device = match (&opts.device, &parsed.device) {
            (Some(d), Some(given)) => anyhow::bail!("--device {d} and --device {given} after `--`: give it once"),
            (Some(d), None) => Some(d.clone()),
            (None, None) if resources.wants_gpu() => Some("cuda:0".to_string()),
            (None, _) => None,
        };
        if let Some(d) = device {
            added_args.extend(["--device".to_string(), d]);
        }

        let grid = Grid { models, crossvalidation: [cv.clone(), cutoff.clone()], folds, seeds, model_args, added_args };
        Ok(SweepPlan {
            format: FORMAT,
            drg_version: env!("CARGO_PKG_VERSION").to_string(),
            workdir: workdir.to_path_buf(),
            outdir,
            grid,
            resources,
        })
    }

    /// Every task, in array order: models, then folds, then seeds.
    pub fn tasks(&self) -> Vec<Task> {
        let g = &self.grid;
        let mut tasks = Vec::new();
        for m in &g.models {
            for &fold in &g.folds {
                for &seed in &g.seeds {
                    tasks.push(Task { index: tasks.len(), model: m.name.clone(), fold, seed });
                }
            }
        }
        tasks
    }

    pub fn runs_dir(&self) -> PathBuf {
        self.outdir.join("runs")
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.outdir.join("logs")
    }

    pub fn script_path(&self) -> PathBuf {
        self.outdir.join(SCRIPT_FILE)
    }

    /// Where a task's run writes (the job script computes the same path).
    pub fn task_dir(&self, task: &Task) -> PathBuf {
        self.runs_dir().join(&task.model).join(format!("fold{}_sd{}", task.fold, task.seed))
    }

    /// A path of the model arguments (or the cross-validation file) as the tasks see it.
    pub fn resolve(&self, p: impl AsRef<Path>) -> PathBuf {
        let p = p.as_ref();
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.workdir.join(p)
        }
    }

    /// One line for messages: `2 models x 3 folds x 2 seeds = 12 tasks`.
    pub fn describe(&self) -> String {
        let g = &self.grid;
        let n = |k: usize, what: &str| format!("{k} {what}{}", if k == 1 { "" } else { "s" });
        format!(
            "{} ({}) x {} ({}) x {} ({}) = {}",
            n(g.models.len(), "model"),
            g.models.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", "),
            n(g.folds.len(), "fold"),
            format_list(&g.folds),
            n(g.seeds.len(), "seed"),
            format_list(&g.seeds),
            n(self.tasks().len(), "task")
        )
    }

    /// Writes `sweep.json` into the sweep folder. A folder that already holds a sweep with
    /// another grid is refused: its runs would be mixed with this sweep's.
    pub fn save(&self) -> anyhow::Result<()> {
        let path = self.outdir.join(PLAN_FILE);
        if path.exists() {
            let old = Self::read(&self.outdir)?;
            if old.grid != self.grid || old.workdir != self.workdir {
                anyhow::bail!(
                    "{}: holds a sweep with other models, folds, seeds, arguments or folder; use another --outdir",
                    path.display()
                );
            }
        }
        for d in [self.outdir.clone(), self.runs_dir(), self.logs_dir()] {
            std::fs::create_dir_all(&d).with_context(|| format!("{}: cannot create the folder", d.display()))?;
        }
        let text = serde_json::to_string_pretty(self)? + "\n";
        write_bytes_atomically(&path, text.as_bytes())
    }

    /// Reads `<dir>/sweep.json`.
    pub fn read(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(PLAN_FILE);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("{}: cannot read (is {} a folder written by drg sweep?)", path.display(), dir.display()))?;
        let value: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("{}: not a sweep plan", path.display()))?;
        if value.get("format").and_then(|f| f.as_u64()) != Some(FORMAT as u64) {
            anyhow::bail!(
                "{}: written by another version of drg sweep (format {}, this drg reads {FORMAT})",
                path.display(),
                value.get("format").unwrap_or(&serde_json::Value::Null)
            );
        }
        serde_json::from_value(value).with_context(|| format!("{}: not a sweep plan", path.display()))
    }

    /// The model arguments parsed as the model binaries parse them.
    pub fn run_args(&self) -> anyhow::Result<RunArgs> {
        parse_run_args(&self.grid.model_args)
    }
}

/// The arguments after `--`, parsed as a model binary parses them (so that a typo is reported
/// now rather than by every task).
fn parse_run_args(args: &[String]) -> anyhow::Result<RunArgs> {
    RunArgs::try_parse_from(std::iter::once("model").chain(args.iter().map(String::as_str))).map_err(|e| {
        let text = e.to_string();
        let first = text.lines().next().unwrap_or("").trim_start_matches("error: ");
        anyhow::anyhow!("the model arguments after `--`: {first}")
    })
}

/// Checks the arguments after `--`: data files given and present, no option the sweep sets.
fn check_model_args(args: &[String], workdir: &Path) -> anyhow::Result<Vec<String>> {
    for a in args {
        let flag = a.split('=').next().unwrap_or(a);
        if let Some((f, why)) = OWNED_BY_SWEEP.iter().find(|(f, _)| *f == flag || f.replace('_', "-") == flag) {
            anyhow::bail!("{f} after `--`: drg sweep sets it for every task ({why})");
        }
    }
    let parsed = parse_run_args(args)?;
    let (Some(inputs), Some(outputs)) = (&parsed.inputs, &parsed.outputs) else {
        anyhow::bail!("give the model's data after `--`: input files and output files (comma-separated), then the model's options");
    };
    let files = inputs.split(',').chain(outputs.split(',')).map(PathBuf::from).chain(parsed.split_outclasses.clone());
    for f in files {
        let full = if f.is_absolute() { f.clone() } else { workdir.join(&f) };
        if !full.is_file() {
            anyhow::bail!("{}: no such file (a data file after `--`)", f.display());
        }
    }
    Ok(args.to_vec())
}

/// The binary of `--models` entry `name`: a path (with a `/`), or a file name in `bin_dir`.
fn find_binary(name: &str, bin_dir: &Path, workdir: &Path) -> anyhow::Result<ModelBinary> {
    let path = if name.contains('/') {
        let p = PathBuf::from(name);
        if p.is_absolute() {
            p
        } else {
            workdir.join(p)
        }
    } else {
        bin_dir.join(name)
    };
    if !path.is_file() {
        let mut there: Vec<String> = std::fs::read_dir(bin_dir)
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().into_string().ok()).filter(|n| n.starts_with("model_") && !n.contains('.')).collect()
            })
            .unwrap_or_default();
        there.sort();
        let hint = if there.is_empty() { "none there".to_string() } else { format!("there: {}", there.join(", ")) };
        anyhow::bail!(
            "--models: no model binary {} ({hint}; build them with `cargo build --release --bins`, or pass --bin-dir)",
            path.display()
        );
    }
    let binary = path.canonicalize().with_context(|| format!("{}: cannot resolve the path", path.display()))?;
    let name = binary.file_name().and_then(|n| n.to_str()).context("a model binary's name is not UTF-8")?.to_string();
    Ok(ModelBinary { name, binary })
}

/// The number of sets in a cross-validation file: its lines that are neither empty nor
/// comments (`#`), the rule of [`crate::data::crossval::read_cv_sets`].
fn cv_set_count(path: &Path) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read the cross-validation file", path.display()))?;
    let n = text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).count() as u64;
    if n < 2 {
        anyhow::bail!("{}: {n} set(s); cross-validation needs at least 2 (one line of gene names per set)", path.display());
    }
    Ok(n)
}
