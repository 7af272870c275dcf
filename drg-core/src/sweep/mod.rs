//! Sweeps past one machine: a grid of models × cross-validation folds × seeds trained as one
//! SLURM job array (`drg sweep`), and the finished runs joined into genome-wide cross-validated
//! results with seed ensembles (`drg collect`).
//!
//! * [`options`]: the two command lines;
//! * [`plan`]: the checked plan of a sweep (`sweep.json`) and its tasks;
//! * [`grid`]: `0-9` / `1,2,3` lists; [`resources`]: the `#SBATCH` resources;
//! * [`script`]: the job array script (`sweep.sh`), which every task runs, on SLURM or locally;
//! * [`submit`]: `sbatch`; [`local`]: `--local -j N`;
//! * [`status`]: a task's state from its run folder;
//! * [`collect`]: joining, scoring, ensembles; [`table`], [`plot`]: the summary.
//!
//! SLURM itself does the scheduling, throttling (`%N`) and requeueing; a task is made resumable by
//! the model binary's `--resume` (checkpoints after every epoch, `crate::train::checkpoint`).

pub mod collect;
pub mod grid;
pub mod local;
pub mod options;
pub mod plan;
pub mod plot;
pub mod resources;
pub mod script;
pub mod status;
pub mod submit;
pub mod table;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use anyhow::Context;

pub use options::{CollectOptions, SweepOptions};
pub use plan::SweepPlan;

use crate::eval::atomic_file::write_bytes_atomically;

/// `drg sweep`: checks the plan, writes `sweep.json` and `sweep.sh`, then submits or runs it
/// (messages on stdout).
pub fn sweep_command(opts: &SweepOptions) -> anyhow::Result<()> {
    let workdir = std::env::current_dir().context("cannot read the current folder")?;
    let exe = std::env::current_exe().context("cannot find the drg binary's folder")?;
    let exe_dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    let plan = SweepPlan::from_options(opts, &workdir, &exe_dir)?;
    let script = write_plan(&plan)?;
    let n = plan.tasks().len();
    println!("wrote {}: {}", script.display(), plan.describe());
    if opts.submit {
        let job = submit::submit(&plan)?;
        println!(
            "submitted job array {job} ({n} tasks); watch it with `squeue -j {job}`; afterwards: drg collect {}",
            plan.outdir.display()
        );
    } else if opts.local {
        let threads = local::local_threads(opts.cpus, opts.jobs);
        println!("running {n} tasks here, {} at a time, {threads} thread(s) each", opts.jobs);
        let outcomes = local::run_local(&plan, opts.jobs, threads, |o| {
            let how = if o.succeeded() {
                "done".to_string()
            } else {
                format!("FAILED ({})", o.status.map_or("killed".into(), |c| format!("exit status {c}")))
            };
            println!("{}: {how} in {:.1} s (log {})", o.task.label(), o.seconds, o.log.display());
        })?;
        let failed: Vec<String> = outcomes.iter().filter(|o| !o.succeeded()).map(|o| o.task.index.to_string()).collect();
        if !failed.is_empty() {
            anyhow::bail!(
                "{} of {n} tasks failed (tasks {}; logs in {}); running the sweep again reruns only the tasks that did not finish",
                failed.len(),
                failed.join(","),
                plan.logs_dir().display()
            );
        }
        println!("all {n} tasks finished; next: drg collect {}", plan.outdir.display());
    } else {
        println!("submit it with `sbatch {}` (or add --submit), or run it here with --local -j N", script.display());
    }
    Ok(())
}

/// Saves the plan and writes the job script (executable); returns the script's path.
pub fn write_plan(plan: &SweepPlan) -> anyhow::Result<PathBuf> {
    plan.save()?;
    let path = plan.script_path();
    write_bytes_atomically(&path, script::job_script(plan)?.as_bytes())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("{}: cannot make it executable", path.display()))?;
    }
    Ok(path)
}

/// `drg collect`: joins the sweep in `opts.sweep` (messages and the table on stdout). Missing
/// tasks are an error after everything else is written, unless `--allow-missing`.
pub fn collect_command(opts: &CollectOptions) -> anyhow::Result<()> {
    let plan = SweepPlan::read(&opts.sweep)?;
    let outdir = opts.outdir.clone().unwrap_or_else(|| opts.sweep.join("collected"));
    let c = collect::collect(&plan, &outdir)?;
    for note in &c.notes {
        println!("{note}");
    }
    println!();
    print!("{}", c.table);
    println!();
    println!("wrote {} files to {}", c.files.len(), outdir.display());
    if !c.missing.is_empty() {
        for (t, s) in &c.missing {
            println!("missing: {}: {}", t.label(), s.describe());
        }
        let msg = format!(
            "{} of {} tasks did not finish (listed in {}); models and seeds without every fold are left out",
            c.missing.len(),
            plan.tasks().len(),
            outdir.join("missing_tasks.tsv").display()
        );
        if !opts.allow_missing {
            anyhow::bail!("{msg} (--allow-missing accepts this)");
        }
        println!("{msg}");
    }
    Ok(())
}
