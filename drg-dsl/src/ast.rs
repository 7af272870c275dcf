//! The syntax tree of a `drg_model!` declaration, exactly as written.
//!
//! Nothing here is validated beyond what the grammar itself demands: layer names, argument names
//! and types, and every cross-reference are checked later by [`crate::infer`], which needs the
//! spans kept here to point its errors at the user's tokens.

use proc_macro2::Span;
use std::sync::atomic::{AtomicUsize, Ordering};
use syn::{Attribute, Ident, LitBool, LitFloat, LitInt, Visibility};

/// One `drg_model!` invocation: trunk pipelines shared by its models (`let NAME = ..;`), and
/// one or more models.
pub struct Declarations {
    pub pipelines: Vec<PipelineDef>,
    pub models: Vec<ModelDef>,
}

/// `let NAME = layer >> layer ..;`: a chain of layers that trunks of every model of the
/// invocation can name (`trunk dna: NAME;`, or inside a longer chain). Size parameters in it are
/// looked up in the sizes of the model that uses it. Doc comments are accepted and ignored.
pub struct PipelineDef {
    pub name: Ident,
    pub layers: Vec<Call>,
}

/// `[attrs] [vis] struct Name { items }`.
pub struct ModelDef {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub name: Ident,
    /// `sizes { .. }` blocks (more than one is reported as an error later).
    pub sizes: Vec<SizesBlock>,
    pub inputs: Vec<InputDecl>,
    pub trunks: Vec<TrunkDecl>,
    pub outputs: Vec<OutputDecl>,
    /// `loss NAME;` lines (more than one is an error).
    pub losses: Vec<Ident>,
    /// `validation NAME;` lines (more than one is an error).
    pub validations: Vec<Ident>,
}

/// `sizes { variant: name = value, ...; ... }`.
pub struct SizesBlock {
    pub keyword: Ident,
    pub variants: Vec<SizeVariant>,
}

/// One line of a `sizes` block: `demo: len = 2_000, nk = 64;`.
pub struct SizeVariant {
    pub name: Ident,
    pub params: Vec<SizeParam>,
}

/// `nk = 300` inside a size variant.
pub struct SizeParam {
    pub name: Ident,
    pub value: Number,
}

/// A numeric literal of a size variant.
#[derive(Clone)]
pub enum Number {
    Int(LitInt),
    Float(LitFloat),
}

/// `input NAME: kind(args), options;`.
pub struct InputDecl {
    pub attrs: Vec<Attribute>,
    pub name: Ident,
    pub kind: Call,
    /// `reverse_complement` or `reverse_complement = true`.
    pub options: Vec<Arg>,
}

/// `trunk NAME: body;` (doc comments on a trunk are accepted and ignored).
pub struct TrunkDecl {
    pub name: Ident,
    pub body: TrunkBody,
}

pub enum TrunkBody {
    /// `layer >> layer >> ...`.
    Layers(Vec<Call>),
    /// `same as OTHER`: the same architecture as trunk OTHER, with its own weights.
    SameAs { other: Ident },
}

/// `output NAME[WIDTH] = combinator(args), options;` (`NAME[_]`: the width comes from the data).
pub struct OutputDecl {
    pub attrs: Vec<Attribute>,
    pub name: Ident,
    pub width: Value,
    pub combinator: Call,
    /// `head(trunk >> linear(n) >> fc(..))`: the output's own fully connected layers between the
    /// trunk's flat features and its head (the reference's `nfc_layers` as a list); empty for
    /// `head(trunk)`.
    pub stack: Vec<Call>,
    /// `validation = none`.
    pub options: Vec<Arg>,
}

/// `name` or `name(args)`: a layer, an input kind or an output combinator.
#[derive(Clone)]
pub struct Call {
    pub name: Ident,
    pub args: Vec<Arg>,
    /// Which call of the source this is; copies of the call keep it.
    pub site: Site,
}

/// The identity of one layer call as written in the source: given when the call is parsed and
/// kept by every copy of it (a pipeline substituted into several trunks or models, a `same as`
/// trunk's layers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Site(usize);

impl Site {
    /// A site no other call has.
    pub(crate) fn fresh() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        Site(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// One argument of a [`Call`]: positional (`15`) or named (`k = 15`).
#[derive(Clone)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Value,
}

/// An argument value.
#[derive(Clone)]
pub enum Value {
    Int(LitInt),
    Float(LitFloat),
    Bool(LitBool),
    /// A size parameter (`nk`) or a keyword (`none`, `gelu`, `shared`), decided by the argument.
    Ident(Ident),
    /// `[1, 2, 4]`.
    List(Span, Vec<Value>),
    /// `_`: decided at run time; only an output width accepts it (`ex[_]`: as many tracks as
    /// the data's output file has).
    Infer(Span),
}

impl Value {
    pub fn span(&self) -> Span {
        match self {
            Value::Int(l) => l.span(),
            Value::Float(l) => l.span(),
            Value::Bool(l) => l.span,
            Value::Ident(i) => i.span(),
            Value::List(s, _) => *s,
            Value::Infer(s) => *s,
        }
    }

    /// The value as the user wrote it, for error messages.
    pub fn describe(&self) -> String {
        match self {
            Value::Int(l) => l.to_string(),
            Value::Float(l) => l.to_string(),
            Value::Bool(l) => l.value.to_string(),
            Value::Ident(i) => i.to_string(),
            Value::List(_, v) => {
                let items: Vec<String> = v.iter().map(Value::describe).collect();
                format!("[{}]", items.join(", "))
            }
            Value::Infer(_) => "_".to_string(),
        }
    }
}
