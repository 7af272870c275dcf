//! What every model item provides to the generic trainer: the `DrgModel` trait.
//!
//! `drg_model!` implements it for every size variant it declares; the trainer
//! (`crate::train`) and the report writers (`crate::eval`) need nothing else. Inputs and outputs
//! cross this boundary runtime-shaped (`(batch, channels, length)` and `(batch, width)`), because
//! the trainer serves every model; inside, the model converts them to its `Const` types once.

use dfdx::prelude::*;

use crate::device::DrgDevice;
use crate::layers::Ctx;
use crate::ops::loss::LossKind;

/// One input of a model for one batch, as the trainer hands it over: `(batch, channels, length)`.
pub type InputBatch<D, T> = Tensor<(usize, usize, usize), f32, D, T>;

/// One output of a model for one batch: `(batch, width)`.
pub type OutputBatch<D, T> = Tensor<(usize, usize), f32, D, T>;

/// One sequence input of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputSpec {
    /// The name in the declaration (`dna`, `rna`, `seq`).
    pub name: &'static str,
    /// One-hot channels (4 for A, C, G, T).
    pub channels: usize,
    /// The sequence length this variant was compiled for.
    pub length: usize,
    /// Whether the first convolution also reads the reverse complement.
    pub reverse_complement: bool,
}

/// One output (head) of a model: a matrix of tracks, e.g. expression in 88 conditions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutputSpec {
    /// The name in the declaration (`ex`, `kd`, `kt`); used as the file class tag.
    pub name: &'static str,
    /// Number of tracks when the declaration fixes it (`ex[88]`); `None` for `ex[_]`, where the
    /// data's output file decides (one compiled model serves any number of conditions).
    pub width: Option<usize>,
    /// The validation loss of this output; `LossKind::None` excludes it from validation and
    /// early stopping (the reference's `'None'`).
    pub validation: LossKind,
    /// The training loss of this output (the reference's `loss_function` list form; the
    /// declaration's `loss = ..` on the output line, else its model-wide `loss` line).
    pub loss: LossKind,
}

/// Everything about a compiled model variant that is not a tensor.
#[derive(Debug, Clone, Copy)]
pub struct ModelSpec {
    /// The model's name (`ModelD`).
    pub name: &'static str,
    /// The size variant (`full`, `long`, `demo`), or `""` when the declaration has none.
    pub variant: &'static str,
    pub inputs: &'static [InputSpec],
    pub outputs: &'static [OutputSpec],
    /// The declaration's model-wide training loss (its `loss` line); an output may name its own
    /// ([`OutputSpec::loss`], which is what training uses).
    pub loss: LossKind,
    /// The reference's `--cnn` keys that describe this variant (`num_kernels=300`,
    /// `dilations=[1,2,4]`, ...), each with the declaration's text that sets it: a binary
    /// compares the architecture keys of `--cnn` with them, and the saved model description
    /// lists them.
    pub hyper: &'static [ReferenceKey],
    /// Number of trainable parameters (BatchNorm running statistics excluded), as the reference
    /// counts them, given the output widths.
    pub parameters: ParameterCount,
    /// Outputs that must have the same number of tracks because one head per trunk serves all of
    /// them (`shared`); empty when the widths are independent.
    pub equal_widths: &'static [usize],
}

impl ModelSpec {
    /// The trainable parameters of this variant with `widths` tracks per output.
    pub fn parameter_count(&self, widths: &[usize]) -> usize {
        self.parameters.at(widths)
    }

    /// The output widths when the declaration fixes all of them (`None` if any is `_`).
    pub fn declared_widths(&self) -> Option<Vec<usize>> {
        self.outputs.iter().map(|o| o.width).collect()
    }

    /// The first way run-time output widths fail the declaration, if any: one width per output,
    /// none 0, fixed widths equal, `equal_widths` equal. The one place these rules live; the
    /// data layer ([`crate::train::data_fit::check_widths`]) words them with the files' names.
    pub fn width_mismatch(&self, widths: &[usize]) -> Option<WidthMismatch> {
        if widths.len() != self.outputs.len() {
            return Some(WidthMismatch::Count);
        }
        for (i, (o, &w)) in self.outputs.iter().zip(widths).enumerate() {
            if w == 0 {
                return Some(WidthMismatch::Empty { output: i });
            }
            if let Some(declared) = o.width.filter(|&d| d != w) {
                return Some(WidthMismatch::Fixed { output: i, declared });
            }
        }
        let (&first, rest) = self.equal_widths.split_first()?;
        let other = *rest.iter().find(|&&k| widths[k] != widths[first])?;
        Some(WidthMismatch::Unequal { first, other })
    }

    /// [`Self::width_mismatch`] as a message naming the outputs by their declared names.
    pub fn check_widths(&self, widths: &[usize]) -> Result<(), String> {
        let Some(mismatch) = self.width_mismatch(widths) else { return Ok(()) };
        let name = |i: usize| self.outputs[i].name;
        Err(match mismatch {
            WidthMismatch::Count => format!("model {} has {} output(s), {} widths given", self.name, self.outputs.len(), widths.len()),
            WidthMismatch::Empty { output } => format!("output '{}' has no tracks", name(output)),
            WidthMismatch::Fixed { output, declared } => {
                format!(
                    "output '{}' has {} tracks, model {} declares {}[{declared}]",
                    name(output),
                    widths[output],
                    self.name,
                    name(output)
                )
            }
            WidthMismatch::Unequal { first, other } => format!(
                "outputs '{}' ({} tracks) and '{}' ({} tracks) must have equal widths: model {} serves them with one shared head per trunk",
                name(first),
                widths[first],
                name(other),
                widths[other],
                self.name
            ),
        })
    }
}

/// How run-time output widths fail a declaration ([`ModelSpec::width_mismatch`]); outputs by
/// index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WidthMismatch {
    /// Not one width per output.
    Count,
    /// An output with no tracks.
    Empty { output: usize },
    /// A width other than the declared `NAME[declared]`.
    Fixed { output: usize, declared: usize },
    /// Two outputs served by one shared head with different widths.
    Unequal { first: usize, other: usize },
}

/// One of the reference's `--cnn` keys as the declaration sets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReferenceKey {
    /// The reference's key (`num_kernels`).
    pub key: &'static str,
    /// Its value, written as the reference's strings write it (`300`, `True`, `[1,2,4]`).
    pub value: &'static str,
    /// Where `drg_model!` sets it, e.g. "the filters of the trunk's first `conv(300, 15)`".
    pub dsl: &'static str,
}

/// Trainable parameters as a function of the output widths: `fixed + Σ per_track[i] · widths[i]`
/// (`per_track[i]` is 0 for an output of fixed width, whose heads are counted in `fixed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParameterCount {
    pub fixed: usize,
    pub per_track: &'static [usize],
}

impl ParameterCount {
    /// The count with `widths` tracks per output.
    pub fn at(&self, widths: &[usize]) -> usize {
        self.fixed + self.per_track.iter().zip(widths).map(|(p, w)| p * w).sum::<usize>()
    }
}

/// A model the generic trainer can build, run, train, save and load.
///
/// `TensorCollection` (with the reference's state-dict names) gives dfdx's optimizers, zeroing of
/// gradients, safetensors save/load and our importer; `forward` is the only behaviour.
pub trait DrgModel<D: DrgDevice>: TensorCollection<f32, D, To<f32, D> = Self> + Clone + Sized {
    /// Inputs, outputs and settings of this variant.
    const SPEC: ModelSpec;

    /// The same variant on another device (`ModelDDemo<f32, Cuda>` for `ModelDDemo<f32, Cpu>`):
    /// how a binary, handed the CPU type by [`ModelFamily::with_variant`], trains on a GPU.
    type On<D2: DrgDevice>: DrgModel<D2>;

    /// Builds the model with the reference's initialisation (PyTorch defaults), drawing from the
    /// device's generator (open the device seeded, `DrgDevice::open`, for reproducible weights),
    /// with `widths[i]` tracks for output `i`: the data's track counts, which must fit the spec
    /// (check them with [`ModelSpec::check_widths`] first; this panics otherwise).
    fn new(dev: &D, widths: &[usize]) -> Self;

    /// The number of tracks of every output, in declaration order (what the model was built
    /// with).
    fn output_widths(&self) -> Vec<usize>;

    /// Runs the model on one batch: one `(batch, channels, length)` tensor per input, in
    /// declaration order, each carrying a tape `T` (the trainer gives the first input the model's
    /// gradients and the others empty tapes that merge along the way); returns one
    /// `(batch, width)` tensor per output, in declaration order.
    ///
    /// Panics if an input's channels or length differ from `SPEC` (the data layer checks them
    /// against `SPEC` first and reports a clear error).
    fn forward<T: Tape<f32, D>>(&mut self, inputs: Vec<InputBatch<D, T>>, ctx: &mut Ctx) -> Vec<OutputBatch<D, T>>;
}

/// A declared model with all its size variants: what a `model_*` binary runs. `drg_model!`
/// implements it on the declaration's name (`ModelD`); the binary picks the variant whose input
/// lengths match the data and hands a [`VariantJob`] to it.
pub trait ModelFamily {
    /// The name of the declaration (`ModelD`).
    const NAME: &'static str;
    /// The text of the `drg_model!` invocation that declared it (all its models and shared
    /// pipelines), for re-running the inference at other input lengths (`drg_dsl`).
    const DECLARATION: &'static str;
    /// The specs of the variants in declaration order.
    fn variants() -> Vec<ModelSpec>;
    /// Runs `job` with the concrete type of variant `index` (panics if out of range).
    fn with_variant<J: VariantJob>(index: usize, job: J) -> J::Output;
}

/// Work generic over a model type, for [`ModelFamily::with_variant`]. The job receives the
/// variant on the CPU; `M::On<Cuda>` is the same variant on a GPU.
pub trait VariantJob {
    type Output;
    fn run<M: DrgModel<dfdx::tensor::Cpu>>(self) -> Self::Output;
}
