//! Explaining models (issue 13): gradients against finite differences and ISM against
//! predictions of the mutated sequences, on fixture-size copies of seed models D and B (declared
//! here, as `models/src/lib.rs` declares them, so that this test builds without the model
//! binaries) with random weights; the first-layer kernels as MEME; and, on model D (1,024 bp
//! inputs) trained briefly on simulated data, attributions, seqlet motifs and kernels against the
//! simulator's planted truth.

use drg_core::data::builtin::{SimInput, SimOutput};
use drg_core::data::simulate::{simulate, write_dataset, SimOptions, SiteInput};
use drg_core::data::Dataset;
use drg_core::dfdx::prelude::*;
use drg_core::drg_model;
use drg_core::explain::attribution::{gradients, group_predictions, ism_naive, Window};
use drg_core::explain::kernels::activation_ppm;
use drg_core::explain::meme::{first_layer_kernels, meme_text, Motif};
use drg_core::explain::tomtom::{best_match, compare};
use drg_core::explain::tracks::TrackGroups;
use drg_core::explain::truth::{planted_motifs, site_mask};
use drg_core::import::load::export_state_dict;
use drg_core::model::DrgModel;
use drg_core::train::optim::OptimizerKind;
use drg_core::train::schedule::ScheduleConfig;
use drg_core::train::{train, OutputPaths, ReportOptions, TrainConfig};
use drg_test_support::RandomData;
use rand::{Rng, SeedableRng};

drg_model! {
    let basemodel = conv(nk, 15) >> gelu >> wpool(4)
        >> dilated(k = 11, dilations = [1, 2, 4], batchnorm = true)
        >> convblocks(4, k = 11, wpool = tp, batchnorm = true)
        >> flatten >> linear(fc) >> fc(3, dropout = 0.1);

    /// Seed model B at its fixture size.
    pub struct ModelB {
        sizes {
            fixture: len = 1_024, nk = 16, fc = 64, tp = 3;
        }
        input dna: onehot(4, len), reverse_complement;
        trunk dna: basemodel;
        output ex[_] = head(dna);
        output kd[_] = head(dna), validation = none;
        output kt[_] = head(dna), validation = none;
        loss correlation_mse;
        validation correlation;
    }

    /// Seed model D at its fixture size.
    pub struct ModelD {
        sizes {
            fixture: len = 560, nk = 16, fc = 64, tp = 3;
            truth: len = 1_024, nk = 16, fc = 64, tp = 3;
        }
        input dna: onehot(4, len), reverse_complement;
        input rna: onehot(4, len);
        trunk dna: basemodel;
        trunk rna: same as dna;
        output ex[_] = difference(dna, rna);
        output kd[_] = direct(rna), validation = none;
        output kt[_] = direct(dna), validation = none;
        loss correlation_mse;
        validation correlation;
    }
}

/// Random one-hot inputs of the shapes `M` declares and random targets, 5 tracks per output,
/// the first half training genes, the second test genes.
fn random_data<M: DrgModel<Cpu>>(n: usize) -> Dataset {
    drg_test_support::random_data::<M, Cpu>(n, &RandomData::default())
}

/// Group 0: track 1 alone; group 1: the mean of tracks 0 and 6 (two heads).
fn groups() -> TrackGroups {
    TrackGroups { names: vec!["C1".into(), "mean".into()], members: vec![vec![1], vec![0, 6]] }
}

/// The group predictions of gene `row` with input `k` replaced by `x`.
fn predict_with<M: DrgModel<Cpu>>(model: &mut M, dev: &Cpu, data: &Dataset, row: usize, k: usize, x: &[f32]) -> Vec<f64> {
    let mut inputs = data.gather_inputs(&[row]);
    inputs[k] = x.to_vec();
    group_predictions(model, dev, inputs, &data.lengths(), 1, &data.n_tracks(), &groups())
}

#[test]
fn gradients_match_finite_differences_on_both_inputs() {
    let dev = Cpu::seed_from_u64(0);
    let data = random_data::<ModelDFixture>(4);
    let mut model = ModelDFixture::new(&dev, &data.n_tracks());
    let window = Window { start: 200, end: 330 };
    let rows = [1, 3];
    // batch 1 and batch 2 must agree: rows are independent in eval mode
    let g = gradients(&mut model, &dev, &data, &rows, &groups(), window, 2, false).unwrap();
    let g1 = gradients(&mut model, &dev, &data, &rows, &groups(), window, 1, false).unwrap();
    for (a, b) in g.iter().flatten().zip(g1.iter().flatten()) {
        assert!((a - b).abs() <= 1e-5 * (1.0 + a.abs()), "{a} vs {b}");
    }
    let (nt, w) = (2, window.len());
    let l = data.lengths()[0];
    let h = 0.01f32;
    let mut checked = 0;
    for (k, gk) in g.iter().enumerate() {
        let scale = gk.iter().fold(0f64, |m, v| m.max(v.abs()));
        assert!(scale > 0.0, "input {k} has no gradient");
        for (i, &row) in rows.iter().enumerate() {
            let x = data.gather_inputs(&[row])[k].clone();
            // the positions of the largest gradients, and a few others
            for p in [200usize, 250, 263, 301, 329] {
                for c in 0..4 {
                    // the zero-mean gradient is the derivative along e_c − 1/4 (all four bases)
                    let shifted = |s: f32| {
                        let mut y = x.clone();
                        (0..4).for_each(|b| y[b * l + p] -= s / 4.0);
                        y[c * l + p] += s;
                        y
                    };
                    let up = predict_with(&mut model, &dev, &data, row, k, &shifted(h));
                    let down = predict_with(&mut model, &dev, &data, row, k, &shifted(-h));
                    for t in 0..nt {
                        let fd = (up[t] - down[t]) / (2.0 * f64::from(h));
                        let got = gk[((i * nt + t) * 4 + c) * w + p - window.start];
                        assert!(
                            (fd - got).abs() <= 0.02 * scale + 1e-4,
                            "input {k} gene {row} pos {p} base {c} group {t}: gradient {got}, finite difference {fd} (scale {scale})"
                        );
                        checked += 1;
                    }
                }
            }
        }
    }
    assert_eq!(checked, 2 * 2 * 5 * 4 * 2);
}

#[test]
fn ism_is_the_change_of_prediction_in_the_zero_mean_gauge() {
    let dev = Cpu::seed_from_u64(1);
    let data = random_data::<ModelDFixture>(3);
    let mut model = ModelDFixture::new(&dev, &data.n_tracks());
    let window = Window { start: 100, end: 106 };
    let rows = [2, 0];
    let ism = ism_naive(&mut model, &dev, &data, &rows, &groups(), window, 7).unwrap();
    let (nt, w, l) = (2, window.len(), data.lengths()[1]);
    for (i, &row) in rows.iter().enumerate() {
        let reference = predict_with(&mut model, &dev, &data, row, 1, &data.gather_inputs(&[row])[1]);
        let x = data.gather_inputs(&[row])[1].clone();
        for p in window.range() {
            let deltas: Vec<Vec<f64>> = (0..4)
                .map(|c| {
                    let mut y = x.clone();
                    (0..4).for_each(|b| y[b * l + p] = 0.0);
                    y[c * l + p] = 1.0;
                    let pred = predict_with(&mut model, &dev, &data, row, 1, &y);
                    (0..nt).map(|t| pred[t] - reference[t]).collect()
                })
                .collect();
            for t in 0..nt {
                let mean = (0..4).map(|c| deltas[c][t]).sum::<f64>() / 4.0;
                for c in 0..4 {
                    let want = deltas[c][t] - mean;
                    let got = ism[1][((i * nt + t) * 4 + c) * w + p - window.start];
                    assert!((want - got).abs() <= 1e-4 * (1.0 + want.abs()), "gene {row} pos {p} base {c} group {t}: {got} vs {want}");
                }
            }
        }
        // only input 1 was mutated for input 1's map; input 0's map is its own
        assert!(ism[0].iter().any(|v| *v != 0.0));
    }
}

#[test]
fn first_layer_kernels_become_meme_motifs_named_per_trunk() {
    let dev = Cpu::seed_from_u64(2);
    let model = ModelDFixture::new(&dev, &[5, 5, 5]);
    let sd = export_state_dict::<_, Cpu>(&model);
    let kernels = first_layer_kernels(&sd);
    assert_eq!(kernels.len(), 2 * 16, "{:?}", sd.entries.keys().collect::<Vec<_>>());
    assert_eq!(kernels[0].name, "filter0_CNN0");
    assert_eq!(kernels[16].name, "filter0_CNN1");
    let key = sd.entries.keys().find(|k| k.contains("CNN1") && k.ends_with("convolutions.conv1d.weight")).unwrap();
    let w = &sd.entries[key];
    assert_eq!(w.shape, vec![16, 4, 15]);
    assert_eq!(kernels[17].values, w.values[60..120].to_vec());
    let text = meme_text(&kernels);
    assert_eq!(text.matches("\nMOTIF filter").count(), 32);
    assert!(text.contains("\nMOTIF filter3_CNN1 \nletter-probability matrix: alength= 4 w= 15 bias= "));
}

/// The simulated dataset of the truth test: DNA and RNA (model D), 1,024 bp each, 600 genes,
/// the built-in dataset's motifs and noise.
fn truth_data(dir: &std::path::Path) -> (drg_core::data::simulate::Simulation, Dataset) {
    let o = SimOptions { n_genes: 600, dna_length: 1024, rna_length: 1024, seed: 3, ..SimOptions::default() };
    let sim = simulate(&o).unwrap();
    let paths = write_dataset(&sim, &o, dir).unwrap();
    let spec = paths.spec(&[SimInput::Dna, SimInput::Rna], &[SimOutput::Expression, SimOutput::Degradation, SimOutput::Transcription], 1);
    (sim, drg_core::data::load(&spec).unwrap())
}

/// Model D (two inputs, 1,024 bp each, fixture widths) trained briefly on simulated data (600
/// genes, 12 epochs), explained by |gradient × input| of 3 transcription and 3 degradation tracks
/// (each its own group) over all 600 genes, checked against the simulator's planted truth.
///
/// (a) The top 1 % of positions by |gradient × input| per gene and group (test genes; DNA for
/// the transcription tracks, RNA for the degradation tracks) fall inside planted sites far more
/// often than the sites' share of the sequence: the test fails below 2×, twice chance, which a
/// model that had not learned the sites (1× in expectation) cannot reach by luck over 60 genes
/// × 3 tracks × 10 positions.
///
/// (b) At least half of the 14 planted motifs (8 TF motifs in the DNA, 6 RBP motifs in the RNA)
/// are matched by a seqlet motif (`explain::seqlets`, what `--sequence_attributions` writes as
/// `_seqlet_motifs.meme`) or a kernel activation PPM of either input: Tomtom-style best match in
/// that database (`tomtom::best_match`, at least width − 2 columns, both strands) with database
/// p <= 0.01, the threshold fixed before the first measurement. 100 random one-hot motifs of the
/// same widths are the control: a null model lets 1 of 100 through at p <= 0.01, and the test
/// fails above 5 (a binomial(100, 0.01) exceeds 5 with probability 0.0006).
///
/// Measured figures (and the cost: about 2 minutes on 2 loaded cores) are in BENCHMARKS.md.
#[test]
fn attributions_and_motifs_find_the_planted_truth() {
    use drg_core::explain::attribution::Method;
    use drg_core::explain::request::{attributions, AttributionRequest};
    use drg_core::explain::seqlets::attribution_motifs;
    let t0 = std::time::Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let (sim, data) = truth_data(dir.path());
    let cfg = TrainConfig {
        schedule: ScheduleConfig { epochs: 12, warm_up_epochs: 0, patience: 12, finetuning_rounds: 0, ..ScheduleConfig::default() },
        optimizer: OptimizerKind::from_reference("Adam", None, None).unwrap(),
        reports: ReportOptions::default(),
        progress: false,
        verbose: false,
        batch_size: 32,
        ..TrainConfig::reference(3e-3)
    };
    let out = OutputPaths::new(&format!("{}/", dir.path().display()), "truth");
    let result = train::<ModelDTruth, Cpu>(&data, &cfg, &out).unwrap();
    eprintln!("{}", result.evaluation.as_ref().map(|e| e.summary_text.clone()).unwrap_or_default());
    let trained = t0.elapsed().as_secs_f64();
    let dev = Cpu::seed_from_u64(0);
    let mut model = result.model;
    // outputs: expression, degradation (RNA), transcription (DNA); 3 tracks of each rate
    let widths = data.n_tracks();
    let names: Vec<String> = data.eval_track_names.concat();
    let kt: Vec<usize> = (widths[0] + widths[1]..widths[0] + widths[1] + 3).collect();
    let kd: Vec<usize> = (widths[0]..widths[0] + 3).collect();
    let selected: Vec<usize> = kt.iter().chain(&kd).copied().collect();
    let l = data.lengths()[0];
    let req = AttributionRequest {
        method: Method::GradTimesInput,
        tracks_text: "test".into(),
        groups: TrackGroups::single(&selected, &names),
        window: Window { start: 0, end: l },
        rows: (0..data.n_genes()).collect(),
        logos: false,
        declaration: None,
    };
    let maps = attributions(&mut model, &dev, &data, &req, 32).unwrap();
    let explained = t0.elapsed().as_secs_f64();

    // (a) per input, the groups of the rate it drives, on the test genes
    let nt = req.groups.len();
    for (k, input, groups) in [(0usize, SiteInput::Dna, 0..3), (1, SiteInput::Rna, 3..6)] {
        let top = l / 100;
        let (mut hits, mut picked, mut covered) = (0usize, 0usize, 0usize);
        for &row in &data.split.test {
            let gene = sim.genes.iter().position(|g| *g == data.genes[row]).unwrap();
            let mask = site_mask(&sim, gene, input, l);
            covered += mask.iter().filter(|m| **m).count() * groups.len();
            for t in groups.clone() {
                let score: Vec<f64> =
                    (0..l).map(|p| (0..4).map(|c| maps.per_input[k][((row * nt + t) * 4 + c) * l + p].abs()).sum()).collect();
                let mut order: Vec<usize> = (0..l).collect();
                order.sort_by(|&a, &b| score[b].total_cmp(&score[a]));
                hits += order[..top].iter().filter(|&&p| mask[p]).count();
                picked += top;
            }
        }
        let share = covered as f64 / (data.split.test.len() * groups.len() * l) as f64;
        let rate = hits as f64 / picked as f64;
        let enrichment = rate / share;
        eprintln!("{input:?}: top 1 % in planted sites: {rate:.3} of positions, sites cover {share:.3}: enrichment {enrichment:.2}");
        assert!(enrichment >= 2.0, "{input:?}: enrichment {enrichment:.2} (hit rate {rate:.3}, site share {share:.3})");
    }

    // (b) the database: seqlet motifs of both inputs and the kernels' activation PPMs
    let seqlet_motifs = attribution_motifs(&data, &maps, &req.rows, &["dna", "rna"]);
    let clustered = t0.elapsed().as_secs_f64();
    let kernels = first_layer_kernels(&export_state_dict::<_, Cpu>(&model));
    let kernel_ppms: Vec<(Vec<f32>, usize)> = kernels
        .iter()
        .filter_map(|k| {
            // the DNA trunk's kernels are CNN0's, the RNA trunk's CNN1's
            let seqs = data.gather_input(usize::from(k.name.ends_with("CNN1")), &data.split.train);
            activation_ppm(&k.values, k.bias.unwrap_or(0.0), &seqs, l, 1000).map(|p| (p, k.width))
        })
        .collect();
    let seqlet_ppms: Vec<(Vec<f32>, usize)> = seqlet_motifs.iter().map(|m| (m.values.clone(), m.width)).collect();
    let planted = planted_motifs(&sim);
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let random: Vec<Motif> = (0..100)
        .map(|i| {
            let w = planted[i % planted.len()].width;
            let mut v = vec![0f32; 4 * w];
            (0..w).for_each(|j| v[rng.gen_range(0..4) * w + j] = 1.0);
            Motif { name: format!("random{i}"), values: v, width: w, bias: None }
        })
        .collect();
    let p_values = |ms: &[Motif], db: &[(Vec<f32>, usize)]| -> Vec<f64> {
        ms.iter().map(|m| best_match(&m.values, m.width, db, m.width - 2).map_or(1.0, |b| b.p_database)).collect()
    };
    let database: Vec<(Vec<f32>, usize)> = seqlet_ppms.iter().chain(&kernel_ppms).cloned().collect();
    let mut found = (0, 0);
    for (label, db) in [("seqlet motifs", &seqlet_ppms), ("kernel activation PPMs", &kernel_ppms), ("both", &database)] {
        let (pp, rp) = (p_values(&planted, db), p_values(&random, db));
        let p_text: Vec<String> = planted.iter().zip(&pp).map(|(m, p)| format!("{} {p:.0e}", m.name)).collect();
        eprintln!("{label} ({} motifs): planted motifs' p: {}", db.len(), p_text.join(", "));
        for threshold in [0.05, 0.01, 0.001] {
            let at = |p: &[f64]| p.iter().filter(|&&v| v <= threshold).count();
            eprintln!("  database p <= {threshold}: planted {} of {}, random {} of {}", at(&pp), planted.len(), at(&rp), random.len());
            if label == "both" && threshold == 0.01 {
                found = (at(&pp), at(&rp));
            }
        }
    }
    for m in &seqlet_motifs {
        let best = planted.iter().map(|p| (&p.name, compare(&p.values, p.width, &m.values, m.width, p.width - 2).similarity));
        let (name, r) = best.max_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
        eprintln!("{} (width {}): nearest planted motif {name}, similarity {r:.2}", m.name, m.width);
    }
    eprintln!(
        "seconds: training {trained:.1}, attributions {:.1}, seqlet motifs {:.1}, total {:.1}",
        explained - trained,
        clustered - explained,
        t0.elapsed().as_secs_f64()
    );
    assert!(found.0 * 2 >= planted.len(), "only {} of {} planted motifs matched at database p <= 0.01", found.0, planted.len());
    assert!(found.1 <= 5, "{} of 100 random motifs matched at database p <= 0.01: the null does not hold", found.1);
}

/// `--kernel_analysis` on model B (fixture size, random weights and data): the tables have a row
/// per kernel and a column per track, the weight PPMs are the reference's formula of the exported
/// kernels, and the way a kernel is set to its mean (weights 0, bias the mean) makes its channel
/// after the reverse-complement stem that constant at every position, as the reference's
/// `nullify=mean` intends.
#[test]
fn kernel_analysis_tables_and_the_nullified_channel() {
    use drg_core::explain::kernels::{analyse_kernels, kernel_to_ppm, write_kernel_analysis};
    use drg_core::import::load::{load_state_dict, LoadOptions};
    use drg_core::layers::Ctx;
    let dev = Cpu::seed_from_u64(4);
    let data = random_data::<ModelBFixture>(8);
    let mut model = ModelBFixture::new(&dev, &data.n_tracks());
    let a = analyse_kernels(&mut model, &dev, &data, 4).unwrap();
    assert_eq!(a.kernels.len(), 16);
    assert_eq!(a.tracks.len(), 15);
    for table in [&a.tables.importance, &a.tables.mse_importance, &a.tables.effect, &a.tables.abs_effect] {
        assert_eq!(table.len(), 16);
        assert!(table.iter().all(|r| r.len() == 15 && r.iter().all(|v| v.is_finite())));
    }
    assert!(a.tables.abs_effect.iter().flatten().any(|v| *v != 0.0), "no kernel changed a prediction");
    for (k, p) in a.kernels.iter().zip(&a.weight_ppms) {
        assert_eq!(p.values, kernel_to_ppm(&k.values, k.bias.unwrap()));
        let max_col = (0..p.width).map(|j| (0..4).map(|c| p.values[c * p.width + j]).sum::<f32>()).fold(0f32, f32::max);
        assert!((max_col - 1.0).abs() <= 0.003, "{max_col}");
    }
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("{}/m", dir.path().display());
    let files = write_kernel_analysis(&prefix, &a).unwrap();
    let table = std::fs::read_to_string(format!("{prefix}_kernattrack.dat")).unwrap();
    assert_eq!(table.lines().count(), 17);
    assert!(table.lines().skip(1).all(|l| l.split(' ').count() == 2 + 15), "{table}");
    assert_eq!(files.len(), 6);

    // kernel 5 set to its mean, as analyse_kernels does it
    let j = 5;
    let mut sd = export_state_dict::<_, Cpu>(&model);
    let key = sd.entries.keys().find(|k| k.ends_with("convolutions.conv1d.weight")).unwrap().clone();
    let bias_key = key.replace(".weight", ".bias");
    let w = sd.entries[&key].values[j * 60..(j + 1) * 60].to_vec();
    let mean = sd.entries[&bias_key].values[j] + 0.25 * w.iter().sum::<f32>();
    sd.entries.get_mut(&key).unwrap().values[j * 60..(j + 1) * 60].iter_mut().for_each(|v| *v = 0.0);
    sd.entries.get_mut(&bias_key).unwrap().values[j] = mean;
    let mut masked = model.clone();
    load_state_dict(&mut masked, &sd, &LoadOptions::default()).unwrap();
    let x: Vec<_> = data.gather_inputs(&[0, 1]).into_iter().map(|v| dev.tensor_from_vec(v, (2, 4, 1024))).collect();
    let mut ctx = Ctx::eval().with_probe();
    masked.forward(x, &mut ctx);
    let (shape, conv) = &ctx.probe.unwrap().stages["after_conv"];
    assert_eq!(shape, &vec![2, 16, 1024]);
    for b in 0..2 {
        let channel = &conv[(b * 16 + j) * 1024..(b * 16 + j + 1) * 1024];
        assert!(channel.iter().all(|v| (v - mean).abs() < 1e-6), "kernel {j} is not its mean {mean} everywhere");
    }
}
