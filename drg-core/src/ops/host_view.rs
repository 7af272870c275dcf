//! Reading the values of a tensor that one of the host kernels made, without copying them.
//!
//! dfdx 0.13 has no public borrow of a CPU tensor's data: `copy_into` (one `memcpy`, on the
//! calling thread) was the only way for a kernel to read its input, and every op copied its
//! inputs (and kept the copies for backward). At full size these copies were 8.8 % of model A's
//! CPU time, all of it on the main thread while the other core waited (BENCHMARKS.md, issue 12),
//! and the copies doubled the memory of every activation that backward keeps.
//!
//! So the host kernels make their outputs with [`output_tensor`], which notes where the values
//! lie (the `Vec`'s own pointer, taken just before `tensor_from_vec` moves the `Vec` into the
//! tensor without reallocating) together with a clone of the tensor. [`host_data`] finds a
//! tensor there by the address of its first element (dfdx's public `Index`) and reads the values
//! in place, holding a clone of the tensor for as long as it reads them; any other tensor is
//! copied as before.
//!
//! Why reading in place is sound: the notes hold a clone of the tensor, and every reader holds one
//! too, so dfdx's shared `Arc` of the values is never unique while the pointer is used: dfdx mutates
//! a tensor's values only through `Arc::get_mut`/`Arc::make_mut` (which copies a shared buffer
//! first, giving the mutated tensor another address), so the values behind the pointer never change,
//! move or get freed while anyone reads them. A tensor found by address is therefore the noted one
//! (or a view of the same values, e.g. a reshape): no other live allocation can have that address.
//! Like `copy_into`, this reads the physical values, so inputs must still be contiguous.
//!
//! The notes keep their tensors alive, so they are few: the last [`MAX_NOTES`] outputs (enough
//! for a residual layer to find its skip source, which was made 5 outputs before its sum), and
//! [`forget_outputs`] drops them all at the end of a pass.

use std::any::Any;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::Arc;

use dfdx::shapes::{HasShape, Shape};
use dfdx::tensor::Tensor;

use super::host::{HostDevice, Scratch};

/// How many recent outputs stay findable (see the module doc): a conv-stack layer with pooling
/// reads its skip source 5 outputs after it was made (conv output, sum, pooled sum, next layer's
/// BN output, next layer's conv output), so 6 leave one spare.
const MAX_NOTES: usize = 6;

/// The values of a host buffer that lives inside a tensor, as a raw pointer (see the module doc for
/// why it stays valid).
#[derive(Clone, Copy)]
struct ValuesPtr(*const f32);

// SAFETY: the pointer is only read through, while a clone of the tensor that owns the values is
// held next to it (see the module doc); f32 values are Sync.
unsafe impl Send for ValuesPtr {}
unsafe impl Sync for ValuesPtr {}

/// One noted output: where its values lie, and a clone of the tensor that owns them.
struct Note {
    addr: usize,
    ptr: ValuesPtr,
    len: usize,
    keep: Arc<dyn Any + Send + Sync>,
}

thread_local! {
    /// The notes of the outputs made on this thread (the thread that runs a model's ops; a
    /// reader on another thread finds nothing and copies).
    static NOTES: RefCell<VecDeque<Note>> = const { RefCell::new(VecDeque::new()) };
}

/// `tensor_from_vec(values, shape)`, noted so that [`host_data`] reads the values in place.
pub(crate) fn output_tensor<S: Shape, D: HostDevice>(dev: &D, values: Vec<f32>, shape: S) -> Tensor<S, f32, D> {
    let (ptr, len) = (ValuesPtr(values.as_ptr()), values.len());
    let t = dev.tensor_from_vec(values, shape);
    if len > 0 {
        if let Some(addr) = D::first_value_address(&t) {
            // tensor_from_vec moves the Vec without reallocating; if it ever did, the address
            // would differ and the output would simply not be noted.
            if addr == ptr.0 as usize {
                let note = Note { addr, ptr, len, keep: Arc::new(t.clone()) };
                let evicted = NOTES.with_borrow_mut(|n| {
                    n.push_back(note);
                    if n.len() > MAX_NOTES {
                        n.pop_front()
                    } else {
                        None
                    }
                });
                drop(evicted); // outside the borrow: dropping may free the tensor
            }
        }
    }
    t
}

/// Drops every note of this thread (the tensors they kept alive are freed if nothing else holds
/// them).
pub(crate) fn forget_outputs() {
    let all: Vec<Note> = NOTES.with_borrow_mut(|n| n.drain(..).collect());
    drop(all);
}

/// A tensor's values on the host: read in place (a noted output), or a copy.
pub(crate) struct HostData(Values);

enum Values {
    InPlace { ptr: ValuesPtr, len: usize, _keep: Arc<dyn Any + Send + Sync> },
    Copied(Scratch),
}

impl std::ops::Deref for HostData {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        match &self.0 {
            // SAFETY: `ptr` points at `len` initialised f32 values owned by the tensor that
            // `_keep` holds a clone of; they are not mutated, moved or freed while it is held
            // (module doc).
            Values::InPlace { ptr, len, .. } => unsafe { std::slice::from_raw_parts(ptr.0, *len) },
            Values::Copied(s) => s,
        }
    }
}

impl HostData {
    /// Whether the values are read in place (for tests).
    #[cfg(test)]
    pub fn in_place(&self) -> bool {
        matches!(self.0, Values::InPlace { .. })
    }
}

/// The values of a contiguous tensor: in place when an op made it ([`output_tensor`]) and it is
/// still noted, otherwise a copy (`copy_into`, a `memcpy`).
pub(crate) fn host_data<S: Shape, T, D: HostDevice>(t: &Tensor<S, f32, D, T>) -> HostData {
    let len = t.shape().num_elements();
    if len > 0 {
        if let Some(addr) = D::first_value_address(t) {
            let found = NOTES.with_borrow(|notes| notes.iter().find(|n| n.addr == addr && n.len == len).map(|n| (n.ptr, n.keep.clone())));
            if let Some((ptr, keep)) = found {
                let data = HostData(Values::InPlace { ptr, len, _keep: keep });
                debug_assert!(
                    {
                        let mut copy = vec![0.0f32; len];
                        t.copy_into(&mut copy);
                        copy.iter().zip(data.iter()).all(|(a, b)| a.to_bits() == b.to_bits())
                    },
                    "host_data: the values read in place differ from the tensor's"
                );
                return data;
            }
        }
    }
    let mut v = Scratch::for_overwrite(len);
    t.copy_into(&mut v);
    HostData(Values::Copied(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dfdx::prelude::*;

    #[test]
    fn an_output_is_read_in_place_and_anything_else_is_copied() {
        let dev: Cpu = Default::default();
        let values: Vec<f32> = (0..12).map(|i| i as f32 * 0.5).collect();
        let noted = output_tensor(&dev, values.clone(), (2usize, 6usize));
        let plain = dev.tensor_from_vec(values.clone(), (2usize, 6usize));
        let (a, b) = (host_data(&noted), host_data(&plain));
        assert!(a.in_place() && !b.in_place());
        assert_eq!((&*a, &*b), (&values[..], &values[..]));
        // a reshape shares the values: still found; and a reader keeps them alive after the
        // tensor and its note are gone
        let reshaped = noted.clone().reshape_like(&(12usize,));
        let c = host_data(&reshaped);
        assert!(c.in_place());
        drop((noted, reshaped));
        forget_outputs();
        assert_eq!(&*c, &values[..]);
    }

    #[test]
    fn a_mutated_output_is_not_read_from_its_old_values() {
        let dev: Cpu = Default::default();
        let mut t = output_tensor(&dev, vec![1.0f32; 8], (8usize,));
        // copy_from on a shared buffer gives the tensor new values at a new address
        t.copy_from(&[2.0f32; 8]);
        let d = host_data(&t);
        assert_eq!(&*d, &[2.0f32; 8][..]);
    }
}
