//! A compiled model as fast ISM walks it at run time: the IR of its declaration (re-inferred from
//! `ModelFamily::DECLARATION` by `drg_dsl::declared_model`) with the model's own weights (its
//! state dict). The generated modules fix every length at compile time, so they cannot run on a
//! stretch of a sequence; this plan can: every trunk up to `flatten` becomes a small dataflow
//! graph of nodes ([`Node`]) whose lengths are run-time values, and everything after `flatten`
//! (fully connected layers, heads, combiners) a list of dense layers.
//!
//! A layer kind without a stretch-wise rule (attention mixes every position) makes the plan
//! [`Unsupported`], and the caller falls back to naive ISM.

use drg_dsl::ir;

use crate::import::StateDict;
use crate::ops::batchnorm_gelu::BN_EPS;
use crate::ops::ConvGeom;

/// Why a model has no fast ISM plan (one line, for the fallback message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported(pub String);

/// A 1-d convolution's weights and geometry; `reverse` is the reverse-complement strand as a
/// second convolution of the forward sequence (weights flipped along channels and taps, padding
/// mirrored), whose elementwise max with the forward strand is the stem's output.
#[derive(Debug, Clone)]
pub struct ConvPlan {
    pub cin: usize,
    pub cout: usize,
    pub geom: ConvGeom,
    pub weight: Vec<f32>,
    /// The weights as `(cout·K, cin)` (row `o·K + j` is tap `j` of output channel `o`), for
    /// convolving only the change of the input ([`super::ism_stretch`]).
    pub taps: Vec<f32>,
    pub bias: Option<Vec<f32>>,
    pub reverse: Option<(Vec<f32>, ConvGeom)>,
}

/// How a pooling window reduces (the IR's kinds; the weighted and max pools pad with the global
/// minimum of their input).
pub type PoolKind = ir::PoolKind;

/// One operation of a trunk's graph; inputs are earlier nodes.
#[derive(Debug, Clone)]
pub enum Op {
    /// The one-hot sequence.
    Input,
    Conv(ConvPlan),
    Gelu,
    /// Eval-mode BatchNorm then GELU: `gelu(x·scale[c] + shift[c])`.
    BnGelu {
        scale: Vec<f32>,
        shift: Vec<f32>,
    },
    Pool {
        kind: PoolKind,
        size: usize,
    },
    Add,
}

#[derive(Debug, Clone)]
pub struct Node {
    pub op: Op,
    pub inputs: Vec<usize>,
    /// Channels and length of the node's output.
    pub channels: usize,
    pub len: usize,
}

/// `y = act(x·Wᵀ + b)` with `W` `(out, in)` row-major.
#[derive(Debug, Clone)]
pub struct DenseLayer {
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
    pub inputs: usize,
    pub outputs: usize,
    pub gelu: bool,
}

/// One input's trunk: the sequence graph (the last node is what `flatten` reads) and the dense
/// layers after `flatten`.
#[derive(Debug, Clone)]
pub struct TrunkPlan {
    pub nodes: Vec<Node>,
    pub dense: Vec<DenseLayer>,
    /// Whether the input is read with its reverse complement (the first conv's `reverse`).
    pub reverse_complement: bool,
}

/// The output side (the IR's [`ir::Heads`] with weights).
#[derive(Debug, Clone)]
pub enum HeadsPlan {
    Linear { per_trunk: Vec<Vec<DenseLayer>>, outputs: Vec<ir::LinearOutput> },
    Mlp { embeddings: Vec<DenseLayer>, combiners: Vec<(Vec<usize>, Vec<DenseLayer>)> },
}

#[derive(Debug, Clone)]
pub struct ModelPlan {
    pub trunks: Vec<TrunkPlan>,
    pub heads: HeadsPlan,
}

/// Looks up weights by state-dict key.
struct Weights<'a>(&'a StateDict);

impl Weights<'_> {
    fn get(&self, key: &str) -> Result<(&[usize], &[f32]), Unsupported> {
        let e = self.0.get(key).ok_or_else(|| Unsupported(format!("the model has no tensor '{key}'")))?;
        Ok((&e.shape, &e.values))
    }

    fn conv(&self, key: &str, bias: bool, kernel: usize, dilation: usize, rc: bool) -> Result<ConvPlan, Unsupported> {
        let (shape, w) = self.get(&format!("{key}.weight"))?;
        let [cout, cin, k] = shape else { return Err(Unsupported(format!("'{key}.weight' is not 3-d"))) };
        if *k != kernel {
            return Err(Unsupported(format!("'{key}.weight' has kernel {k}, the declaration {kernel}")));
        }
        let geom = ConvGeom::same(kernel, dilation);
        let bias = if bias { Some(self.get(&format!("{key}.bias"))?.1.to_vec()) } else { None };
        let reverse = rc.then(|| {
            // out_rev[t] = Σ W[o, i, j]·x[C−1−i, t + pl − j·d] = Σ W'[o, i', j']·x[i', t − pr + j'·d]
            let mut flipped = vec![0f32; w.len()];
            for o in 0..*cout {
                for i in 0..*cin {
                    for j in 0..kernel {
                        flipped[(o * cin + (cin - 1 - i)) * kernel + (kernel - 1 - j)] = w[(o * cin + i) * kernel + j];
                    }
                }
            }
            (flipped, ConvGeom { pad_left: geom.pad_right, pad_right: geom.pad_left, ..geom })
        });
        let mut taps = vec![0f32; w.len()];
        for o in 0..*cout {
            for i in 0..*cin {
                for j in 0..kernel {
                    taps[(o * kernel + j) * cin + i] = w[(o * cin + i) * kernel + j];
                }
            }
        }
        Ok(ConvPlan { cin: *cin, cout: *cout, geom, weight: w.to_vec(), taps, bias, reverse })
    }

    fn dense(&self, key: &str, gelu: bool) -> Result<DenseLayer, Unsupported> {
        let (shape, w) = self.get(&format!("{key}.weight"))?;
        let [outputs, inputs] = shape else { return Err(Unsupported(format!("'{key}.weight' is not 2-d"))) };
        let bias = self.get(&format!("{key}.bias"))?.1.to_vec();
        Ok(DenseLayer { weight: w.to_vec(), bias, inputs: *inputs, outputs: *outputs, gelu })
    }

    fn bn_gelu(&self, key: &str) -> Result<Op, Unsupported> {
        let g = self.get(&format!("{key}.weight"))?.1;
        let b = self.get(&format!("{key}.bias"))?.1;
        let mean = self.get(&format!("{key}.running_mean"))?.1;
        let var = self.get(&format!("{key}.running_var"))?.1;
        // as `batchnorm_gelu_host` in eval mode, operation for operation
        let scale: Vec<f32> = g.iter().zip(var).map(|(g, &v)| g * (1.0 / (v + BN_EPS).sqrt())).collect();
        let shift = b.iter().zip(mean).zip(&scale).map(|((b, m), s)| b - m * s).collect();
        Ok(Op::BnGelu { scale, shift })
    }
}

/// Whether a dense layer applies GELU (`true`) or nothing (`false`); the plan's dense layers know
/// no other activation.
fn dense_activation(a: ir::Activation) -> Result<bool, Unsupported> {
    match a {
        ir::Activation::Gelu => Ok(true),
        ir::Activation::Identity => Ok(false),
        other => Err(Unsupported(format!("fully connected layers with the {other:?} activation (fast ISM covers GELU)"))),
    }
}

/// Appends a node and returns its index.
fn push(nodes: &mut Vec<Node>, op: Op, inputs: Vec<usize>, channels: usize, len: usize) -> usize {
    nodes.push(Node { op, inputs, channels, len });
    nodes.len() - 1
}

fn seq_shape(s: ir::Shape) -> Result<(usize, usize), Unsupported> {
    match s {
        ir::Shape::Seq { channels, len } => Ok((channels, len)),
        ir::Shape::Flat { .. } => Err(Unsupported("a sequence layer after flatten".into())),
    }
}

fn trunk_plan(trunk: &ir::Trunk, input: &ir::Input, w: &Weights) -> Result<TrunkPlan, Unsupported> {
    let mut nodes = Vec::new();
    let mut cur = push(&mut nodes, Op::Input, vec![], trunk.input_channels, trunk.input_len);
    let mut dense = Vec::new();
    let mut flat = false;
    for layer in &trunk.layers {
        if flat {
            match &layer.kind {
                ir::LayerKind::Linear(l) => dense.push(w.dense(&l.key, false)?),
                ir::LayerKind::Fc(fc) => {
                    if !fc.bn_keys.is_empty() {
                        return Err(Unsupported("batch norm in a fully connected stack".into()));
                    }
                    if fc.residuals > 0 {
                        return Err(Unsupported("skips in a fully connected stack (`nfc_residuals`)".into()));
                    }
                    let gelu = dense_activation(fc.activation)?;
                    for key in &fc.keys {
                        dense.push(w.dense(key, gelu)?);
                    }
                }
                ir::LayerKind::Dropout { .. } => {}
                _ => return Err(Unsupported("a sequence layer after flatten".into())),
            }
            continue;
        }
        if matches!(layer.kind, ir::LayerKind::Flatten) {
            flat = true;
            continue;
        }
        let (c, len) = seq_shape(layer.output)?;
        cur = match &layer.kind {
            ir::LayerKind::Conv(cv) => {
                if cv.reverse_complement && cv.in_channels != 4 {
                    return Err(Unsupported("a reverse-complement stem on other than 4 channels".into()));
                }
                let plan = w.conv(&cv.key, cv.bias, cv.kernel, cv.dilation, cv.reverse_complement)?;
                push(&mut nodes, Op::Conv(plan), vec![cur], c, len)
            }
            ir::LayerKind::Gelu => push(&mut nodes, Op::Gelu, vec![cur], c, len),
            ir::LayerKind::Act(a) => return Err(Unsupported(format!("the {a:?} activation (fast ISM covers GELU)"))),
            ir::LayerKind::Pool(p) if p.step != p.size => {
                return Err(Unsupported(format!("a pooling with a step other than its size (`step = {}`)", p.step)));
            }
            ir::LayerKind::Pool(p) => push(&mut nodes, Op::Pool { kind: p.kind, size: p.size }, vec![cur], c, len),
            ir::LayerKind::Dropout { .. } => cur,
            ir::LayerKind::ConvStack(stack) => {
                // `ConvStack::forward`: z = conv(act(h)); h = z + (pooled before ? pool(r) : r);
                // r = z; pool h after a pooling layer
                let mut r = cur;
                let mut h = cur;
                let mut pooled_before: Option<ir::Pool> = None;
                if stack.activation != ir::Activation::Gelu {
                    return Err(Unsupported(format!("a conv stack with the {:?} activation (fast ISM covers GELU)", stack.activation)));
                }
                if stack.layers.iter().any(|l| l.stride > 1) {
                    return Err(Unsupported("a strided conv stack (`strides`, `trstrides`)".into()));
                }
                if let Some(p) = stack.layers.iter().filter_map(|sl| sl.pool).find(|p| p.kind != ir::PoolKind::Weighted) {
                    // the skip path of max and mean pooling pads differently (layers/stack_pooling.rs)
                    return Err(Unsupported(format!("{:?} pooling inside a conv stack (fast ISM covers weighted pooling there)", p.kind)));
                }
                for sl in &stack.layers {
                    let act = match &sl.bn_key {
                        Some(key) => w.bn_gelu(key)?,
                        None => Op::Gelu,
                    };
                    let a = push(&mut nodes, act, vec![h], stack.channels, sl.len);
                    let conv = w.conv(&sl.conv_key, stack.bias, stack.kernel, sl.dilation, false)?;
                    let z = push(&mut nodes, Op::Conv(conv), vec![a], stack.channels, sl.len);
                    let skip = match pooled_before {
                        Some(p) => push(&mut nodes, Op::Pool { kind: p.kind, size: p.size }, vec![r], stack.channels, sl.len),
                        None => r,
                    };
                    r = z;
                    h = push(&mut nodes, Op::Add, vec![z, skip], stack.channels, sl.len);
                    if let Some(p) = sl.pool {
                        h = push(&mut nodes, Op::Pool { kind: p.kind, size: p.size }, vec![h], stack.channels, p.out_len);
                    }
                    pooled_before = sl.pool;
                }
                h
            }
            ir::LayerKind::Attention(_) => return Err(Unsupported("attention mixes every position of the sequence".into())),
            ir::LayerKind::Flatten => unreachable!("handled above"),
            ir::LayerKind::Linear(_) | ir::LayerKind::Fc(_) => return Err(Unsupported("a fully connected layer before flatten".into())),
        };
        if (nodes[cur].channels, nodes[cur].len) != (c, len) {
            return Err(Unsupported(format!("a layer's output shape {:?} differs from the plan's", layer.output)));
        }
    }
    if !flat {
        return Err(Unsupported("a trunk without flatten".into()));
    }
    Ok(TrunkPlan { nodes, dense, reverse_complement: input.reverse_complement })
}

impl ModelPlan {
    /// The plan of size variant `variant` (`""` for a model without sizes) of `model`, with the
    /// weights of `sd`.
    pub fn new(model: &ir::Model, variant: &str, sd: &StateDict) -> Result<Self, Unsupported> {
        let v = model
            .variants
            .iter()
            .find(|v| v.name == variant || (variant.is_empty() && v.implicit))
            .ok_or_else(|| Unsupported(format!("the declaration has no size '{variant}'")))?;
        if let Some(o) = model.outputs.iter().find(|o| o.activation.is_some_and(|a| a != ir::Activation::Identity)) {
            return Err(Unsupported(format!("the activation after the head of output '{}'", o.name)));
        }
        let w = Weights(sd);
        let trunks = v.trunks.iter().zip(&model.inputs).map(|(t, i)| trunk_plan(t, i, &w)).collect::<Result<Vec<_>, _>>()?;
        let heads = match &v.heads {
            ir::Heads::Linear { per_trunk, outputs } => HeadsPlan::Linear {
                per_trunk: per_trunk
                    .iter()
                    .map(|hs| {
                        hs.iter()
                            .map(|h| match (&h.stack, &h.head.batchnorm) {
                                (Some(_), _) => Err(Unsupported("fully connected layers of an output's own (an `nfc_layers` list)".into())),
                                (None, Some(_)) => Err(Unsupported("batch norm in the classifier".into())),
                                (None, None) => w.dense(&h.head.key, false),
                            })
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                outputs: outputs.clone(),
            },
            ir::Heads::Mlp { embeddings, activation, combiners } => {
                let gelu = dense_activation(*activation)?;
                HeadsPlan::Mlp {
                    embeddings: embeddings.iter().map(|h| w.dense(&h.key, gelu)).collect::<Result<Vec<_>, _>>()?,
                    combiners: combiners
                        .iter()
                        .map(|c| {
                            let act = dense_activation(c.fc.activation)?;
                            let mut layers = c.fc.keys.iter().map(|k| w.dense(k, act)).collect::<Result<Vec<_>, _>>()?;
                            layers.push(w.dense(&c.head.key, false)?);
                            Ok((c.trunks.clone(), layers))
                        })
                        .collect::<Result<Vec<_>, Unsupported>>()?,
                }
            }
        };
        Ok(ModelPlan { trunks, heads })
    }
}
