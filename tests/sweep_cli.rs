//! `drg sweep` and `drg collect` as a user runs them, with stand-in model binaries and a stand-in
//! `sbatch` (bash scripts): the script is written and submitted, the job id recorded; bad input
//! and a refused submission are one `error:` line and exit status 1. The real binaries and a real
//! SLURM are in `models/tests/sweep_local.rs` and `sweep_slurm.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn drg(args: &[&str], path_env: Option<&Path>) -> (i32, String, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_drg"));
    c.args(args);
    if let Some(p) = path_env {
        c.env("PATH", format!("{}:/usr/bin:/bin", p.display()));
    }
    let out = c.output().expect("run drg");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn executable(path: &Path, body: &str) {
    std::fs::write(path, body).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A simulated data set and a folder of two stand-in model binaries (they only write an empty
/// `_pred.npz`).
fn setup(dir: &Path) -> (PathBuf, PathBuf) {
    let data = dir.join("data");
    let (code, _, err) = drg(&["simulate", "--outdir", s(&data), "--genes", "40", "--length", "700", "--rna-length", "500"], None);
    assert_eq!(code, 0, "{err}");
    let bin = dir.join("bin");
    std::fs::create_dir(&bin).unwrap();
    for m in ["model_d", "model_e"] {
        executable(
            &bin.join(m),
            "#!/bin/bash\nprev=; for a in \"$@\"; do [ \"$prev\" = --outdir ] && out=$a; prev=$a; done\ntouch \"${out}run_pred.npz\"\n",
        );
    }
    (data, bin)
}

fn sweep_args<'a>(data: &'a str, bin: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<String> {
    let mut a: Vec<String> = [
        "sweep",
        "--models",
        "model_d,model_e",
        "--crossvalidation",
        &format!("{data}/testsetcv10.txt"),
        "10",
        "--folds",
        "0-2",
        "--outdir",
        out,
        "--bin-dir",
        bin,
    ]
    .iter()
    .map(|x| x.to_string())
    .collect();
    a.extend(extra.iter().map(|x| x.to_string()));
    a.push("--".into());
    a.push(format!("{data}/dna.npz,{data}/rna.npz"));
    a.push(format!("{data}/expression.tsv,{data}/degradation.tsv,{data}/transcription.tsv"));
    // With the output files' tags given, collect needs no `_model_params.json` of the stand-ins.
    a.extend(["--delimiter", "\\t", "--add_fileclasses", "ex,kd,kt"].iter().map(|x| x.to_string()));
    a
}

fn one_error_line(err: &str) -> &str {
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    lines[0]
}

#[test]
fn sweep_writes_and_submits_the_script_and_collect_reports_bad_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (data, bin) = setup(dir.path());
    let out = dir.path().join("sweep");
    let args = sweep_args(s(&data), s(&bin), s(&out), &["--seeds", "1,2"]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, stdout, err) = drg(&argv, None);
    assert_eq!(code, 0, "{err}");
    assert!(
        stdout.starts_with(&format!(
            "wrote {}/sweep.sh: 2 models (model_d, model_e) x 3 folds (0-2) x 2 seeds (1,2) = 12 tasks\n",
            out.display()
        )),
        "{stdout}"
    );
    assert!(stdout.contains("submit it with `sbatch"), "{stdout}");
    let script = std::fs::read_to_string(out.join("sweep.sh")).unwrap();
    assert!(
        script.contains("#SBATCH --array=0-11\n")
            && script.contains("#SBATCH --mem=16G\n")
            && script.contains("#SBATCH --cpus-per-task=4\n"),
        "{script}"
    );

    // --submit through a stand-in sbatch that prints a job id, then one that refuses.
    let fake = dir.path().join("fakebin");
    std::fs::create_dir(&fake).unwrap();
    executable(&fake.join("sbatch"), "#!/bin/bash\n[ \"$1\" = --parsable ] && [ -f \"$2\" ] && echo '4242;cluster'\n");
    let mut submit = argv.clone();
    submit.insert(1, "--submit");
    let (code, stdout, err) = drg(&submit, Some(&fake));
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("submitted job array 4242 (12 tasks)"), "{stdout}");
    assert!(std::fs::read_to_string(out.join("jobs.txt")).unwrap().starts_with("4242\t"));
    executable(
        &fake.join("sbatch"),
        "#!/bin/bash\necho 'sbatch: error: Invalid account or account/partition combination specified' >&2\nexit 1\n",
    );
    let (code, _, err) = drg(&submit, Some(&fake));
    assert_eq!(code, 1);
    assert!(one_error_line(&err).ends_with("Invalid account or account/partition combination specified"), "{err}");

    // --local runs the tasks; collect then finds the (empty) predictions unreadable.
    let mut local = argv.clone();
    local.splice(1..1, ["--local", "-j", "2"]);
    let (code, stdout, err) = drg(&local, None);
    assert_eq!(code, 0, "{err}");
    assert!(
        stdout.contains("running 12 tasks here, 2 at a time") && stdout.contains("task 11 (model_e, fold 2, seed 2): done in"),
        "{stdout}"
    );
    let (code, _, err) = drg(&["collect", s(&out)], None);
    assert_eq!(code, 1);
    assert!(one_error_line(&err).contains("run_pred.npz"), "{err}");
}

#[test]
fn bad_sweeps_are_one_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let (data, bin) = setup(dir.path());
    let out = dir.path().join("sweep");
    let cases: [(&[&str], &str); 4] = [
        (&["--seeds", "1,1"], "error: --seeds '1,1': 1 is listed twice"),
        (&["--folds", "10"], "error: --folds: fold 10 does not exist"),
        (&["--mem", "lots"], "error: --mem 'lots': expected an integer"),
        (&["--max-parallel", "0"], "error: --max-parallel must be at least 1"),
    ];
    for (extra, want) in cases {
        let mut args = sweep_args(s(&data), s(&bin), s(&out), extra);
        if extra[0] == "--folds" {
            let i = args.iter().position(|a| a == "0-2").unwrap();
            args.drain(i - 1..=i);
        }
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, _, err) = drg(&argv, None);
        assert_eq!(code, 1, "{extra:?}");
        assert!(one_error_line(&err).starts_with(want), "{extra:?}: {err}");
    }
    assert!(!out.exists(), "nothing is written for a bad sweep");
    let (code, _, err) = drg(&["collect", s(&dir.path().join("nothing"))], None);
    assert_eq!(code, 1);
    assert!(one_error_line(&err).contains("nothing/sweep.json: cannot read (is"), "{err}");
}
