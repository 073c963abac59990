//! The attribute's arguments: `#[differentiable]`, `#[differentiable(wrt(x, y))]`,
//! `#[differentiable(crate = "crate")]`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::{Ident, LitStr, Token};

/// Parsed attribute arguments.
#[derive(Clone)]
pub struct Args {
    /// The parameters to differentiate with respect to, as written; `None`
    /// means the default (every parameter whose type can have a gradient).
    pub wrt: Option<Vec<Ident>>,
    /// The path generated code uses for the runtime, `::adjoint` by default.
    pub krate: TokenStream,
    /// `check_finite`: generated code reports the first operation whose value
    /// or gradient is NaN or infinite (off by default; nothing is emitted
    /// then).
    pub check_finite: bool,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            wrt: None,
            krate: quote!(::adjoint),
            check_finite: false,
        }
    }
}

const VALID: &str = "expected `wrt(arg, ...)`, `check_finite` or `crate = \"path\"`";

impl Parse for Args {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut args = Args::default();
        while !input.is_empty() {
            if input.peek(Token![crate]) {
                input.parse::<Token![crate]>()?;
                input.parse::<Token![=]>()?;
                let lit: LitStr = input.parse()?;
                let path: syn::Path = lit.parse().map_err(|_| {
                    syn::Error::new(
                        lit.span(),
                        "`crate = \"…\"` must name a path, like \"::adjoint\"",
                    )
                })?;
                args.krate = quote!(#path);
            } else {
                let key: Ident = input
                    .parse()
                    .map_err(|e| syn::Error::new(e.span(), format!("unknown argument: {VALID}")))?;
                if key == "check_finite" {
                    args.check_finite = true;
                    if !input.is_empty() {
                        input.parse::<Token![,]>()?;
                    }
                    continue;
                }
                if key != "wrt" {
                    return Err(syn::Error::new(
                        key.span(),
                        format!("unknown argument `{key}`: {VALID}"),
                    ));
                }
                if args.wrt.is_some() {
                    return Err(syn::Error::new(key.span(), "`wrt` is given twice"));
                }
                let content;
                syn::parenthesized!(content in input);
                let names = content.parse_terminated(syn::ext::IdentExt::parse_any, Token![,])?;
                if names.is_empty() {
                    return Err(syn::Error::new(
                        key.span(),
                        "`wrt()` names no parameter: list at least one, as in `wrt(x)`",
                    ));
                }
                args.wrt = Some(names.into_iter().collect());
            }
            if !input.is_empty() {
                input.parse::<Token![,]>()?;
            }
        }
        Ok(args)
    }
}
