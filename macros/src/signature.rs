//! What the function's parameter and return types mean for gradients: which
//! parameters are differentiated by default, the type of each gradient, and the
//! shape of the output.

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::Type;

/// How a type takes part in differentiation.
pub enum Class {
    /// `f32`, `f64` (or a reference to one): its own gradient type.
    Float(TokenStream),
    /// A slice, `Vec` or array of floats (or a reference to one).
    Container { tangent: TokenStream },
    /// An integer, `bool`, `char`, `str`, or a slice, array or reference of them.
    NonDiff,
    /// Anything else: differentiable if it implements `Differentiable`.
    Other,
}

fn is_ident(ty: &Type, names: &[&str]) -> Option<String> {
    if let Type::Path(p) = ty
        && p.qself.is_none()
        && let Some(id) = p.path.get_ident()
    {
        let s = id.to_string();
        if names.contains(&s.as_str()) {
            return Some(s);
        }
    }
    None
}

const FLOATS: &[&str] = &["f32", "f64"];
const NON_DIFF: &[&str] = &[
    "i8", "i16", "i32", "i64", "i128", "isize", "u8", "u16", "u32", "u64", "u128", "usize", "bool",
    "char", "str", "String",
];

/// Classifies a type (see [`Class`]).
pub fn classify(ty: &Type) -> Class {
    match ty {
        Type::Paren(p) => classify(&p.elem),
        Type::Group(g) => classify(&g.elem),
        Type::Reference(r) => classify(&r.elem),
        Type::Slice(s) => container(&s.elem, |t| quote!(::std::vec::Vec<#t>)),
        Type::Array(a) => {
            let len = &a.len;
            container(&a.elem, |t| quote!([#t; #len]))
        }
        _ => {
            if let Some(f) = is_ident(ty, FLOATS) {
                let id = syn::Ident::new(&f, proc_macro2::Span::call_site());
                Class::Float(quote!(#id))
            } else if is_ident(ty, NON_DIFF).is_some() {
                Class::NonDiff
            } else if let Some(elem) = vec_elem(ty) {
                container(elem, |t| quote!(::std::vec::Vec<#t>))
            } else {
                Class::Other
            }
        }
    }
}

fn container(elem: &Type, tangent: impl Fn(TokenStream) -> TokenStream) -> Class {
    match classify(elem) {
        Class::Float(t) => Class::Container {
            tangent: tangent(t),
        },
        Class::NonDiff => Class::NonDiff,
        _ => Class::Other,
    }
}

/// `T` of `Vec<T>`.
fn vec_elem(ty: &Type) -> Option<&Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "Vec" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        syn::GenericArgument::Type(t) => Some(t),
        _ => None,
    }
}

/// The gradient type of a differentiated parameter of type `ty`.
pub fn tangent_type(ty: &Type, krate: &TokenStream) -> TokenStream {
    match classify(ty) {
        Class::Float(t) => t,
        Class::Container { tangent } => tangent,
        Class::NonDiff | Class::Other => {
            let inner = strip_refs(ty);
            quote!(<#inner as #krate::__private::Differentiable>::Tangent)
        }
    }
}

fn strip_refs(ty: &Type) -> &Type {
    match ty {
        Type::Reference(r) => strip_refs(&r.elem),
        Type::Paren(p) => strip_refs(&p.elem),
        _ => ty,
    }
}

/// The shape of a differentiable output: a float, or a tuple of outputs.
#[derive(Clone)]
pub enum Output {
    Float,
    /// A tensor or another differentiable value: `_vjp` only, its cotangent
    /// has its type.
    Value,
    Tuple(Vec<Output>),
}

impl Output {
    /// The number of float leaves.
    pub fn leaves(&self) -> usize {
        match self {
            Output::Float | Output::Value => 1,
            Output::Tuple(items) => items.iter().map(Output::leaves).sum(),
        }
    }
}

/// Reads the return type as an [`Output`], or says why it has no derivative.
pub fn output(ty: &syn::ReturnType) -> Result<Output, syn::Error> {
    match ty {
        syn::ReturnType::Default => Err(syn::Error::new(
            proc_macro2::Span::call_site(),
            "a #[differentiable] function must return a value to differentiate: add a return type such as `-> f64`",
        )),
        syn::ReturnType::Type(_, ty) => output_of(ty),
    }
}

fn output_of(ty: &Type) -> Result<Output, syn::Error> {
    match ty {
        Type::Paren(p) => output_of(&p.elem),
        Type::Tuple(t) if !t.elems.is_empty() => Ok(Output::Tuple(
            t.elems.iter().map(output_of).collect::<Result<_, _>>()?,
        )),
        _ => match classify(ty) {
            Class::Float(_) if !matches!(ty, Type::Reference(_)) => Ok(Output::Float),
            Class::NonDiff => Err(syn::Error::new_spanned(
                ty,
                format!(
                    "the output type `{}` has no derivative: a #[differentiable] function returns f32, f64 or a tuple of them",
                    ty.to_token_stream()
                ),
            )),
            Class::Other
                if !matches!(ty, Type::Reference(_) | Type::Ptr(_) | Type::ImplTrait(_)) =>
            {
                Ok(Output::Value)
            }
            _ => Err(syn::Error::new_spanned(
                ty,
                format!(
                    "adjoint cannot differentiate an output of type `{}`: return an owned value (f32, f64, a tensor, a tuple of them)",
                    ty.to_token_stream()
                ),
            )),
        },
    }
}

/// Is `ty` adjoint's `Tensor` (or a reference to one)? Its methods without a
/// rule are refused like a float's.
pub fn is_tensor(ty: &Type) -> bool {
    match strip_refs(ty) {
        Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "Tensor"),
        _ => false,
    }
}
