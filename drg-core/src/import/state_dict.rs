//! A state dict held in memory: named tensors in the reference's key names, whatever file they
//! came from.
//!
//! [`StateDict`] is the meeting point of the importer: `.npz` archives and PyTorch `.pth` files
//! are read into it, models are filled from it (`load.rs`) and exported into it, and it can be
//! written back as an `.npz` that numpy and the reference understand. This module is a leaf: the
//! file formats that produce and consume a state dict live in `state_dict_files.rs` (`.npz`, and
//! the choice by extension) and `pth.rs`, and import this one, never the other way round.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// The element type a tensor was stored with. Values are always held as `f32`; the stored type
/// says whether they are real weights (floats) or counters such as BatchNorm's
/// `num_batches_tracked` (integers), which a model never loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredDtype {
    F16,
    BF16,
    F32,
    F64,
    I8,
    I16,
    I32,
    I64,
    U8,
    Bool,
}

impl StoredDtype {
    pub fn is_float(self) -> bool {
        matches!(self, StoredDtype::F16 | StoredDtype::BF16 | StoredDtype::F32 | StoredDtype::F64)
    }

    /// Bytes per element.
    pub fn element_size(self) -> usize {
        match self {
            StoredDtype::F64 | StoredDtype::I64 => 8,
            StoredDtype::F32 | StoredDtype::I32 => 4,
            StoredDtype::F16 | StoredDtype::BF16 | StoredDtype::I16 => 2,
            StoredDtype::I8 | StoredDtype::U8 | StoredDtype::Bool => 1,
        }
    }

    /// The name torch and numpy users know (`float32`, `int64`, ...).
    pub fn name(self) -> &'static str {
        match self {
            StoredDtype::F16 => "float16",
            StoredDtype::BF16 => "bfloat16",
            StoredDtype::F32 => "float32",
            StoredDtype::F64 => "float64",
            StoredDtype::I8 => "int8",
            StoredDtype::I16 => "int16",
            StoredDtype::I32 => "int32",
            StoredDtype::I64 => "int64",
            StoredDtype::U8 => "uint8",
            StoredDtype::Bool => "bool",
        }
    }
}

/// One tensor: its shape (empty for a 0-d tensor), its values in C order and how it was stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
    pub dtype: StoredDtype,
}

impl Entry {
    /// A float32 tensor. Panics if `values` does not hold `shape`'s number of elements, which
    /// would be a bug of the caller, not bad input.
    pub fn f32(shape: Vec<usize>, values: Vec<f32>) -> Self {
        assert_eq!(shape.iter().product::<usize>(), values.len(), "values do not fill shape {shape:?}");
        Entry { shape, values, dtype: StoredDtype::F32 }
    }
}

/// Named tensors in the reference's state-dict key names
/// (`convolution_layers.convlayers.Bnorm0.running_var`, ...), and the file they came from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StateDict {
    pub entries: BTreeMap<String, Entry>,
    /// Where the entries were read from (empty for a state dict built in memory); errors name it.
    pub source: PathBuf,
}

impl StateDict {
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.get(key)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
