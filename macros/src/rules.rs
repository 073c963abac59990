//! The derivative rules: one table for every operation the compiler can
//! differentiate. Each entry gives, for an operation `y = op(a, b, …)`, the
//! partial derivative `∂y/∂operand` of each differentiable operand as an
//! expression in the operands and `y`; the reverse sweep adds `dy · ∂y/∂a` into
//! `a`'s adjoint. Helpers with branches (ties, zeros) live in the runtime's
//! `scalar` module, named `<method>_d`.

use proc_macro2::TokenStream;
use quote::quote;

/// Float methods with a derivative rule, and which of their operands (the
/// receiver first) are differentiated. `powi`'s exponent is an integer.
pub const METHODS: &[(&str, &[bool])] = &[
    ("exp", &[true]),
    ("exp2", &[true]),
    ("exp_m1", &[true]),
    ("ln", &[true]),
    ("ln_1p", &[true]),
    ("log", &[true, true]),
    ("log2", &[true]),
    ("log10", &[true]),
    ("sqrt", &[true]),
    ("cbrt", &[true]),
    ("powi", &[true, false]),
    ("powf", &[true, true]),
    ("recip", &[true]),
    ("sin", &[true]),
    ("cos", &[true]),
    ("tan", &[true]),
    ("asin", &[true]),
    ("acos", &[true]),
    ("atan", &[true]),
    ("atan2", &[true, true]),
    ("sinh", &[true]),
    ("cosh", &[true]),
    ("tanh", &[true]),
    ("asinh", &[true]),
    ("acosh", &[true]),
    ("atanh", &[true]),
    ("abs", &[true]),
    ("max", &[true, true]),
    ("min", &[true, true]),
    ("clamp", &[true, true, true]),
    ("hypot", &[true, true]),
    ("mul_add", &[true, true, true]),
    ("fract", &[true]),
];

/// Methods whose result carries no gradient: tests, lengths, and the
/// piecewise-constant roundings (derivative 0 almost everywhere, as in JAX).
pub const NON_DIFF_METHODS: &[&str] = &[
    "len",
    "is_empty",
    "is_nan",
    "is_finite",
    "is_infinite",
    "is_normal",
    "is_subnormal",
    "is_sign_positive",
    "is_sign_negative",
    "signum",
    "floor",
    "ceil",
    "round",
    "round_ties_even",
    "trunc",
    "to_bits",
    "total_cmp",
    "partial_cmp",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
];

/// The differentiated-operand mask of a method with a rule.
pub fn method_mask(name: &str) -> Option<&'static [bool]> {
    METHODS.iter().find(|(n, _)| *n == name).map(|(_, m)| *m)
}

pub fn is_non_diff_method(name: &str) -> bool {
    NON_DIFF_METHODS.contains(&name)
}

/// `∂y/∂operand` for each operand of `y = ops[0].name(ops[1..])`; `None` for
/// operands with no gradient. `s` is the path of the runtime's `scalar` module.
pub fn method_partials(
    name: &str,
    ops: &[TokenStream],
    y: &TokenStream,
    s: &TokenStream,
) -> Vec<Option<TokenStream>> {
    let a = &ops[0];
    let b = ops.get(1);
    let c = ops.get(2);
    let one = |t: TokenStream| vec![Some(t)];
    match name {
        "exp" => one(quote!(#y)),
        "exp2" => one(quote!(#y * #s::ln2(#y))),
        "exp_m1" => one(quote!(#y + 1.0)),
        "ln" => one(quote!(#a.recip())),
        "ln_1p" => one(quote!((#a + 1.0).recip())),
        "log" => {
            // y = ln a / ln b
            vec![
                Some(quote!((#a * #b.ln()).recip())),
                Some(quote!(-#y / (#b * #b.ln()))),
            ]
        }
        "log2" => one(quote!((#a * #s::ln2(#a)).recip())),
        "log10" => one(quote!((#a * #s::ln10(#a)).recip())),
        "sqrt" => one(quote!(0.5 / #y)),
        "cbrt" => one(quote!(#y / (3.0 * #a))),
        "powi" => vec![Some(quote!(#s::powi_d(#a, #b))), None],
        "powf" => vec![
            Some(quote!(#s::powf_dx(#a, #b))),
            Some(quote!(#s::powf_de(#a, #y))),
        ],
        "recip" => one(quote!(-(#y * #y))),
        "sin" => one(quote!(#a.cos())),
        "cos" => one(quote!(-#a.sin())),
        "tan" => one(quote!(1.0 + #y * #y)),
        "asin" => one(quote!((1.0 - #a * #a).sqrt().recip())),
        "acos" => one(quote!(-(1.0 - #a * #a).sqrt().recip())),
        "atan" => one(quote!((1.0 + #a * #a).recip())),
        // y = atan(a / b)
        "atan2" => vec![
            Some(quote!(#b / (#a * #a + #b * #b))),
            Some(quote!(-#a / (#a * #a + #b * #b))),
        ],
        "sinh" => one(quote!(#a.cosh())),
        "cosh" => one(quote!(#a.sinh())),
        "tanh" => one(quote!(1.0 - #y * #y)),
        "asinh" => one(quote!((#a * #a + 1.0).sqrt().recip())),
        "acosh" => one(quote!((#a * #a - 1.0).sqrt().recip())),
        "atanh" => one(quote!((1.0 - #a * #a).recip())),
        "abs" => one(quote!(#s::abs_d(#a))),
        "max" => vec![
            Some(quote!(#s::max_d(#a, #b).0)),
            Some(quote!(#s::max_d(#a, #b).1)),
        ],
        "min" => vec![
            Some(quote!(#s::min_d(#a, #b).0)),
            Some(quote!(#s::min_d(#a, #b).1)),
        ],
        "clamp" => vec![
            Some(quote!(#s::clamp_d(#a, #b, #c).0)),
            Some(quote!(#s::clamp_d(#a, #b, #c).1)),
            Some(quote!(#s::clamp_d(#a, #b, #c).2)),
        ],
        "hypot" => vec![
            Some(quote!(#s::hypot_d(#a, #b, #y).0)),
            Some(quote!(#s::hypot_d(#a, #b, #y).1)),
        ],
        // y = a·b + c
        "mul_add" => vec![Some(quote!(#b)), Some(quote!(#a)), Some(quote!(1.0))],
        "fract" => one(quote!(1.0)),
        _ => Vec::new(),
    }
}

/// Contributions `(to lhs, to rhs)` of `y = lhs op rhs` given its adjoint `dy`.
pub fn binary_contributions(
    op: crate::ir::BinOp,
    a: &TokenStream,
    b: &TokenStream,
    y: &TokenStream,
    dy: &TokenStream,
    s: &TokenStream,
) -> (TokenStream, TokenStream) {
    use crate::ir::BinOp::*;
    match op {
        Add => (quote!(#dy), quote!(#dy)),
        Sub => (quote!(#dy), quote!(-#dy)),
        Mul => (quote!(#dy * #b), quote!(#dy * #a)),
        // y = a / b: dy/da = 1/b, dy/db = -a/b² = -y/b. Both contributions
        // divide `dy` by `b`, so the optimizer does that division once.
        Div => (quote!(#dy / #b), quote!(-((#dy / #b) * #y))),
        // y = a - trunc(a/b)·b
        Rem => (quote!(#dy), quote!(-(#dy * #s::trunc(#a / #b)))),
        NonDiff => (TokenStream::new(), TokenStream::new()),
    }
}

/// Does the reverse rule of a binary operator read its operands (`reads.0`)
/// and its result (`reads.1`)?
pub fn binary_reads(op: crate::ir::BinOp) -> (bool, bool) {
    use crate::ir::BinOp::*;
    match op {
        Add | Sub | NonDiff => (false, false),
        Mul | Rem => (true, false),
        Div => (true, true),
    }
}

/// The supported methods nearest to `name` by edit distance, for "did you mean".
pub fn nearest_methods(name: &str) -> Vec<&'static str> {
    let mut scored: Vec<(usize, &'static str)> = METHODS
        .iter()
        .map(|(n, _)| *n)
        .chain(NON_DIFF_METHODS.iter().copied())
        .map(|n| (edit_distance(name, n), n))
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, n)| n).collect()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
