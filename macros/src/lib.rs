//! The `#[differentiable]` attribute: a small compiler from a Rust function to
//! its reverse-mode derivative, in visible stages:
//!
//! 1. `args`: the attribute's arguments (`wrt(..)`, `crate = ".."`).
//! 2. `check`: constructs refused anywhere (closures, `unsafe`, `loop`, ...).
//! 3. `lower` / `lower_expr`: the body into the SSA program of `ir`.
//! 4. `activity`: which values get adjoints and which the reverse sweep reads.
//! 5. `validate`: refusals that need the analysis (a method with no rule).
//! 6. `forward` / `reverse`: tokens for the forward and reverse sweeps, with
//!    the derivative formulas of `rules`.
//! 7. `expand`: the generated `_vjp` and `_grad` functions.
//!
//! Users read the documentation of `adjoint::differentiable`.

mod activity;
mod args;
mod callees;
mod check;
#[cfg(test)]
mod corpus;
mod error;
mod expand;
mod forward;
mod fusion;
mod ir;
mod lower;
mod lower_expr;
mod params;
mod reverse;
mod rules;
mod signature;
#[cfg(test)]
mod snapshots;
mod validate;

use proc_macro::TokenStream;
use quote::quote;

/// Generates the reverse-mode derivative of a function at compile time.
///
/// On `fn f(x: f64, y: f64) -> f64` it keeps `f` and adds:
///
/// ```text
/// fn f_grad(x: f64, y: f64) -> (f64, (f64, f64))
/// fn f_vjp(x: f64, y: f64) -> (f64, impl FnOnce(f64) -> (f64, f64))
/// ```
///
/// - `f_grad` returns the value and the gradient with respect to the
///   differentiated (*wrt*) parameters, in parameter order: the gradient alone
///   for one, a tuple for several. It exists when the output is `f32` or `f64`.
/// - `f_vjp` returns the value and its *pullback*: a closure taking the
///   output's cotangent (same type as the output) and returning a tuple with one
///   entry per parameter, a method's `self` first: the gradient for a wrt
///   parameter, `()` for the others. Other `#[differentiable]` functions call it.
///   Outputs may be floats, tuples of them, tensors or other differentiable
///   values; `f_grad` exists for `f32`/`f64` outputs.
/// - Gradient types: `f32`/`f64` → the same type; `&[T]`, `Vec<T>`, `&Vec<T>`
///   → `Vec<T>`; `[T; N]`, `&[T; N]` → `[T; N]`.
/// - By default every parameter is differentiated except integers, `bool`,
///   `char`, `str`, `String` and slices, arrays and references of them, and a
///   method's `self`; `#[differentiable(wrt(x, y))]` names them instead
///   (`wrt(self, x)` for a layer's forward method).
/// - On an `impl` block, every method (with `self`) whose output can be
///   differentiated gets its companions as methods; associated functions
///   without `self` (constructors) are left alone. A method in such a block may
///   carry its own `#[differentiable(wrt(..))]`.
/// - `#[differentiable(crate = "crate")]` changes the path generated code uses
///   for the runtime (`::adjoint` by default).
///
/// The README lists the supported and refused constructs.
#[proc_macro_attribute]
pub fn differentiable(attr: TokenStream, item: TokenStream) -> TokenStream {
    let attr2: proc_macro2::TokenStream = attr.into();
    let item2: proc_macro2::TokenStream = item.into();
    // A bug in the compiler must not crash rustc's macro expansion: it becomes
    // a spanned error, with the user's item left intact.
    let result = std::panic::catch_unwind(|| expand_attribute(attr2, item2.clone()));
    match result {
        Ok(tokens) => tokens.into(),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            let err = syn::Error::new(
                proc_macro2::Span::call_site(),
                format!(
                    "internal error in #[differentiable] ({msg}): please report it with this function"
                ),
            );
            with_errors(item2, err).into()
        }
    }
}

fn expand_attribute(
    attr: proc_macro2::TokenStream,
    item2: proc_macro2::TokenStream,
) -> proc_macro2::TokenStream {
    let item: proc_macro2::TokenStream = item2.clone();
    let args = match syn::parse2::<args::Args>(attr) {
        Ok(a) => a,
        Err(e) => return with_errors(item2, e),
    };
    if let Ok(imp) = syn::parse2::<syn::ItemImpl>(item.clone()) {
        return expand_impl(imp, &args);
    }
    match syn::parse2::<syn::ItemFn>(item) {
        Ok(f) => {
            let func = expand::Func {
                vis: &f.vis,
                sig: &f.sig,
                block: &f.block,
            };
            match expand::expand_fn(&func, &args) {
                Ok(generated) => quote!(#f #generated),
                Err(e) => with_errors(quote!(#f), e),
            }
        }
        Err(e) => with_errors(
            item2,
            syn::Error::new(
                e.span(),
                "#[differentiable] goes on a function, a method, or an `impl` block",
            ),
        ),
    }
}

/// Makes a struct a parameter tree that can be differentiated: its fields are
/// tensors, `f32`/`f64` scalars, other `#[derive(Params)]` structs, or `Vec`s
/// and arrays of them. Implements `adjoint::Params` (walking the leaves by
/// dotted names, zeros-like, adding, scaling, counting) and makes the struct
/// its own gradient type, so `#[differentiable] fn loss(p: &Mlp, ..)` gives a
/// gradient that is an `Mlp`. `#[params(crate = "…")]` changes the runtime path.
#[proc_macro_derive(Params, attributes(params))]
pub fn derive_params(item: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(item as syn::DeriveInput);
    params::derive(input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// The user's item unchanged, plus the errors: one mistake is reported once,
/// not again at every use of the function.
fn with_errors(item: proc_macro2::TokenStream, err: syn::Error) -> proc_macro2::TokenStream {
    let errors = error::to_compile_errors(err);
    quote!(#item #errors)
}

/// `#[differentiable]` on an `impl` block: every method with a differentiable
/// output gets its companions.
fn expand_impl(mut imp: syn::ItemImpl, args: &args::Args) -> proc_macro2::TokenStream {
    let mut generated = Vec::new();
    let mut errors: Option<syn::Error> = None;
    for item in &mut imp.items {
        let syn::ImplItem::Fn(m) = item else { continue };
        let mut own_args = args.clone();
        let mut own = false;
        let mut keep = Vec::new();
        for attr in m.attrs.drain(..) {
            if attr.path().is_ident("differentiable") {
                own = true;
                if let syn::Meta::List(list) = &attr.meta {
                    match syn::parse2::<args::Args>(list.tokens.clone()) {
                        Ok(a) => {
                            own_args = a;
                            if own_args.krate.to_string() == quote!(::adjoint).to_string() {
                                own_args.krate = args.krate.clone();
                            }
                        }
                        Err(e) => merge(&mut errors, e),
                    }
                }
            } else {
                keep.push(attr);
            }
        }
        m.attrs = keep;
        let has_receiver = matches!(m.sig.inputs.first(), Some(syn::FnArg::Receiver(_)));
        if !own && (!has_receiver || signature::output(&m.sig.output).is_err()) {
            // Constructors and other associated functions, accessors with
            // outputs that have no derivative: left alone.
            continue;
        }
        let func = expand::Func {
            vis: &m.vis,
            sig: &m.sig,
            block: &m.block,
        };
        match expand::expand_fn(&func, &own_args) {
            Ok(g) => generated.push(g),
            Err(e) => merge(&mut errors, e),
        }
    }
    for g in generated {
        imp.items.push(syn::ImplItem::Verbatim(g));
    }
    let errors = errors.map(error::to_compile_errors);
    quote!(#imp #errors)
}

fn merge(acc: &mut Option<syn::Error>, e: syn::Error) {
    match acc {
        Some(a) => a.combine(e),
        None => *acc = Some(e),
    }
}
