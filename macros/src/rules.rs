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
    // Tensor methods (the runtime's `ops`; rules in its `rules`).
    ("relu", &[true]),
    ("sigmoid", &[true]),
    ("gelu", &[true]),
    ("softplus", &[true]),
    ("leaky_relu", &[true, false]),
    ("matmul", &[true, true]),
    ("t", &[true]),
    ("transpose", &[true, false, false]),
    ("reshape", &[true, false]),
    ("sum", &[true]),
    ("mean", &[true]),
    ("sum_axis", &[true, false, false]),
    ("mean_axis", &[true, false, false]),
    ("max_axis", &[true, false, false]),
    ("logsumexp", &[true, false, false]),
    ("softmax", &[true, false]),
    ("log_softmax", &[true, false]),
    ("item", &[true]),
    ("clone", &[true]),
    ("gather_rows", &[true, false]),
    ("concat", &[true, true, false]),
    ("dropout", &[true, false, false, false]),
    ("bias_activation", &[true, true, false]),
];

/// Tensor methods whose runtime rule does not read their result: the
/// generated code passes `&()` in its place, so the reverse sweep does not
/// keep the result alive (a matmul's output would otherwise stay in memory
/// until the backward pass, only for a rule that ignores it).
const RESULT_UNREAD: &[&str] = &[
    "matmul",
    "t",
    "transpose",
    "reshape",
    "gather_rows",
    "concat",
    "dropout",
];

/// Tensor methods whose runtime rule does not read their receiver: the
/// derivative is a function of the output (`relu`: `y > 0`; `sigmoid`:
/// `y(1 − y)`; softmax's), or of nothing (a transpose, dropout's mask from
/// its seed). The receiver is passed as `&()`, so a
/// pre-activation that nothing else reads is freed after the forward pass.
const RECEIVER_UNREAD: &[&str] = &[
    "t",
    "transpose",
    "dropout",
    "relu",
    "sigmoid",
    "softmax",
    "log_softmax",
    "bias_activation",
];

/// Whether the runtime rule of method `name` reads its receiver and its
/// result (its other arguments are always passed).
pub fn method_reads(name: &str) -> (bool, bool) {
    (
        !RECEIVER_UNREAD.contains(&name),
        !RESULT_UNREAD.contains(&name),
    )
}

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
    "shape",
    "ndim",
];

/// The differentiated-operand mask of a method with a rule.
pub fn method_mask(name: &str) -> Option<&'static [bool]> {
    METHODS.iter().find(|(n, _)| *n == name).map(|(_, m)| *m)
}

pub fn is_non_diff_method(name: &str) -> bool {
    NON_DIFF_METHODS.contains(&name)
}

/// Contributions `(to lhs, to rhs)` of `y = lhs op rhs` given its adjoint `dy`,
/// written with borrows so that they serve tensors (which are not `Copy`) as
/// well as scalars. Method rules live in the runtime (`rules`), dispatched on
/// the operands' type.
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
        Add => (quote!(&#dy), quote!(&#dy)),
        Sub => (quote!(&#dy), quote!(-&#dy)),
        Mul => (quote!(&#dy * #b), quote!(&#dy * #a)),
        // y = a / b: dy/da = 1/b, dy/db = -a/b² = -y/b. Both contributions
        // divide `dy` by `b`, so the optimizer does that division once.
        Div => (quote!(&#dy / #b), quote!(-((&#dy / #b) * &#y))),
        // y = a - trunc(a/b)·b (scalars only)
        Rem => (quote!(&#dy), quote!(-(&#dy * #s::trunc(#a / #b)))),
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
