//! `#[derive(Params)]`: a parameter tree (`adjoint::Params`) whose gradient
//! has its own type, so that `&P` can be differentiated: it implements
//! `Params`, `Differentiable` (tangent `Self`), `AdjointZero`, `+=` and
//! `Accumulate`, each field by field.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::{Data, DeriveInput, Fields};

pub fn derive(input: DeriveInput) -> syn::Result<TokenStream> {
    let mut krate = quote!(::adjoint);
    for attr in &input.attrs {
        if attr.path().is_ident("params") {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("crate") {
                    let lit: syn::LitStr = meta.value()?.parse()?;
                    let path: syn::Path = lit.parse()?;
                    krate = quote!(#path);
                    Ok(())
                } else {
                    Err(meta.error("expected `crate = \"path\"`"))
                }
            })?;
        }
    }
    let rt = quote!(#krate::__private);
    let name = &input.ident;
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "#[derive(Params)] goes on a struct whose fields are tensors, scalars or other parameter trees",
        ));
    };
    // Fields marked `#[params(skip)]` (hyperparameters, flags) are carried
    // along, cloned into gradients, and not walked.
    let skipped = |attrs: &[syn::Attribute]| {
        attrs.iter().any(|a| {
            a.path().is_ident("params") && a.parse_args::<syn::Ident>().is_ok_and(|id| id == "skip")
        })
    };
    let (all, members, labels, first_ty): (
        Vec<TokenStream>,
        Vec<TokenStream>,
        Vec<String>,
        Option<&syn::Type>,
    ) = match &data.fields {
        Fields::Named(f) => {
            let all = f.named.iter().map(|x| {
                let id = x.ident.as_ref().expect("named");
                quote!(#id)
            });
            let kept: Vec<&syn::Field> = f.named.iter().filter(|x| !skipped(&x.attrs)).collect();
            (
                all.collect(),
                kept.iter()
                    .map(|x| {
                        let id = x.ident.as_ref().expect("named");
                        quote!(#id)
                    })
                    .collect(),
                kept.iter()
                    .map(|x| x.ident.as_ref().expect("named").to_string())
                    .collect(),
                kept.first().map(|x| &x.ty),
            )
        }
        Fields::Unnamed(f) => {
            let kept: Vec<(usize, &syn::Field)> = f
                .unnamed
                .iter()
                .enumerate()
                .filter(|(_, x)| !skipped(&x.attrs))
                .collect();
            (
                (0..f.unnamed.len())
                    .map(|i| {
                        let i = syn::Index::from(i);
                        quote!(#i)
                    })
                    .collect(),
                kept.iter()
                    .map(|(i, _)| {
                        let i = syn::Index::from(*i);
                        quote!(#i)
                    })
                    .collect(),
                kept.iter().map(|(i, _)| i.to_string()).collect(),
                kept.first().map(|(_, x)| &x.ty),
            )
        }
        Fields::Unit => (Vec::new(), Vec::new(), Vec::new(), None),
    };
    let Some(first_ty) = first_ty else {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "#[derive(Params)] needs at least one field",
        ));
    };
    let (impl_g, ty_g, where_c) = input.generics.split_for_impl();
    let zero_of = |m: &TokenStream| {
        if members.iter().any(|k| k.to_string() == m.to_string()) {
            quote!(#rt::Params::zeros_like(&self.#m))
        } else {
            quote!(::core::clone::Clone::clone(&self.#m))
        }
    };
    let zeros = match &data.fields {
        Fields::Named(_) => {
            let fields = all.iter().map(|m| {
                let v = zero_of(m);
                quote!(#m: #v)
            });
            quote!(#name { #(#fields,)* })
        }
        _ => {
            let vals = all.iter().map(zero_of);
            quote!(#name(#(#vals,)*))
        }
    };
    let f = format_ident!("__f");
    Ok(quote! {
        impl #impl_g #rt::Params for #name #ty_g #where_c {
            type Elem = <#first_ty as #rt::Params>::Elem;
            fn visit(&self, prefix: &str, #f: &mut dyn FnMut(&str, #rt::Leaf<'_, Self::Elem>)) {
                #(#rt::Params::visit(&self.#members, &#rt::join(prefix, #labels), #f);)*
            }
            fn visit_mut(&mut self, prefix: &str, #f: &mut dyn FnMut(&str, #rt::LeafMut<'_, Self::Elem>)) {
                #(#rt::Params::visit_mut(&mut self.#members, &#rt::join(prefix, #labels), #f);)*
            }
            fn zip_mut(
                &mut self,
                other: &Self,
                prefix: &str,
                #f: &mut #rt::ZipFn<'_, Self::Elem>,
            ) {
                #(#rt::Params::zip_mut(&mut self.#members, &other.#members, &#rt::join(prefix, #labels), #f);)*
            }
            fn zeros_like(&self) -> Self {
                #zeros
            }
        }

        #[diagnostic::do_not_recommend]
        impl #impl_g #rt::Differentiable for #name #ty_g #where_c {
            type Tangent = Self;
            fn zero_tangent(&self) -> Self {
                #rt::Params::zeros_like(self)
            }
        }

        impl #impl_g #rt::AdjointZero for #name #ty_g #where_c {
            type Adj = Self;
            // A parameter tree's zero is made from the tree (its tensors are
            // shared, not copied).
            type Shape = Self;
            fn adjoint_zero(&self) -> Self {
                #rt::Params::zeros_like(self)
            }
            fn zero_shape(&self) -> Self {
                ::core::clone::Clone::clone(self)
            }
        }

        impl #impl_g #rt::ZeroShape for #name #ty_g #where_c {
            type Adj = Self;
            fn zero(&self) -> Self {
                #rt::Params::zeros_like(self)
            }
        }

        impl #impl_g ::core::ops::AddAssign<&#name #ty_g> for #name #ty_g #where_c {
            fn add_assign(&mut self, other: &Self) {
                #rt::Params::add_assign_tree(self, other);
            }
        }

        impl #impl_g ::core::ops::AddAssign<#name #ty_g> for #name #ty_g #where_c {
            fn add_assign(&mut self, other: Self) {
                #rt::Params::add_assign_tree(self, &other);
            }
        }

        #[diagnostic::do_not_recommend]
        impl #impl_g #rt::Accumulate<&#name #ty_g> for #name #ty_g #where_c {
            fn accumulate(&mut self, g: &Self) {
                #rt::Params::add_assign_tree(self, g);
            }
        }

        #[diagnostic::do_not_recommend]
        impl #impl_g #rt::Accumulate<#name #ty_g> for #name #ty_g #where_c {
            fn accumulate(&mut self, g: Self) {
                #rt::Params::add_assign_tree(self, &g);
            }
        }
    })
}
