//! Gradients under the reference's state-dict names, for comparing a backward pass with the
//! reference's (`train/grad/<key>` in the parity fixtures) or inspecting a training step.

use dfdx::nn::tensor_collection::{RecursiveWalker, TensorCollection, TensorOptions, TensorVisitor, ViewTensorName, ViewTensorRef};
use dfdx::prelude::*;

use super::state_dict::{Entry, StateDict, StoredDtype};

/// The gradient of every trainable tensor of `model`, by state-dict name. A tensor that took no
/// part in the backward pass (an unused head) gets zeros, as in the reference; buffers are left
/// out. (`grads` is mutable only because dfdx offers no public non-allocating lookup.)
pub fn export_gradients<M, D>(model: &M, grads: &mut Gradients<f32, D>) -> StateDict
where
    M: TensorCollection<f32, D>,
    D: Device<f32>,
{
    let mut walker = GradientExporter { grads, sd: StateDict::default() };
    let walked = M::iter_tensors(&mut RecursiveWalker { m: (model, String::new()), f: &mut walker });
    match walked {
        Ok(_) => {}
        Err(never) => match never {},
    }
    walker.sd
}

struct GradientExporter<'a, D: Device<f32>> {
    grads: &'a mut Gradients<f32, D>,
    sd: StateDict,
}

impl<D: Device<f32>> TensorVisitor<f32, D> for GradientExporter<'_, D> {
    type Viewer = (ViewTensorRef, ViewTensorName);
    type Err = std::convert::Infallible;
    type E2 = f32;
    type D2 = D;

    fn visit<S: Shape>(
        &mut self,
        opts: TensorOptions<S, f32, D>,
        (tensor, name): (&Tensor<S, f32, D>, String),
    ) -> Result<Option<Tensor<S, f32, D>>, Self::Err> {
        if !opts.do_gradient_update {
            return Ok(None);
        }
        // A missing gradient is allocated as zeros.
        self.grads.try_alloc_for(tensor).map_err(|_| ()).ok();
        let values = self.grads.get(tensor).as_vec();
        let c = tensor.shape().concrete();
        let shape = (0..S::NUM_DIMS).map(|i| c[i]).collect();
        self.sd.entries.insert(name, Entry { shape, values, dtype: StoredDtype::F32 });
        Ok(None)
    }
}
