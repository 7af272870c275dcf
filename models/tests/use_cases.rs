//! The seed's command lines (`shared/reference/use-cases.md`) run as written, with only the file
//! names changed, on data of a track count no seed model was compiled for: 5 cell types × 4
//! conditions = 20 tracks per output file, 2 kb inputs (the `demo` size, so the strings carry the
//! demo's `num_kernels=64`, `fclayer_size=256`, `trweighted_pooling=3`). One flag is added to
//! each line, `--epochs 1` (one epoch each). The use cases' `device=cuda:0` stays in the string:
//! a binary built without CUDA trains on the CPU and says so in one warning line.
//!
//! Also: an architecture key that disagrees with the compiled model, a key the string leaves
//! out whose constructor default the model does not have, and outputs of unequal widths where
//! the declaration shares one head between them, are each one clear error.

use std::path::Path;
use std::process::{Command, Output};

use drg_core::data::simulate::{simulate, write_dataset, DatasetPaths, SimOptions};

/// The use cases' `basemodel` with the demo size's numbers.
const BASEMODEL: &str = "num_kernels=64+l_kernels=15+max_pooling=False+weighted_pooling=True+pooling_size=4\
+net_function=GELU+dilated_convolutions=3+l_dilkernels=11+dilations=[1,2,4]\
+transformer_convolutions=4+l_trkernels=11+trweighted_pooling=3+fclayer_size=256+nfc_layers=3";

/// The use cases' `transmodel` with the demo size's numbers.
const TRANSMODEL: &str = "num_kernels=64+l_kernels=15+max_pooling=False+weighted_pooling=True+pooling_size=4+net_function=GELU\
+dilated_convolutions=3+l_dilkernels=11+dilations=[1,2,4]+dilweighted_pooling=10+dilpooling_steps=3\
+n_attention=1+n_distattention=4+dim_distattention=1.8+transformer_convolutions=4+l_trkernels=11\
+trweighted_pooling=2+fclayer_size=256+nfc_layers=3";

/// The use cases' training string, exactly.
const TRAINING: &str = "conv_batch_norm=True+fc_dropout=0.1+lr=0.00001+patience=10+batchsize=8+optimizer=SGD\
+optim_params=0.9+device=cuda:0+keepmodel=True+seed=1+finetuning_patience=3+finetuning_rounds=2\
+finetuning_rate=0.1+init_adjust=False+warm_up_epochs=4";

/// The relations of use cases D and E (each adds its `shared_embedding`).
const RELATIONS: &str = "input_to_combinefunc=[[0,1],[1],[0]]+outclass=['difference','direct','direct']+combine_function=Linear";

const ONE_OUTPUT_LOSS: &str = "loss_function=Correlationmse+validation_loss=Correlationdata";
const THREE_OUTPUT_LOSS: &str = "loss_function=Correlationmse+validation_loss=['Correlationdata','None','None']";

fn dataset(dir: &Path, genes: usize) -> DatasetPaths {
    let o = SimOptions { n_genes: genes, n_cell_types: 5, n_conditions: 4, seed: 11, ..SimOptions::default() };
    write_dataset(&simulate(&o).unwrap(), &o, dir).unwrap()
}

fn run(bin: &str, args: &[String]) -> Output {
    Command::new(bin).args(args).env("CI", "1").output().expect("run model binary")
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// The use case's command line: input files, output files, the reference's options, `--cnn`.
fn command(d: &DatasetPaths, inputs: &[&Path], outputs: &[&Path], cnn: &str, outdir: &str) -> Vec<String> {
    let join = |ps: &[&Path]| ps.iter().map(|p| path(p)).collect::<Vec<_>>().join(",");
    let mut args = vec![join(inputs), join(outputs), "--outdir".into(), outdir.into(), "--delimiter".into(), "\\t".into()];
    args.extend(["--crossvalidation".into(), path(&d.crossvalidation), "1".into(), "10".into()]);
    args.extend(["--split_outclasses".into(), path(&d.classes)]);
    if outputs.len() > 1 {
        args.extend(["--add_fileclasses".into(), "ex,kd,kt".into()]);
    }
    args.extend(["--save_correlation_perclass".into(), "--save_correlation_perpoint".into(), "--addname".into(), "sd1".into()]);
    args.extend(["--cnn".into(), cnn.into(), "--epochs".into(), "1".into(), "--quiet".into()]);
    args
}

fn files(dir: &Path, suffix: &str) -> usize {
    std::fs::read_dir(dir).unwrap().filter(|e| e.as_ref().unwrap().path().to_string_lossy().ends_with(suffix)).count()
}

#[test]
fn every_use_case_runs_as_written_on_20_tracks() {
    let dir = tempfile::tempdir().unwrap();
    let d = dataset(dir.path(), 48);
    let (dna, rna) = (d.dna.as_path(), d.rna.as_path());
    let (ex, kd, kt) = (d.expression.as_path(), d.degradation.as_path(), d.transcription.as_path());
    let one = |arch: &str| format!("{ONE_OUTPUT_LOSS}+{arch}+{TRAINING}");
    let three = |extra: &str| format!("{THREE_OUTPUT_LOSS}+{BASEMODEL}+{TRAINING}{extra}");
    let cases: Vec<(&str, Vec<&Path>, Vec<&Path>, String)> = vec![
        (env!("CARGO_BIN_EXE_model_a"), vec![rna], vec![ex], one(BASEMODEL)),
        (env!("CARGO_BIN_EXE_model_b"), vec![dna], vec![ex, kd, kt], three("")),
        (env!("CARGO_BIN_EXE_model_c"), vec![dna, rna], vec![ex], one(BASEMODEL)),
        (env!("CARGO_BIN_EXE_model_d"), vec![dna, rna], vec![ex, kd, kt], three(&format!("+{RELATIONS}+shared_embedding=False"))),
        (env!("CARGO_BIN_EXE_model_e"), vec![dna, rna], vec![ex, kd, kt], three(&format!("+{RELATIONS}+shared_embedding=True"))),
        (env!("CARGO_BIN_EXE_model_f1"), vec![dna, rna], vec![ex, kd, kt], three("+n_combine_layers=2")),
        (
            env!("CARGO_BIN_EXE_model_f2"),
            vec![dna, rna],
            vec![ex, kd, kt],
            three("+input_to_combinefunc=[[0,1],[1],[0]]+outclass=Linear+combine_function=GELU+n_combine_layers=2"),
        ),
        (env!("CARGO_BIN_EXE_model_a_attention"), vec![rna], vec![ex], one(TRANSMODEL)),
    ];
    for (bin, inputs, outputs, cnn) in cases {
        let out = tempfile::tempdir().unwrap();
        let outdir = format!("{}/", out.path().display());
        let res = run(bin, &command(&d, &inputs, &outputs, &cnn, &outdir));
        let stderr = String::from_utf8_lossy(&res.stderr);
        assert!(res.status.success(), "{bin} --cnn {cnn}: {stderr}");
        if !cfg!(feature = "cuda") {
            assert!(
                stderr.starts_with("warning: --cnn device=cuda:0: this binary was built without CUDA, so it trains on the CPU"),
                "{bin}: {stderr}"
            );
        }
        // The epoch-0 line, epoch 1, and (when epoch 1 was worse than epoch 0) the reference's
        // fine-tuning epochs from the best model; keepmodel=True keeps the weights.
        let loss =
            std::fs::read_dir(out.path()).unwrap().map(|e| e.unwrap().path()).find(|p| p.to_string_lossy().ends_with("_loss.txt")).unwrap();
        let epochs: Vec<String> =
            std::fs::read_to_string(&loss).unwrap().lines().map(|l| l.split('\t').next().unwrap().to_string()).collect();
        assert!(epochs.len() >= 2 && epochs[0] == "0" && epochs[1] == "1", "{bin}: {epochs:?}");
        assert_eq!(files(out.path(), "_parameter.safetensors"), 1, "{bin}");
        assert!(loss.to_string_lossy().contains("_sd1_"), "{bin}: {}", loss.display());
        // The description records the data's 20 tracks per output.
        let desc = std::fs::read_to_string(
            std::fs::read_dir(out.path())
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| p.to_string_lossy().ends_with("_model_params.json"))
                .unwrap(),
        )
        .unwrap();
        let desc: serde_json::Value = serde_json::from_str(&desc).unwrap();
        let widths: Vec<u64> = desc["outputs"].as_array().unwrap().iter().map(|o| o[1].as_u64().unwrap()).collect();
        assert_eq!(widths, vec![20; outputs.len()], "{bin}");
    }
}

/// The reference's list forms of `loss_function` and `loss_weights`: each output trains on its own
/// loss (values and gradients are checked in `drg-core`'s `train::passes` tests); a list of the
/// wrong length or with an unknown name is one error line, with nothing written.
#[test]
fn a_training_loss_and_weight_per_output_from_cnn() {
    let dir = tempfile::tempdir().unwrap();
    let d = dataset(dir.path(), 40);
    let (ex, kd, kt) = (d.expression.as_path(), d.degradation.as_path(), d.transcription.as_path());
    let out = tempfile::tempdir().unwrap();
    let outdir = format!("{}/", out.path().display());
    let cnn = |losses: &str| {
        format!("loss_function={losses}+loss_weights=[1,0.5,2]+validation_loss=['Correlationdata','None','None']+{BASEMODEL}+{TRAINING}")
    };
    let bin = env!("CARGO_BIN_EXE_model_b");
    let res = run(bin, &command(&d, &[d.dna.as_path()], &[ex, kd, kt], &cnn("['MSE','Correlationdata','Correlationmse']"), &outdir));
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    let desc = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("_model_params.json"))
        .unwrap();
    let desc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(desc).unwrap()).unwrap();
    assert_eq!(desc["training"]["loss_function"], serde_json::json!(["MSE", "Correlationdata", "Correlationmse"]), "{desc}");
    assert_eq!(desc["training"]["loss_weights"], serde_json::json!([1.0, 0.5, 2.0]), "{desc}");

    for (losses, want) in [
        (
            "['MSE','Correlationdata']",
            "error: --cnn: loss_function=['MSE','Correlationdata'] lists 2 values, model ModelB has 3 outputs (ex, kd, kt)",
        ),
        ("['MSE','Pearson','MSE']", "error: --cnn: loss_function: unknown loss 'Pearson': expected one of MSE, L1Loss,"),
    ] {
        let empty = tempfile::tempdir().unwrap();
        let res = run(bin, &command(&d, &[d.dna.as_path()], &[ex, kd, kt], &cnn(losses), &format!("{}/", empty.path().display())));
        assert_eq!(res.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&res.stderr);
        let stderr = stderr.lines().filter(|l| !l.starts_with("warning: --cnn device=")).collect::<Vec<_>>().join("\n");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with(want), "{stderr}");
        assert_eq!(std::fs::read_dir(empty.path()).unwrap().count(), 0, "{losses}: something was written");
    }
}

#[test]
fn keys_that_disagree_and_widths_that_cannot_be_shared_are_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dataset(dir.path(), 40);
    let (dna, rna) = (d.dna.as_path(), d.rna.as_path());
    let (ex, kd, kt) = (d.expression.as_path(), d.degradation.as_path(), d.transcription.as_path());
    let out = tempfile::tempdir().unwrap();
    let outdir = format!("{}/", out.path().display());

    // The use case's full-size string on 2 kb data: the demo model has 64 kernels, not 300.
    let cnn = format!("{THREE_OUTPUT_LOSS}+{}+{TRAINING}", BASEMODEL.replace("num_kernels=64", "num_kernels=300"));
    let res = run(env!("CARGO_BIN_EXE_model_d"), &command(&d, &[dna, rna], &[ex, kd, kt], &cnn, &outdir));
    assert_eq!(res.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&res.stderr);
    let stderr = stderr.lines().filter(|l| !l.starts_with("warning: --cnn device=")).collect::<Vec<_>>().join("\n");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: --cnn: num_kernels=300 disagrees with ModelD size demo, which has num_kernels=64")
            && stderr.contains("the filters of the trunk's first `conv(64, 15)`"),
        "{stderr}"
    );

    // The use case's string without `conv_batch_norm=True`: the reference would build its
    // constructor's default, no batch norm, which the seed model (`batchnorm = true`) is not.
    let cnn = format!("{ONE_OUTPUT_LOSS}+{BASEMODEL}+{}", TRAINING.replace("conv_batch_norm=True+", ""));
    let res = run(env!("CARGO_BIN_EXE_model_a"), &command(&d, &[rna], &[ex], &cnn, &outdir));
    assert_eq!(res.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&res.stderr);
    let stderr = stderr.lines().filter(|l| !l.starts_with("warning: --cnn device=")).collect::<Vec<_>>().join("\n");
    assert_eq!(
        stderr.trim_end(),
        "error: --cnn: conv_batch_norm is not given, so the reference builds its default conv_batch_norm=False, but ModelA size demo has conv_batch_norm=True: that is `batchnorm = true` of `dilated(..)` in its drg_model! declaration; add conv_batch_norm=True to --cnn (the string gives num_kernels, so it describes the whole network) or change the declaration and rebuild"
    );

    // Model E serves ex, kd and kt with one head per trunk: a kd file of 19 tracks cannot work.
    let kd19 = dir.path().join("degradation19.tsv");
    let text = std::fs::read_to_string(kd).unwrap();
    let cut: Vec<String> = text.lines().map(|l| l.rsplit_once('\t').unwrap().0.to_string()).collect();
    std::fs::write(&kd19, cut.join("\n") + "\n").unwrap();
    // The use case's string, which describes the whole network (it gives num_kernels, so a key
    // left out would be the reference constructor's default and must agree too).
    let cnn = format!("{THREE_OUTPUT_LOSS}+{BASEMODEL}+{TRAINING}+{RELATIONS}+shared_embedding=True");
    let res = run(env!("CARGO_BIN_EXE_model_e"), &command(&d, &[dna, rna], &[ex, &kd19, kt], &cnn, &outdir));
    assert_eq!(res.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&res.stderr);
    let stderr = stderr.lines().filter(|l| !l.starts_with("warning: --cnn device=")).collect::<Vec<_>>().join("\n");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!("error: {} has 20 tracks and {} has 19", ex.display(), kd19.display()))
            && stderr.contains("(`shared`)"),
        "{stderr}"
    );
    // The same files train model D, whose heads are per output.
    let cnn = format!("{THREE_OUTPUT_LOSS}+{BASEMODEL}+{TRAINING}+{RELATIONS}+shared_embedding=False");
    let res = run(env!("CARGO_BIN_EXE_model_d"), &command(&d, &[dna, rna], &[ex, &kd19, kt], &cnn, &outdir));
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    // Nothing half-written by the failed runs: only model D's files.
    assert!(std::fs::read_dir(out.path()).unwrap().all(|e| e.unwrap().file_name().to_string_lossy().contains("ModelD")));

    // Its weights have 19 kd tracks: applied to data with 20, one error saying so.
    let weights = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("_parameter.safetensors"))
        .unwrap();
    let again = tempfile::tempdir().unwrap();
    let mut args = command(&d, &[dna, rna], &[ex, kd, kt], &cnn, &format!("{}/", again.path().display()));
    args.extend(["--predictnew".to_string(), path(&weights)]);
    let res = run(env!("CARGO_BIN_EXE_model_d"), &args);
    assert_eq!(res.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&res.stderr);
    let stderr = stderr.lines().filter(|l| !l.starts_with("warning: --cnn device=")).collect::<Vec<_>>().join("\n");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("a tensor of shape [19, ") && stderr.contains("is [20, ") && stderr.contains("another number of tracks"),
        "{stderr}"
    );
}
