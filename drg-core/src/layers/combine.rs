//! Combining trunks into outputs (`docs/dsl.md`, "Output combinators"): using one tensor in several places, the
//! `difference` relation, and concatenating trunk embeddings for a combiner.

use dfdx::prelude::*;

use super::Flat;
use crate::device::DrgDevice;

/// `n` handles on `x` for `n` consumers. dfdx keeps a tensor's backward graph in its tape, which
/// only one consumer can take over: the first `n − 1` handles carry empty tapes (their gradients
/// still accumulate by tensor id) and the last one carries the original tape, so consume every
/// handle or the graph is lost. Panics if `n` is 0.
pub fn fanout<S: Shape, D: DrgDevice, T: Tape<f32, D>>(x: Tensor<S, f32, D, T>, n: usize) -> Vec<Tensor<S, f32, D, T>> {
    assert!(n > 0, "fanout to no consumer would drop the backward graph");
    let mut handles: Vec<_> = (1..n).map(|_| x.with_empty_tape()).collect();
    handles.push(x);
    handles
}

/// `a − b`: the reference's `difference` relation (e.g. expression = transcription head of the
/// DNA trunk − degradation head of the RNA trunk). Both heads have the output's width, a
/// `Const` or the data's track count (`(batch, usize)`).
pub fn difference<S: Shape, D: DrgDevice, T: Tape<f32, D> + Merge<T>>(
    a: Tensor<S, f32, D, T>,
    b: Tensor<S, f32, D, T>,
) -> Tensor<S, f32, D, T> {
    a - b
}

/// Concatenates trunk embeddings feature-wise, in order, into `(batch, N)` (N checked against
/// the parts at run time; the model macro has already checked it at compile time).
pub fn concat<const N: usize, D: DrgDevice, T: Tape<f32, D> + Merge<T>>(parts: Vec<Tensor<(usize, usize), f32, D, T>>) -> Flat<N, D, T> {
    let mut parts = parts.into_iter();
    let first = parts.next().expect("concat of no parts");
    let b = first.shape().0;
    let joined = parts.fold(first, |acc, p| (acc, p).concat_along(Axis::<1>));
    assert_eq!(joined.shape().1, N, "concatenated width");
    joined.reshape_like(&(b, Const::<N>))
}
