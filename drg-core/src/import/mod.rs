//! Bringing the reference implementation's data and trained weights into drg-rs.
//!
//! * [`npz`]: numpy archives (fixtures, one-hot inputs, state dicts saved as `.npz`).

pub mod npz;
