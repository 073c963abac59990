//! Emitting the forward sweep: the user's computation in SSA form, plus what the
//! reverse sweep needs kept — each loop's stack of carried values and each
//! differentiable call's pullback.

use crate::activity::{self, Activity};
use crate::fusion;
use crate::ir::*;
use crate::rules;
use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};

/// How a block is emitted.
#[derive(Clone, Copy)]
pub struct Mode {
    /// Skip `Let`s whose value the reverse sweep does not read (a block that
    /// the reverse sweep recomputes).
    pub filter: bool,
    /// Run side effects (`println!`): never while recomputing.
    pub effects: bool,
    /// Keep loop stacks and pullbacks: this block's reverse follows.
    pub tape: bool,
    /// The block's reverse runs in the same scope (a block recomputed inside
    /// the pullback, a fused loop's body), so its locals outlive every
    /// pullback taken here: a call that borrows a local can take its pullback
    /// now (see `recomputed_call`) instead of being made again.
    pub owns_locals: bool,
    /// `Some(id)` at the own level of loop `id`'s body: its kept calls (see
    /// `Emitter::kept_call`) push their results and pullbacks onto the
    /// loop's stacks (forwards) or are bound from them (recomputing).
    pub kept: Option<usize>,
}

impl Mode {
    /// The function body, run once, forwards.
    pub const PRIMAL: Mode = Mode {
        filter: false,
        effects: true,
        tape: true,
        owns_locals: false,
        kept: None,
    };
    /// A block recomputed by the reverse sweep just before its reverse.
    pub const RECOMPUTE: Mode = Mode {
        filter: true,
        effects: false,
        tape: true,
        owns_locals: true,
        kept: None,
    };

    /// A block nested in this one (a branch, a loop body): run in full, with no
    /// tape, since its own reverse recomputes it.
    pub fn nested(self) -> Mode {
        Mode {
            filter: false,
            effects: self.effects,
            tape: false,
            owns_locals: false,
            kept: None,
        }
    }
}

#[derive(Clone)]
pub struct Emitter<'a> {
    pub prog: &'a Program,
    pub act: &'a Activity,
    /// `::adjoint::__private` (or the `crate = "…"` override).
    pub rt: TokenStream,
    /// Adjoints renamed inside a fused loop body (see `fusion`): the unit
    /// buffers that stand for outer values' adjoints there.
    pub adj_override: std::collections::HashMap<Var, Ident>,
    /// Values that are borrows of other values (`&x`), and of what.
    pub refs: std::collections::HashMap<Var, Operand>,
    /// Values that are fields or elements of by-reference parameters, as
    /// place expressions (see `collect_places`).
    pub places: std::collections::HashMap<Var, TokenStream>,
    /// Values of the function's top level (see `activity::top_defs`).
    pub top: std::collections::HashSet<Var>,
    /// `check_finite`: check each value and gradient as it is computed.
    pub check: bool,
    /// The source position of the statement being reversed (for the
    /// messages of `check_finite`).
    pub span_now: std::cell::Cell<Span>,
}

/// Calls `f` on every `Let` of a block and of the blocks nested in it, in
/// program order (so a value's definition comes before its uses).
pub fn each_let(b: &Block, f: &mut dyn FnMut(Var, &Op)) {
    for s in &b.stmts {
        match s {
            Stmt::Let { var, op, .. } => f(*var, op),
            Stmt::If {
                then_block,
                else_block,
                ..
            } => {
                each_let(then_block, f);
                each_let(else_block, f);
            }
            Stmt::Match { arms, .. } => arms.iter().for_each(|a| each_let(&a.body, f)),
            Stmt::Loop(l) => {
                if let LoopKind::While { cond_block, .. } = &l.kind {
                    each_let(cond_block, f);
                }
                each_let(&l.body, f);
            }
            Stmt::Effect { .. } => {}
        }
    }
}

/// The borrows (`let r = &x;`) of a program, by value.
pub fn collect_refs(b: &Block, out: &mut std::collections::HashMap<Var, Operand>) {
    each_let(b, &mut |var, op| {
        if let Op::Ref(src) = op {
            out.insert(var, src.clone());
        }
    });
}

/// Fields and elements of parameters taken by reference (`self.layers[i]`,
/// `model.head`), as place expressions. A method called on one borrows the
/// parameter rather than the local clone that holds the value, so its
/// pullback can be kept (see `recomputed_call`). A parameter taken by
/// reference cannot change while the function runs, so the place and the
/// clone hold the same value.
///
/// `self_by_ref`: the method takes `&self` (whose `self` is not marked
/// `by_ref`, being emitted as the receiver).
pub fn collect_places(
    prog: &Program,
    self_by_ref: bool,
) -> std::collections::HashMap<Var, TokenStream> {
    let mut places: std::collections::HashMap<Var, TokenStream> = Default::default();
    let base_place = |places: &std::collections::HashMap<Var, TokenStream>, o: &Operand| {
        let v = o.var()?;
        if let Some(p) = places.get(&v) {
            return Some(p.clone());
        }
        let is_ref_param = prog
            .params
            .iter()
            .any(|p| p.var == v && (prog.info(v).by_ref || (p.is_self && self_by_ref)));
        is_ref_param.then(|| {
            let id = &prog.info(v).ident;
            quote!(#id)
        })
    };
    each_let(&prog.body, &mut |var, op| {
        let place = match op {
            Op::Field { base, members } => {
                base_place(&places, base).map(|b| quote!(#b #(.#members)*))
            }
            Op::Index { base, index } => {
                let index = match index {
                    Operand::Var(i) => {
                        let id = &prog.info(*i).ident;
                        quote!(#id)
                    }
                    Operand::Const(c) => c.clone(),
                };
                base_place(&places, base).map(|b| quote!(#b[#index]))
            }
            _ => None,
        };
        if let Some(p) = place {
            places.insert(var, p);
        }
    });
    places
}

/// Names of loop-related locals; they end in letters, so they never equal a
/// value's identifier (those end in `_N`).
pub fn loop_ident(id: usize, what: &str) -> Ident {
    Ident::new(&format!("__loop{id}_{what}"), Span::mixed_site())
}

impl Emitter<'_> {
    pub fn ident(&self, v: Var) -> &Ident {
        self.prog.ident(v)
    }

    /// The adjoint of a value: `__dname_N`.
    pub fn adj(&self, v: Var) -> Ident {
        if let Some(id) = self.adj_override.get(&v) {
            return id.clone();
        }
        Ident::new(&format!("__d{}", self.prog.info(v).tag), Span::mixed_site())
    }

    /// The user's name for a value (`y` for `__y_4`), or `…` for a temporary.
    pub fn user_name(&self, o: &Operand) -> String {
        match o {
            Operand::Var(v) => {
                let tag = &self.prog.info(*v).tag;
                let base = tag.rsplit_once('_').map(|(b, _)| b).unwrap_or(tag);
                if base == "t" || base.is_empty() {
                    "…".to_string()
                } else {
                    base.to_string()
                }
            }
            Operand::Const(c) => c.to_string(),
        }
    }

    /// The operation in words, for `check_finite`'s messages.
    pub fn describe(&self, op: &Op) -> String {
        let n = |o: &Operand| self.user_name(o);
        match op {
            Op::Method { recv, name, .. } => format!("`{}.{name}(..)`", n(recv)),
            Op::Binary {
                tokens, lhs, rhs, ..
            } => format!("`{} {tokens} {}`", n(lhs), n(rhs)),
            Op::Call { path, .. } => {
                format!("`{}(..)`", quote!(#path).to_string().replace(' ', ""))
            }
            Op::Neg(x) => format!("`-{}`", n(x)),
            Op::Index { base, .. } => format!("`{}[..]`", n(base)),
            Op::Cast { operand, ty } => format!("`{} as {}`", n(operand), quote!(#ty)),
            Op::Field { base, members } => format!(
                "`{}.{}`",
                n(base),
                quote!(#(#members).*).to_string().replace(' ', "")
            ),
            Op::Copy(x) | Op::Ref(x) | Op::Deref(x) => format!("`{}`", n(x)),
            Op::Not(_) | Op::Opaque { .. } => "a value".to_string(),
        }
    }

    /// With `check_finite`: a check of `value` as computed by `what`, located
    /// at `span` in the user's source.
    pub fn check_tokens(&self, value: TokenStream, what: &str, span: Span) -> TokenStream {
        if !self.check {
            return TokenStream::new();
        }
        let rt = &self.rt;
        quote_spanned! {span=> {
            #[allow(unused_imports)]
            use #rt::check::{CheckFloat as _, CheckOther as _};
            (&#rt::check::Probe(&#value)).check_finite(#what, ::core::file!(), ::core::line!());
        }}
    }

    /// What the zero adjoint of a top-level value is made from: `__zname_N`.
    pub fn shape_ident(&self, v: Var) -> Ident {
        Ident::new(&format!("__z{}", self.prog.info(v).tag), Span::mixed_site())
    }

    /// Does `v`'s adjoint come from a kept shape rather than from `v`?
    pub fn zero_from_shape(&self, v: Var) -> bool {
        self.top.contains(&v) && !self.act.needed(v) && !self.refs.contains_key(&v)
    }

    /// The function body, with the shapes of the top-level active values that
    /// the reverse sweep does not read kept after their statements.
    pub fn body(&self, b: &Block) -> TokenStream {
        let rt = &self.rt;
        let mut out = TokenStream::new();
        for s in &b.stmts {
            out.extend(self.stmt(s, Mode::PRIMAL));
            for v in activity::stmt_defs(s)
                .into_iter()
                .filter(|v| self.act.active(*v) && self.zero_from_shape(*v))
            {
                let (z, value) = (self.shape_ident(v), self.value(v));
                out.extend(quote!(let #z = #rt::zero_shape(&#value);));
            }
        }
        out
    }

    /// The pullback of a call: `__pbname_N`.
    pub fn pullback(&self, v: Var) -> Ident {
        Ident::new(
            &format!("__pb{}", self.prog.info(v).tag),
            Span::mixed_site(),
        )
    }

    pub fn operand(&self, o: &Operand) -> TokenStream {
        match o {
            Operand::Var(v) => self.value(*v),
            Operand::Const(c) => c.clone(),
        }
    }

    /// A value as an expression. A borrow (`&x`) is not a local of its own
    /// but written out where it is used: a pullback closure cannot own both a
    /// value and a reference to it.
    pub fn value(&self, v: Var) -> TokenStream {
        match self.refs.get(&v) {
            Some(src) => {
                let src = self.operand(src);
                quote!((&#src))
            }
            None => {
                let id = self.ident(v);
                quote!(#id)
            }
        }
    }

    /// `{ let x = __x_3; <tokens> }`: opaque user code sees the current values
    /// under the user's names.
    pub fn rebind(&self, reads: &[(Ident, Operand)], tokens: &TokenStream) -> TokenStream {
        if reads.is_empty() {
            return quote!({ #tokens });
        }
        let lets = reads.iter().map(|(name, o)| {
            let value = self.operand(o);
            quote!(let #name = #value;)
        });
        quote!({ #(#lets)* #tokens })
    }

    /// Is this method call a call of a user's `#[differentiable]` method (rather
    /// than a float method with a rule, or one with no gradient)?
    pub fn is_user_method(&self, name: &Ident) -> bool {
        let n = name.to_string();
        rules::method_mask(&n).is_none() && !rules::is_non_diff_method(&n)
    }

    pub fn block(&self, b: &Block, mode: Mode) -> TokenStream {
        let stmts: Vec<TokenStream> = b.stmts.iter().map(|s| self.stmt(s, mode)).collect();
        quote!(#(#stmts)*)
    }

    /// The block's yields as one expression: `x`, `(x, y)` or `()`.
    pub fn yields(&self, b: &Block) -> TokenStream {
        let mut inner = std::collections::BTreeSet::new();
        fusion::defs_of(b, &mut inner);
        let ys: Vec<TokenStream> = b.yields.iter().map(|y| self.moved(y, &inner)).collect();
        if ys.len() == 1 {
            ys[0].clone()
        } else {
            quote!((#(#ys),*))
        }
    }

    /// `a`, `(a, b)` or `()` binding the given values.
    pub fn pattern(&self, vars: &[Var]) -> TokenStream {
        let ids: Vec<&Ident> = vars.iter().map(|v| self.ident(*v)).collect();
        if ids.len() == 1 {
            quote!(#(#ids)*)
        } else {
            quote!((#(#ids),*))
        }
    }

    fn shape_pattern(&self, s: &Shape) -> TokenStream {
        match s {
            Shape::Leaf(v) => {
                let id = self.ident(*v);
                quote!(#id)
            }
            Shape::Tuple(items) => {
                let inner = items.iter().map(|i| self.shape_pattern(i));
                quote!((#(#inner,)*))
            }
        }
    }

    pub fn stmt(&self, s: &Stmt, mode: Mode) -> TokenStream {
        if mode.filter {
            // Recomputing: keep what the reverse sweep reads, and the constructs
            // with reverse work of their own.
            let keep = match s {
                Stmt::Let { var, outs, .. } => activity::defined(*var, outs)
                    .iter()
                    .any(|v| self.act.needed(*v)),
                _ => activity::stmt_live(s, self.act),
            };
            if !keep {
                return TokenStream::new();
            }
        }
        match s {
            Stmt::Let {
                var,
                op,
                outs,
                span,
            } => self.let_stmt(*var, op, outs, *span, mode),
            Stmt::Effect { tokens, reads } => {
                if mode.effects {
                    self.rebind(reads, tokens)
                } else {
                    TokenStream::new()
                }
            }
            Stmt::If {
                cond,
                then_block,
                else_block,
                outs,
            } => {
                let cond = self.operand(cond);
                let (t, ty) = (
                    self.block(then_block, mode.nested()),
                    self.yields(then_block),
                );
                let (e, ey) = (
                    self.block(else_block, mode.nested()),
                    self.yields(else_block),
                );
                let pat = self.pattern(outs);
                quote!(let #pat = if #cond { #t #ty } else { #e #ey };)
            }
            Stmt::Match {
                scrutinee,
                arms,
                outs,
            } => {
                let scrutinee = self.operand(scrutinee);
                let arms: Vec<TokenStream> = arms
                    .iter()
                    .map(|a| self.arm(a, mode.nested(), None))
                    .collect();
                let pat = self.pattern(outs);
                quote!(let #pat = match #scrutinee { #(#arms)* };)
            }
            Stmt::Loop(l) => self.loop_forward(l, mode),
        }
    }

    /// One match arm; `tail` replaces the block's yields (the reverse sweep
    /// puts its own code there).
    pub fn arm(&self, a: &Arm, mode: Mode, tail: Option<TokenStream>) -> TokenStream {
        let pat = &a.pat;
        let guard = a.guard.as_ref().map(|(tokens, reads)| {
            let g = self.rebind(reads, tokens);
            quote!(if #g)
        });
        let binds = a.binds.iter().map(|(name, v)| {
            let id = self.ident(*v);
            quote!(let #id = #name;)
        });
        let body = self.block(&a.body, mode);
        let tail = tail.unwrap_or_else(|| self.yields(&a.body));
        quote!(#pat #guard => { #(#binds)* #body #tail })
    }

    fn let_stmt(
        &self,
        var: Var,
        op: &Op,
        outs: &Option<Shape>,
        span: Span,
        mode: Mode,
    ) -> TokenStream {
        let code = self.let_stmt_plain(var, op, outs, span, mode);
        if !self.check || matches!(op, Op::Ref(_)) {
            return code;
        }
        let what = self.describe(op);
        let checks = activity::defined(var, outs)
            .into_iter()
            .filter(|v| self.act.active(*v))
            .map(|v| {
                let value = self.value(v);
                self.check_tokens(value, &format!("the value of {what}"), span)
            });
        quote!(#code #(#checks)*)
    }

    fn let_stmt_plain(
        &self,
        var: Var,
        op: &Op,
        outs: &Option<Shape>,
        span: Span,
        mode: Mode,
    ) -> TokenStream {
        let defs = activity::defined(var, outs);
        let active = defs.iter().any(|v| self.act.active(*v));
        let pat = match outs {
            Some(shape) => self.shape_pattern(shape),
            None => {
                let id = self.ident(var);
                quote!(#id)
            }
        };
        let o = |e: &Self, x: &Operand| e.operand(x);
        // Values are borrowed, or cloned where a value is needed, since tensors
        // are not `Copy` (their clone shares the buffer; scalars just copy).
        let b = |e: &Self, x: &Operand| match x {
            // A borrow, or a parameter taken by reference, is already one.
            Operand::Var(v) if e.refs.contains_key(v) || e.prog.info(*v).by_ref => e.operand(x),
            Operand::Var(_) => {
                let t = e.operand(x);
                quote!(&#t)
            }
            Operand::Const(c) => c.clone(),
        };
        let value = match op {
            Op::Copy(x) => {
                let x = o(self, x);
                quote!(::core::clone::Clone::clone(&#x))
            }
            Op::Deref(x) => {
                let x = o(self, x);
                quote!(::core::clone::Clone::clone(&*#x))
            }
            // Written out at each use (see `value`).
            Op::Ref(_) => return TokenStream::new(),
            Op::Neg(x) => {
                let x = b(self, x);
                quote!(-#x)
            }
            Op::Not(x) => {
                let x = o(self, x);
                quote!(!#x)
            }
            Op::Binary {
                op: BinOp::NonDiff,
                tokens,
                lhs,
                rhs,
            } => {
                // Comparisons and bit operations, on integers and bools.
                let (l, r) = (o(self, lhs), o(self, rhs));
                quote!(#l #tokens #r)
            }
            Op::Binary {
                tokens, lhs, rhs, ..
            } => {
                let (l, r) = (b(self, lhs), b(self, rhs));
                quote!(#l #tokens #r)
            }
            Op::Method { .. } | Op::Call { .. }
                if mode.kept.is_some() && self.kept_call(var, op, outs) =>
            {
                if mode.filter {
                    // Recomputing: the loop's header binds the results and
                    // the pullback from the stack.
                    return TokenStream::new();
                }
                let (pb, call) = (self.pullback(var), self.vjp_call(op));
                let stack = self.kept_stack(mode.kept.unwrap_or_default(), var);
                let saved = defs.iter().map(|v| {
                    let id = self.ident(*v);
                    quote!(::core::clone::Clone::clone(&#id))
                });
                return quote_spanned!(span=>
                    let (#pat, #pb) = #call;
                    #stack.push(((#(#saved,)*), #pb));
                );
            }
            Op::Method {
                recv,
                name,
                turbofish,
                args,
            } => {
                if active && mode.tape && self.is_user_method(name) && self.takes_pullback(op, mode)
                {
                    let pb = self.pullback(var);
                    let call = self.vjp_call(op);
                    return quote_spanned!(span=> let (#pat, #pb) = #call;);
                }
                let recv = o(self, recv);
                let args = args.iter().map(|a| self.call_arg(a));
                quote!(#recv.#name #turbofish(#(#args),*))
            }
            Op::Call { path, args } => {
                if active && mode.tape && self.takes_pullback(op, mode) {
                    let pb = self.pullback(var);
                    let call = self.vjp_call(op);
                    return quote_spanned!(span=> let (#pat, #pb) = #call;);
                }
                let args = args.iter().map(|a| self.call_arg(a));
                quote!(#path(#(#args),*))
            }
            Op::Index { base, index } => {
                let (bs, i) = (o(self, base), o(self, index));
                match base.var().map(|v| self.prog.info(v).kind) {
                    Some(Kind::Container) => quote!(#bs[#i]),
                    // Elements that may not be `Copy` (tensors, layers).
                    _ => quote!(::core::clone::Clone::clone(&#bs[#i])),
                }
            }
            Op::Cast { operand, ty } => {
                let x = o(self, operand);
                quote!(#x as #ty)
            }
            Op::Field { base, members } => {
                let base = o(self, base);
                quote!(::core::clone::Clone::clone(&#base #(.#members)*))
            }
            Op::Opaque { tokens, reads, .. } => self.rebind(reads, tokens),
        };
        quote_spanned!(span=> let #pat = #value;)
    }

    /// A value handed on: moved when it is a local of the block handing it on
    /// (`inner`), else copied, since the reverse sweep may still read it (a
    /// tensor's clone shares its buffer).
    pub fn moved(&self, o: &Operand, inner: &std::collections::BTreeSet<Var>) -> TokenStream {
        match o {
            Operand::Var(v) if !inner.contains(v) => {
                let x = self.operand(o);
                quote!(::core::clone::Clone::clone(&#x))
            }
            _ => self.operand(o),
        }
    }

    /// An argument of a call. A value passed by value that the reverse sweep
    /// still reads is cloned rather than moved into the call (a tensor's
    /// clone shares its buffer; a float's is a copy).
    fn call_arg(&self, a: &Operand) -> TokenStream {
        let x = self.operand(a);
        match a {
            Operand::Var(v)
                if self.act.needed(*v)
                    && !self.refs.contains_key(v)
                    && !self.prog.info(*v).by_ref =>
            {
                quote!(::core::clone::Clone::clone(&#x))
            }
            _ => x,
        }
    }

    /// The call of a differentiable function's or method's `_vjp`.
    pub fn vjp_call(&self, op: &Op) -> TokenStream {
        match op {
            Op::Method {
                recv,
                name,
                turbofish,
                args,
            } => {
                let vjp = format_ident!("{}_vjp", name, span = name.span());
                let recv = match recv.var().and_then(|v| self.places.get(&v)) {
                    Some(place) => place.clone(),
                    None => self.operand(recv),
                };
                let args = args.iter().map(|a| self.call_arg(a));
                quote!(#recv.#vjp #turbofish(#(#args),*))
            }
            Op::Call { path, args } => {
                let vjp_path = vjp_path(path);
                let args = args.iter().map(|a| self.call_arg(a));
                quote!(#vjp_path(#(#args),*))
            }
            _ => TokenStream::new(),
        }
    }

    /// Is this statement of a loop body a *kept* call: a differentiable call
    /// with an active result that borrows no local? The forward loop pushes
    /// its results and its pullback onto a stack of their own
    /// (`kept_stack`), and the reverse loop pops them, so that the call runs
    /// once instead of being recomputed with the body.
    pub fn kept_call(&self, var: Var, op: &Op, outs: &Option<Shape>) -> bool {
        let call = match op {
            Op::Method { name, .. } => self.is_user_method(name),
            Op::Call { .. } => true,
            _ => false,
        };
        call && activity::defined(var, outs)
            .iter()
            .any(|v| self.act.active(*v))
            && !self.recomputed_call(op)
    }

    /// The kept calls of a loop's body (its own level), with their results.
    pub fn kept_calls(&self, l: &Loop) -> Vec<(Var, Vec<Var>)> {
        l.body
            .stmts
            .iter()
            .filter_map(|s| match s {
                Stmt::Let { var, op, outs, .. } if self.kept_call(*var, op, outs) => {
                    Some((*var, activity::defined(*var, outs)))
                }
                _ => None,
            })
            .collect()
    }

    /// The stack of kept call `var` in loop `id`.
    pub fn kept_stack(&self, id: usize, var: Var) -> Ident {
        loop_ident(id, &format!("kept_{}_stack", self.prog.info(var).tag))
    }

    /// Can this call take its pullback where it is emitted in `mode`: it
    /// borrows no local, or the block's reverse runs in the same scope.
    fn takes_pullback(&self, op: &Op, mode: Mode) -> bool {
        mode.owns_locals || !self.recomputed_call(op)
    }

    /// Does this call borrow a local value (an argument `&v`, or a method's
    /// receiver)? Its pullback would borrow that local, which the enclosing
    /// pullback cannot own alongside it. At the function's top level, the call
    /// is made again, for its pullback, in the reverse sweep, where the local
    /// is owned; in a block that the reverse sweep recomputes, the recomputed
    /// call takes its pullback (see `Mode::owns_locals`).
    pub fn recomputed_call(&self, op: &Op) -> bool {
        let is_param = |v: Var| self.prog.params.iter().any(|p| p.var == v);
        let root = |mut v: Var| {
            while let Some(Operand::Var(src)) = self.refs.get(&v) {
                v = *src;
            }
            v
        };
        let borrows_local = |o: &Operand| {
            o.var()
                .is_some_and(|v| self.refs.contains_key(&v) && !is_param(root(v)))
        };
        match op {
            // A receiver that is a parameter's field or element is borrowed
            // in place (see `vjp_call`).
            Op::Method { recv, args, .. } => {
                recv.var()
                    .is_some_and(|v| !is_param(root(v)) && !self.places.contains_key(&v))
                    || args.iter().any(borrows_local)
            }
            Op::Call { args, .. } => args.iter().any(borrows_local),
            _ => false,
        }
    }

    /// The unit-adjoint buffer of outer value `v` in fused loop `id`.
    pub fn unit_buffer(&self, id: usize, v: Var) -> Ident {
        Ident::new(
            &format!("__loop{id}_u{}", self.prog.info(v).tag),
            Span::mixed_site(),
        )
    }

    /// A loop whose reverse runs inside it (see `fusion`): the body, then its
    /// reverse with a unit adjoint on the accumulator, adding into buffers.
    fn fused_forward(&self, l: &Loop, acc: usize, mode: Mode) -> TokenStream {
        let rt = &self.rt;
        let reached = fusion::reached(l, self.act);
        let mut inner = self.clone();
        let mut buffers = Vec::new();
        for v in &reached {
            let u = self.unit_buffer(l.id, *v);
            let id = self.value(*v);
            let init = match self.prog.info(*v).kind {
                Kind::Scalar => quote!(#rt::adjoint_zero(&#id)),
                Kind::Container => quote!(#rt::zero_tangent(&#id)),
            };
            buffers.push(quote!(let mut #u = #init;));
            inner.adj_override.insert(*v, u);
        }
        let body_mode = Mode {
            filter: false,
            effects: mode.effects,
            tape: true,
            owns_locals: true,
            kept: None,
        };
        let body = inner.block(&l.body, body_mode);
        let entries: Vec<Var> = l.carried.iter().map(|c| c.entry).collect();
        let seed = [(l.carried[acc].exit.clone(), quote!(1.0))];
        let reverse = inner.reverse_block(&l.body, &entries, &seed);
        let body = quote!(#body { #reverse });
        let lp = self.plain_loop(l, mode, body, false);
        quote!(#(#buffers)* #lp)
    }

    fn loop_forward(&self, l: &Loop, mode: Mode) -> TokenStream {
        let live = activity::loop_live(l, self.act);
        let tape = mode.tape && live;
        if tape && let Some(acc) = fusion::accumulator(l, self.act) {
            return self.fused_forward(l, acc, mode);
        }
        let stack = loop_ident(l.id, "stack");
        let saved: Vec<Var> = self.saved(l);
        let use_stack = tape && (matches!(l.kind, LoopKind::While { .. }) || !saved.is_empty());
        let saved_ids: Vec<&Ident> = saved.iter().map(|v| self.ident(*v)).collect();
        let push = use_stack
            .then(|| quote!(#stack.push((#(::core::clone::Clone::clone(&#saved_ids),)*));));
        let rt = &self.rt;
        let new_stack = use_stack.then(|| quote!(let mut #stack = #rt::Vec::new();));
        let (body_mode, kept) = if tape {
            let kept: Vec<Ident> = self
                .kept_calls(l)
                .iter()
                .map(|(v, _)| self.kept_stack(l.id, *v))
                .collect();
            let body_mode = Mode {
                kept: Some(l.id),
                ..mode.nested()
            };
            (body_mode, kept)
        } else {
            (mode.nested(), Vec::new())
        };
        let new_stack = quote!(#new_stack #(let mut #kept = #rt::Vec::new();)*);
        let body = self.block(&l.body, body_mode);
        let body = quote!(#push #body);
        // The reverse sweep walks the same range backwards: keep it.
        let lp = self.plain_loop(l, mode, body, tape);
        quote!(#new_stack #lp)
    }

    /// The loop itself: carried values in slots, `body` run once per
    /// iteration. `keep_iter` iterates over a clone of the range.
    fn plain_loop(&self, l: &Loop, mode: Mode, body: TokenStream, keep_iter: bool) -> TokenStream {
        let slots: Vec<Ident> = (0..l.carried.len())
            .map(|k| loop_ident(l.id, &format!("slot{k}")))
            .collect();
        let outer = std::collections::BTreeSet::new();
        let inits = l.carried.iter().map(|c| self.moved(&c.init, &outer));
        let entries: Vec<&Ident> = l.carried.iter().map(|c| self.ident(c.entry)).collect();
        let mut inner = std::collections::BTreeSet::new();
        fusion::defs_of(&l.body, &mut inner);
        inner.extend(l.carried.iter().map(|c| c.entry));
        let exits: Vec<TokenStream> = l
            .carried
            .iter()
            .map(|c| self.moved(&c.exit, &inner))
            .collect();
        let outs: Vec<&Ident> = l.carried.iter().map(|c| self.ident(c.out)).collect();
        let head_and_loop = match &l.kind {
            LoopKind::For { index, iter } => {
                let index = self.ident(*index);
                let iter_ts = self.operand(iter);
                let iter_expr = if keep_iter {
                    quote!(::core::clone::Clone::clone(&#iter_ts))
                } else {
                    iter_ts
                };
                quote! {
                    for #index in #iter_expr {
                        #(let #entries = #slots;)*
                        #body
                        #(#slots = #exits;)*
                    }
                }
            }
            LoopKind::While { cond_block, cond } => {
                let cond_code = self.block(cond_block, mode.nested());
                let cond = self.operand(cond);
                quote! {
                    loop {
                        #(let #entries = #slots;)*
                        #cond_code
                        if !#cond { break; }
                        #body
                        #(#slots = #exits;)*
                    }
                }
            }
        };
        quote! {
            #(let mut #slots = #inits;)*
            #head_and_loop
            #(let #outs = #slots;)*
        }
    }

    /// The carried values a loop saves per iteration: those its reverse reads.
    pub fn saved(&self, l: &Loop) -> Vec<Var> {
        l.carried
            .iter()
            .map(|c| c.entry)
            .filter(|v| self.act.needed(*v))
            .collect()
    }
}

/// `g` → `g_vjp`, `m::g` → `m::g_vjp`, keeping the user's span so that a
/// missing `g_vjp` is reported on `g`.
pub fn vjp_path(path: &syn::Path) -> syn::Path {
    let mut p = path.clone();
    if let Some(last) = p.segments.last_mut() {
        last.ident = format_ident!("{}_vjp", last.ident, span = last.ident.span());
    }
    p
}
