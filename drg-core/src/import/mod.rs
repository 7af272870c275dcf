//! Bringing the reference implementation's data and trained weights into drg-rs, and writing
//! drg-rs models back out in the reference's key names.
//!
//! * [`npz`]: numpy archives (fixtures, one-hot inputs, state dicts saved as `.npz`).
//! * [`pickle`]: a small non-executing reader of Python pickles (torch's container format).
//! * [`pth`]: PyTorch `torch.save` files (the reference's `_parameter.pth`), without Python;
//!   `torch_storage` decodes their raw storages and strided views.
//! * [`state_dict`]: [`StateDict`], named tensors in the reference's key names (a leaf module);
//!   `state_dict_files` reads it from `.npz` or `.pth` (by extension) and writes it as `.npz`.
//! * [`load`]: filling any dfdx `TensorCollection` from a [`StateDict`] by its joined tensor
//!   names ([`load_state_dict`], [`import_file`]) and exporting one ([`export_state_dict`]).
//! * [`weights_file`]: any weights file (`.safetensors`, `.pth`, `.npz`) into a [`StateDict`].
//! * [`partial`]: the reference's `--load_parameters` (renames, include/exclude lists,
//!   reduction) and `--select_tracks` row selection, tensor by tensor.
//! * [`error`]: [`ImportError`]; every message names the file, and a state dict that does not
//!   fit a model reports every missing key, wrong shape and unused key at once.
//!
//! ```no_run
//! # use drg_core::import::*;
//! # fn f<M: drg_core::dfdx::nn::tensor_collection::TensorCollection<f32, drg_core::dfdx::tensor::Cpu>>(model: &mut M) -> Result<(), ImportError> {
//! let report = import_file(model, "run_parameter.pth", &LoadOptions::default())?;
//! println!("loaded {} tensors", report.loaded.len());
//! export_npz(model, "run_parameter.npz")?;
//! # Ok(()) }
//! ```

pub mod error;
pub mod gradients;
pub mod load;
pub mod npz;
pub mod partial;
pub mod pickle;
pub mod pth;
pub mod state_dict;
mod state_dict_files;
mod torch_storage;
pub mod weights_file;

pub use error::{ImportError, KeyProblem};
pub use gradients::export_gradients;
pub use load::{export_npz, export_state_dict, import_file, load_state_dict, LoadOptions, LoadReport};
pub use partial::{load_partial, PartialLoad, PartialReport};
pub use state_dict::{Entry, StateDict, StoredDtype};
pub use weights_file::read_weights;
