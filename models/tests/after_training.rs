//! After training (issue 13, points 1 and 2), through the `model_a` binary on a tiny simulated
//! dataset: `--predictnew` predicts every gene of npz or FASTA sequences from safetensors or the
//! reference's `.pth`, with or without measured values; `--load_parameters` fills exactly the
//! tensors it is asked for and says so; `--select_tracks` keeps the chosen tracks' columns and
//! head rows. Bad input (weights of another model, unknown track names, a missing weights file) is
//! one error line, exit code 1 and no file written.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use drg_core::data::read_sequences;
use drg_core::data::simulate::{simulate, write_dataset, DatasetPaths, SimOptions};
use drg_core::import::npz::read_npz;
use drg_core::import::{read_weights, StateDict};

const MODEL_A: &str = env!("CARGO_BIN_EXE_model_a");

/// 60 genes of 2 kb, 21 expression tracks (3 cell types × 7 conditions).
fn tiny_dataset(dir: &Path) -> DatasetPaths {
    let o = SimOptions { n_genes: 60, seed: 5, ..SimOptions::default() };
    write_dataset(&simulate(&o).unwrap(), &o, dir).unwrap()
}

fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(bin).args(args).env("CI", "1").output().expect("run model binary")
}

fn ok(bin: &str, args: &[&str]) -> Output {
    let res = run(bin, args);
    assert!(res.status.success(), "{bin} {args:?} failed: {}", String::from_utf8_lossy(&res.stderr));
    res
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// The one file in `dir` whose name ends with `suffix`.
fn file_with(dir: &Path, suffix: &str) -> PathBuf {
    let v: Vec<PathBuf> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.to_string_lossy().ends_with(suffix)).collect();
    assert_eq!(v.len(), 1, "{}: {suffix}: {v:?}", dir.display());
    v[0].clone()
}

/// `_pred.npz` as (names, columns, values by gene name).
struct Predictions {
    names: Vec<String>,
    columns: Vec<String>,
    rows: BTreeMap<String, Vec<f32>>,
}

fn predictions(path: &Path) -> Predictions {
    let npz = read_npz(path).unwrap();
    let names = npz.get("names").unwrap().strings().unwrap();
    let columns = npz.get("columns").unwrap().strings().unwrap();
    let (shape, values) = npz.f32("values").unwrap();
    assert_eq!(shape, vec![names.len(), columns.len()], "{}", path.display());
    let rows = names.iter().cloned().zip(values.chunks_exact(columns.len()).map(<[f32]>::to_vec)).collect();
    Predictions { names: names.to_vec(), columns: columns.to_vec(), rows }
}

fn max_abs_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// The sequences of a one-hot npz as FASTA: A/C/G/T, `N` for the empty (padding) positions.
fn write_fasta(npz: &Path, fasta: &Path) {
    let seqs = read_sequences(npz, None).unwrap();
    let mut text = String::new();
    for (i, name) in seqs.names.iter().enumerate() {
        let row = seqs.row(i);
        let l = seqs.length;
        let bases: String = (0..l).map(|p| (0..4).find(|&c| row[c * l + p] == 1.0).map_or('N', |c| ['A', 'C', 'G', 'T'][c])).collect();
        text.push_str(&format!(">{name}\n{bases}\n"));
    }
    std::fs::write(fasta, text).unwrap();
}

/// A state dict as `torch.save(model.state_dict())` writes it (zip format, pickle protocol 2,
/// float32 storages), so that the reference's `.pth` is tested without PyTorch.
fn write_pth(sd: &StateDict, path: &Path) {
    fn unicode(out: &mut Vec<u8>, s: &str) {
        out.push(b'X');
        out.extend((s.len() as u32).to_le_bytes());
        out.extend(s.as_bytes());
    }
    fn int(out: &mut Vec<u8>, i: usize) {
        out.push(b'J');
        out.extend((i as i32).to_le_bytes());
    }
    fn ints(out: &mut Vec<u8>, v: &[usize]) {
        out.push(b'(');
        v.iter().for_each(|&i| int(out, i));
        out.push(b't');
    }
    const ORDERED_DICT: &[u8] = b"ccollections\nOrderedDict\n)R";
    let mut pkl = b"\x80\x02".to_vec();
    pkl.extend(ORDERED_DICT);
    pkl.push(b'(');
    let mut storages = Vec::new();
    for (k, (key, e)) in sd.entries.iter().enumerate() {
        unicode(&mut pkl, key);
        pkl.extend(b"ctorch._utils\n_rebuild_tensor_v2\n(");
        pkl.push(b'(');
        unicode(&mut pkl, "storage");
        pkl.extend(b"ctorch\nFloatStorage\n");
        unicode(&mut pkl, &k.to_string());
        unicode(&mut pkl, "cpu");
        int(&mut pkl, e.values.len());
        pkl.extend(b"tQ");
        int(&mut pkl, 0);
        ints(&mut pkl, &e.shape);
        let strides: Vec<usize> = (0..e.shape.len()).map(|d| e.shape[d + 1..].iter().product()).collect();
        ints(&mut pkl, &strides);
        pkl.push(0x89);
        pkl.extend(ORDERED_DICT);
        pkl.extend(b"tR");
        storages.push((k, e.values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()));
    }
    pkl.extend(b"u.");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let stored = zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let mut add = |name: String, bytes: &[u8]| {
        zip.start_file(name, stored).unwrap();
        zip.write_all(bytes).unwrap();
    };
    add("archive/data.pkl".into(), &pkl);
    add("archive/byteorder".into(), b"little");
    for (k, bytes) in &storages {
        add(format!("archive/data/{k}"), bytes);
    }
    add("archive/version".into(), b"3\n");
    zip.finish().unwrap();
}

/// Trains model A for `epochs` on expression from RNA (fold 1 of the 10-set file), with extra
/// arguments; returns the output folder's files' common prefix folder.
fn train_a(d: &DatasetPaths, outdir: &Path, epochs: &str, extra: &[&str]) -> Output {
    let outdir = format!("{}/", outdir.display());
    let cv = s(&d.crossvalidation);
    let mut args = vec![
        d.rna.to_str().unwrap(),
        d.expression.to_str().unwrap(),
        "--delimiter",
        "\\t",
        "--crossvalidation",
        &cv,
        "1",
        "10",
        "--epochs",
        epochs,
        "--warm_up_epochs",
        "0",
        "--outdir",
        &outdir,
    ];
    args.extend_from_slice(extra);
    ok(MODEL_A, &args)
}

/// The measured expression tracks' names (the header of the expression file).
fn expression_tracks(d: &DatasetPaths) -> Vec<String> {
    drg_core::data::matrix::read_matrix(&d.expression, '\t').unwrap().track_names
}

#[test]
fn predictnew_predicts_every_gene_of_npz_or_fasta_with_safetensors_or_pth() {
    let dir = tempfile::tempdir().unwrap();
    let d = tiny_dataset(&dir.path().join("sim"));
    let trained = dir.path().join("trained");
    train_a(&d, &trained, "1", &["--save_predictions", "--quiet"]);
    let weights = file_with(&trained, "_parameter.safetensors");
    let after_training = predictions(&file_with(&trained, "_pred.npz"));
    assert_eq!(after_training.names.len(), 6, "the test fold");
    let tracks = expression_tracks(&d);

    // With measured values and the same fold: the test genes' predictions and the evaluation.
    let measured = dir.path().join("measured");
    let cv = s(&d.crossvalidation);
    let res = ok(
        MODEL_A,
        &[&s(&d.rna), &s(&d.expression), "--delimiter", "\\t", "--crossvalidation", &cv, "1", "10"]
            .into_iter()
            .chain(["--predictnew", &s(&weights), "--outdir", &format!("{}/", measured.display()), "--quiet"])
            .collect::<Vec<_>>(),
    );
    assert!(String::from_utf8_lossy(&res.stdout).contains("baseline r"));
    let again = predictions(&file_with(&measured, "_pred.npz"));
    assert_eq!((&again.names, &again.columns), (&after_training.names, &after_training.columns));
    for (gene, row) in &after_training.rows {
        assert!(max_abs_difference(row, &again.rows[gene]) < 1e-5, "{gene}");
    }
    file_with(&measured, "_scatter_ex.svg");

    // Sequences alone: every gene, columns named by the model description beside the weights.
    let every = dir.path().join("every");
    ok(MODEL_A, &[&s(&d.rna), "--predictnew", &s(&weights), "--outdir", &format!("{}/", every.display()), "--quiet"]);
    let all = predictions(&file_with(&every, "_pred.npz"));
    let genes = read_sequences(&d.rna, None).unwrap().names;
    assert_eq!(genes.len(), 60);
    assert_eq!(all.names, genes);
    assert_eq!(all.columns, after_training.columns);
    assert_eq!(all.columns, tracks);
    for (gene, row) in &after_training.rows {
        // Other batches than in training: equal up to the order of float sums.
        assert!(max_abs_difference(row, &all.rows[gene]) < 1e-4, "{gene}");
    }
    let tsv = std::fs::read_to_string(file_with(&every, "_pred.tsv")).unwrap();
    assert_eq!(tsv.lines().count(), 61, "a header and one line per gene");
    assert_eq!(std::fs::read_dir(&every).unwrap().count(), 2, "only the two prediction files");

    // The same sequences as FASTA give the same predictions.
    let fasta = dir.path().join("rna.fa");
    write_fasta(&d.rna, &fasta);
    let from_fasta = dir.path().join("fasta");
    ok(MODEL_A, &[&s(&fasta), "--predictnew", &s(&weights), "--outdir", &format!("{}/", from_fasta.display()), "--quiet"]);
    let f = predictions(&file_with(&from_fasta, "_pred.npz"));
    assert_eq!((&f.names, &f.columns), (&all.names, &all.columns));
    for gene in &genes {
        assert_eq!(f.rows[gene], all.rows[gene], "{gene}");
    }

    // The reference's .pth of the same weights (beside the same model description).
    let pth = PathBuf::from(s(&weights).replace("_parameter.safetensors", "_parameter.pth"));
    write_pth(&read_weights(&weights).unwrap(), &pth);
    let from_pth = dir.path().join("pth");
    ok(MODEL_A, &[&s(&d.rna), "--predictnew", &s(&pth), "--outdir", &format!("{}/", from_pth.display()), "--quiet"]);
    let p = predictions(&file_with(&from_pth, "_pred.npz"));
    assert_eq!((&p.names, &p.columns), (&all.names, &all.columns));
    for gene in &genes {
        assert_eq!(p.rows[gene], all.rows[gene], "{gene}");
    }

    // --select_tracks by name and index: those columns, in the file's order.
    let selected = dir.path().join("selected");
    ok(
        MODEL_A,
        &[
            &s(&d.rna),
            "--predictnew",
            &s(&weights),
            "--select_tracks",
            "Bcell.IL4,2",
            "--outdir",
            &format!("{}/", selected.display()),
            "--quiet",
        ],
    );
    let sel = predictions(&file_with(&selected, "_pred.npz"));
    let b_il4 = tracks.iter().position(|t| t == "Bcell.IL4").unwrap();
    assert!(b_il4 > 2);
    assert_eq!(sel.columns, vec![tracks[2].clone(), tracks[b_il4].clone()]);
    for gene in &genes {
        assert_eq!(sel.rows[gene], vec![all.rows[gene][2], all.rows[gene][b_il4]], "{gene}");
    }
}

/// Every trainable tensor (BatchNorm's running statistics change in the epoch-0 pass).
fn trainable(sd: &StateDict) -> BTreeMap<String, Vec<f32>> {
    sd.entries
        .iter()
        .filter(|(k, _)| !k.ends_with("running_mean") && !k.ends_with("running_var") && !k.ends_with("num_batches_tracked"))
        .map(|(k, e)| (k.clone(), e.values.clone()))
        .collect()
}

#[test]
fn load_parameters_loads_exactly_what_it_is_asked_and_select_tracks_keeps_their_rows() {
    let dir = tempfile::tempdir().unwrap();
    let d = tiny_dataset(&dir.path().join("sim"));
    let trained = dir.path().join("trained");
    train_a(&d, &trained, "1", &["--quiet"]);
    let weights = file_with(&trained, "_parameter.safetensors");
    let saved = trainable(&read_weights(&weights).unwrap());
    // `--epochs 0` saves the model as built (and filled), before any training step.
    let fresh_dir = dir.path().join("fresh");
    train_a(&d, &fresh_dir, "0", &["--quiet"]);
    let fresh = trainable(&read_weights(file_with(&fresh_dir, "_parameter.safetensors")).unwrap());
    assert_eq!(saved.keys().collect::<Vec<_>>(), fresh.keys().collect::<Vec<_>>());

    // INCLUDE with only the first convolution: its two tensors come from the file, the rest is
    // the fresh initialisation; every tensor's outcome is printed.
    let first = dir.path().join("first_conv");
    let res = train_a(&d, &first, "0", &["--load_parameters", &s(&weights), "None", "convolutions.conv1d", "True", "False"]);
    let stderr = String::from_utf8_lossy(&res.stderr);
    let stdout = String::from_utf8_lossy(&res.stdout);
    let log = format!("{stdout}{stderr}");
    let got = trainable(&read_weights(file_with(&first, "_parameter.safetensors")).unwrap());
    let conv1d = ["convolutions.conv1d.weight", "convolutions.conv1d.bias"];
    for (key, values) in &got {
        if conv1d.contains(&key.as_str()) {
            assert_eq!(values, &saved[key], "{key}");
            assert_ne!(values, &fresh[key], "{key}");
            assert!(log.contains(&format!("Loaded {key} with {key}")), "{log}");
        } else {
            assert_eq!(values, &fresh[key], "{key}");
            assert!(log.contains(&format!("ATTENTION: {key} not included; it keeps its initial values")), "{key}: {log}");
        }
    }
    assert!(log.contains("loaded 2 tensors"), "{log}");

    // The same through a prefix in EXCLUDE (everything but the classifier head) and TRANSLATE.
    let no_head = dir.path().join("no_head");
    train_a(&d, &no_head, "0", &["--load_parameters", &s(&weights), "None", "classifier.", "False", "False", "--quiet"]);
    let got = trainable(&read_weights(file_with(&no_head, "_parameter.safetensors")).unwrap());
    for (key, values) in &got {
        let want = if key.starts_with("classifier.") { &fresh[key] } else { &saved[key] };
        assert_eq!(values, want, "{key}");
    }

    // --select_tracks from a file (names and a comment) with the whole model loaded: the head
    // keeps the selected tracks' rows, the data the selected tracks' columns.
    let tracks = expression_tracks(&d);
    let list = dir.path().join("tracks.txt");
    std::fs::write(&list, "# two of the 21\nBcell.IL4\nTcell.IL2\n").unwrap();
    let rows: Vec<usize> = ["Tcell.IL2", "Bcell.IL4"].iter().map(|n| tracks.iter().position(|t| t == n).unwrap()).collect();
    assert!(rows[0] < rows[1]);
    let subset = dir.path().join("subset");
    let res = train_a(
        &d,
        &subset,
        "0",
        &["--select_tracks", &s(&list), "--load_parameters", &s(&weights), "None", "None", "False", "False", "--save_predictions"],
    );
    let log = format!("{}{}", String::from_utf8_lossy(&res.stdout), String::from_utf8_lossy(&res.stderr));
    assert!(log.contains("Loaded classifier.classifier.Linear.weight with classifier.classifier.Linear.weight: 2 of its 21 rows"), "{log}");
    let got = trainable(&read_weights(file_with(&subset, "_parameter.safetensors")).unwrap());
    let full = read_weights(&weights).unwrap();
    for (key, values) in &got {
        if key.starts_with("classifier.") {
            let e = full.get(key).unwrap();
            let width: usize = e.shape[1..].iter().product();
            let want: Vec<f32> = rows.iter().flat_map(|&r| e.values[r * width..(r + 1) * width].to_vec()).collect();
            assert_eq!(values, &want, "{key}");
        } else {
            assert_eq!(values, &saved[key], "{key}");
        }
    }
    let pred = predictions(&file_with(&subset, "_pred.npz"));
    assert_eq!(pred.columns, vec!["Tcell.IL2".to_string(), "Bcell.IL4".to_string()]);
}

/// Exit code 1, one `error: ` line containing every one of `needles`, and nothing in `outdir`.
fn assert_refused(args: &[&str], outdir: &Path, needles: &[&str]) {
    let res = run(MODEL_A, args);
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(1), "{args:?}: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    for n in needles {
        assert!(stderr.contains(n), "{args:?}: no '{n}' in {stderr}");
    }
    let written = std::fs::read_dir(outdir).map(|d| d.count()).unwrap_or(0);
    assert_eq!(written, 0, "{args:?} wrote into {}", outdir.display());
}

#[test]
fn weights_of_another_model_and_unknown_tracks_are_one_error_line_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = tiny_dataset(&dir.path().join("sim"));
    // Model B (DNA to three outputs), as built: weights of another architecture.
    let b = dir.path().join("b");
    let outs = [&d.expression, &d.degradation, &d.transcription].map(|p| s(p)).join(",");
    let cv = s(&d.crossvalidation);
    ok(
        env!("CARGO_BIN_EXE_model_b"),
        &[
            &s(&d.dna),
            &outs,
            "--delimiter",
            "\\t",
            "--crossvalidation",
            &cv,
            "1",
            "10",
            "--epochs",
            "0",
            "--outdir",
            &format!("{}/", b.display()),
            "--quiet",
        ],
    );
    let b_weights = file_with(&b, "_parameter.safetensors");
    let alone = dir.path().join("b_alone.safetensors");
    std::fs::copy(&b_weights, &alone).unwrap();
    let a = dir.path().join("a");
    train_a(&d, &a, "0", &["--quiet"]);
    let a_weights = file_with(&a, "_parameter.safetensors");

    let out = dir.path().join("out");
    let outdir = format!("{}/", out.display());
    let rna = s(&d.rna);
    // With B's model description beside: refused by the description.
    assert_refused(&[&rna, "--predictnew", &s(&b_weights), "--outdir", &outdir, "--quiet"], &out, &["ModelB", "ModelA"]);
    // Without it: refused by the tensors.
    assert_refused(&[&rna, "--predictnew", &s(&alone), "--outdir", &outdir, "--quiet"], &out, &["b_alone.safetensors", "ModelA"]);
    // Also with measured values.
    let measured = [rna.as_str(), &s(&d.expression), "--delimiter", "\\t", "--outdir", &outdir, "--quiet"];
    fn joined<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<&'a str> {
        a.iter().chain(b).copied().collect()
    }

    assert_refused(&joined(&measured, &["--predictnew", &s(&alone)]), &out, &["b_alone.safetensors", "ModelA"]);
    // Unknown track names, for prediction and for training.
    assert_refused(
        &[&rna, "--predictnew", &s(&a_weights), "--select_tracks", "Tcell.IL2,Nope", "--outdir", &outdir, "--quiet"],
        &out,
        &["'Nope'"],
    );
    assert_refused(&joined(&measured, &["--select_tracks", "Nope", "--epochs", "0"]), &out, &["'Nope'", "expression.tsv"]);
    assert_refused(&joined(&measured, &["--select_tracks", "21", "--epochs", "0"]), &out, &["21"]);
    // A weights file that does not exist, for fine-tuning.
    let missing = dir.path().join("missing_parameter.safetensors");
    assert_refused(
        &joined(&measured, &["--epochs", "0", "--load_parameters", &s(&missing), "None", "None", "False", "False"]),
        &out,
        &["missing_parameter.safetensors"],
    );
}

/// `--load_parameters` with several files (the reference's multi-input form): loaded in order,
/// each with its own TRANSLATE pairs (`-`-separated) and EXCLUDE/INCLUDE list, one INCLUDE value
/// for both; list counts that fit neither form and a missing file are one error line.
#[test]
fn load_parameters_takes_several_files_each_with_its_own_lists() {
    let dir = tempfile::tempdir().unwrap();
    let d = tiny_dataset(&dir.path().join("sim"));
    // Three initialisations (`--epochs 0` saves the model as built): two to load, one fresh.
    let built = |name: &str, seed: &str| {
        let out = dir.path().join(name);
        train_a(&d, &out, "0", &["--seed", seed, "--quiet"]);
        file_with(&out, "_parameter.safetensors")
    };
    let (w1, w2, fresh) = (built("w1", "11"), built("w2", "12"), built("fresh", "13"));
    let (first, second, fresh) =
        (read_weights(&w1).unwrap(), trainable(&read_weights(&w2).unwrap()), trainable(&read_weights(&fresh).unwrap()));
    // The first file as a .pth whose first convolution has other names.
    let mut renamed = first.clone();
    for (from, to) in [("convolutions.conv1d.weight", "old.conv.weight"), ("convolutions.conv1d.bias", "old.conv.bias")] {
        let e = renamed.entries.remove(from).unwrap();
        renamed.entries.insert(to.to_string(), e);
    }
    let pth = dir.path().join("renamed.pth");
    write_pth(&renamed, &pth);

    let out = dir.path().join("both");
    let files = format!("{},{}", s(&pth), s(&w2));
    let translate = "convolutions.conv1d.weight:old.conv.weight-convolutions.conv1d.bias:old.conv.bias,None";
    let res = train_a(
        &d,
        &out,
        "0",
        &["--seed", "13", "--load_parameters", &files, translate, "convolutions.conv1d,classifier.", "True", "False"],
    );
    let log = format!("{}{}", String::from_utf8_lossy(&res.stdout), String::from_utf8_lossy(&res.stderr));
    assert!(log.contains("Loaded convolutions.conv1d.weight with old.conv.weight"), "{log}");
    assert!(log.contains("Loaded classifier.classifier.Linear.weight with classifier.classifier.Linear.weight"), "{log}");
    assert!(log.contains(&format!("{}: loaded 2 tensors", s(&pth))) && log.contains(&format!("{}: loaded 2 tensors", s(&w2))), "{log}");
    let got = trainable(&read_weights(file_with(&out, "_parameter.safetensors")).unwrap());
    let first = trainable(&first);
    for (key, values) in &got {
        let (want, from) = if key.starts_with("convolutions.conv1d.") {
            (&first[key], "file 1")
        } else if key.starts_with("classifier.") {
            (&second[key], "file 2")
        } else {
            (&fresh[key], "the fresh model")
        };
        assert_eq!(values, want, "{key} should come from {from}");
        if from != "the fresh model" {
            assert!(first[key] != second[key] && want != &fresh[key], "{key}: the three initialisations differ");
        }
    }

    let refused = dir.path().join("refused");
    let outdir = format!("{}/", refused.display());
    let cv = s(&d.crossvalidation);
    let base = [s(&d.rna), s(&d.expression), "--delimiter".into(), "\\t".into(), "--crossvalidation".into(), cv, "1".into(), "10".into()];
    let with = |lp: [&str; 5]| -> Vec<String> {
        base.iter()
            .cloned()
            .chain(["--epochs", "0", "--outdir", &outdir, "--quiet", "--load_parameters"].map(String::from))
            .chain(lp.map(String::from))
            .collect()
    };
    let args = with([&files, "None", "None", "True,False,True", "False"]);
    assert_refused(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        &refused,
        &["INCLUDE 'True,False,True' has 3 comma-separated entries for 2 files"],
    );
    let missing = format!("{},{}", s(&w1), s(&dir.path().join("missing.safetensors")));
    let args = with([&missing, "None", "None", "False", "False"]);
    assert_refused(&args.iter().map(String::as_str).collect::<Vec<_>>(), &refused, &["missing.safetensors: no such file"]);
}

/// `--load_output_track_names`: names for the columns of `--predictnew` without output files,
/// one file per output (the comma form for model B's three outputs), checked against the weights.
#[test]
fn load_output_track_names_names_the_columns_of_a_prediction_without_output_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = tiny_dataset(&dir.path().join("sim"));
    let a = dir.path().join("a");
    train_a(&d, &a, "0", &["--quiet"]);
    // Without the model description beside the weights, nothing names the 21 tracks.
    let alone = dir.path().join("a_alone.safetensors");
    std::fs::copy(file_with(&a, "_parameter.safetensors"), &alone).unwrap();
    let names: Vec<String> = (0..21).map(|i| format!("cond{}", 20 - i)).collect();
    let list = dir.path().join("names.txt");
    std::fs::write(&list, format!("# the 21 conditions\n{}\n{}\n", names[..10].join(" "), names[10..].join("\n"))).unwrap();
    let rna = s(&d.rna);
    let named = dir.path().join("named");
    ok(
        MODEL_A,
        &[
            &rna,
            "--predictnew",
            &s(&alone),
            "--load_output_track_names",
            &s(&list),
            "--outdir",
            &format!("{}/", named.display()),
            "--quiet",
        ],
    );
    let all = predictions(&file_with(&named, "_pred.npz"));
    assert_eq!(all.columns, names);
    // --select_tracks picks by those names.
    let picked = dir.path().join("picked");
    let args = [&rna, "--predictnew", &s(&alone), "--load_output_track_names", &s(&list), "--select_tracks", "cond3,cond17"];
    ok(MODEL_A, &args.into_iter().chain(["--outdir", &format!("{}/", picked.display()), "--quiet"]).collect::<Vec<_>>());
    let sel = predictions(&file_with(&picked, "_pred.npz"));
    assert_eq!(sel.columns, ["cond17", "cond3"], "in the weights' order");
    for (gene, row) in &sel.rows {
        assert_eq!(row, &vec![all.rows[gene][3], all.rows[gene][17]], "{gene}");
    }

    // Wrong counts and files: one error line each, nothing written.
    let out = dir.path().join("out");
    let outdir = format!("{}/", out.display());
    let short = dir.path().join("short.txt");
    std::fs::write(&short, names[..20].join("\n")).unwrap();
    let refuse = |names_arg: &str, needles: &[&str]| {
        assert_refused(
            &[&rna, "--predictnew", &s(&alone), "--load_output_track_names", names_arg, "--outdir", &outdir, "--quiet"],
            &out,
            needles,
        )
    };
    refuse(&s(&short), &["short.txt: 20 track names, output 'ex' of", "has 21 tracks"]);
    refuse(&format!("{},{}", s(&list), s(&list)), &["2 file(s) for the 1 outputs of ModelA"]);
    refuse(&s(&dir.path().join("none.txt")), &["none.txt: cannot read the track names"]);
    // With output files their headers name the tracks.
    assert_refused(
        &[
            &rna,
            &s(&d.expression),
            "--delimiter",
            "\\t",
            "--predictnew",
            &s(&alone),
            "--load_output_track_names",
            &s(&list),
            "--outdir",
            &outdir,
            "--quiet",
        ],
        &out,
        &["--load_output_track_names names the tracks of --predictnew without output files"],
    );

    // Model B: one file per output, comma-separated.
    let b = dir.path().join("b");
    let outs = [&d.expression, &d.degradation, &d.transcription].map(|p| s(p)).join(",");
    let cv = s(&d.crossvalidation);
    let b_args = [&s(&d.dna), &outs, "--delimiter", "\\t", "--crossvalidation", &cv, "1", "10", "--epochs", "0", "--quiet"];
    ok(env!("CARGO_BIN_EXE_model_b"), &b_args.into_iter().chain(["--outdir", &format!("{}/", b.display())]).collect::<Vec<_>>());
    let b_alone = dir.path().join("b_alone.safetensors");
    std::fs::copy(file_with(&b, "_parameter.safetensors"), &b_alone).unwrap();
    let per_output: Vec<PathBuf> = ["ex", "kd", "kt"]
        .iter()
        .map(|o| {
            let p = dir.path().join(format!("{o}.txt"));
            std::fs::write(&p, (0..21).map(|i| format!("{o}{i}")).collect::<Vec<_>>().join("\n")).unwrap();
            p
        })
        .collect();
    let b_named = dir.path().join("b_named");
    let joined = per_output.iter().map(|p| s(p)).collect::<Vec<_>>().join(",");
    ok(
        env!("CARGO_BIN_EXE_model_b"),
        &[
            &s(&d.dna),
            "--predictnew",
            &s(&b_alone),
            "--load_output_track_names",
            &joined,
            "--outdir",
            &format!("{}/", b_named.display()),
            "--quiet",
        ],
    );
    let cols = predictions(&file_with(&b_named, "_pred.npz")).columns;
    let want: Vec<String> = ["ex", "kd", "kt"].iter().flat_map(|o| (0..21).map(move |i| format!("{o}{i}_{o}"))).collect();
    assert_eq!(cols, want);
}

/// An attribution npz: names, experiments, window and the values per gene (`T × 4 × W` each).
struct AttributionFile {
    names: Vec<String>,
    experiments: Vec<String>,
    window: Vec<f64>,
    per_gene: BTreeMap<String, Vec<f64>>,
}

fn attribution_file(path: &Path) -> AttributionFile {
    let npz = read_npz(path).unwrap();
    let names = npz.get("names").unwrap().strings().unwrap().to_vec();
    let experiments = npz.get("experiments").unwrap().strings().unwrap().to_vec();
    let window = npz.get("window").unwrap().to_f64().unwrap();
    let values = npz.get("values").unwrap();
    let w = (window[1] - window[0]) as usize;
    assert_eq!(values.shape, vec![names.len(), experiments.len(), 4, w], "{}", path.display());
    let v = values.to_f64().unwrap();
    let per_gene = names.iter().cloned().zip(v.chunks_exact(experiments.len() * 4 * w).map(<[f64]>::to_vec)).collect();
    AttributionFile { names, experiments, window, per_gene }
}

/// `--predictnew` on sequences alone explains them too: the gradient maps of every gene (or of
/// `--attribution_genes`), tracks by name or index, equal to the maps written after training for
/// the same genes and weights; ISM in a window likewise; the kernel filters are the same file;
/// tracks named by `--load_output_track_names`. An unknown track name, or `--kernel_analysis`
/// (which needs measured values), is one error line and nothing written.
#[test]
fn predictnew_on_sequences_alone_writes_the_attributions_of_training() {
    let dir = tempfile::tempdir().unwrap();
    let d = tiny_dataset(&dir.path().join("sim"));
    let tracks = expression_tracks(&d);
    let picked = format!("{},5", tracks[3]);
    let trained = dir.path().join("trained");
    train_a(&d, &trained, "1", &["--sequence_attributions", "grad", &picked, "--save_kernel_filters", "--quiet"]);
    let weights = file_with(&trained, "_parameter.safetensors");
    let after = attribution_file(&file_with(&trained, &format!("_grad{}.npz", picked.replace(',', "-"))));
    assert_eq!(after.names.len(), 6, "the test fold");
    assert_eq!(after.experiments, [tracks[3].clone(), tracks[5].clone()]);
    let rna = s(&d.rna);

    // Every gene by default; the test genes' maps are the same numbers.
    let every = dir.path().join("every");
    let outdir = format!("{}/", every.display());
    ok(
        MODEL_A,
        &[
            &rna,
            "--predictnew",
            &s(&weights),
            "--sequence_attributions",
            "grad",
            &picked,
            "--save_kernel_filters",
            "--outdir",
            &outdir,
            "--quiet",
        ],
    );
    let all = attribution_file(&file_with(&every, &format!("_grad{}.npz", picked.replace(',', "-"))));
    assert_eq!(all.names, predictions(&file_with(&every, "_pred.npz")).names, "every gene, in name order");
    assert_eq!(all.names.len(), 60);
    assert_eq!((&all.experiments, &all.window), (&after.experiments, &after.window));
    // Batches of other genes: the same maps up to float rounding (the exact check is below, with
    // the test genes as --attribution_genes).
    for (gene, values) in &after.per_gene {
        let scale = values.iter().fold(0f64, |m, v| m.max(v.abs()));
        let diff = all.per_gene[gene].iter().zip(values).fold(0f64, |m, (a, b)| m.max((a - b).abs()));
        eprintln!("{gene}: gradient map differs by {diff:e} (largest |value| {scale:e})");
        assert!(scale > 0.0 && diff <= 5e-3 * scale, "{gene}: gradients differ by {diff} (largest |value| {scale})");
    }
    let meme = |dir: &Path| std::fs::read_to_string(file_with(dir, "_kernelweights.meme")).unwrap();
    assert_eq!(meme(&every), meme(&trained));

    // ISM in a window, the same genes: after training and from the sequences alone.
    let genes = after.names[..2].join(",");
    let ism = ["--sequence_attributions", "ism", "all", "--attribution_window", "1000:1012", "--attribution_genes", &genes];
    let trained_ism = dir.path().join("trained_ism");
    train_a(&d, &trained_ism, "1", &ism.iter().copied().chain(["--quiet"]).collect::<Vec<_>>());
    let ism_after = attribution_file(&file_with(&trained_ism, "_ismall.npz"));
    let new_ism = dir.path().join("new_ism");
    let weights_ism = s(&file_with(&trained_ism, "_parameter.safetensors"));
    let args: Vec<&str> = [rna.as_str(), "--predictnew", &weights_ism].into_iter().chain(ism).collect();
    ok(MODEL_A, &args.into_iter().chain(["--outdir", &format!("{}/", new_ism.display()), "--quiet"]).collect::<Vec<_>>());
    let ism_new = attribution_file(&file_with(&new_ism, "_ismall.npz"));
    assert_eq!((&ism_new.names, &ism_new.experiments, &ism_new.window), (&ism_after.names, &ism_after.experiments, &ism_after.window));
    assert_eq!(ism_new.experiments.len(), 21);
    for (gene, values) in &ism_after.per_gene {
        let got = &ism_new.per_gene[gene];
        let scale = values.iter().fold(0f64, |m, v| m.max(v.abs()));
        assert!(scale > 0.0, "{gene}: an all-zero ISM map");
        let diff = got.iter().zip(values).fold(0f64, |m, (a, b)| m.max((a - b).abs()));
        assert!(diff <= 1e-5 * scale, "{gene}: ISM differs by {diff} (largest |value| {scale})");
    }

    // Weights without their description: tracks by the names of --load_output_track_names.
    let alone = dir.path().join("a_alone.safetensors");
    std::fs::copy(&weights, &alone).unwrap();
    let list = dir.path().join("names.txt");
    let renamed: Vec<String> = (0..21).map(|i| format!("cond{i}")).collect();
    std::fs::write(&list, renamed.join("\n")).unwrap();
    let named = dir.path().join("named");
    let args = [&rna, "--predictnew", &s(&alone), "--load_output_track_names", &s(&list), "--sequence_attributions", "grad", "cond3,cond5"];
    ok(
        MODEL_A,
        &args
            .into_iter()
            .chain(["--attribution_genes", &after.names.join(","), "--outdir", &format!("{}/", named.display()), "--quiet"])
            .collect::<Vec<_>>(),
    );
    let by_name = attribution_file(&file_with(&named, "_gradcond3-cond5.npz"));
    assert_eq!((&by_name.names, &by_name.experiments), (&after.names, &vec!["cond3".to_string(), "cond5".to_string()]));
    assert_eq!(by_name.per_gene, after.per_gene);

    // Bad input: one error line, nothing written.
    let out = dir.path().join("out");
    let outdir = format!("{}/", out.display());
    assert_refused(
        &[&rna, "--predictnew", &s(&weights), "--sequence_attributions", "grad", "Nope", "--outdir", &outdir, "--quiet"],
        &out,
        &["unknown track 'Nope'"],
    );
    assert_refused(
        &[
            &rna,
            "--predictnew",
            &s(&alone),
            "--load_output_track_names",
            &s(&list),
            "--sequence_attributions",
            "ism",
            &tracks[3],
            "--outdir",
            &outdir,
            "--quiet",
        ],
        &out,
        &[&format!("unknown track '{}'", tracks[3]), "cond0"],
    );
    assert_refused(
        &[&rna, "--predictnew", &s(&weights), "--kernel_analysis", "--outdir", &outdir, "--quiet"],
        &out,
        &["--kernel_analysis", "output files"],
    );
    assert_refused(
        &[
            &rna,
            "--predictnew",
            &s(&weights),
            "--sequence_attributions",
            "grad",
            "0",
            "--attribution_genes",
            "nosuchgene",
            "--outdir",
            &outdir,
            "--quiet",
        ],
        &out,
        &["unknown gene 'nosuchgene'"],
    );
}
