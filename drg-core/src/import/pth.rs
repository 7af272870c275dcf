//! Reading PyTorch's `torch.save` files without Python: the zip format (PyTorch >= 1.6, the
//! default) and the legacy format that came before it.
//!
//! Such a file is a zip archive `<name>/...` holding
//! * `<name>/data.pkl`: a pickle of the saved object. For a state dict that is an
//!   `OrderedDict` whose values are `torch._utils._rebuild_tensor_v2(storage, offset, size,
//!   stride, requires_grad, backward_hooks)` calls, each `storage` being the persistent id
//!   `('storage', torch.FloatStorage, key, location, numel)`;
//! * `<name>/data/<key>`: the raw bytes of each storage, in the byte order named by
//!   `<name>/byteorder` (little-endian when absent, as in files of PyTorch < 1.10);
//! * `<name>/version` and bookkeeping entries we do not need.
//!
//! A tensor is a strided view of its storage, so transposed slices and views sharing a storage
//! come out exactly as `tensor.contiguous()` would give them. float16/bfloat16/float64 values are
//! converted to `f32`; integer and bool tensors are kept, with their [`StoredDtype`](super::StoredDtype), so
//! `num_batches_tracked` can be recognised and skipped.
//!
//! The pickle is read by [`super::pickle`], which never executes anything; only the few globals
//! a state dict is made of are accepted, anything else is an error naming the object.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

use super::error::ImportError;
use super::pickle::{self, Value};
use super::state_dict::{Entry, StateDict};
use super::torch_storage::{decode, storage_dtype, strided_copy, Storage};

/// Reads the state dict saved in a `.pth` / `.pt` file (zip format, or the legacy format of
/// PyTorch < 1.6).
pub fn read_pth(path: impl AsRef<Path>) -> Result<StateDict, ImportError> {
    let path = path.as_ref().to_path_buf();
    let bytes = std::fs::read(&path).map_err(|source| ImportError::Open { path: path.clone(), source })?;
    let fail = |msg: String| ImportError::format(&path, msg);
    if bytes.starts_with(b"PK\x03\x04") {
        let mut archive = Archive::open(&path, bytes)?;
        let root = pickle::parse(&archive.read("data.pkl")?).map_err(|e| fail(format!("data.pkl: {e}")))?;
        let little_endian = match archive.read_optional("byteorder")? {
            None => true,
            Some(b) => match String::from_utf8_lossy(&b).trim() {
                "little" => true,
                "big" => false,
                other => return Err(fail(format!("unknown byte order '{other}'"))),
            },
        };
        let storages = StorageCache { source: StorageSource::Zip(&mut archive), little_endian, loaded: HashMap::new() };
        build_state_dict(&path, root, storages)
    } else if bytes.starts_with(LEGACY_MAGIC_PICKLE) {
        read_legacy(&path, &bytes)
    } else {
        Err(fail("not a PyTorch file (expected the zip archive that torch.save writes)".into()))
    }
}

/// The start of a legacy file: protocol 2, then `LONG1` of 10 bytes, torch's magic number
/// 0x1950a86a20f9469cfc6c.
const LEGACY_MAGIC_PICKLE: &[u8] = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";

/// The legacy format (`_use_new_zipfile_serialization=False`): five pickles in a row (magic
/// number, format version 1001, system info, the object, the sorted storage keys), then every
/// storage as its element count (8 bytes) followed by its raw bytes, in key order.
fn read_legacy(path: &Path, bytes: &[u8]) -> Result<StateDict, ImportError> {
    let fail = |msg: String| ImportError::format(path, msg);
    let mut pos = 0;
    let mut next = |what: &str| -> Result<Value, ImportError> {
        let (value, used) = pickle::parse_prefix(&bytes[pos..]).map_err(|e| fail(format!("legacy format, {what}: {e}")))?;
        pos += used;
        Ok(value)
    };
    next("magic number")?;
    match next("format version")? {
        Value::Int(1001) => {}
        other => return Err(fail(format!("legacy format version {} is not supported (1001 is)", other.describe()))),
    }
    let little_endian = match next("system info")? {
        Value::Dict(items) => !items.contains(&(Value::Str("little_endian".into()), Value::Bool(false))),
        _ => true,
    };
    let root = next("object")?;
    let Value::List(keys) = next("storage keys")? else { return Err(fail("legacy format: storage keys are not a list".into())) };

    let mut dtypes = HashMap::new();
    storage_ids(&root, &mut dtypes).map_err(fail)?;
    let mut data = HashMap::new();
    for key in keys {
        let Value::Str(key) = key else { return Err(fail("legacy format: a storage key is not a string".into())) };
        let size = *dtypes.get(&key).ok_or_else(|| fail(format!("legacy format: storage '{key}' is not used by any tensor")))?;
        let truncated = || fail(format!("legacy format: storage '{key}' is truncated"));
        let header: [u8; 8] = bytes.get(pos..pos + 8).ok_or_else(truncated)?.try_into().unwrap();
        let numel = if little_endian { u64::from_le_bytes(header) } else { u64::from_be_bytes(header) } as usize;
        let end = numel.checked_mul(size).and_then(|len| len.checked_add(pos + 8)).ok_or_else(truncated)?;
        let raw = bytes.get(pos + 8..end).ok_or_else(truncated)?;
        data.insert(key, raw);
        pos = end;
    }
    let storages = StorageCache { source: StorageSource::Legacy(data), little_endian, loaded: HashMap::new() };
    build_state_dict(path, root, storages)
}

/// Element sizes of every storage a legacy pickle refers to, by key (the data section can only
/// be split with them). Storage views (a sixth id field other than `None`) are rejected.
fn storage_ids(v: &Value, sizes: &mut HashMap<String, usize>) -> Result<(), String> {
    match v {
        Value::PersistentId(id) => {
            if let Value::Tuple(f) = id.as_ref() {
                if let (Some(Value::Str(kind)), Some(class), Some(Value::Str(key))) = (f.first(), f.get(1), f.get(2)) {
                    if kind == "storage" {
                        if f.get(5).is_some_and(|view| *view != Value::None) {
                            return Err(format!("legacy format: storage '{key}' is a view of another storage, which drg-rs does not read"));
                        }
                        let class = class.global_name().unwrap_or_else(|| class.describe());
                        let dtype = storage_dtype(&class).ok_or_else(|| format!("unsupported storage type '{class}'"))?;
                        sizes.insert(key.clone(), dtype.element_size());
                    }
                }
            }
            Ok(())
        }
        Value::Tuple(items) | Value::List(items) => items.iter().try_for_each(|i| storage_ids(i, sizes)),
        Value::Dict(items) => items.iter().try_for_each(|(k, v)| storage_ids(k, sizes).and(storage_ids(v, sizes))),
        Value::Call { callable, args, items, appended, state } => {
            storage_ids(callable, sizes)?;
            args.iter().chain(appended).try_for_each(|i| storage_ids(i, sizes))?;
            items.iter().try_for_each(|(k, v)| storage_ids(k, sizes).and(storage_ids(v, sizes)))?;
            state.as_deref().map_or(Ok(()), |s| storage_ids(s, sizes))
        }
        _ => Ok(()),
    }
}

/// The state dict of an unpickled root object, with tensors rebuilt from `storages`.
fn build_state_dict(path: &Path, root: Value, mut storages: StorageCache<'_>) -> Result<StateDict, ImportError> {
    let fail = |msg: String| ImportError::format(path, msg);
    let items = dict_items(root).map_err(|what| fail(format!("holds {what}, not a state dict")))?;
    let mut entries = BTreeMap::new();
    for (key, value) in items {
        let Value::Str(key) = key else {
            return Err(fail(format!("a state-dict key is a {}, not a string", key.describe())));
        };
        let entry = rebuild_tensor(value, &mut storages).map_err(|msg| fail(format!("entry '{key}': {msg}")))?;
        entries.insert(key, entry);
    }
    Ok(StateDict { entries, source: path.to_path_buf() })
}

/// The items of a pickled `dict` or `collections.OrderedDict`; otherwise a description of the
/// object.
fn dict_items(v: Value) -> Result<Vec<(Value, Value)>, String> {
    match v {
        Value::Dict(items) => Ok(items),
        Value::Call { callable, items, .. } if callable.global_name().as_deref() == Some("collections.OrderedDict") => Ok(items),
        other => Err(format!("a {}", other.describe())),
    }
}

/// Turns a pickled tensor into an [`Entry`]; errors are messages for the entry's key.
fn rebuild_tensor(v: Value, storages: &mut StorageCache<'_>) -> Result<Entry, String> {
    let Value::Call { callable, mut args, .. } = v else {
        return Err(format!("is {}, not a tensor", v.describe()));
    };
    let name = callable.global_name().unwrap_or_default();
    match name.as_str() {
        "torch._utils._rebuild_tensor_v2" | "torch._utils._rebuild_tensor" => {
            if args.len() < 4 {
                return Err(format!("{name} has {} arguments, expected at least 4", args.len()));
            }
            let stride = int_tuple(&args[3], "stride")?;
            let size = int_tuple(&args[2], "size")?;
            let offset = int(&args[1], "storage offset")?;
            let storage = storages.get(&args[0])?;
            strided_copy(storage, offset, &size, &stride)
        }
        // A saved `nn.Parameter` (full module or optimizer checkpoints): its first argument is
        // the tensor.
        "torch._utils._rebuild_parameter" | "torch._utils._rebuild_parameter_with_state" if !args.is_empty() => {
            rebuild_tensor(args.swap_remove(0), storages)
        }
        _ => {
            let object = if name.is_empty() { callable.describe() } else { name };
            Err(format!("is a '{object}' object, which drg-rs does not read: a state dict holds only tensors"))
        }
    }
}

fn int(v: &Value, what: &str) -> Result<usize, String> {
    match v {
        Value::Int(i) if *i >= 0 => Ok(*i as usize),
        other => Err(format!("{what} is a {}, expected a non-negative int", other.describe())),
    }
}

fn int_tuple(v: &Value, what: &str) -> Result<Vec<usize>, String> {
    match v {
        Value::Tuple(items) => items.iter().map(|i| int(i, what)).collect(),
        other => Err(format!("{what} is a {}, expected a tuple of ints", other.describe())),
    }
}

/// The zip archive and the folder name torch put everything under.
struct Archive {
    zip: zip::ZipArchive<std::io::Cursor<Vec<u8>>>,
    root: String,
    path: PathBuf,
}

impl Archive {
    fn open(path: &Path, bytes: Vec<u8>) -> Result<Archive, ImportError> {
        let zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
            .map_err(|e| ImportError::format(path, format!("not a readable zip archive: {e}")))?;
        let pkl = zip
            .file_names()
            .filter(|n| *n == "data.pkl" || n.ends_with("/data.pkl"))
            .min_by_key(|n| n.len())
            .ok_or_else(|| ImportError::format(path, "no data.pkl in the archive: not a torch.save file"))?;
        let root = pkl[..pkl.len() - "data.pkl".len()].to_string();
        Ok(Archive { zip, root, path: path.to_path_buf() })
    }

    fn read_optional(&mut self, name: &str) -> Result<Option<Vec<u8>>, ImportError> {
        let full = format!("{}{name}", self.root);
        let mut file = match self.zip.by_name(&full) {
            Ok(f) => f,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(e) => return Err(ImportError::format(&self.path, format!("entry '{full}': {e}"))),
        };
        // No capacity from the entry's declared size: a corrupt header could claim any size.
        let mut buf = Vec::new();
        file.read_to_end(&mut buf).map_err(|e| ImportError::format(&self.path, format!("entry '{full}': {e}")))?;
        Ok(Some(buf))
    }

    fn read(&mut self, name: &str) -> Result<Vec<u8>, ImportError> {
        self.read_optional(name)?
            .ok_or_else(|| ImportError::format(&self.path, format!("entry '{}{name}' is missing from the archive", self.root)))
    }
}

/// Where the raw bytes of storages are.
enum StorageSource<'a> {
    /// `<archive>/data/<key>` entries.
    Zip(&'a mut Archive),
    /// The data section of a legacy file, split by key.
    Legacy(HashMap<String, &'a [u8]>),
}

/// Storages decoded so far, by key: views of one storage decode it once.
struct StorageCache<'a> {
    source: StorageSource<'a>,
    little_endian: bool,
    loaded: HashMap<String, Storage>,
}

impl StorageCache<'_> {
    /// The storage a persistent id `('storage', torch.XStorage, key, location, numel)` names.
    fn get(&mut self, id: &Value) -> Result<&Storage, String> {
        let Value::PersistentId(id) = id else {
            return Err(format!("storage is a {}, expected a persistent id", id.describe()));
        };
        let fields = match id.as_ref() {
            Value::Tuple(f) if f.len() >= 5 && f[0] == Value::Str("storage".into()) => f,
            other => return Err(format!("unsupported persistent id ({})", other.describe())),
        };
        let class = fields[1].global_name().unwrap_or_else(|| fields[1].describe());
        let Value::Str(key) = &fields[2] else { return Err(format!("storage key is a {}", fields[2].describe())) };
        let numel = int(&fields[4], "storage size")?;
        if !self.loaded.contains_key(key) {
            let dtype = storage_dtype(&class).ok_or_else(|| format!("unsupported storage type '{class}'"))?;
            let bytes = match &mut self.source {
                StorageSource::Zip(archive) => archive.read(&format!("data/{key}")).map_err(|e| e.to_string())?,
                StorageSource::Legacy(data) => {
                    data.get(key).ok_or_else(|| format!("storage '{key}' is not in the file's data section"))?.to_vec()
                }
            };
            let values = decode(&bytes, dtype, numel, self.little_endian)
                .map_err(|have| format!("storage '{key}' has {have} bytes, expected {numel} {} values", dtype.name()))?;
            self.loaded.insert(key.clone(), Storage { values, dtype, key: key.clone() });
        }
        Ok(&self.loaded[key])
    }
}
