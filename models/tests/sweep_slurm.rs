//! `drg sweep --submit` on a real SLURM, then `drg collect`: 2 models × 3 folds × 2 seeds on a
//! tiny simulated data set. One task is cancelled (`scancel`) after its first checkpoints and
//! requeued (`scontrol requeue`): it finishes through `--resume` with the same predictions and
//! loss lines as the same command run uninterrupted. The joined predictions hold every gene
//! exactly once and equal the fold runs' rows.
//!
//! Needs a running cluster: `.ci/run` starts one with `scripts/slurm-local.sh start` and runs
//! `cargo test -p drg-models --test sweep_slurm -- --ignored` with `SLURM_CONF` set.

mod sweep_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use drg_core::sweep::collect::collect;
use drg_core::sweep::status::task_state;
use drg_core::sweep::submit::submit;
use drg_core::sweep::write_plan;
use sweep_support::*;

/// Runs a SLURM client command and returns its stdout (panics with its stderr on failure).
fn slurm(cmd: &str, args: &[&str]) -> String {
    let out =
        Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("{cmd}: {e} (is SLURM installed? scripts/slurm-local.sh start)"));
    assert!(out.status.success(), "{cmd} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits (polling every half second) until `done()` holds, or panics after `limit` naming `what`.
fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The checkpoint state of the run in `dir`, if it has written one.
fn checkpoint_generation(dir: &Path) -> Option<u64> {
    let found: Vec<PathBuf> = std::fs::read_dir(dir).ok()?.map(|e| e.unwrap().path().join("state.json")).filter(|p| p.exists()).collect();
    let text = std::fs::read_to_string(found.first()?).ok()?;
    serde_json::from_str::<serde_json::Value>(&text).ok()?.get("generation")?.as_u64()
}

#[test]
#[ignore = "needs a running SLURM (scripts/slurm-local.sh start); .ci/run runs it"]
fn a_sweep_on_slurm_survives_a_cancelled_and_requeued_task() {
    let dir = tempfile::tempdir().unwrap();
    let (data, cv, all_genes) = dataset(dir.path(), 60);
    let out = dir.path().join("sweep");
    let options: Vec<String> = [
        "--models",
        "model_d,model_e",
        "--crossvalidation",
        &s(&cv),
        "10",
        "--seeds",
        "1,2",
        "--outdir",
        &s(&out),
        "--cpus",
        "1",
        "--mem",
        "2G",
        "--time",
        "30",
        "--job-name",
        "drg-ci-sweep",
    ]
    .iter()
    .map(|x| x.to_string())
    .collect();
    let plan = plan(&options, &model_args(&data, 8), dir.path());
    write_plan(&plan).unwrap();
    let job = submit(&plan).unwrap();
    let limit = Duration::from_secs(1200);

    // Cancel task 0 once it has checkpointed two epochs (state generations count epochs from the
    // epoch-0 pass), then requeue it; the requeue's default delay (120 s) is cut short.
    let victim = plan.tasks()[0].clone();
    let vdir = plan.task_dir(&victim);
    wait_for("task 0's second checkpoint", limit, || checkpoint_generation(&vdir).is_some_and(|g| g >= 2));
    let id = format!("{job}_0");
    slurm("scancel", &[&id]);
    wait_for("task 0 to stop", limit, || slurm("squeue", &["-h", "-j", &id, "-t", "RUNNING,COMPLETING"]).trim().is_empty());
    assert!(!task_state(&vdir).is_done(), "task 0 finished before it was cancelled; the test needs longer runs");
    slurm("scontrol", &["requeue", &id]);
    slurm("scontrol", &["update", &format!("JobId={id}"), "StartTime=now"]);

    wait_for("the job array to finish", limit, || slurm("squeue", &["-h", "-j", &job]).trim().is_empty());
    for t in plan.tasks() {
        assert!(task_state(&plan.task_dir(&t)).is_done(), "{}: {:?}", t.label(), task_state(&plan.task_dir(&t)));
    }
    // Task 0 ran twice, and the second attempt resumed from the checkpoint the first left.
    let attempts = std::fs::read_to_string(vdir.join("attempts")).unwrap();
    assert_eq!(attempts.lines().count(), 2, "{attempts}");
    assert!(attempts.lines().nth(1).unwrap().contains("restart 1"), "{attempts}");
    let log = std::fs::read_to_string(plan.logs_dir().join(format!("drg-ci-sweep_{job}_0.out"))).unwrap();
    assert_eq!(log.matches("Resuming from").count(), 1, "{log}");

    // The resumed task equals the same command run uninterrupted (same thread count).
    let alone = dir.path().join("uninterrupted");
    let reference = single_run(&plan, &victim, &alone, 1);
    let resumed = the_one(&vdir, "_pred.npz");
    let (a, b) = (predictions(&reference), predictions(&resumed));
    assert_eq!((&a.0, &a.1), (&b.0, &b.1));
    assert!(a.2.iter().zip(&b.2).all(|(x, y)| x.to_bits() == y.to_bits()), "resumed predictions differ from the uninterrupted run's");
    assert_eq!(
        std::fs::read_to_string(the_one(&alone, "_loss.txt")).unwrap(),
        std::fs::read_to_string(the_one(&vdir, "_loss.txt")).unwrap(),
        "loss lines of the resumed run"
    );

    let collected = out.join("collected");
    let c = collect(&plan, &collected).unwrap();
    assert!(c.missing.is_empty());
    check_joined(&plan, &collected, &all_genes);
    assert_eq!(c.rows.len(), 18);
    assert!(c.rows.iter().all(|r| r.per_seed.len() == 2 && r.ensemble.is_some_and(f64::is_finite)));
    for name in ["summary.tsv", "summary.txt", "summary.svg", "model_d_ensemble_pred.npz", "model_e_sd2_clss_corr_tclBcellex.txt"] {
        assert!(collected.join(name).is_file(), "{name} missing");
    }
}
