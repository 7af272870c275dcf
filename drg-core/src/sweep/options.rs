//! The command lines of `drg sweep` and `drg collect` (the `drg` binary's subcommands).

use std::path::PathBuf;

use super::resources::Resources;

/// Trains a grid of models × cross-validation folds × seeds as one SLURM job array.
///
/// Writes `<outdir>/sweep.sh` (the array script: one task per model, fold and seed, each running
/// the model binary with `--crossvalidation FILE FOLD CUTOFF --seed S --addname sd<S> --resume
/// --save_predictions ...`) and `<outdir>/sweep.json`; `--submit` submits the script with
/// sbatch, `--local -j N` runs its tasks on this machine, N at a time. Tasks that finished are
/// skipped when the sweep is submitted or run again. Afterwards: `drg collect <outdir>`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = SWEEP_EXAMPLE)]
pub struct SweepOptions {
    /// Model binaries, comma-separated (`model_d,model_e`): names in --bin-dir, or paths. All of
    /// them must take the data files and options given after `--`.
    #[arg(long, value_delimiter = ',', required = true)]
    pub models: Vec<String>,

    /// `FILE CUTOFF` (a cross-validation file of the reference: fold F validates on set F and
    /// tests on set F+1; CUTOFF only goes into the output name) or `N CUTOFF` (N random folds).
    #[arg(long, num_args = 2, value_names = ["FILE_OR_N", "CUTOFF"], required = true)]
    pub crossvalidation: Vec<String>,

    /// Folds, e.g. `0-9` or `0,3,5` [default: every fold, one per set of the file]. Only all
    /// folds together predict every gene once.
    #[arg(long)]
    pub folds: Option<String>,

    /// Seeds, e.g. `1-3` or `1,7`.
    #[arg(long, default_value = "1")]
    pub seeds: String,

    /// The sweep folder: the script, the plan, every run (`runs/<model>/fold<F>_sd<S>/`) and the logs.
    #[arg(long)]
    pub outdir: PathBuf,

    /// Where the model binaries are [default: the folder of this drg binary].
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,

    /// CPUs per task (`--cpus-per-task`; also the training's thread count) [default: 4; with
    /// --local: this machine's CPUs divided by -j].
    #[arg(long, help_heading = "Resources per task")]
    pub cpus: Option<usize>,

    /// Memory per task (`--mem`), e.g. `16G` (20,000 genes × 40 kb × 2 inputs load in 611 MB).
    #[arg(long, default_value = "16G", help_heading = "Resources per task")]
    pub mem: String,

    /// Time limit per task (`--time`): minutes, `h:m:s` or `d-h:m:s`. A task that hits it
    /// resumes from its checkpoint when the sweep is submitted again.
    #[arg(long, default_value = "1-00:00:00", help_heading = "Resources per task")]
    pub time: String,

    /// Generic resources (`--gres`), e.g. `gpu:1`; with a GPU the tasks get `--device cuda:0`
    /// (the binaries must be built with `--features cuda`).
    #[arg(long, help_heading = "Resources per task")]
    pub gres: Option<String>,

    /// The device the tasks train on [default: cuda:0 with --gres gpu..., else the binaries' cpu].
    #[arg(long, help_heading = "Resources per task")]
    pub device: Option<String>,

    #[arg(long, help_heading = "Resources per task")]
    pub partition: Option<String>,

    #[arg(long, help_heading = "Resources per task")]
    pub account: Option<String>,

    /// At most N tasks of the array at once (the array's `%N`).
    #[arg(long, value_name = "N", help_heading = "Resources per task")]
    pub max_parallel: Option<usize>,

    #[arg(long, default_value = "drg-sweep", help_heading = "Resources per task")]
    pub job_name: String,

    /// A further `#SBATCH` option, written as given (repeatable): `--sbatch-option=--qos=long`.
    #[arg(long = "sbatch-option", value_name = "OPTION", allow_hyphen_values = true, help_heading = "Resources per task")]
    pub sbatch_options: Vec<String>,

    /// Submit the script with `sbatch` (its job id goes to `<outdir>/jobs.txt`).
    #[arg(long, conflicts_with = "local")]
    pub submit: bool,

    /// Run the tasks here instead of on SLURM, `-j` at a time (logs in `<outdir>/logs/local_<task>.out`).
    #[arg(long)]
    pub local: bool,

    /// With --local: tasks at once.
    #[arg(short = 'j', long = "jobs", value_name = "N", default_value_t = 1, requires = "local")]
    pub jobs: usize,

    /// After `--`: the model binary's data files and options, as for a single run (`TSS.npz,RNA.npz
    /// ex.tsv,kd.tsv,kt.tsv --delimiter '\t' --split_outclasses classes.txt --cnn ...`).
    #[arg(last = true, required = true, value_name = "MODEL ARGS")]
    pub model_args: Vec<String>,
}

/// CPUs per task on SLURM when `--cpus` is not given.
pub const DEFAULT_CPUS: usize = 4;

impl SweepOptions {
    pub fn resources(&self) -> Resources {
        Resources {
            job_name: self.job_name.clone(),
            cpus: self.cpus.unwrap_or(DEFAULT_CPUS),
            mem: self.mem.clone(),
            time: self.time.clone(),
            gres: self.gres.clone(),
            partition: self.partition.clone(),
            account: self.account.clone(),
            max_parallel: self.max_parallel,
            extra: self.sbatch_options.clone(),
        }
    }
}

const SWEEP_EXAMPLE: &str = "\
Example (2 models x 10 folds x 3 seeds = 60 tasks, on GPUs, at most 8 at once):
  drg sweep --models model_d,model_e --crossvalidation Exintron_testsetcv10.txt 10 --seeds 1-3 \\
      --outdir sweeps/de --gres gpu:1 --mem 32G --time 2-00:00:00 --max-parallel 8 --submit -- \\
      TSS40k.npz,RNA40k.npz exonic.tsv,degrad.tsv,intronic.tsv --delimiter '\\t' \\
      --split_outclasses condition.class.txt --add_fileclasses ex,kd,kt --cnn 'lr=0.00001+...'
  drg collect sweeps/de";

/// Joins a finished sweep's per-fold test predictions into genome-wide cross-validated results.
///
/// Writes into `<sweep>/collected/` (or --outdir): per model and seed, the joined `_pred.npz`
/// (every gene predicted by the fold that held it out) and its per-class and per-gene correlation
/// files (`_clss_corr_tcl<class>.txt`, `_pnt_corr_tcl<class>.txt`, the reference's format); per
/// model the ensemble (mean prediction over seeds) with the same files; `summary.tsv`,
/// `summary.txt` and `summary.svg` (per model and class: mean ± sd over seeds of the mean
/// per-gene r, the ensemble's, and the average-profile baseline's); `missing_tasks.tsv`.
/// Missing or failed tasks are listed and make the exit status 1 unless --allow-missing.
#[derive(Debug, Clone, clap::Args)]
pub struct CollectOptions {
    /// The sweep folder (`--outdir` of drg sweep).
    pub sweep: PathBuf,

    /// Where to write [default: <sweep>/collected/].
    #[arg(long)]
    pub outdir: Option<PathBuf>,

    /// Exit 0 when tasks are missing or failed (they are still listed; models and seeds without
    /// every fold are left out of the joined results).
    #[arg(long)]
    pub allow_missing: bool,
}
