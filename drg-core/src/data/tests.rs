//! Tests of the data layer: every reader on good input and on each kind of bad input.

use std::path::{Path, PathBuf};

use npyz::WriterBuilder;

use super::*;

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Writes an npz with a float32 `seqfeatures` of any shape and unicode `genenames`.
fn write_f32_npz(path: &Path, shape: &[u64], values: &[f32], names: &[&str]) {
    let f = std::fs::File::create(path).unwrap();
    let mut npz = npyz::npz::NpzWriter::new(std::io::BufWriter::new(f));
    let mut a = npz.array::<f32>("seqfeatures", Default::default()).unwrap().default_dtype().shape(shape).begin_nd().unwrap();
    a.extend(values.iter().copied()).unwrap();
    a.finish().unwrap();
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    onehot::write_str_array(&mut npz, "genenames", &names, Default::default()).unwrap();
}

fn onehot_rows(seqs: &[&str], l: usize) -> Vec<i8> {
    let mut out = vec![0i8; seqs.len() * l * 4];
    for (i, s) in seqs.iter().enumerate() {
        for (p, b) in s.bytes().enumerate().take(l) {
            if let Some(c) = fasta::base_channel(b) {
                out[(i * l + p) * 4 + c] = 1;
            }
        }
    }
    out
}

fn err_of<T: std::fmt::Debug>(r: DataResult<T>) -> String {
    let e = r.unwrap_err().to_string();
    assert!(!e.contains('\n'), "error must be one line: {e}");
    e
}

#[test]
fn onehot_npz_roundtrip_is_channel_first_and_sorted() {
    let d = tmp();
    let p = d.path().join("x.npz");
    let names = vec!["g2".to_string(), "g1".to_string()];
    for compressed in [false, true] {
        onehot::write_onehot_npz(&p, &names, 5, &onehot_rows(&["ACGTN", "TTA"], 5), compressed).unwrap();
        let s = onehot::read_onehot_npz(&p).unwrap();
        assert_eq!(s.names, vec!["g1", "g2"]);
        assert_eq!(s.length, 5);
        // g1 = "TTA" padded: channel T (3) at positions 0,1; A (0) at 2; zero after.
        let r = s.row(0);
        assert_eq!(&r[3 * 5..4 * 5], &[1.0, 1.0, 0.0, 0.0, 0.0]);
        assert_eq!(&r[0..5], &[0.0, 0.0, 1.0, 0.0, 0.0]);
        // g2 = "ACGTN": position 4 is all zero.
        let r = s.row(1);
        assert_eq!((0..4).map(|c| r[c * 5 + 4]).sum::<f32>(), 0.0);
        assert_eq!((0..4).map(|c| r[c * 5 + c]).collect::<Vec<_>>(), vec![1.0; 4]);
    }
}

#[test]
fn bad_npz_files_give_one_clear_line() {
    let d = tmp();
    let e = err_of(read_sequences(&d.path().join("missing.npz"), None));
    assert!(e.contains("missing.npz") && e.contains("no such file"), "{e}");

    let p = d.path().join("text.npz");
    std::fs::write(&p, "hello").unwrap();
    let e = err_of(onehot::read_onehot_npz(&p));
    assert!(e.contains("text.npz") && e.contains("not a valid .npz"), "{e}");

    // Truncated: a valid file cut in half.
    let good = d.path().join("good.npz");
    onehot::write_onehot_npz(&good, &["a".into(), "b".into()], 50, &onehot_rows(&["ACGT", "GG"], 50), false).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let p = d.path().join("trunc.npz");
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let e = err_of(onehot::read_onehot_npz(&p));
    assert!(e.contains("trunc.npz"), "{e}");

    // Channel-first layout.
    let p = d.path().join("ncl.npz");
    write_f32_npz(&p, &[2, 4, 6], &[0.0; 48], &["a", "b"]);
    let e = err_of(onehot::read_onehot_npz(&p));
    assert!(e.contains("ncl.npz") && e.contains("(N, L, 4)") && e.contains("channel-first"), "{e}");

    // Not one-hot (a 0.5), names the gene and position.
    let p = d.path().join("soft.npz");
    let mut v = vec![0f32; 2 * 3 * 4];
    v[(3 + 2) * 4 + 1] = 0.5;
    write_f32_npz(&p, &[2, 3, 4], &v, &["a", "b"]);
    let e = err_of(onehot::read_onehot_npz(&p));
    assert!(e.contains("soft.npz") && e.contains("not one-hot") && e.contains("'b'") && e.contains("position 2"), "{e}");

    // Two ones at one position.
    let p = d.path().join("two.npz");
    let mut v = vec![0f32; 24];
    v[0] = 1.0;
    v[1] = 1.0;
    write_f32_npz(&p, &[2, 3, 4], &v, &["a", "b"]);
    assert!(err_of(onehot::read_onehot_npz(&p)).contains("not one-hot"));

    // Duplicate names.
    let p = d.path().join("dup.npz");
    write_f32_npz(&p, &[2, 3, 4], &[0.0; 24], &["a", "a"]);
    let e = err_of(onehot::read_onehot_npz(&p));
    assert!(e.contains("dup.npz") && e.contains("'a'") && e.contains("more than once"), "{e}");

    // Name count mismatch.
    let p = d.path().join("count.npz");
    write_f32_npz(&p, &[2, 3, 4], &[0.0; 24], &["a"]);
    assert!(err_of(onehot::read_onehot_npz(&p)).contains("1 names but 'seqfeatures' has 2"));
}

#[test]
fn fasta_is_encoded_like_the_reference() {
    let d = tmp();
    let p = d.path().join("s.fa");
    std::fs::write(&p, ">b\nacgtnACGTUacgt\n>a desc\nAAAAACCCCCGGGGG\nTT\n>short\nACGT\n>gone\nSequence unavailable\n").unwrap();
    let s = fasta::read_fasta(&p, None).unwrap();
    assert_eq!(s.names, vec!["a desc", "b"]); // short and unavailable records skipped, sorted
    assert_eq!(s.length, 17); // longest
    let b = s.row(1);
    let col = |r: &[f32], p: usize| (0..4).map(|c| r[c * 17 + p]).collect::<Vec<_>>();
    assert_eq!(col(&b, 0), vec![1.0, 0.0, 0.0, 0.0]); // lower case a
    assert_eq!(col(&b, 4), vec![0.0; 4]); // n
    assert_eq!(col(&b, 9), vec![0.0; 4]); // U
    assert_eq!(col(&b, 16), vec![0.0; 4]); // padding
    let cut = fasta::read_fasta(&p, Some(4)).unwrap();
    assert_eq!(cut.length, 4);
    assert_eq!((0..2).map(|i| cut.row(i).iter().sum::<f32>()).sum::<f32>(), 8.0);

    let bad = d.path().join("bad.fa");
    std::fs::write(&bad, "ACGT\n>x\nACGT\n").unwrap();
    let e = err_of(fasta::read_fasta(&bad, None));
    assert!(e.contains("bad.fa:1:") && e.contains("not a FASTA"), "{e}");
}

#[test]
fn matrices_follow_the_header_and_delimiter_rules() {
    let d = tmp();
    let p = d.path().join("y.tsv");
    std::fs::write(&p, "# A\tB\ng2\t1\t2\ng1\t3\t4.5\n").unwrap();
    let m = matrix::read_matrix(&p, matrix::parse_delimiter("\\t").unwrap()).unwrap();
    assert_eq!(m.track_names, vec!["A", "B"]);
    assert_eq!(m.genes, vec!["g1", "g2"]);
    assert_eq!(m.values, vec![3.0, 4.5, 1.0, 2.0]);

    let p = d.path().join("nohead.csv");
    std::fs::write(&p, "g1,1,2,3\n").unwrap();
    assert_eq!(matrix::read_matrix(&p, ',').unwrap().track_names, vec!["C0", "C1", "C2"]);

    let case = |name: &str, text: &str| {
        let p = d.path().join(name);
        std::fs::write(&p, text).unwrap();
        err_of(matrix::read_matrix(&p, ','))
    };
    let e = case("nan.csv", "# A,B\ng1,1,nan\n");
    assert!(e.contains("nan.csv:2:") && e.contains("g1") && e.contains("not finite"), "{e}");
    let e = case("inf.csv", "# A,B\ng1,1,2\ng2,inf,1\n");
    assert!(e.contains("inf.csv:3:") && e.contains("not finite"), "{e}");
    let e = case("ragged.csv", "# A,B\ng1,1,2\ng2,1\n");
    assert!(e.contains("ragged.csv:3:") && e.contains("ragged"), "{e}");
    let e = case("offby1.csv", "# gene,A,B\ng1,1,2\n");
    assert!(e.contains("offby1.csv:1:") && e.contains("only the track names"), "{e}");
    let e = case("word.csv", "gene,A,B\ng1,1,2\n");
    assert!(e.contains("word.csv:1:") && e.contains("must start with '#'"), "{e}");
    let e = case("dup.csv", "g1,1\ng1,2\n");
    assert!(e.contains("dup.csv") && e.contains("'g1'"), "{e}");
    let e = case("empty.csv", "# A\n\n");
    assert!(e.contains("empty.csv") && e.contains("no data rows"), "{e}");
    let e = case("tabs.csv", "g1\t1\t2\n");
    assert!(e.contains("wrong --delimiter"), "{e}");
    assert!(matrix::parse_delimiter("ab").is_err());
}

fn small_dataset(d: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let x = d.join("x.npz");
    let names: Vec<String> = ["g3", "g1", "g2", "g4"].iter().map(|s| s.to_string()).collect();
    onehot::write_onehot_npz(&x, &names, 12, &onehot_rows(&["A", "C", "G", "T"], 12), false).unwrap();
    let y1 = d.join("a.csv");
    std::fs::write(&y1, "# T1,T2\ng2,2,2.5\ng1,1,1.5\ng3,3,3.5\ng9,9,9\n").unwrap();
    let y2 = d.join("b.csv");
    std::fs::write(&y2, "# T1,T2\ng3,30,0\ng2,20,0\ng4,40,0\n").unwrap();
    (x, y1, y2)
}

#[test]
fn alignment_keeps_the_sorted_intersection() {
    let d = tmp();
    let (x, y1, y2) = small_dataset(d.path());
    let mut spec = DataSpec::new(vec![InputSpec::new(&x, true)], vec![y1, y2]);
    spec.cv = CvSpec::Integer { folds: 2, fold: 0, cutoff: None };
    let ds = load(&spec).unwrap();
    assert_eq!(ds.genes, vec!["g2", "g3"]);
    assert_eq!(ds.outputs[0].values, vec![2.0, 2.5, 3.0, 3.5]);
    assert_eq!(ds.outputs[1].values, vec![20.0, 0.0, 30.0, 0.0]);
    // g2 was "G" (channel 2), g3 "A" (channel 0).
    assert_eq!(ds.inputs[0].row(0)[2 * 12], 1.0);
    assert_eq!(ds.inputs[0].row(1)[0], 1.0);
    assert!(ds.inputs[0].reverse_complement);
    // Default tags '0','1'; every class "0" spans both files; tracks repeat, so they get suffixes.
    assert_eq!(ds.track_classes, vec![vec!["00", "00"], vec!["01", "01"]]);
    assert_eq!(ds.eval_track_names[1], vec!["T1_1", "T2_1"]);

    let other = d.path().join("other.csv");
    std::fs::write(&other, "zz,1\n").unwrap();
    let e = err_of(load(&DataSpec::new(vec![InputSpec::new(&x, false)], vec![other])));
    assert!(e.contains("no gene name is shared") && e.contains("other.csv") && e.contains("x.npz"), "{e}");
}

#[test]
fn class_files_and_file_tags() {
    let d = tmp();
    let (x, y1, y2) = small_dataset(d.path());
    let cls = d.path().join("cls.txt");
    std::fs::write(&cls, "# comment\nT1 cellA extra\nT2 cellB\n").unwrap();
    let mut spec = DataSpec::new(vec![InputSpec::new(&x, false)], vec![y1.clone(), y2]);
    spec.class_file = Some(cls.clone());
    spec.file_tags = Some(vec!["ex".into(), "kd".into()]);
    let ds = load(&spec).unwrap();
    assert_eq!(ds.track_classes[0], vec!["cellAex", "cellBex"]);
    assert_eq!(ds.eval_track_names[1], vec!["T1_kd", "T2_kd"]);

    std::fs::write(&cls, "T1 cellA\n").unwrap();
    let e = err_of(load(&spec));
    assert!(e.contains("cls.txt") && e.contains("'T2'") && e.contains("no class"), "{e}");
    std::fs::write(&cls, "T1\n").unwrap();
    assert!(err_of(load(&spec)).contains("cls.txt:1:"));
    // A single file: no renaming.
    std::fs::write(&cls, "T1 a\nT2 b\n").unwrap();
    let mut single = DataSpec::new(vec![InputSpec::new(&x, false)], vec![y1]);
    single.class_file = Some(cls);
    assert_eq!(load(&single).unwrap().track_classes, vec![vec!["a", "b"]]);
}

#[test]
fn cross_validation_file_mode() {
    let d = tmp();
    let genes: Vec<String> = (0..6).map(|i| format!("g{i}")).collect();
    let cv = d.path().join("cv.txt");
    std::fs::write(&cv, "# Set_0\ng0 unknown\n# Set_1\ng3 g1\n# Set_2\ng5\n").unwrap();
    let sets = crossval::read_cv_sets(&cv, &genes).unwrap();
    let s = crossval::split_from_sets(&cv, &sets, 6, 1).unwrap();
    assert_eq!(s.val, vec![1, 3]);
    assert_eq!(s.test, vec![5]);
    assert_eq!(s.train, vec![0, 2, 4]);
    let s = crossval::split_from_sets(&cv, &sets, 6, 2).unwrap(); // wraps around
    assert_eq!((s.val, s.test), (vec![5], vec![0]));
    assert!(err_of(crossval::split_from_sets(&cv, &sets, 6, 3)).contains("has 3 sets"));

    std::fs::write(&cv, "g0\nnope never\ng2\n").unwrap();
    let sets = crossval::read_cv_sets(&cv, &genes).unwrap();
    let e = err_of(crossval::split_from_sets(&cv, &sets, 6, 0));
    assert!(e.contains("cv.txt") && e.contains("set 1") && e.contains("test set"), "{e}");
    std::fs::write(&cv, "x y\nz\n").unwrap();
    let e = err_of(crossval::read_cv_sets(&cv, &genes));
    assert!(e.contains("cv.txt") && e.contains("none of its 3 gene names"), "{e}");
}

#[test]
fn cross_validation_integer_mode_partitions_like_the_reference() {
    let n = 103;
    let s = crossval::split_integer(n, 10, 0, None).unwrap();
    let perm = numpy_rng::Mt19937::new(1010).permutation(n);
    // By the reference's formula with 103 = 10·10 + 3 (modulos 3): test fold 0 is
    // [0, int(0.1·103) + (1 < 3)) = [0, 11); validation fold 9 is [int(0.9·103), 103) = [92, 103).
    assert_eq!(s.test.len(), 11);
    assert_eq!(s.val.len(), 11);
    assert_eq!(s.val, perm[92..103].to_vec());
    assert_eq!(s.test, perm[0..11].to_vec());
    let mut all: Vec<usize> = s.train.iter().chain(&s.val).chain(&s.test).copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..n).collect::<Vec<_>>());
    // Expected values below were produced by numpy running the reference's `create_sets`
    // (np.random.seed(1010); permutation; stratified slicing) with Yclass = (i % 3 == 0).
    assert_eq!(&perm[..12], &[47, 79, 97, 50, 26, 19, 10, 101, 31, 60, 87, 48]);
    let classes: Vec<u8> = (0..n).map(|i| u8::from(i % 3 == 0)).collect();
    let s = crossval::split_integer(n, 10, 4, Some(&classes)).unwrap();
    assert_eq!(s.test, vec![13, 82, 52, 20, 23, 43, 8, 40, 57, 93, 51]);
    assert_eq!(s.val, vec![83, 68, 100, 89, 2, 41, 4, 32, 27, 9, 99, 6, 66]);
    assert_eq!(s.train.len(), 79);
    let s = crossval::split_integer(n, 10, 1, Some(&classes)).unwrap();
    assert_eq!(s.test, vec![101, 31, 55, 73, 65, 56, 77, 44, 39, 0, 3, 75, 69]);
    assert_eq!(s.val, vec![47, 79, 97, 50, 26, 19, 10, 60, 87, 48, 21]);
    assert!(crossval::split_integer(n, 10, 10, None).is_err());
}

#[test]
fn batches_follow_the_drop_rule_and_are_seeded() {
    assert!(reference_drop_last(21, 8)); // 5 left over < 10
    assert!(!reference_drop_last(45, 16)); // 13 left over ≥ 10
    let rows: Vec<usize> = (0..21).collect();
    let mut b = Batcher::shuffled(&rows, 8, 7);
    let e1 = b.epoch();
    assert_eq!(e1.len(), 2);
    assert!(e1.iter().all(|x| x.len() == 8));
    let e2 = b.epoch();
    assert_ne!(e1, e2, "each epoch reshuffles");
    assert_eq!(Batcher::shuffled(&rows, 8, 7).epoch(), e1, "same seed, same order");
    let seq = Batcher::sequential(&rows, 8).epoch();
    assert_eq!(seq.len(), 3);
    assert_eq!(seq[2], vec![16, 17, 18, 19, 20]);
}

#[test]
fn gathering_and_length_checks() {
    let d = tmp();
    let (x, y1, _) = small_dataset(d.path());
    let mut spec = DataSpec::new(vec![InputSpec::new(&x, false)], vec![y1]);
    spec.cv = CvSpec::Integer { folds: 2, fold: 0, cutoff: Some(2.0) };
    let ds = load(&spec).unwrap();
    let xb = ds.gather_inputs(&[2, 0]);
    assert_eq!(xb[0].len(), 2 * 4 * 12);
    assert_eq!(&xb[0][..48], ds.inputs[0].row(2));
    assert_eq!(ds.gather_targets(&[2, 0])[0], vec![3.0, 3.5, 1.0, 1.5]);
    assert!(check_length(&ds.inputs[0], &[12, 40000]).is_ok());
    let e = err_of(check_length(&ds.inputs[0], &[2000, 40000]));
    assert!(e.contains("x.npz") && e.contains("12 bp") && e.contains("2000 or 40000"), "{e}");
}

#[test]
fn simulator_is_deterministic_and_readable() {
    let o = simulate::SimOptions { n_genes: 60, dna_length: 800, rna_length: 600, seed: 5, ..Default::default() };
    let (d1, d2) = (tmp(), tmp());
    let sim = simulate::simulate(&o).unwrap();
    let p1 = simulate::write_dataset(&sim, &o, d1.path()).unwrap();
    let p2 = simulate::write_dataset(&simulate::simulate(&o).unwrap(), &o, d2.path()).unwrap();
    for (a, b) in p1.all().iter().zip(p2.all()) {
        assert_eq!(std::fs::read(a).unwrap(), std::fs::read(b).unwrap(), "{}", a.display());
    }
    let other = simulate::simulate(&simulate::SimOptions { seed: 6, ..o.clone() }).unwrap();
    assert_ne!(other.expression, sim.expression);

    let mut spec = DataSpec::new(
        vec![InputSpec::new(&p1.dna, true), InputSpec::new(&p1.rna, false)],
        vec![p1.expression.clone(), p1.degradation.clone(), p1.transcription.clone()],
    );
    spec.delimiter = '\t';
    spec.class_file = Some(p1.classes.clone());
    spec.file_tags = Some(vec!["ex".into(), "kd".into(), "kt".into()]);
    spec.cv = CvSpec::File { path: p1.crossvalidation.clone(), fold: 1 };
    let ds = load(&spec).unwrap();
    assert_eq!(ds.n_genes(), 60);
    assert_eq!(ds.n_tracks(), vec![21, 21, 21]);
    assert_eq!((ds.inputs[0].length, ds.inputs[1].length), (800, 600));
    assert_eq!(ds.split.val.len() + ds.split.test.len() + ds.split.train.len(), 60);
    assert!(ds.track_classes[0][0].ends_with("ex"));
    // Files hold what was simulated (4 decimals).
    let g = ds.genes.iter().position(|n| n == &sim.genes[7]).unwrap();
    for t in 0..21 {
        assert!((ds.outputs[0].row(g)[t] - sim.expression[7 * 21 + t]).abs() < 1e-4);
        let recon = ds.outputs[2].row(g)[t] - ds.outputs[1].row(g)[t];
        assert!((recon - sim.expression[7 * 21 + t]).abs() < 4.0 * o.noise * 3f32.sqrt());
    }
}

#[test]
fn default_simulation_is_learnable_beyond_the_average_profile() {
    let o = simulate::SimOptions::default();
    let t0 = std::time::Instant::now();
    let sim = simulate::simulate(&o).unwrap();
    assert!(t0.elapsed().as_secs_f64() < 20.0);
    assert_eq!(sim.tracks.len(), 21);
    let test = &sim.cv_sets[1];
    let train: Vec<usize> = sim.cv_sets.iter().enumerate().filter(|&(i, _)| i != 0 && i != 1).flat_map(|(_, s)| s.clone()).collect();
    let (baseline, truth) = simulate::learnability::expression_scores(&sim, &train, test);
    eprintln!("average-profile baseline r = {baseline:.3}, noiseless truth r = {truth:.3}");
    assert!(truth > 0.8, "truth {truth}");
    assert!((0.15..0.5).contains(&baseline), "baseline {baseline}");
    assert!(truth - baseline > 0.35);
}

/// Number of occurrences of `motif` in `seq[lo..hi]`.
fn count(seq: &[u8], lo: usize, hi: usize, motif: &[u8]) -> f64 {
    seq[lo..hi].windows(motif.len()).filter(|w| *w == motif).count() as f64
}

/// Solves `a x = b` (a: k×k, b: k×m) by Gauss–Jordan elimination with partial pivoting.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<Vec<f64>>) -> Vec<Vec<f64>> {
    let k = a.len();
    for c in 0..k {
        let p = (c..k).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs())).unwrap();
        a.swap(c, p);
        b.swap(c, p);
        for r in 0..k {
            if r != c {
                let f = a[r][c] / a[c][c];
                let (pivot_a, pivot_b) = (a[c].clone(), b[c].clone());
                a[r].iter_mut().zip(&pivot_a).for_each(|(x, p)| *x -= f * p);
                b[r].iter_mut().zip(&pivot_b).for_each(|(x, p)| *x -= f * p);
            }
        }
    }
    (0..k).map(|r| b[r].iter().map(|v| v / a[r][r]).collect()).collect()
}

#[test]
fn default_simulation_is_learnable_from_sequence_alone() {
    // A model that only reads the sequences (motif counts in promoter, enhancer region and
    // 3'UTR, fitted by ridge regression on the training genes) must clearly beat the
    // average-profile baseline on held-out genes: the signal really is in the sequence.
    let o = simulate::SimOptions::default();
    let sim = simulate::simulate(&o).unwrap();
    let decode = |x: &[i8], g: usize, l: usize| -> Vec<u8> {
        (0..l).map(|p| (0..4).find(|&c| x[(g * l + p) * 4 + c] == 1).map_or(b'N', |c| b"ACGT"[c])).collect()
    };
    let revcomp = |m: &[u8]| -> Vec<u8> {
        m.iter()
            .rev()
            .map(|&b| match b {
                b'A' => b'T',
                b'C' => b'G',
                b'G' => b'C',
                _ => b'A',
            })
            .collect()
    };
    let tss = o.dna_length / 2;
    let features = |g: usize| -> Vec<f64> {
        let dna = decode(&sim.dna, g, o.dna_length);
        let rna = decode(&sim.rna, g, o.rna_length);
        let mut f = vec![1.0];
        for m in &sim.tf_motifs {
            let rc = revcomp(m);
            f.push(count(&dna, tss - 260, tss, m) + count(&dna, tss - 260, tss, &rc));
            f.push(count(&dna, 0, tss - 260, m) + count(&dna, 0, tss - 260, &rc));
        }
        for m in &sim.rbp_motifs {
            f.push(count(&rna, 0, o.rna_length, m));
        }
        f
    };
    let t = sim.tracks.len();
    let test = &sim.cv_sets[1];
    let train: Vec<usize> = sim.cv_sets.iter().enumerate().filter(|&(i, _)| i > 1).flat_map(|(_, s)| s.clone()).collect();
    let k = features(0).len();
    let mut xtx = vec![vec![0.0; k]; k];
    let mut xty = vec![vec![0.0; t]; k];
    for &g in &train {
        let f = features(g);
        for i in 0..k {
            xtx[i].iter_mut().zip(&f).for_each(|(x, fj)| *x += f[i] * fj);
            let y = &sim.expression[g * t..(g + 1) * t];
            xty[i].iter_mut().zip(y).for_each(|(x, &yj)| *x += f[i] * yj as f64);
        }
    }
    for (i, row) in xtx.iter_mut().enumerate() {
        row[i] += 1.0;
    }
    let w = solve(xtx, xty);
    let predict = |g: usize| -> Vec<f32> {
        let f = features(g);
        (0..t).map(|j| (0..k).map(|i| f[i] * w[i][j]).sum::<f64>() as f32).collect()
    };
    let model = simulate::learnability::mean_class_correlation(predict, &sim.expression, t, &sim.track_cell_types, test);
    let (baseline, truth) = simulate::learnability::expression_scores(&sim, &train, test);
    eprintln!("motif-count model r = {model:.3}, baseline r = {baseline:.3}, truth r = {truth:.3}");
    assert!(model > baseline + 0.3, "model {model} vs baseline {baseline}");
    assert!(model <= truth + 0.02);
}

#[test]
fn two_inputs_npz_outputs_and_fasta_duplicates() {
    let d = tmp();
    let (x, _, _) = small_dataset(d.path());
    // A second input (FASTA) lacking g3, with its own length.
    let fa = d.path().join("rna.fa");
    std::fs::write(&fa, ">g4\nACGTACGTACGTAC\n>g1\nTTTTTTTTTTTTTTTTTTTT\n>g2\nGGGGGGGGGGGGGGGGG\n").unwrap();
    // An npz output matrix: counts (3, 2), names, celltypes.
    let y = d.path().join("y.npz");
    {
        let f = std::fs::File::create(&y).unwrap();
        let mut npz = npyz::npz::NpzWriter::new(std::io::BufWriter::new(f));
        let mut a = npz.array::<f64>("counts", Default::default()).unwrap().default_dtype().shape(&[3, 2]).begin_nd().unwrap();
        a.extend([4.0, 4.5, 1.0, 1.5, 2.0, 2.5]).unwrap();
        a.finish().unwrap();
        let names: Vec<String> = ["g4", "g1", "g2"].iter().map(|s| s.to_string()).collect();
        onehot::write_str_array(&mut npz, "names", &names, Default::default()).unwrap();
        onehot::write_str_array(&mut npz, "celltypes", &["A".into(), "B".into()], Default::default()).unwrap();
    }
    let mut spec = DataSpec::new(vec![InputSpec::new(&x, true), InputSpec::new(&fa, false)], vec![y]);
    spec.cv = CvSpec::Integer { folds: 3, fold: 0, cutoff: None };
    let ds = load(&spec).unwrap();
    assert_eq!(ds.genes, vec!["g1", "g2", "g4"]);
    assert_eq!(ds.lengths(), vec![12, 20]);
    assert_eq!(ds.outputs[0].track_names, vec!["A", "B"]);
    assert_eq!(ds.outputs[0].values, vec![1.0, 1.5, 2.0, 2.5, 4.0, 4.5]);
    assert_eq!(ds.inputs[1].row(0)[3 * 20], 1.0); // g1 = T...
    assert_eq!(ds.gather_inputs(&[0]).len(), 2);

    std::fs::write(&fa, ">g1\nACGTACGTACGT\n>g1\nACGTACGTACGT\n").unwrap();
    let e = err_of(fasta::read_fasta(&fa, None));
    assert!(e.contains("rna.fa") && e.contains("'g1'") && e.contains("more than once"), "{e}");
}

#[test]
fn builtin_spec_describes_the_use_cases() {
    use builtin::{SimInput, SimOutput};
    let d = tmp();
    let o = simulate::SimOptions { n_genes: 40, dna_length: 700, rna_length: 400, ..Default::default() };
    let p = simulate::write_dataset(&simulate::simulate(&o).unwrap(), &o, d.path()).unwrap();
    let spec = p.spec(&[SimInput::Dna, SimInput::Rna], &[SimOutput::Expression, SimOutput::Degradation, SimOutput::Transcription], 1);
    let ds = load(&spec).unwrap();
    assert_eq!(ds.lengths(), vec![700, 400]);
    assert_eq!(ds.inputs.iter().map(|s| s.reverse_complement).collect::<Vec<_>>(), vec![true, false]);
    assert_eq!(ds.track_classes[2][0], "Tcellkt");
    assert_eq!(ds.eval_track_names[1][0], "Tcell.IL1b_kd");
    let sets = crossval::read_cv_sets(&p.crossvalidation, &ds.genes).unwrap();
    assert_eq!((ds.split.val.clone(), ds.split.test.clone()), (sets[1].clone(), sets[2].clone()));
    let single = load(&p.spec(&[SimInput::Rna], &[SimOutput::Expression], 0)).unwrap();
    assert_eq!(single.track_classes[0][0], "Tcell");
    let mut v = Batcher::validation(&single.split.val, 8, 1);
    assert!(v.epoch().iter().all(|b| b.len() == 4)); // 4 validation genes: one batch of 4
}
