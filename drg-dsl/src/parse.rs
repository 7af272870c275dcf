//! `syn::Parse` implementations: tokens → [`crate::ast`].
//!
//! The grammar is kept deliberately small (see `docs/dsl.md`): every item starts with a keyword
//! (`sizes`, `input`, `trunk`, `output`, `loss`, `validation`) and ends with `;` (or a brace block
//! for `sizes`). Syntax errors stop parsing (syn reports the first one); everything that is
//! syntactically well-formed but wrong is reported later, all at once, by [`crate::infer`].

use crate::ast::*;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::{braced, bracketed, parenthesized, Attribute, Ident, Lit, Token};

const ITEM_KEYWORDS: &str = "`sizes`, `input`, `trunk`, `output`, `loss` or `validation`";

impl Parse for Declarations {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut decls = Declarations { pipelines: Vec::new(), models: Vec::new() };
        while !input.is_empty() {
            let attrs = input.call(Attribute::parse_outer)?;
            if input.peek(Token![let]) {
                input.parse::<Token![let]>()?;
                let name: Ident = input.parse()?;
                input.parse::<Token![=]>()?;
                let layers = parse_layers(input)?;
                if !input.peek(Token![;]) {
                    return Err(input.error("expected `>>` (next layer) or `;` (end of the pipeline)"));
                }
                input.parse::<Token![;]>()?;
                decls.pipelines.push(PipelineDef { name, layers });
            } else {
                decls.models.push(parse_model(attrs, input)?);
            }
        }
        if decls.models.is_empty() {
            return Err(syn::Error::new(proc_macro2::Span::call_site(), "expected a model: `pub struct Name { .. }`"));
        }
        Ok(decls)
    }
}

impl Parse for ModelDef {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let def = parse_model(attrs, input)?;
        if !input.is_empty() {
            return Err(input.error("unexpected tokens after the model's `struct { .. }`"));
        }
        Ok(def)
    }
}

/// `vis struct Name { items }` after its attributes.
fn parse_model(attrs: Vec<Attribute>, input: ParseStream) -> syn::Result<ModelDef> {
    let vis = input.parse()?;
    input.parse::<Token![struct]>()?;
    let name: Ident = input.parse()?;
    let body;
    braced!(body in input);
    let mut def = ModelDef {
        attrs,
        vis,
        name,
        sizes: Vec::new(),
        inputs: Vec::new(),
        trunks: Vec::new(),
        outputs: Vec::new(),
        losses: Vec::new(),
        validations: Vec::new(),
    };
    while !body.is_empty() {
        let item_attrs = body.call(Attribute::parse_outer)?;
        if !body.peek(Ident::peek_any) {
            return Err(body.error(format!("expected an item: {ITEM_KEYWORDS}")));
        }
        let keyword = body.call(Ident::parse_any)?;
        match keyword.to_string().as_str() {
            "sizes" => def.sizes.push(parse_sizes(keyword, &body)?),
            "input" => def.inputs.push(parse_input(item_attrs, &body)?),
            "trunk" => def.trunks.push(parse_trunk(&body)?),
            "output" => def.outputs.push(parse_output(item_attrs, &body)?),
            "loss" => {
                def.losses.push(body.parse()?);
                body.parse::<Token![;]>()?;
            }
            "validation" => {
                def.validations.push(body.parse()?);
                body.parse::<Token![;]>()?;
            }
            other => return Err(syn::Error::new(keyword.span(), format!("unknown item `{other}`: expected {ITEM_KEYWORDS}"))),
        }
    }
    Ok(def)
}

fn parse_sizes(keyword: Ident, input: ParseStream) -> syn::Result<SizesBlock> {
    let body;
    braced!(body in input);
    let mut variants = Vec::new();
    while !body.is_empty() {
        let name: Ident = body.parse()?;
        body.parse::<Token![:]>()?;
        let mut params = Vec::new();
        loop {
            let pname: Ident = body.parse()?;
            body.parse::<Token![=]>()?;
            let value = match body.parse::<Lit>()? {
                Lit::Int(l) => Number::Int(l),
                Lit::Float(l) => Number::Float(l),
                other => {
                    return Err(syn::Error::new(
                        other.span(),
                        "a size value must be an integer or float literal, e.g. `len = 40_000` or `dim = 1.8`",
                    ))
                }
            };
            params.push(SizeParam { name: pname, value });
            if body.is_empty() {
                break;
            }
            if body.peek(Token![;]) {
                body.parse::<Token![;]>()?;
                break;
            }
            body.parse::<Token![,]>()?;
            if body.is_empty() {
                break;
            }
            if body.peek(Token![;]) {
                body.parse::<Token![;]>()?;
                break;
            }
        }
        variants.push(SizeVariant { name, params });
    }
    Ok(SizesBlock { keyword, variants })
}

fn parse_input(attrs: Vec<Attribute>, input: ParseStream) -> syn::Result<InputDecl> {
    let name: Ident = input.parse()?;
    input.parse::<Token![:]>()?;
    let kind: Call = input.parse()?;
    let options = parse_trailing_options(input)?;
    Ok(InputDecl { attrs, name, kind, options })
}

fn parse_trunk(input: ParseStream) -> syn::Result<TrunkDecl> {
    let name: Ident = input.parse()?;
    input.parse::<Token![:]>()?;
    let body = if input.peek(Ident) && input.peek2(Token![as]) && input.fork().parse::<Ident>()? == "same" {
        input.parse::<Ident>()?;
        input.parse::<Token![as]>()?;
        TrunkBody::SameAs { other: input.parse()? }
    } else {
        TrunkBody::Layers(parse_layers(input)?)
    };
    if !input.peek(Token![;]) {
        return Err(input.error("expected `>>` (next layer) or `;` (end of the trunk)"));
    }
    input.parse::<Token![;]>()?;
    Ok(TrunkDecl { name, body })
}

/// `layer (>> layer)*`.
fn parse_layers(input: ParseStream) -> syn::Result<Vec<Call>> {
    let mut layers = vec![input.parse::<Call>()?];
    while input.peek(Token![>>]) {
        input.parse::<Token![>>]>()?;
        layers.push(input.parse()?);
    }
    Ok(layers)
}

fn parse_output(attrs: Vec<Attribute>, input: ParseStream) -> syn::Result<OutputDecl> {
    let name: Ident = input.parse()?;
    let width_tokens;
    bracketed!(width_tokens in input);
    let width: Value = width_tokens.parse()?;
    if !width_tokens.is_empty() {
        return Err(width_tokens.error("expected a single width, e.g. `ex[88]`, or `ex[_]` for the data's track count"));
    }
    input.parse::<Token![=]>()?;
    let (combinator, stack) = parse_combinator(input)?;
    let options = parse_trailing_options(input)?;
    Ok(OutputDecl { attrs, name, width, combinator, stack, options })
}

/// `name(args)`, where the first argument may continue with the output's own layers:
/// `head(seq >> linear(48) >> fc(2))` gives the call `head(seq)` and the layers.
fn parse_combinator(input: ParseStream) -> syn::Result<(Call, Vec<Call>)> {
    let name: Ident = input.parse()?;
    let mut args = Vec::new();
    let mut stack = Vec::new();
    if input.peek(syn::token::Paren) {
        let inner;
        parenthesized!(inner in input);
        while !inner.is_empty() {
            args.push(inner.parse()?);
            if args.len() == 1 && inner.peek(Token![>>]) {
                while inner.peek(Token![>>]) {
                    inner.parse::<Token![>>]>()?;
                    stack.push(inner.parse()?);
                }
            }
            if inner.is_empty() {
                break;
            }
            inner.parse::<Token![,]>()?;
        }
    }
    Ok((Call { name, args, site: crate::ast::Site::fresh() }, stack))
}

/// `, opt, name = value ... ;` after an input kind or an output combinator.
fn parse_trailing_options(input: ParseStream) -> syn::Result<Vec<Arg>> {
    let mut options = Vec::new();
    while input.peek(Token![,]) {
        input.parse::<Token![,]>()?;
        options.push(input.parse()?);
    }
    if !input.peek(Token![;]) {
        return Err(input.error("expected `,` (another option) or `;` (end of the line)"));
    }
    input.parse::<Token![;]>()?;
    Ok(options)
}

impl Parse for Call {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let name: Ident = input.parse()?;
        let mut args = Vec::new();
        if input.peek(syn::token::Paren) {
            let inner;
            parenthesized!(inner in input);
            while !inner.is_empty() {
                args.push(inner.parse()?);
                if inner.is_empty() {
                    break;
                }
                inner.parse::<Token![,]>()?;
            }
        }
        Ok(Call { name, args, site: crate::ast::Site::fresh() })
    }
}

impl Parse for Arg {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.peek(Ident) && input.peek2(Token![=]) && !input.peek2(Token![==]) {
            let name: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            Ok(Arg { name: Some(name), value: input.parse()? })
        } else {
            Ok(Arg { name: None, value: input.parse()? })
        }
    }
}

impl Parse for Value {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if input.peek(syn::token::Bracket) {
            let inner;
            let bracket = bracketed!(inner in input);
            let items = inner.parse_terminated(Value::parse, Token![,])?;
            return Ok(Value::List(bracket.span.join(), items.into_iter().collect()));
        }
        if input.peek(Lit) {
            return match input.parse::<Lit>()? {
                Lit::Int(l) => Ok(Value::Int(l)),
                Lit::Float(l) => Ok(Value::Float(l)),
                Lit::Bool(l) => Ok(Value::Bool(l)),
                other => Err(syn::Error::new(other.span(), "expected a number, `true`/`false`, a size parameter or a list `[..]`")),
            };
        }
        if input.peek(Ident) {
            return Ok(Value::Ident(input.parse()?));
        }
        if input.peek(Token![_]) {
            return Ok(Value::Infer(input.parse::<Token![_]>()?.span));
        }
        Err(input.error("expected a number, `true`/`false`, a size parameter or a list `[..]`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn parses_every_item_kind_with_spans_and_arguments() {
        let def: ModelDef = syn::parse2(quote! {
            /// docs
            pub struct M {
                sizes { full: len = 40_000, dim = 1.8; demo: len = 100, dim = 1.5, }
                input dna: onehot(4, len), reverse_complement;
                trunk dna: conv(300, k = 15) >> gelu >> dilated(dilations = [1, 2, 4]) >> flatten;
                trunk rna: same as dna;
                output ex[88] = difference(dna, rna, shared), validation = none;
                loss mse;
                validation correlation;
            }
        })
        .unwrap();
        assert_eq!(def.name, "M");
        assert_eq!(def.attrs.len(), 1);
        assert_eq!(def.sizes[0].variants.len(), 2);
        assert_eq!(def.sizes[0].variants[1].params[1].name, "dim");
        assert!(matches!(def.sizes[0].variants[0].params[1].value, Number::Float(_)));
        assert_eq!(def.inputs[0].options.len(), 1);
        let TrunkBody::Layers(layers) = &def.trunks[0].body else { panic!("expected layers") };
        let names: Vec<String> = layers.iter().map(|c| c.name.to_string()).collect();
        assert_eq!(names, ["conv", "gelu", "dilated", "flatten"]);
        assert_eq!(layers[0].args[1].name.as_ref().unwrap(), "k");
        assert_eq!(layers[2].args[0].value.describe(), "[1, 2, 4]");
        assert!(matches!(&def.trunks[1].body, TrunkBody::SameAs { other, .. } if other == "dna"));
        assert_eq!(def.outputs[0].combinator.args.len(), 3);
        assert_eq!(def.outputs[0].options[0].name.as_ref().unwrap(), "validation");
        assert_eq!(def.losses[0], "mse");
        assert_eq!(def.validations[0], "correlation");
    }

    #[test]
    fn reports_syntax_errors_with_a_hint() {
        let err = syn::parse2::<ModelDef>(quote! { struct M { layer x; } }).err().unwrap();
        assert!(err.to_string().contains("unknown item `layer`"), "{err}");
        let err = syn::parse2::<ModelDef>(quote! { struct M { trunk t: conv(1, 2) gelu; } }).err().unwrap();
        assert!(err.to_string().contains("expected `>>`"), "{err}");
        let err = syn::parse2::<ModelDef>(quote! { struct M { sizes { a: len = "x"; } } }).err().unwrap();
        assert!(err.to_string().contains("integer or float literal"), "{err}");
    }
}
