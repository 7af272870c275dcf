//! Reading files written by PyTorch's `torch.save` (see `tests/data/make_pth_fixtures.py`) and
//! comparing them with the same tensors saved by numpy (`tests/data/pth_expected.npz`).

use std::io::Write;
use std::path::{Path, PathBuf};

use drg_core::dfdx::nn::modules::Linear;
use drg_core::dfdx::nn::{BuildModule, ModuleVisitor, TensorCollection, TensorOptions};
use drg_core::dfdx::prelude::{Cpu, Device, Dtype, Rank1, Rank3, Tensor};
use drg_core::import::npz::{read_npz, Npz};
use drg_core::import::{import_file, LoadOptions, StateDict, StoredDtype};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

fn expected() -> Npz {
    read_npz(data("pth_expected.npz")).unwrap()
}

/// Checks that every entry of `sd` equals the numpy array `<prefix><key>` of the expected file
/// (same shape, same values after conversion to f32) and that both hold the same keys.
fn assert_matches_expected(sd: &StateDict, prefix: &str) {
    let npz = expected();
    let want: Vec<String> = npz.arrays.keys().filter_map(|k| k.strip_prefix(prefix)).map(str::to_string).collect();
    let have: Vec<String> = sd.entries.keys().cloned().collect();
    assert_eq!(have, want);
    for (key, entry) in &sd.entries {
        let (shape, values) = npz.f32(&format!("{prefix}{key}")).unwrap();
        assert_eq!(entry.shape, shape, "{key}");
        assert_eq!(entry.values, values, "{key}");
    }
}

/// Named `import` so that `cargo test -p drg-core import` runs these too.
mod import {
    use super::*;

    #[test]
    fn views_offsets_and_dtypes_come_out_as_contiguous_values() {
        let sd = StateDict::from_pth(data("views.pth")).unwrap();
        assert_matches_expected(&sd, "views/");
        assert_eq!(sd.source, data("views.pth"));

        let t = sd.get("transposed").unwrap();
        assert_eq!(t.shape, vec![5, 4]);
        // base = arange(20).reshape(4, 5) / 8 - 1, so transposed[i][j] = (5j + i) / 8 - 1.
        for i in 0..5 {
            for j in 0..4 {
                assert_eq!(t.values[i * 4 + j], (5 * j + i) as f32 / 8.0 - 1.0);
            }
        }
        let s = sd.get("offset_slice").unwrap();
        assert_eq!((s.shape.clone(), s.values.clone()), (vec![2, 3], vec![-0.125, 0.0, 0.125, 0.5, 0.625, 0.75]));

        let dtypes: Vec<(&str, StoredDtype)> = sd.entries.iter().map(|(k, e)| (k.as_str(), e.dtype)).collect();
        assert_eq!(
            dtypes,
            vec![
                ("bfloat16", StoredDtype::BF16),
                ("double", StoredDtype::F64),
                ("flags", StoredDtype::Bool),
                ("half", StoredDtype::F16),
                ("long", StoredDtype::I64),
                ("offset_slice", StoredDtype::F32),
                ("scalar", StoredDtype::F32),
                ("transposed", StoredDtype::F32),
            ]
        );
        // 6.1e-5 is a float16 subnormal: 1023 * 2^-24.
        assert_eq!(sd.get("half").unwrap().values, vec![0.5, -1.25, 65504.0, 1023.0 * 2f32.powi(-24), 0.0, -0.0]);
        assert!(sd.get("half").unwrap().values[5].is_sign_negative());
        let scalar = sd.get("scalar").unwrap();
        assert_eq!((scalar.shape.len(), scalar.values.clone()), (0, vec![2.5]));
        // float64 values are rounded once to f32, as numpy's astype(float32) does.
        let (_, d) = expected().get("views/double").unwrap().to_f64().map(|v| ((), v)).unwrap();
        assert_eq!(sd.get("double").unwrap().values, d.iter().map(|&x| x as f32).collect::<Vec<_>>());
    }

    #[test]
    fn big_endian_archives_are_read_by_their_byteorder_entry() {
        // views.pth rewritten as a big-endian machine would save it: same pickle, every storage
        // element byte-swapped, `byteorder` = "big". Element sizes of storages 0..6 in the order
        // torch numbered them: transposed/offset_slice f32, double f64, half f16, bfloat16, long
        // i64, flags bool, scalar f32.
        let sizes = [4usize, 8, 2, 2, 8, 1, 4];
        let mut views = zip::ZipArchive::new(std::fs::File::open(data("views.pth")).unwrap()).unwrap();
        let read = |views: &mut zip::ZipArchive<std::fs::File>, name: &str| {
            let mut buf = Vec::new();
            std::io::Read::read_to_end(&mut views.by_name(name).unwrap(), &mut buf).unwrap();
            buf
        };
        let pkl = read(&mut views, "views/data.pkl");
        let swapped: Vec<(String, Vec<u8>)> = sizes
            .iter()
            .enumerate()
            .map(|(k, &size)| {
                let mut bytes = read(&mut views, &format!("views/data/{k}"));
                bytes.chunks_exact_mut(size).for_each(<[u8]>::reverse);
                (format!("views/data/{k}"), bytes)
            })
            .collect();
        let mut entries: Vec<(&str, &[u8])> = vec![("views/data.pkl", &pkl), ("views/byteorder", b"big")];
        entries.extend(swapped.iter().map(|(n, b)| (n.as_str(), b.as_slice())));
        let dir = tempfile::tempdir().unwrap();
        let big = StateDict::from_pth(write_zip(dir.path(), "big.pth", &entries)).unwrap();
        let little = StateDict::from_pth(data("views.pth")).unwrap();
        assert_eq!(big.entries, little.entries);

        entries[1] = ("views/byteorder", b"middle");
        let e = err(&write_zip(dir.path(), "odd.pth", &entries));
        assert!(e.ends_with("odd.pth: unknown byte order 'middle'"), "{e}");
    }

    #[test]
    fn reads_the_legacy_format_of_pytorch_before_1_6() {
        let sd = StateDict::from_pth(data("legacy.pth")).unwrap();
        let views = StateDict::from_pth(data("views.pth")).unwrap();
        assert_eq!(sd.entries.keys().collect::<Vec<_>>(), vec!["transposed"]);
        assert_eq!(sd.get("transposed"), views.get("transposed"));
        assert_eq!(sd.get("transposed").unwrap().values, expected().f32("views/transposed").unwrap().1);

        let dir = tempfile::tempdir().unwrap();
        let bytes = std::fs::read(data("legacy.pth")).unwrap();
        let cut = dir.path().join("cut_legacy.pth");
        std::fs::write(&cut, &bytes[..bytes.len() - 4]).unwrap();
        let e = err(&cut);
        assert!(e.contains("cut_legacy.pth: legacy format: storage '") && e.ends_with("' is truncated"), "{e}");
        std::fs::write(&cut, &bytes[..40]).unwrap();
        let e = err(&cut);
        assert!(e.contains("cut_legacy.pth: legacy format, system info: pickle byte"), "{e}");
    }

    #[test]
    fn reads_a_module_state_dict_as_the_reference_saves_it() {
        let sd = StateDict::from_pth(data("ref_state.pth")).unwrap();
        assert_matches_expected(&sd, "ref/");
        let counter = sd.get("convolution_layers.convlayers.Bnorm0.num_batches_tracked").unwrap();
        assert_eq!((counter.dtype, counter.shape.len(), counter.values.clone()), (StoredDtype::I64, 0, vec![7.0]));
        // The .npz reader flags the same counter the same way.
        let npz_sd = StateDict::from_npz(data("pth_expected.npz"), "ref/").unwrap();
        assert_eq!(npz_sd.entries, sd.entries);
    }

    /// The module of `make_pth_fixtures.py` in dfdx, with the reference's names.
    struct Small<E: Dtype, D: Device<E>> {
        conv_weight: Tensor<Rank3<3, 4, 5>, E, D>,
        conv_bias: Tensor<Rank1<3>, E, D>,
        bn: [Tensor<Rank1<3>, E, D>; 4],
        embed: Linear<6, 2, E, D>,
    }

    const BN: [&str; 4] = [
        "convolution_layers.convlayers.Bnorm0.weight",
        "convolution_layers.convlayers.Bnorm0.bias",
        "convolution_layers.convlayers.Bnorm0.running_mean",
        "convolution_layers.convlayers.Bnorm0.running_var",
    ];

    impl<D: Device<f32>> TensorCollection<f32, D> for Small<f32, D> {
        type To<E2: Dtype, D2: Device<E2>> = Small<E2, D2>;

        fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(visitor: &mut V) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
            visitor.visit_fields(
                (
                    Self::tensor("convolutions.conv1d.weight", |s| &s.conv_weight, |s| &mut s.conv_weight, TensorOptions::reset_to_zeros()),
                    Self::tensor("convolutions.conv1d.bias", |s| &s.conv_bias, |s| &mut s.conv_bias, TensorOptions::reset_to_zeros()),
                    (
                        Self::tensor(BN[0], |s| &s.bn[0], |s| &mut s.bn[0], TensorOptions::reset_to_ones()),
                        Self::tensor(BN[1], |s| &s.bn[1], |s| &mut s.bn[1], TensorOptions::reset_to_zeros()),
                        Self::tensor(BN[2], |s| &s.bn[2], |s| &mut s.bn[2], TensorOptions::detached(|t| t.try_fill_with_zeros())),
                        Self::tensor(BN[3], |s| &s.bn[3], |s| &mut s.bn[3], TensorOptions::detached(|t| t.try_fill_with_ones())),
                    ),
                    Self::module("nfcs.nfcs.EmbeddtoFully", |s| &s.embed, |s| &mut s.embed),
                ),
                |(conv_weight, conv_bias, (b0, b1, b2, b3), embed)| Small { conv_weight, conv_bias, bn: [b0, b1, b2, b3], embed },
            )
        }
    }

    #[test]
    fn a_pth_file_fills_a_model_strictly() {
        let mut model: Small<f32, Cpu> = Small::build(&Cpu::default());
        let report = import_file(&mut model, data("ref_state.pth"), &LoadOptions::default()).unwrap();
        assert_eq!(report.loaded.len(), 8);
        assert_eq!(report.skipped_counters, vec!["convolution_layers.convlayers.Bnorm0.num_batches_tracked".to_string()]);
        let npz = expected();
        let want = |k: &str| npz.f32(&format!("ref/{k}")).unwrap().1;
        assert_eq!(model.conv_weight.as_vec(), want("convolutions.conv1d.weight"));
        assert_eq!(model.conv_bias.as_vec(), want("convolutions.conv1d.bias"));
        for (t, k) in model.bn.iter().zip(BN) {
            assert_eq!(t.as_vec(), want(k), "{k}");
        }
        assert_eq!(model.embed.weight.as_vec(), want("nfcs.nfcs.EmbeddtoFully.weight"));
        assert_eq!(model.embed.bias.as_vec(), want("nfcs.nfcs.EmbeddtoFully.bias"));
    }

    /// Writes a zip archive with the given entries into a temporary `.pth` file.
    fn write_zip(dir: &Path, name: &str, entries: &[(&str, &[u8])]) -> PathBuf {
        let path = dir.join(name);
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        for (entry, bytes) in entries {
            zip.start_file(*entry, zip::write::FileOptions::default()).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap();
        path
    }

    fn err(path: &Path) -> String {
        StateDict::from_pth(path).unwrap_err().to_string()
    }

    #[test]
    fn foreign_and_broken_files_are_clear_errors() {
        let e = err(&data("pth_expected.npz"));
        assert!(e.ends_with("pth_expected.npz: no data.pkl in the archive: not a torch.save file"), "{e}");
        let e = err(&data("make_pth_fixtures.py"));
        assert!(e.ends_with("make_pth_fixtures.py: not a PyTorch file (expected the zip archive that torch.save writes)"), "{e}");

        let dir = tempfile::tempdir().unwrap();
        let full = std::fs::read(data("ref_state.pth")).unwrap();
        let truncated = dir.path().join("truncated.pth");
        std::fs::write(&truncated, &full[..full.len() / 2]).unwrap();
        let e = err(&truncated);
        assert!(e.contains("truncated.pth: not a readable zip archive"), "{e}");

        // The real pickle of views.pth, without its storages.
        let mut views = zip::ZipArchive::new(std::fs::File::open(data("views.pth")).unwrap()).unwrap();
        let mut pkl = Vec::new();
        std::io::Read::read_to_end(&mut views.by_name("views/data.pkl").unwrap(), &mut pkl).unwrap();
        let p = write_zip(dir.path(), "no_storage.pth", &[("views/data.pkl", &pkl)]);
        let e = err(&p);
        assert!(e.contains("no_storage.pth: entry 'transposed': ") && e.contains("'views/data/0' is missing"), "{e}");
        // A storage shorter than its declared size.
        let p = write_zip(dir.path(), "short.pth", &[("views/data.pkl", &pkl), ("views/data/0", &[0u8; 40])]);
        let e = err(&p);
        assert!(e.contains("short.pth: entry 'transposed': storage '0' has 40 bytes, expected 20 float32 values"), "{e}");
        // A pickle cut short.
        let p = write_zip(dir.path(), "cut.pth", &[("a/data.pkl", &pkl[..60])]);
        let e = err(&p);
        assert!(e.contains("cut.pth: data.pkl: pickle byte") && e.contains("truncated pickle"), "{e}");

        // pickle.dumps(OrderedDict(a=datetime.date(2020, 1, 1)), protocol=2)
        let date: &[u8] = b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01X\x01\x00\x00\x00aq\x02cdatetime\ndate\nq\x03c_codecs\nencode\nq\x04X\x05\x00\x00\x00\x07\xc3\xa4\x01\x01q\x05X\x06\x00\x00\x00latin1q\x06\x86q\x07Rq\x08\x85q\tRq\ns.";
        let p = write_zip(dir.path(), "date.pth", &[("a/data.pkl", date)]);
        let e = err(&p);
        assert!(
            e.ends_with("date.pth: entry 'a': is a 'datetime.date' object, which drg-rs does not read: a state dict holds only tensors"),
            "{e}"
        );
        // pickle.dumps({'epoch': 3}, protocol=2): a checkpoint dict, not a state dict.
        let p = write_zip(dir.path(), "epoch.pth", &[("a/data.pkl", b"\x80\x02}q\x00X\x05\x00\x00\x00epochq\x01K\x03s.")]);
        let e = err(&p);
        assert!(e.ends_with("epoch.pth: entry 'epoch': is int 3, not a tensor"), "{e}");
        // pickle.dumps([1], protocol=2)
        let p = write_zip(dir.path(), "list.pth", &[("a/data.pkl", b"\x80\x02]q\x00K\x01a.")]);
        let e = err(&p);
        assert!(e.ends_with("list.pth: holds a list of 1, not a state dict"), "{e}");
    }
}
