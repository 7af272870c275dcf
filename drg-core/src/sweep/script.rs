//! The job array script of a sweep (`<outdir>/sweep.sh`): `#SBATCH` lines, then a bash program
//! that maps `SLURM_ARRAY_TASK_ID` to one (model, fold, seed) and runs that model binary.
//!
//! The same script runs the tasks of `drg sweep --local` (with `SLURM_ARRAY_TASK_ID` set by drg),
//! so SLURM and local runs cannot drift apart. Per task it
//! * skips the task when its folder holds `done` (a finished task of an earlier submission);
//! * appends a line to `attempts` (time, job id, SLURM's restart count, host);
//! * runs the binary with `--resume`, which starts afresh when there is no checkpoint and
//!   continues from the last epoch's checkpoint after a requeue;
//! * writes the exit status to `exit_code`, and `done` when it is 0.

use std::borrow::Cow;
use std::fmt::Write;

use super::plan::SweepPlan;

/// Quotes `s` for bash (single quotes where needed).
fn quote(s: &str) -> anyhow::Result<Cow<'_, str>> {
    shlex::try_quote(s).map_err(|e| anyhow::anyhow!("cannot quote '{s}' for the job script: {e}"))
}

/// The script's text.
pub fn job_script(plan: &SweepPlan) -> anyhow::Result<String> {
    let tasks = plan.tasks();
    let n = tasks.len();
    let g = &plan.grid;
    let outdir = plan.outdir.display().to_string();
    let script = plan.script_path().display().to_string();
    let mut s = String::new();
    let w = &mut s;
    writeln!(w, "#!/bin/bash")?;
    writeln!(w, "# drg sweep: {}; array indices 0-{}.", plan.describe(), n - 1)?;
    writeln!(w, "# Written by drg {}. Every task trains one model on one cross-validation fold with one", plan.drg_version)?;
    writeln!(w, "# seed into {outdir}/runs/<model>/fold<F>_sd<S>/, with --resume: a requeued task continues")?;
    writeln!(w, "# from its last checkpoint. A task whose folder holds `done` has finished and is skipped.")?;
    writeln!(w, "#   submit:                 sbatch {script}")?;
    writeln!(w, "#   one task without SLURM: SLURM_ARRAY_TASK_ID=0 bash {script}")?;
    writeln!(w, "#   afterwards:             drg collect {outdir}")?;
    let log_pattern = format!("{}/%x_%A_%a.out", plan.logs_dir().display());
    for line in plan.resources.sbatch_lines(n, &log_pattern, &plan.workdir.display().to_string()) {
        writeln!(w, "{line}")?;
    }
    writeln!(w, "set -uo pipefail")?;
    writeln!(w)?;
    writeln!(w, "task=${{SLURM_ARRAY_TASK_ID:?set SLURM_ARRAY_TASK_ID to a task index, 0-{}}}", n - 1)?;
    writeln!(w, "case \"$task\" in")?;
    for t in &tasks {
        writeln!(w, "  {}) model={} fold={} seed={} ;;", t.index, quote(&t.model)?, t.fold, t.seed)?;
    }
    writeln!(w, "  *) echo \"drg sweep: no task $task in this array (0-{})\" >&2; exit 2 ;;", n - 1)?;
    writeln!(w, "esac")?;
    writeln!(w, "case \"$model\" in")?;
    for m in &g.models {
        writeln!(w, "  {}) bin={} ;;", quote(&m.name)?, quote(&m.binary.display().to_string())?)?;
    }
    writeln!(w, "esac")?;
    writeln!(w, "dir={}/\"$model\"/fold\"$fold\"_sd\"$seed\"", quote(&plan.runs_dir().display().to_string())?)?;
    writeln!(w, "mkdir -p \"$dir\" || exit 1")?;
    writeln!(w, "if [ -e \"$dir/done\" ]; then")?;
    writeln!(w, "  echo \"task $task ($model, fold $fold, seed $seed) finished before; skipped (delete $dir/done to run it again)\"")?;
    writeln!(w, "  exit 0")?;
    writeln!(w, "fi")?;
    writeln!(w, "rm -f \"$dir/exit_code\"")?;
    writeln!(
        w,
        "echo \"$(date -u +%Y-%m-%dT%H:%M:%SZ) task $task job ${{SLURM_JOB_ID:-none}} restart ${{SLURM_RESTART_COUNT:-0}} host $(hostname)\" >>\"$dir/attempts\""
    )?;
    writeln!(w, "cd {} || exit 1", quote(&plan.workdir.display().to_string())?)?;
    writeln!(w, "# One training thread per CPU SLURM gives the task (a resumed run then computes what an")?;
    writeln!(w, "# uninterrupted one computes: results are bitwise reproducible for a given thread count).")?;
    writeln!(w, "export RAYON_NUM_THREADS=${{SLURM_CPUS_PER_TASK:-${{RAYON_NUM_THREADS:-{}}}}}", plan.resources.cpus)?;
    writeln!(w, "args=(")?;
    for a in &g.model_args {
        writeln!(w, "  {}", quote(a)?)?;
    }
    writeln!(w, ")")?;
    let [cv, cutoff] = &g.crossvalidation;
    let added: Vec<Cow<str>> = g.added_args.iter().map(|a| quote(a)).collect::<anyhow::Result<_>>()?;
    writeln!(
        w,
        "\"$bin\" \"${{args[@]}}\" --crossvalidation {} \"$fold\" {} --seed \"$seed\" --addname \"sd$seed\" --outdir \"$dir/\" {}",
        quote(cv)?,
        quote(cutoff)?,
        added.join(" ")
    )?;
    writeln!(w, "rc=$?")?;
    writeln!(w, "echo \"$rc\" >\"$dir/exit_code\"")?;
    writeln!(w, "if [ \"$rc\" -eq 0 ]; then touch \"$dir/done\"; fi")?;
    writeln!(w, "exit \"$rc\"")?;
    Ok(s)
}
