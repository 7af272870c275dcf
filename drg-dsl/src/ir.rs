//! The intermediate representation handed to the code generator: a fully resolved model.
//!
//! Everything codegen needs is computed here once, per size variant: concrete channels and
//! lengths at every layer boundary, paddings, the conv-stack layers that are actually built
//! (the reference truncates stacks: `docs/dsl.md`, "Layers"), FC widths, the output combination, parameter
//! counts and the reference's state-dict key prefix of every parameterised layer. Codegen must
//! not re-derive any of it. Spans point at the user's tokens, for errors emitted by codegen
//! (e.g. `const` assertions).
//!
//! State-dict keys: every `key` below is a *prefix*; the parameter names the reference appends
//! are listed in each type's doc (`weight`, `bias`, `running_mean`, ...).

// The IR is the contract with the code generator; the stub generator reads only part of it.
#![allow(dead_code)]

use proc_macro2::Span;
use syn::{Attribute, Ident, Visibility};

/// A whole `drg_model!` declaration.
pub struct Model {
    /// Outer attributes (doc comments) of the struct.
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub name: Ident,
    /// Inputs in declaration order; input `i` feeds trunk `i` (`Variant::trunks[i]`).
    pub inputs: Vec<Input>,
    /// Outputs in declaration order (the order of the reference's output files and heads).
    pub outputs: Vec<Output>,
    /// The training loss of every output that does not name its own (`loss = ..`); `loss ..;`,
    /// default `mse` (the reference's `loss_function='MSE'`).
    pub loss: Loss,
    /// The validation (early-stopping) loss for outputs whose `validation` is not `none` and
    /// that do not name their own: the `validation ..;` line, without one [`Model::loss`] (the
    /// reference's `validation_loss` defaults to `loss_function`).
    pub validation: Loss,
    /// How outputs are computed from trunk features (the same in every size variant).
    pub combination: CombinationKind,
    /// `true` for the reference's `combined_network` (two or more inputs, or `mlp` outputs):
    /// trunk keys are then prefixed with `cnns.CNN{i}.`.
    pub combined: bool,
    /// Size variants in declaration order (one implicit variant when there is no `sizes` block).
    pub variants: Vec<Variant>,
}

/// `input NAME: onehot(channels, len), reverse_complement;`.
pub struct Input {
    pub attrs: Vec<Attribute>,
    pub name: Ident,
    /// The first conv of this input's trunk is the reverse-complement stem (P1).
    pub reverse_complement: bool,
}

/// `output NAME[WIDTH] = ...;`.
pub struct Output {
    pub attrs: Vec<Attribute>,
    pub name: Ident,
    /// The span of the width expression (for codegen errors about widths).
    pub width_span: Span,
    /// `false` for `validation = none`: excluded from the validation loss and early stopping.
    pub validated: bool,
    /// `validation = <loss>`: this output's validation loss instead of [`Model::validation`];
    /// without a model-level `validation` line, an output's own `loss = ..` also validates it.
    pub validation: Option<Loss>,
    /// `loss = <loss>`: this output's training loss instead of [`Model::loss`].
    pub loss: Option<Loss>,
    /// `act = ..`: an activation after the output's linear head (the reference's `outclass`,
    /// e.g. `EXPmax`); only for `head`/`direct` outputs. `None`: linear.
    pub activation: Option<Activation>,
    pub relation: Relation,
}

/// How an output is formed from the trunks (indices into `Model::inputs` / `Variant::trunks`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Relation {
    /// `head(t)` / `direct(t)`: the output is one linear head of trunk `t`.
    Direct { trunk: usize },
    /// `difference(a, b)`: head of `a` minus head of `b`.
    Difference { plus: usize, minus: usize },
    /// `mlp(t0, t1, ..)`: concatenated trunk embeddings (in this order) through the output's
    /// combiner (`Variant::heads`, `Heads::Mlp`).
    Mlp { trunks: Vec<usize> },
}

/// The model-wide head structure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CombinationKind {
    /// Each trunk has one linear head per output (`classifier.{i}`), built even for outputs that
    /// do not use the trunk (reference `shared_embedding=False`; models A, B, D).
    HeadPerOutput,
    /// Each trunk has one linear head shared by all outputs (`shared`; model E).
    SharedHead,
    /// Each trunk has one embedding head + activation; every output has its own FC combiner
    /// and final linear layer (models C, F1, F2).
    Mlp,
}

/// A loss of the reference, by the DSL's snake_case name; each maps to
/// one `drg_core::train::loss::LossKind` (whose docs define it) and to the reference's own name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loss {
    /// `MSE`.
    Mse,
    /// `L1Loss`.
    L1,
    /// `PoissonNNL` (log-rate input, the reference's defaults).
    PoissonNnl,
    /// `Cosinedata`: 1 − cosine across the tracks of a data point.
    CosineData,
    /// `Cosineclass`: 1 − cosine of a track across the data points.
    CosineClass,
    /// `Correlationdata`: 1 − r across the tracks of a data point.
    Correlation,
    /// `Correlationclass`: 1 − r of a track across the data points.
    CorrelationClass,
    /// `Correlationsumdata`: 1 − r of the data points' track sums.
    CorrelationSumData,
    /// `Correlationmse`: 0.95·(1 − r) + 0.05·squared error.
    CorrelationMse,
    /// `MSECorrelation`: 0.95·(1 − r across the data points) + 0.05·squared error.
    MseCorrelation,
    /// `Correlationboth`: mean of the data-point and the track correlations' 1 − r.
    CorrelationBoth,
    /// `Cosineboth`: the data-point and the track cosines' 1 − cos, half each.
    CosineBoth,
}

impl Loss {
    /// Every loss, in the reference's order.
    pub const ALL: [Loss; 12] = [
        Loss::Mse,
        Loss::L1,
        Loss::PoissonNnl,
        Loss::CosineData,
        Loss::CosineClass,
        Loss::Correlation,
        Loss::CorrelationClass,
        Loss::CorrelationSumData,
        Loss::CorrelationMse,
        Loss::MseCorrelation,
        Loss::CorrelationBoth,
        Loss::CosineBoth,
    ];

    /// `(DSL name, reference name, LossKind variant)`.
    fn names(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Loss::Mse => ("mse", "MSE", "Mse"),
            Loss::L1 => ("l1", "L1Loss", "L1Loss"),
            Loss::PoissonNnl => ("poisson_nnl", "PoissonNNL", "PoissonNnl"),
            Loss::CosineData => ("cosine_data", "Cosinedata", "Cosinedata"),
            Loss::CosineClass => ("cosine_class", "Cosineclass", "Cosineclass"),
            Loss::Correlation => ("correlation", "Correlationdata", "Correlationdata"),
            Loss::CorrelationClass => ("correlation_class", "Correlationclass", "Correlationclass"),
            Loss::CorrelationSumData => ("correlation_sum_data", "Correlationsumdata", "Correlationsumdata"),
            Loss::CorrelationMse => ("correlation_mse", "Correlationmse", "Correlationmse"),
            Loss::MseCorrelation => ("mse_correlation", "MSECorrelation", "MseCorrelation"),
            Loss::CorrelationBoth => ("correlation_both", "Correlationboth", "Correlationboth"),
            Loss::CosineBoth => ("cosine_both", "Cosineboth", "Cosineboth"),
        }
    }

    /// The name a declaration writes (`loss correlation_mse;`).
    pub fn dsl_name(self) -> &'static str {
        self.names().0
    }

    /// The reference's name (`--cnn loss_function=Correlationmse`).
    pub fn reference_name(self) -> &'static str {
        self.names().1
    }

    /// The `drg_core::train::loss::LossKind` variant the code generator names.
    pub fn kind_variant(self) -> &'static str {
        self.names().2
    }

    /// The loss a declaration names, if it is one.
    pub fn from_dsl_name(name: &str) -> Option<Loss> {
        Self::ALL.into_iter().find(|l| l.dsl_name() == name)
    }

    /// Every DSL name, for error messages: `mse, l1, …, cosine_both`.
    pub fn dsl_names() -> String {
        Self::ALL.map(Loss::dsl_name).join(", ")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    Gelu,
    /// No activation (the reference's `Linear`, or `Id0` as a layer function).
    Identity,
    Relu,
    Sigmoid,
    Tanh,
    /// The reference's `EXP`: exp(min(x, ln 2³²)); only as an output's `act`.
    Exp,
    /// The reference's `EXPmax`: exp(min(x, ln 128)); only as an output's `act`.
    ExpMax,
    /// The reference's `Softmax` over the tracks of a row; only as an output's `act`.
    Softmax,
    /// The reference's `SQUARED`: min(x, √128)²; only as an output's `act`.
    Squared,
    /// The reference's `THIRD`: min(x, ∛128)³; only as an output's `act`.
    Third,
}

impl Activation {
    /// The names an output's `act = ..` takes (the reference's `outclass`): the layer
    /// activations, the cropped exponentials and powers, and the softmax.
    pub const OUTPUT_NAMES: [(&'static str, Activation); 10] = [
        ("gelu", Activation::Gelu),
        ("relu", Activation::Relu),
        ("sigmoid", Activation::Sigmoid),
        ("tanh", Activation::Tanh),
        ("id0", Activation::Identity),
        ("exp", Activation::Exp),
        ("exp_max", Activation::ExpMax),
        ("softmax", Activation::Softmax),
        ("squared", Activation::Squared),
        ("third", Activation::Third),
    ];

    /// The DSL's names, as layers (`relu`) and as `act = ..` values, with their activations.
    pub const NAMES: [(&'static str, Activation); 5] = [
        ("gelu", Activation::Gelu),
        ("relu", Activation::Relu),
        ("sigmoid", Activation::Sigmoid),
        ("tanh", Activation::Tanh),
        ("id0", Activation::Identity),
    ];

    pub fn from_dsl(name: &str) -> Option<Activation> {
        Self::NAMES.iter().find(|(n, _)| *n == name).map(|(_, a)| *a)
    }

    pub fn dsl_name(self) -> &'static str {
        Self::OUTPUT_NAMES.iter().find(|(_, a)| *a == self).map_or("id0", |(n, _)| n)
    }

    /// The reference's name of the function (`kernel_function`, `net_function`).
    pub fn reference_name(self) -> &'static str {
        match self {
            Activation::Gelu => "GELU",
            Activation::Identity => "Id0",
            Activation::Relu => "ReLU",
            Activation::Sigmoid => "Sigmoid",
            Activation::Tanh => "Tanh",
            Activation::Exp => "EXP",
            Activation::ExpMax => "EXPmax",
            Activation::Softmax => "Softmax",
            Activation::Squared => "SQUARED",
            Activation::Third => "THIRD",
        }
    }

    /// The matching `drg_core::layers::activation::Activation` variant's name.
    pub fn core_variant(self) -> &'static str {
        match self {
            Activation::Gelu => "Gelu",
            Activation::Identity => "Identity",
            Activation::Relu => "Relu",
            Activation::Sigmoid => "Sigmoid",
            Activation::Tanh => "Tanh",
            Activation::Exp => "Exp",
            Activation::ExpMax => "ExpMax",
            Activation::Softmax => "Softmax",
            Activation::Squared => "Squared",
            Activation::Third => "Third",
        }
    }
}

/// One size variant: every number resolved.
pub struct Variant {
    /// The variant's name (`full`); `default` for the implicit variant.
    pub name: Ident,
    /// `true` when the model has no `sizes` block.
    pub implicit: bool,
    /// One trunk per input, same order.
    pub trunks: Vec<Trunk>,
    /// Output widths (tracks), same order as `Model::outputs`.
    pub output_widths: Vec<Width>,
    pub heads: Heads,
    /// Trainable parameters (BatchNorm running statistics and the attention's positional
    /// embedding excluded) that do not depend on a track count from the data: the sum of
    /// `parameter_breakdown`. The whole count is this plus `parameters_per_track[i]` times the
    /// data's track count of every output `i` whose width is [`Width::Data`].
    pub parameter_count: usize,
    /// Trainable parameters per state-dict key prefix, in model order (heads whose width comes
    /// from the data are not listed).
    pub parameter_breakdown: Vec<(String, usize)>,
    /// Per output: trainable parameters per track of the data, for outputs written `NAME[_]`
    /// (the weights and bias of every head that produces that output's tracks); 0 for outputs
    /// of a fixed width.
    pub parameters_per_track: Vec<usize>,
}

/// The width of an output, or of a head that produces one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Width {
    /// Fixed in the declaration (`ex[88]`, or a size parameter).
    Fixed(usize),
    /// `ex[_]`: the number of tracks of the data's file for output `output`, known at run time.
    Data { output: usize },
}

impl Width {
    /// The width when it is fixed.
    pub fn fixed(self) -> Option<usize> {
        match self {
            Width::Fixed(n) => Some(n),
            Width::Data { .. } => None,
        }
    }
}

/// Activation shape at a layer boundary (per sample; the batch dimension is implicit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `(channels, length)` in NCL layout.
    Seq { channels: usize, len: usize },
    /// Flat features after `flatten` (channel-major: index = c·L + position).
    Flat { features: usize },
}

/// One input's trunk in one size variant.
pub struct Trunk {
    /// The trunk's (= its input's) name.
    pub name: Ident,
    /// `""` or `cnns.CNN{i}.`; already included in every key of its layers.
    pub key_prefix: String,
    /// Channels of the input sequence (4 for one-hot DNA/RNA).
    pub input_channels: usize,
    /// Length of the input sequence.
    pub input_len: usize,
    pub layers: Vec<Layer>,
    /// The width of the flat feature vector the trunk ends with.
    pub features: usize,
}

/// One trunk layer with its boundary shapes.
pub struct Layer {
    /// The layer name token (`conv`, `wpool`, ...).
    pub span: Span,
    pub input: Shape,
    pub output: Shape,
    pub kind: LayerKind,
}

pub enum LayerKind {
    Conv(Conv),
    /// Exact (erf) GELU.
    Gelu,
    /// Another activation layer (`relu`, `sigmoid`, `tanh`, `id0`).
    Act(Activation),
    Pool(Pool),
    /// `dilated(..)` or `convblocks(..)`: the reference's `Res_Conv1d` (P4).
    ConvStack(ConvStack),
    Attention(Attention),
    Flatten,
    Linear(Linear),
    Fc(FcStack),
    Dropout {
        p: f64,
    },
}

/// A padded 1-d convolution that preserves length. Key params: `{key}.weight`
/// `(out, in, kernel)`, `{key}.bias` `(out,)` when `bias`.
pub struct Conv {
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel: usize,
    pub dilation: usize,
    pub bias: bool,
    /// Zero padding (left, right): e = dilation·(kernel−1)+1, left = ⌊e/2⌋ − [e even], right = ⌊e/2⌋.
    pub padding: (usize, usize),
    /// The reverse-complement stem (P1): max over both strands, same weights.
    pub reverse_complement: bool,
    /// `convolutions.conv1d` for the trunk's first conv; otherwise `layers.{n}.conv1d`.
    pub key: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    /// The reference's weighted pooling (P2): softmax-weighted windows, global-min padding.
    Weighted,
    Max,
    Mean,
}

/// Padded pooling: `pad` positions on each side, no parameters. With `step = size` (every
/// pooling but an explicit `step = ..`) `out_len = ⌈in_len/size⌉`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pool {
    pub kind: PoolKind,
    pub size: usize,
    /// The stride between windows (`step = s`, the reference's `pooling_steps`); `size` unless
    /// written. The weighted pool ignores it except in its padding, as the reference's does.
    pub step: usize,
    pub in_len: usize,
    /// q = ⌈(size − in_len mod step)/2⌉ when in_len mod step ≠ 0, else 0; on both sides
    /// (never negative here: a negative q is an error for max and mean pooling and no padding
    /// for the weighted pool).
    pub pad: usize,
    pub out_len: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StackRole {
    /// `dilated(..)`: the reference's "dilated convolutions", keys `convolution_layers.convlayers`.
    Dilated,
    /// `convblocks(..)`: the reference's "transformer convolutions", keys `trconvolution_layers.convlayers`.
    Blocks,
}

/// A residual conv stack (P4) as actually built: `layers` may be fewer than `requested_layers`.
pub struct ConvStack {
    pub role: StackRole,
    pub channels: usize,
    pub kernel: usize,
    pub bias: bool,
    pub batchnorm: bool,
    /// The activation before every conv (`act = ..`, the reference's `net_function`).
    pub activation: Activation,
    /// Dropout probability after every layer's skip-add, before its pooling (`dropout = ..`, the
    /// reference's `conv_dropout`); a multiple of 0.001 in [0, 1).
    pub dropout: f64,
    /// Layers asked for (`len(dilations)` or `n`).
    pub requested_layers: usize,
    pub layers: Vec<StackLayer>,
    /// e.g. `convolution_layers.convlayers` (with the trunk prefix); layer keys extend it.
    pub key: String,
}

/// Layer `index` of a conv stack: `z = Conv(GELU(BN(h)))`, skip add, optional pooling after.
pub struct StackLayer {
    pub index: usize,
    pub dilation: usize,
    pub padding: (usize, usize),
    /// Sequence length entering the layer (= conv output length with stride 1).
    pub len: usize,
    /// The conv's stride (the reference's `strides` / `trstrides`): the layer's output has
    /// ⌈len/stride⌉ positions, every stride-th of the stride-1 conv's (the same padding), and its
    /// skip is the reference's mean window over the source (see `drg_core::layers::conv_stack_strided`).
    pub stride: usize,
    /// The pooling that follows this layer's skip-add (also applied to the residual source of
    /// the next layer, with the same `pad`).
    pub pool: Option<Pool>,
    /// `{stack}.Bnorm{index}`: `weight`, `bias` (trainable), `running_mean`, `running_var`,
    /// `num_batches_tracked` (buffers). `None` without batchnorm.
    pub bn_key: Option<String>,
    /// `{stack}.Conv{index}.conv1d`: `weight` `(C, C, kernel)`, `bias` when the stack has bias.
    pub conv_key: String,
}

/// Multi-head attention (P5), no biases. Keys under `key` (`distattention.Mheadattention0`):
/// `embed_queries|embed_keys|embed_values.weight` `(heads·embed, 2·in_channels, 1)`,
/// `combine_layer.weight` `(embed, heads·embed, 1)`, `reslayer.weight` `(embed, in_channels, 1)`,
/// `layer_norm.{weight,bias}` `(embed,)`, `feedforward.0.weight` `(4·embed, embed, 1)`,
/// `feedforward.2.weight` `(embed, 4·embed, 1)`, `feedforward_layer_norm.{weight,bias}`,
/// buffer `pos_queries` `(in_channels, len)`.
pub struct Attention {
    pub in_channels: usize,
    pub heads: usize,
    /// E = int(dim · in_channels): per-head dim, value dim and output channels.
    pub embed: usize,
    /// The `dim` factor as written.
    pub dim: f64,
    pub len: usize,
    pub key: String,
    /// `dropout = p` (the reference's `attention_dropout`): before `combine_layer` and on the
    /// feed-forward block's input, training only; 0 for none. A whole number of thousandths.
    pub dropout: f64,
}

/// `linear(n)`: no activation. Keys `{key}.weight` `(out, in)`, `{key}.bias`.
pub struct Linear {
    pub in_features: usize,
    pub out_features: usize,
    /// `nfcs.nfcs.EmbeddtoFully` for the trunk's first linear, else `layers.{n}`.
    pub key: String,
}

/// `fc(n)`: P6 stack of `Linear → Dropout → GELU` (trunk) or `Linear → act` (combiner).
pub struct FcStack {
    /// `(in, out)` of every layer.
    pub widths: Vec<(usize, usize)>,
    /// The widening factor the widths follow (`widening = ..`, the reference's `layer_widening`).
    pub widening: f64,
    /// Dropout after each linear, before the activation (0 in combiners).
    pub dropout: f64,
    pub activation: Activation,
    /// Key of layer k: `{key_stem}{k}` (`nfcs.nfcs.Fullyconnected{k}`).
    pub keys: Vec<String>,
    /// With batch norm (`fc(.., batchnorm = true)`, the reference's `fc_batch_norm`): key of
    /// layer k's `BatchNorm1d` over its input, `nfcs.nfcs.Bnorm_fullyconnected{k}`, applied
    /// before its linear layer. Empty without.
    pub bn_keys: Vec<String>,
    /// Skips (`fc(.., residuals = r)`, the reference's `nfc_residuals`): after every r-th layer,
    /// a bias-free projection of the last skip's sum (at first the stack's input) is added to the
    /// layer's output. 0: none.
    pub residuals: usize,
    /// Key of every skip's projection, `nfcs.nfcs.Residuallayer{n}` after layer n; `(in, out)` of
    /// each. Empty without skips.
    pub residual_keys: Vec<(String, (usize, usize))>,
    /// The skips start from the features *before* the `linear(n)` that directly precedes the
    /// stack (of the same width n), as the reference's `Res_FullyConnect` keeps `res = x` before
    /// its `EmbeddtoFully` (`fclayer_size`) layer. `false`: from the stack's own input.
    pub skip_before_linear: bool,
}

/// A plain linear head. Keys `{key}.weight` `(out, in)`, `{key}.bias`.
pub struct Head {
    pub in_features: usize,
    /// Output features: fixed for embedding heads, an output's width for prediction heads.
    pub out: Width,
    pub key: String,
    /// The classifier's batch norm over the head's input (`classifier.classifier.ClassBnorm`),
    /// which the reference builds with `fc_batch_norm=True`; `None` without.
    pub batchnorm: Option<String>,
}

/// The output side of one size variant.
pub enum Heads {
    /// `CombinationKind::HeadPerOutput` / `SharedHead`.
    Linear {
        /// `per_trunk[t]`: trunk t's heads: one per output (`HeadPerOutput`, index = output) or
        /// exactly one (`SharedHead`).
        per_trunk: Vec<Vec<TrunkHead>>,
        /// How each output is formed, same order as `Model::outputs`.
        outputs: Vec<LinearOutput>,
    },
    /// `CombinationKind::Mlp`.
    Mlp {
        /// `embeddings[t]`: trunk t's embedding head (followed by `activation`).
        embeddings: Vec<Head>,
        activation: Activation,
        /// One per output, same order as `Model::outputs`.
        combiners: Vec<Combiner>,
    },
}

/// A trunk's linear head.
pub struct TrunkHead {
    pub head: Head,
    /// Whether any output reads it (the reference builds and counts unused heads too; they
    /// receive zero gradients).
    pub used: bool,
    /// The output's own fully connected layers between the trunk's flat features and `head`
    /// (`head(seq >> linear(48) >> fc(2))`); `None` when the head reads the trunk directly.
    pub stack: Option<HeadStack>,
}

/// An output's own fully connected stack, the reference's `nfc_layers` as a list (one
/// `Res_FullyConnect` per output, fed by the shared flattened features): `linear` is
/// `nfcs.{i}.nfcs.EmbeddtoFully` (no activation), `fc` the layers `nfcs.{i}.nfcs.Fullyconnected{k}`.
pub struct HeadStack {
    pub linear: Linear,
    pub fc: Option<FcStack>,
    /// The width the head reads (the last layer's output).
    pub features: usize,
}

/// An output of a linear-head model: indices `(trunk, head)` into `Heads::Linear::per_trunk`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinearOutput {
    Direct { head: (usize, usize) },
    Difference { plus: (usize, usize), minus: (usize, usize) },
}

/// One output's combiner: `concat(embeddings of trunks)` → FC stack → final linear.
pub struct Combiner {
    pub trunks: Vec<usize>,
    pub in_features: usize,
    /// `nclayers[.{i}].nfcs.Fullyconnected{k}`, activation after every layer, no dropout.
    /// Empty for `layers = 0`.
    pub fc: FcStack,
    /// `classifier[.{i}].classifier.Linear`.
    pub head: Head,
}
