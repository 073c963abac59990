//! The internal program: what `lower` builds from the user's function and what
//! `activity`, `forward` and `reverse` read.
//!
//! Every value the function computes is a [`Var`], assigned exactly once in the
//! program text (SSA). A user variable that is shadowed or reassigned becomes a
//! new `Var` at each binding; `if`/`match` merge the versions of the variables
//! they assign through their `outs`, loops through their `carried` variables.
//! Each `Let` holds one operation, so every derivative rule sees plain operands.

use proc_macro2::{Ident, Span, TokenStream};

/// An SSA value. Indexes [`Program::vars`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Var(pub usize);

/// What a `Var` holds, as far as gradients care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A scalar or a non-differentiable value (integer, bool, ...).
    Scalar,
    /// A slice, `Vec` or array parameter (or a copy of one): indexed, never
    /// computed; its adjoint is a `Vec` or array.
    Container,
}

/// Facts about one `Var`.
#[derive(Clone, Debug)]
pub struct VarInfo {
    /// The Rust identifier emitted for it. Parameters keep the user's own
    /// identifier; every other value gets a `__`-prefixed, hygienic one.
    pub ident: Ident,
    /// `name_N`, unique in the function: derived names (adjoint `__dname_N`,
    /// pullback `__pbname_N`) cannot clash, since `N` is unique per value.
    pub tag: String,
    pub kind: Kind,
    /// A number or tensor (a float or container parameter, the result of
    /// arithmetic or of a rule): a method it has no rule for is refused
    /// rather than taken for a user's `#[differentiable]` method.
    pub numeric: bool,
    /// A parameter passed by reference (`x: &Tensor`): already a borrow.
    pub by_ref: bool,
}

/// An operand: a value of the program, or a constant expression (a literal or
/// the path of a `const`) that refers to no local variable.
#[derive(Clone, Debug)]
pub enum Operand {
    Var(Var),
    Const(TokenStream),
}

impl Operand {
    pub fn var(&self) -> Option<Var> {
        match self {
            Operand::Var(v) => Some(*v),
            Operand::Const(_) => None,
        }
    }
}

/// Binary operators, by what the analysis needs to know of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    /// Comparisons, bit operations, shifts: their result carries no gradient.
    NonDiff,
}

/// One operation, the right-hand side of a `Let`.
#[derive(Clone, Debug)]
pub enum Op {
    /// `operand` itself (a `let` of another value, a typed `let`, `*x`, `(x)`).
    Copy(Operand),
    /// `&operand`: passes a value by reference; its gradient flows through.
    Ref(Operand),
    /// `-operand`.
    Neg(Operand),
    /// `!operand`: no gradient.
    Not(Operand),
    /// `lhs op rhs`; `tokens` is the operator as the user wrote it.
    Binary {
        op: BinOp,
        tokens: TokenStream,
        lhs: Operand,
        rhs: Operand,
    },
    /// `recv.name::<turbofish>(args)`: a float method with a rule, a method with
    /// no gradient (`len`, `floor`, ...), or a user method (`self.energy(x)`).
    Method {
        recv: Operand,
        name: Ident,
        turbofish: TokenStream,
        args: Vec<Operand>,
    },
    /// `path(args)`: a call of another `#[differentiable]` function when a
    /// differentiated value is passed to it, else a plain call.
    Call { path: syn::Path, args: Vec<Operand> },
    /// `base[index]`.
    Index { base: Operand, index: Operand },
    /// `operand as ty`.
    Cast { operand: Operand, ty: syn::Type },
    /// `base.m1.m2…`: a field (path) of a struct value, a cheap clone of it
    /// (tensors share their buffer). Its gradient goes into the same field of
    /// the base's adjoint.
    Field {
        base: Operand,
        members: Vec<syn::Member>,
    },
    /// `*operand`.
    Deref(Operand),
    /// An expression kept as the user wrote it, with the user variables it names
    /// rebound to their current versions: `&&`/`||`, ranges, macros, closures-free
    /// expressions the compiler does not look into. Its result has no gradient;
    /// `reads` are still tracked so that a use of a differentiated value through it
    /// is refused instead of silently giving zero.
    Opaque {
        tokens: TokenStream,
        reads: Vec<(Ident, Operand)>,
        what: &'static str,
    },
}

/// A statement of the program.
#[derive(Clone, Debug)]
pub enum Stmt {
    /// `let var = op;`. `outs` is set for calls whose tuple result is
    /// destructured (`let (a, b) = g(x);`): then the call's results are its
    /// leaves and `var` is unused.
    Let {
        var: Var,
        op: Op,
        outs: Option<Shape>,
        span: Span,
    },
    /// A statement kept for its side effect only (`println!`, `assert!`). It is
    /// skipped when the reverse sweep recomputes a block.
    Effect {
        tokens: TokenStream,
        reads: Vec<(Ident, Operand)>,
    },
    /// `if cond { then } else { else }`, merging `outs` from the blocks' yields.
    If {
        cond: Operand,
        then_block: Block,
        else_block: Block,
        outs: Vec<Var>,
    },
    /// `match scrutinee { arms }`, merging `outs` from the arms' yields.
    Match {
        scrutinee: Operand,
        arms: Vec<Arm>,
        outs: Vec<Var>,
    },
    /// A `for` or `while` loop.
    Loop(Box<Loop>),
}

/// One arm of a `match`. The pattern may bind non-differentiable values; those
/// bindings are `binds`, visible in `body` under the user's names.
#[derive(Clone, Debug)]
pub struct Arm {
    pub pat: syn::Pat,
    pub guard: Option<(TokenStream, Vec<(Ident, Operand)>)>,
    pub binds: Vec<(Ident, Var)>,
    pub body: Block,
}

/// The tuple structure of a destructured call result.
#[derive(Clone, Debug)]
pub enum Shape {
    Leaf(Var),
    Tuple(Vec<Shape>),
}

impl Shape {
    pub fn leaves(&self, out: &mut Vec<Var>) {
        match self {
            Shape::Leaf(v) => out.push(*v),
            Shape::Tuple(items) => items.iter().for_each(|s| s.leaves(out)),
        }
    }
}

/// A straight-line list of statements ending in the values it yields to the
/// construct that holds it (the merged outputs of a branch, the end-of-body
/// versions of a loop, or the function's result).
#[derive(Clone, Debug, Default)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    pub yields: Vec<Operand>,
}

#[derive(Clone, Debug)]
pub enum LoopKind {
    /// `for index in iter`; `iter` must be a double-ended iterator of `Copy`
    /// items (an integer range), so that the reverse sweep can walk it backwards.
    For { index: Var, iter: Operand },
    /// `while cond`; the condition's block runs at the top of each iteration.
    While { cond_block: Block, cond: Operand },
}

/// A variable assigned inside a loop and declared outside it.
#[derive(Clone, Debug)]
pub struct Carried {
    /// Its value before the loop.
    pub init: Operand,
    /// Its value at the start of an iteration (defined by the loop).
    pub entry: Var,
    /// Its value at the end of an iteration.
    pub exit: Operand,
    /// Its value after the loop.
    pub out: Var,
}

#[derive(Clone, Debug)]
pub struct Loop {
    pub kind: LoopKind,
    pub carried: Vec<Carried>,
    pub body: Block,
    /// A number unique in the function, for the names of its stack and slots.
    pub id: usize,
}

/// A parameter of the function.
#[derive(Clone, Debug)]
pub struct Param {
    pub var: Var,
    pub ident: Ident,
    pub ty: syn::Type,
    /// Its gradient's type when differentiated (`None`: not wrt).
    pub tangent: Option<TokenStream>,
    /// The method's receiver (`&self`), first of the parameters.
    pub is_self: bool,
}

/// The whole lowered function body.
#[derive(Clone, Debug, Default)]
pub struct Program {
    pub vars: Vec<VarInfo>,
    pub params: Vec<Param>,
    /// The body; its `yields` are the leaves of the returned value, in order.
    pub body: Block,
}

impl Program {
    pub fn info(&self, v: Var) -> &VarInfo {
        &self.vars[v.0]
    }

    pub fn ident(&self, v: Var) -> &Ident {
        &self.vars[v.0].ident
    }
}
