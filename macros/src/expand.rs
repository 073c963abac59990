//! The pipeline for one function — check, lower, analyze, validate, emit — and
//! the three items it produces: the function as written, `<name>_vjp` and
//! `<name>_grad`.

use crate::activity;
use crate::args::Args;
use crate::check;
use crate::error::Errors;
use crate::forward::Emitter;
use crate::ir::*;
use crate::lower::Lowerer;
use crate::signature::{self, Class, Output};
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

/// One function with its signature parts (a free function or a method).
pub struct Func<'a> {
    pub vis: &'a syn::Visibility,
    pub sig: &'a syn::Signature,
    pub block: &'a syn::Block,
}

/// The generated `_vjp` and `_grad` for one function.
pub fn expand_fn(f: &Func, args: &Args) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    let sig = f.sig;
    for (tok, what) in [
        (sig.asyncness.map(|t| t.span()), "`async fn`"),
        (sig.unsafety.map(|t| t.span()), "`unsafe fn`"),
        (sig.constness.map(|t| t.span()), "`const fn`"),
    ] {
        if let Some(span) = tok {
            errors.push_span(span, format!("{what} cannot be #[differentiable]: remove the keyword or write a separate function"));
        }
    }
    if let Some(v) = &sig.variadic {
        errors.push(v, "variadic functions cannot be #[differentiable]");
    }
    let output = match signature::output(&sig.output) {
        Ok(o) => Some(o),
        Err(e) => {
            let span = match &sig.output {
                syn::ReturnType::Default => sig.ident.span(),
                _ => e.span(),
            };
            errors.push_span(span, e);
            None
        }
    };
    check::check_body(f.block, &mut errors);

    let mut lower = Lowerer::new(&mut errors);
    let mut receiver = None;
    let mut params = Vec::new();
    for input in &sig.inputs {
        match input {
            syn::FnArg::Receiver(r) => {
                if r.mutability.is_some() && r.reference.is_some() {
                    lower.errors.push(r, "`&mut self` methods cannot be #[differentiable]: take `&self` and return the new value");
                }
                receiver = Some(r);
                // `self` is a parameter like the others (differentiated only
                // when named in `wrt(self, ..)`), emitted as the receiver.
                let ident = syn::Ident::new("self", r.self_token.span);
                let var = lower.param_var(&ident, Kind::Scalar, false);
                params.push(Param {
                    var,
                    ident,
                    ty: syn::parse_quote!(Self),
                    tangent: None,
                    is_self: true,
                });
            }
            syn::FnArg::Typed(t) => {
                let ident = match &*t.pat {
                    syn::Pat::Ident(p) if p.subpat.is_none() && p.by_ref.is_none() => {
                        p.ident.clone()
                    }
                    other => {
                        lower.errors.push(other, "parameters of a #[differentiable] function must be plain names (`x: f64`)");
                        continue;
                    }
                };
                if let syn::Type::Reference(r) = &*t.ty
                    && let Some(m) = r.mutability
                {
                    lower.errors.push(
                        m,
                        format!("`&mut` parameters are not supported: `{ident}` would be written through a reference, which adjoint cannot differentiate; take it by value or `&` and return the result"),
                    );
                }
                let kind = match signature::classify(&t.ty) {
                    Class::Container { .. } => Kind::Container,
                    _ => Kind::Scalar,
                };
                let numeric = match signature::classify(&t.ty) {
                    Class::Float(_) | Class::Container { .. } => true,
                    Class::Other => signature::is_tensor(&t.ty),
                    Class::NonDiff => false,
                };
                let var = lower.param_var(&ident, kind, numeric);
                lower.prog.vars[var.0].by_ref = matches!(&*t.ty, syn::Type::Reference(_));
                params.push(Param {
                    var,
                    ident,
                    ty: (*t.ty).clone(),
                    tangent: None,
                    is_self: false,
                });
            }
        }
    }
    // Which parameters are differentiated.
    match &args.wrt {
        Some(names) => {
            for name in names {
                match params.iter_mut().find(|p| p.ident == *name) {
                    Some(p) => p.tangent = Some(signature::tangent_type(&p.ty, &args.krate)),
                    None => {
                        let list = params
                            .iter()
                            .map(|p| format!("`{}`", p.ident))
                            .collect::<Vec<_>>()
                            .join(", ");
                        lower.errors.push(name, format!("`{name}` is not a parameter of this function; its parameters are {list}"));
                    }
                }
            }
        }
        None => {
            for p in params.iter_mut().filter(|p| !p.is_self) {
                if !matches!(signature::classify(&p.ty), Class::NonDiff) {
                    p.tangent = Some(signature::tangent_type(&p.ty, &args.krate));
                }
            }
        }
    }
    if params.iter().all(|p| p.tangent.is_none()) && lower.errors.is_empty() {
        lower.errors.push_span(
            sig.ident.span(),
            "this function has no parameter to differentiate: integer, bool, char and str parameters have no gradient",
        );
    }
    lower.lower_body(f.block);
    let Lowerer { mut prog, .. } = lower;
    prog.params = params;
    let Some(output) = output else {
        return errors.finish().map(|_| TokenStream::new());
    };
    if prog.body.yields.len() != output.leaves() && errors.is_empty() {
        errors.push_span(
            f.block.span(),
            "the value of this body does not have the shape of the return type",
        );
    }
    if !errors.is_empty() {
        return errors.finish().map(|_| TokenStream::new());
    }

    let wrt: Vec<Var> = prog
        .params
        .iter()
        .filter(|p| p.tangent.is_some())
        .map(|p| p.var)
        .collect();
    let act = activity::analyze(&prog, &wrt);
    crate::validate::validate(&prog, &act, &mut errors);
    if !errors.is_empty() {
        return errors.finish().map(|_| TokenStream::new());
    }

    let rt = {
        let k = &args.krate;
        quote!(#k::__private)
    };
    let mut refs = Default::default();
    crate::forward::collect_refs(&prog.body, &mut refs);
    let em = Emitter {
        prog: &prog,
        act: &act,
        rt,
        adj_override: Default::default(),
        refs,
        places: crate::forward::collect_places(
            &prog,
            receiver.is_some_and(|r| r.reference.is_some()),
        ),
        top: activity::top_defs(&prog.body),
        check: args.check_finite,
        span_now: std::cell::Cell::new(Span::call_site()),
    };
    Ok(emit_functions(f, &em, &output, receiver))
}

/// Does the reverse sweep always add something into `v`'s adjoint? True when
/// an active operation of the body's top level (run unconditionally) reads it.
fn surely_contributed(prog: &Program, act: &activity::Activity, v: Var) -> bool {
    prog.body.stmts.iter().any(|s| match s {
        Stmt::Let { var, op, outs, .. } => {
            activity::defined(*var, outs).iter().any(|d| act.active(*d))
                && activity::flow_sources(op)
                    .iter()
                    .any(|o| o.var() == Some(v))
        }
        _ => false,
    })
}

/// Leaves of a value of type `out` as expressions: `(a, (b, c))` from `[a, b, c]`.
fn rebuild(out: &Output, leaves: &mut impl Iterator<Item = TokenStream>) -> TokenStream {
    match out {
        Output::Float | Output::Value => leaves.next().unwrap_or_else(|| quote!(())),
        Output::Tuple(items) => {
            let inner: Vec<TokenStream> = items.iter().map(|i| rebuild(i, leaves)).collect();
            quote!((#(#inner,)*))
        }
    }
}

fn emit_functions(
    f: &Func,
    em: &Emitter,
    output: &Output,
    receiver: Option<&syn::Receiver>,
) -> TokenStream {
    let prog = em.prog;
    let sig = f.sig;
    let vis = f.vis;
    let name = &sig.ident;
    let span = name.span();
    let vjp_name = format_ident!("{}_vjp", name, span = span);
    let grad_name = format_ident!("{}_grad", name, span = span);
    let where_clause = &sig.generics.where_clause;
    let generics = &sig.generics;
    let ret = match &sig.output {
        syn::ReturnType::Type(_, t) => quote!(#t),
        syn::ReturnType::Default => quote!(()),
    };
    let self_param = receiver.map(|r| quote!(#r,));
    let params: Vec<TokenStream> = em
        .prog
        .params
        .iter()
        .filter(|p| !p.is_self)
        .map(|p| {
            let (id, ty) = (&p.ident, &p.ty);
            quote!(#id: #ty)
        })
        .collect();
    let arg_names: Vec<&syn::Ident> = em
        .prog
        .params
        .iter()
        .filter(|p| !p.is_self)
        .map(|p| &p.ident)
        .collect();
    let tangents: Vec<TokenStream> = em
        .prog
        .params
        .iter()
        .map(|p| p.tangent.clone().unwrap_or_else(|| quote!(())))
        .collect();

    // The forward sweep and the value.
    let forward = em.body(&prog.body);
    // `f` itself counts as used when only `f_grad` is called (no dead-code
    // warning on the function a user wrote).
    let type_args: Vec<TokenStream> = sig
        .generics
        .params
        .iter()
        .filter_map(|g| match g {
            syn::GenericParam::Type(t) => {
                let id = &t.ident;
                Some(quote!(#id))
            }
            syn::GenericParam::Const(c) => {
                let id = &c.ident;
                Some(quote!(#id))
            }
            syn::GenericParam::Lifetime(_) => None,
        })
        .collect();
    let turbofish = if type_args.is_empty() {
        quote!()
    } else {
        quote!(::<#(#type_args),*>)
    };
    let itself = match receiver {
        Some(_) => quote!(let _ = Self::#name #turbofish;),
        None => quote!(let _ = #name #turbofish;),
    };
    let value = {
        // The pullback may still read the output values: return copies (a
        // tensor's clone shares its buffer).
        let leaves: Vec<TokenStream> = em
            .prog
            .body
            .yields
            .iter()
            .map(|y| match y {
                Operand::Var(_) => {
                    let v = em.operand(y);
                    quote!(::core::clone::Clone::clone(&#v))
                }
                Operand::Const(c) => c.clone(),
            })
            .collect();
        rebuild(output, &mut leaves.into_iter())
    };
    // The pullback.
    let ct_names: Vec<syn::Ident> = (0..output.leaves())
        .map(|k| syn::Ident::new(&format!("__ct{k}"), Span::mixed_site()))
        .collect();
    let ct_pattern = rebuild(output, &mut ct_names.iter().map(|c| quote!(#c)));
    let seeds: Vec<(Operand, TokenStream)> = em
        .prog
        .body
        .yields
        .iter()
        .cloned()
        .zip(ct_names.iter().map(|c| quote!(#c)))
        .collect();
    let param_decls: Vec<TokenStream> = em
        .prog
        .params
        .iter()
        .filter(|p| p.tangent.is_some())
        .map(|p| {
            let d = em.adj(p.var);
            let id = &p.ident;
            let rt = &em.rt;
            if matches!(signature::classify(&p.ty), Class::Float(_))
                && surely_contributed(prog, em.act, p.var)
            {
                // Some contribution always arrives: start at -0.0, the identity
                // of `+`, so that the first one folds away. (A parameter that may
                // receive none starts at +0.0, so that its gradient prints as 0.)
                let ty = p.tangent.as_ref().expect("filtered to wrt parameters");
                quote!(let mut #d: #ty = -0.0;)
            } else {
                quote!(let mut #d = #rt::zero_tangent(&#id);)
            }
        })
        .collect();
    let reverse = em.reverse_body(&prog.body, &seeds);
    let grads: Vec<TokenStream> = em
        .prog
        .params
        .iter()
        .map(|p| {
            if p.tangent.is_some() {
                let d = em.adj(p.var);
                quote!(#d)
            } else {
                quote!(())
            }
        })
        .collect();

    let allow = quote! {
        #[allow(dead_code, unused_variables, unused_mut, unused_parens, unused_braces, unused_assignments, non_snake_case, clippy::all)]
    };
    // A method's doc links through `Self::`, or rustdoc finds no `{name}`.
    let link = match receiver {
        Some(_) => format!("Self::{name}"),
        None => name.to_string(),
    };
    let doc_vjp = format!(
        " The value of [`{link}`] and its pullback: a closure from the output's cotangent to one gradient per parameter (`()` for a parameter that is not differentiated). Generated by `#[differentiable]`."
    );
    let vjp = quote_spanned! {span=>
        #[doc = #doc_vjp]
        #[inline]
        #allow
        #vis fn #vjp_name #generics (#self_param #(#params),*) -> (#ret, impl ::core::ops::FnOnce(#ret) -> (#(#tangents,)*)) #where_clause {
            #itself
            #forward
            (#value, #[inline] move |__ct: #ret| {
                let #ct_pattern = __ct;
                #(#param_decls)*
                #reverse
                (#(#grads,)*)
            })
        }
    };
    // `_grad` for scalar outputs.
    let grad = if let Output::Float = output {
        let wrt_idx: Vec<syn::Index> = em
            .prog
            .params
            .iter()
            .enumerate()
            .filter(|(_, p)| p.tangent.is_some())
            .map(|(k, _)| syn::Index::from(k))
            .collect();
        let wrt_tys: Vec<&TokenStream> = em
            .prog
            .params
            .iter()
            .filter_map(|p| p.tangent.as_ref())
            .collect();
        let (grad_ty, grad_val) = if wrt_idx.len() == 1 {
            let (t, i) = (wrt_tys[0], &wrt_idx[0]);
            (quote!(#t), quote!(__grads.#i))
        } else {
            (quote!((#(#wrt_tys),*)), quote!((#(__grads.#wrt_idx),*)))
        };
        let call = match receiver {
            Some(_) => quote!(self.#vjp_name(#(#arg_names),*)),
            None => quote!(#vjp_name(#(#arg_names),*)),
        };
        let doc_grad = format!(
            " The value of [`{link}`] and its gradient with respect to its differentiated parameters (one gradient alone, several as a tuple). Generated by `#[differentiable]`."
        );
        quote_spanned! {span=>
            #[doc = #doc_grad]
            #[inline]
            #allow
            #vis fn #grad_name #generics (#self_param #(#params),*) -> (#ret, #grad_ty) #where_clause {
                let (__value, __pullback) = #call;
                let __grads = __pullback(1.0);
                (__value, #grad_val)
            }
        }
    } else {
        TokenStream::new()
    };
    quote!(#vjp #grad)
}
