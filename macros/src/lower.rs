//! Lowering, part 1: from the user's function to the [`ir`](crate::ir) program —
//! the environment of user variables, statements and control flow. Expressions
//! are in `lower_expr.rs`.
//!
//! Shadowing and reassignment give a new `Var` per binding. `if`/`match` merge
//! what their branches assign; loops carry what their bodies assign. A `return`
//! in statement position is turned into structured control flow: the rest of the
//! function becomes the continuation of every branch that does not return.

use crate::error::Errors;
use crate::ir::*;
use proc_macro2::{Ident, Span, TokenStream};
use quote::{ToTokens, quote};
use std::collections::HashMap;
use syn::spanned::Spanned;

/// What a user variable is bound to.
#[derive(Clone, Debug)]
pub enum Binding {
    Leaf(Operand),
    Tuple(Vec<Binding>),
    /// Declared with `let x;` and not yet assigned.
    Uninit,
}

impl Binding {
    pub fn unit() -> Binding {
        Binding::Tuple(Vec::new())
    }

    /// The value of a construct already refused with an error: accepted
    /// anywhere, so that one mistake gives one error.
    pub fn poison() -> Binding {
        Binding::Leaf(Operand::Const(quote!(())))
    }

    /// The operands at the leaves, in order.
    pub fn leaves(&self, out: &mut Vec<Operand>) {
        match self {
            Binding::Leaf(op) => out.push(op.clone()),
            Binding::Tuple(items) => items.iter().for_each(|b| b.leaves(out)),
            Binding::Uninit => {}
        }
    }

    /// A binding of the same shape whose leaves are taken from `leaves`.
    pub fn rebuild(&self, leaves: &mut impl Iterator<Item = Operand>) -> Binding {
        match self {
            Binding::Leaf(_) => Binding::Leaf(leaves.next().expect("shape checked")),
            Binding::Tuple(items) => {
                Binding::Tuple(items.iter().map(|b| b.rebuild(leaves)).collect())
            }
            Binding::Uninit => Binding::Uninit,
        }
    }

    /// Same shape (tuple structure), ignoring the leaves.
    pub fn same_shape(&self, other: &Binding) -> bool {
        match (self, other) {
            (Binding::Leaf(_), Binding::Leaf(_)) | (Binding::Uninit, Binding::Uninit) => true,
            (Binding::Tuple(a), Binding::Tuple(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_shape(y))
            }
            _ => false,
        }
    }

    /// Bound to exactly the same values.
    pub fn same_as(&self, other: &Binding) -> bool {
        match (self, other) {
            (Binding::Leaf(Operand::Var(a)), Binding::Leaf(Operand::Var(b))) => a == b,
            (Binding::Leaf(Operand::Const(a)), Binding::Leaf(Operand::Const(b))) => {
                a.to_string() == b.to_string()
            }
            (Binding::Uninit, Binding::Uninit) => true,
            (Binding::Tuple(a), Binding::Tuple(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_as(y))
            }
            _ => false,
        }
    }
}

type Scope = HashMap<String, Binding>;

/// The rest of an enclosing block, run after a branch that did not return.
#[derive(Clone)]
pub struct Frame {
    stmts: Vec<syn::Stmt>,
    depth: usize,
}

pub struct Lowerer<'e> {
    pub prog: Program,
    pub errors: &'e mut Errors,
    pub(crate) scopes: Vec<Scope>,
    cur: Vec<Stmt>,
    counter: usize,
    next_loop: usize,
    /// How many loops enclose the code being lowered.
    pub(crate) loop_depth: usize,
    /// Pure operations already computed, per enclosing block: a repeated
    /// `x[i]` or `a * b` reuses the first value (one adjoint, one update).
    cse: Vec<HashMap<String, Var>>,
}

impl<'e> Lowerer<'e> {
    pub fn new(errors: &'e mut Errors) -> Self {
        Lowerer {
            prog: Program::default(),
            errors,
            scopes: vec![Scope::new()],
            cur: Vec::new(),
            counter: 0,
            next_loop: 0,
            loop_depth: 0,
            cse: vec![HashMap::new()],
        }
    }

    /// A fresh value named after `base` (`__x_3`), with a hygienic identifier.
    /// (`_span` marks where the value comes from; kept for future diagnostics.)
    pub fn fresh(&mut self, base: &str, kind: Kind, _span: Span) -> Var {
        let base = base.trim_start_matches("r#").trim_start_matches('_');
        let tag = format!("{base}_{}", self.counter);
        self.counter += 1;
        let ident = Ident::new(&format!("__{tag}"), Span::mixed_site());
        self.new_var(ident, tag, kind)
    }

    /// A value with a given identifier (a parameter keeps the user's own).
    pub fn new_var(&mut self, ident: Ident, tag: String, kind: Kind) -> Var {
        self.prog.vars.push(VarInfo {
            ident,
            tag,
            kind,
            numeric: false,
            by_ref: false,
        });
        Var(self.prog.vars.len() - 1)
    }

    /// A parameter's value: emitted under the user's own identifier.
    /// `numeric`: its type is a float, a container of floats, or a tensor.
    pub fn param_var(&mut self, ident: &Ident, kind: Kind, numeric: bool) -> Var {
        let base = ident.to_string();
        let tag = format!(
            "{}_{}",
            base.trim_start_matches("r#").trim_start_matches('_'),
            self.counter
        );
        self.counter += 1;
        let var = self.new_var(ident.clone(), tag, kind);
        self.prog.vars[var.0].numeric = numeric;
        self.declare(ident, Binding::Leaf(Operand::Var(var)));
        var
    }

    /// Appends `let <fresh> = op;` and returns the new value.
    pub fn push_op(&mut self, op: Op, span: Span) -> Operand {
        let key = pure_key(&op);
        if let Some(key) = &key
            && let Some(v) = self.cse.iter().rev().find_map(|m| m.get(key))
        {
            return Operand::Var(*v);
        }
        let kind = match &op {
            Op::Copy(o) | Op::Ref(o) | Op::Deref(o) => self.kind_of(o),
            _ => Kind::Scalar,
        };
        let numeric = match &op {
            Op::Binary { .. } | Op::Neg(_) | Op::Cast { .. } => true,
            // An element of a float slice; a Vec of layers has no rules.
            Op::Index { base, .. } => self.kind_of(base) == Kind::Container,
            Op::Method { name, .. } => crate::rules::method_mask(&name.to_string()).is_some(),
            Op::Copy(o) | Op::Ref(o) | Op::Deref(o) => {
                o.var().is_some_and(|v| self.prog.info(v).numeric)
            }
            _ => false,
        };
        let var = self.fresh("t", kind, span);
        self.prog.vars[var.0].numeric = numeric;
        self.cur.push(Stmt::Let {
            var,
            op,
            outs: None,
            span,
        });
        if let Some(key) = key {
            self.cse.last_mut().expect("a level").insert(key, var);
        }
        Operand::Var(var)
    }

    pub fn kind_of(&self, o: &Operand) -> Kind {
        match o {
            Operand::Var(v) => self.prog.info(*v).kind,
            Operand::Const(_) => Kind::Scalar,
        }
    }

    /// Runs `f` collecting the statements it pushes into a new block.
    pub fn in_block<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> (Block, T) {
        let saved = std::mem::take(&mut self.cur);
        self.cse.push(HashMap::new());
        let value = f(self);
        self.cse.pop();
        let stmts = std::mem::replace(&mut self.cur, saved);
        (
            Block {
                stmts,
                yields: Vec::new(),
            },
            value,
        )
    }

    // ---- the environment -------------------------------------------------

    pub fn lookup(&self, name: &str) -> Option<&Binding> {
        self.scopes.iter().rev().find_map(|s| s.get(name))
    }

    pub fn declare(&mut self, name: &Ident, b: Binding) {
        let key = name.to_string();
        self.scopes.last_mut().expect("a scope").insert(key, b);
    }

    /// Updates the innermost binding of `name`; false if there is none.
    fn assign(&mut self, name: &str, b: Binding) -> bool {
        for scope in self.scopes.iter_mut().rev() {
            if let Some(slot) = scope.get_mut(name) {
                *slot = b;
                return true;
            }
        }
        false
    }

    /// The single operand of a binding, or an error at `at` for a tuple.
    pub fn leaf(&mut self, b: Binding, at: &dyn ToTokens) -> Operand {
        match b {
            Binding::Leaf(op) => op,
            Binding::Tuple(items) if items.is_empty() => {
                self.errors.push(
                    at,
                    "this expression has no value (it is `()`) but a number is needed here",
                );
                Operand::Const(quote!(()))
            }
            Binding::Tuple(_) => {
                self.errors.push(
                    at,
                    "a tuple is used where a single value is needed: destructure it with `let (a, b) = …` or take a field with `.0`",
                );
                Operand::Const(quote!(()))
            }
            Binding::Uninit => {
                self.errors
                    .push(at, "this variable is used before it is assigned");
                Operand::Const(quote!(()))
            }
        }
    }

    /// Fresh values shaped like `b` (for merged and loop-carried variables).
    fn fresh_like(&mut self, b: &Binding, name: &str, span: Span) -> (Binding, Vec<Var>) {
        let mut leaves = Vec::new();
        b.leaves(&mut leaves);
        let vars: Vec<Var> = leaves
            .iter()
            .map(|o| {
                let kind = self.kind_of(o);
                self.fresh(name, kind, span)
            })
            .collect();
        let rebuilt = b.rebuild(&mut vars.iter().map(|v| Operand::Var(*v)));
        (rebuilt, vars)
    }

    // ---- statements ------------------------------------------------------

    /// Lowers a statement list. When `returns` is set the list's value is the
    /// function's result, `return` is allowed, and `cont` is what runs after it.
    pub fn lower_seq(&mut self, stmts: &[syn::Stmt], cont: &[Frame], returns: bool) -> Binding {
        let mut value = Binding::unit();
        for (i, stmt) in stmts.iter().enumerate() {
            let last = i + 1 == stmts.len();
            value = Binding::unit();
            match stmt {
                syn::Stmt::Local(local) => self.lower_local(local),
                syn::Stmt::Macro(m) => self.lower_effect(m.to_token_stream()),
                syn::Stmt::Item(_) => {} // refused by `check`
                syn::Stmt::Expr(e, semi) => {
                    if returns && contains_return(e) {
                        let tail = last && semi.is_none();
                        let mut frames = Vec::new();
                        if !tail {
                            frames.push(Frame {
                                stmts: stmts[i + 1..].to_vec(),
                                depth: self.scopes.len(),
                            });
                        }
                        frames.extend_from_slice(cont);
                        return self.lower_diverging(e, &frames);
                    }
                    let v = self.lower_stmt_expr(e);
                    if semi.is_none() {
                        value = v;
                    }
                }
            }
        }
        if let Some((first, rest)) = cont.split_first() {
            self.scopes.truncate(first.depth);
            return self.lower_seq(&first.stmts, rest, true);
        }
        value
    }

    /// An expression statement: control flow, assignments, or a value.
    fn lower_stmt_expr(&mut self, e: &syn::Expr) -> Binding {
        match e {
            syn::Expr::Assign(a) => {
                let rhs = self.lower_expr(&a.right);
                self.lower_assign(&a.left, rhs, None);
                Binding::unit()
            }
            syn::Expr::Binary(b) if compound_op(&b.op).is_some() => {
                let rhs = self.lower_expr(&b.right);
                self.lower_assign(&b.left, rhs, Some(&b.op));
                Binding::unit()
            }
            syn::Expr::ForLoop(f) => {
                self.lower_for(f);
                Binding::unit()
            }
            syn::Expr::While(w) => {
                self.lower_while(w);
                Binding::unit()
            }
            syn::Expr::Macro(m) => {
                self.lower_effect(m.to_token_stream());
                Binding::unit()
            }
            _ => self.lower_expr(e),
        }
    }

    fn lower_local(&mut self, local: &syn::Local) {
        let value = match &local.init {
            Some(init) => self.lower_expr(&init.expr),
            None => Binding::Uninit,
        };
        self.bind_pat(&local.pat, value);
    }

    /// Binds a `let` pattern: an identifier, `_`, a tuple, or a typed pattern.
    pub fn bind_pat(&mut self, pat: &syn::Pat, value: Binding) {
        match pat {
            syn::Pat::Ident(p) if p.subpat.is_none() && p.by_ref.is_none() => {
                let value = self.rename(&p.ident, value);
                self.declare(&p.ident, value);
            }
            syn::Pat::Wild(_) => {}
            syn::Pat::Type(t) => self.bind_pat(&t.pat, value),
            syn::Pat::Paren(p) => self.bind_pat(&p.pat, value),
            syn::Pat::Tuple(t) => match value {
                Binding::Tuple(items) if items.len() == t.elems.len() => {
                    for (p, v) in t.elems.iter().zip(items) {
                        self.bind_pat(p, v);
                    }
                }
                Binding::Leaf(Operand::Var(v)) if self.is_last_call(v) => {
                    // `let (a, b) = g(x);`: the call's results take the pattern's shape.
                    let (shape, binding) = self.shape_of_pat(pat);
                    if let Some(Stmt::Let { outs, .. }) = self.cur.last_mut() {
                        *outs = Some(shape);
                    }
                    self.bind_pat(pat, binding);
                }
                _ => self.errors.push(
                    pat,
                    "this tuple pattern does not match the value: adjoint destructures tuple expressions, tuples returned by #[differentiable] functions and tuple variables of the same length",
                ),
            },
            _ => self.errors.push(
                pat,
                "this pattern is not supported in a #[differentiable] function: bind a name or a tuple of names",
            ),
        }
    }

    /// Is `v` defined by the statement just pushed, a call of a function or method?
    fn is_last_call(&self, v: Var) -> bool {
        matches!(self.cur.last(), Some(Stmt::Let { var, op: Op::Call { .. } | Op::Method { .. }, outs: None, .. }) if *var == v)
    }

    /// Fresh values shaped like a tuple pattern.
    fn shape_of_pat(&mut self, pat: &syn::Pat) -> (Shape, Binding) {
        match pat {
            syn::Pat::Tuple(t) => {
                let (shapes, bindings) = t.elems.iter().map(|p| self.shape_of_pat(p)).unzip();
                (Shape::Tuple(shapes), Binding::Tuple(bindings))
            }
            syn::Pat::Type(t) => self.shape_of_pat(&t.pat),
            syn::Pat::Paren(p) => self.shape_of_pat(&p.pat),
            other => {
                // Named `__t_…` so that binding it renames it after the variable.
                let var = self.fresh("t", Kind::Scalar, other.span());
                (Shape::Leaf(var), Binding::Leaf(Operand::Var(var)))
            }
        }
    }

    /// Gives a binding a value named after the user's variable, so that the
    /// expansion reads `__y_4` for `y` (a copy the optimizer removes).
    fn rename(&mut self, ident: &Ident, value: Binding) -> Binding {
        match value {
            Binding::Leaf(Operand::Var(v))
                if self.prog.info(v).ident.to_string().starts_with("__t_") =>
            {
                // A temporary made for this very expression: name it after the variable.
                let n = self.counter;
                self.counter += 1;
                let base = ident.to_string();
                let tag = format!(
                    "{}_{n}",
                    base.trim_start_matches("r#").trim_start_matches('_')
                );
                self.prog.vars[v.0].ident = Ident::new(&format!("__{tag}"), Span::mixed_site());
                self.prog.vars[v.0].tag = tag;
                Binding::Leaf(Operand::Var(v))
            }
            Binding::Leaf(op @ Operand::Var(_)) => {
                let kind = self.kind_of(&op);
                let var = self.fresh(&ident.to_string(), kind, ident.span());
                self.cur.push(Stmt::Let {
                    var,
                    op: Op::Copy(op),
                    outs: None,
                    span: ident.span(),
                });
                Binding::Leaf(Operand::Var(var))
            }
            other => other,
        }
    }

    fn lower_assign(&mut self, lhs: &syn::Expr, rhs: Binding, op: Option<&syn::BinOp>) {
        let name = match lhs {
            syn::Expr::Path(p) if p.path.get_ident().is_some() => {
                p.path.get_ident().unwrap().clone()
            }
            syn::Expr::Index(_) => {
                return self.errors.push(
                    lhs,
                    "assignment into a slice or array is not supported in a #[differentiable] function: accumulate into a local variable instead",
                );
            }
            syn::Expr::Unary(u) if matches!(u.op, syn::UnOp::Deref(_)) => {
                return self.errors.push(
                    lhs,
                    "writes through references are not supported in a #[differentiable] function: return the new value instead",
                );
            }
            _ => {
                return self.errors.push(
                    lhs,
                    "only plain variables can be assigned in a #[differentiable] function (`x = …`, `x += …`)",
                );
            }
        };
        let Some(current) = self.lookup(&name.to_string()).cloned() else {
            return self.errors.push(
                &name,
                format!("cannot assign to `{name}`: it is not a local variable of this function"),
            );
        };
        let new = match op {
            None => rhs,
            Some(op) => {
                let lhs_op = self.leaf(current.clone(), lhs);
                let rhs_op = self.leaf(rhs, op);
                let (bin, tokens) = compound_op(op).expect("checked by caller");
                Binding::Leaf(self.push_op(
                    Op::Binary {
                        op: bin,
                        tokens,
                        lhs: lhs_op,
                        rhs: rhs_op,
                    },
                    op.span(),
                ))
            }
        };
        if !matches!(current, Binding::Uninit) && !current.same_shape(&new) {
            return self
                .errors
                .push(lhs, "this assignment changes the shape of the variable");
        }
        let new = self.rename(&name, new);
        self.assign(&name.to_string(), new);
    }

    /// A statement kept for its effect (`println!`, `assert!`).
    fn lower_effect(&mut self, tokens: TokenStream) {
        let reads = self.reads_of(&tokens);
        self.cur.push(Stmt::Effect { tokens, reads });
    }

    /// The user variables that `tokens` may name (including `{x}` in format
    /// strings), with their current values, for rebinding around opaque code.
    pub fn reads_of(&self, tokens: &TokenStream) -> Vec<(Ident, Operand)> {
        let mut found: Vec<Ident> = Vec::new();
        collect_idents(tokens.clone(), &mut found);
        let mut out: Vec<(Ident, Operand)> = Vec::new();
        for id in found {
            let name = id.to_string();
            // `self` cannot be rebound; it is always the method's own.
            if name == "self" || out.iter().any(|(i, _)| *i == name) {
                continue;
            }
            if let Some(Binding::Leaf(op)) = self.lookup(&name) {
                out.push((id, op.clone()));
            }
        }
        out
    }

    // ---- control flow ------------------------------------------------------

    /// Lowers `if`/`match`/a block that contains `return`: every branch runs on
    /// to the function's end (through `frames`) and yields its result.
    fn lower_diverging(&mut self, e: &syn::Expr, frames: &[Frame]) -> Binding {
        match e {
            syn::Expr::Return(r) => match &r.expr {
                Some(v) => self.lower_expr(v),
                None => Binding::unit(),
            },
            syn::Expr::Block(b) if b.label.is_none() => {
                self.scoped(|l| l.lower_seq(&b.block.stmts, frames, true))
            }
            syn::Expr::If(i) => {
                let cond = self.lower_operand(&i.cond);
                let snapshot = self.scopes.clone();
                let (mut then_block, then_val) = self
                    .in_block(|l| l.scoped(|l| l.lower_seq(&i.then_branch.stmts, frames, true)));
                self.scopes = snapshot;
                let (mut else_block, else_val) = self.in_block(|l| match &i.else_branch {
                    Some((_, els)) => l.scoped(|l| l.lower_diverging(els, frames)),
                    None => l.lower_seq(&[], frames, true),
                });
                let (value, outs) = self.merge_values(
                    &[&then_val, &else_val],
                    &mut [&mut then_block, &mut else_block],
                    e,
                );
                self.cur.push(Stmt::If {
                    cond,
                    then_block,
                    else_block,
                    outs,
                });
                value
            }
            syn::Expr::Match(m) => self.lower_match(m, Some(frames)).0,
            _ => {
                self.errors.push(
                    e,
                    "`return` is supported in statement position (`if c { return v; }`), not inside an expression: compute the value in a variable first",
                );
                Binding::unit()
            }
        }
    }

    /// Runs `f` in a new scope.
    pub fn scoped<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> T {
        let depth = self.scopes.len();
        self.scopes.push(Scope::new());
        let v = f(self);
        self.scopes.truncate(depth);
        v
    }

    /// Merges the values of several branches into fresh outputs. Each block
    /// gets its value's leaves as yields; the merged binding is returned.
    fn merge_values(
        &mut self,
        values: &[&Binding],
        blocks: &mut [&mut Block],
        at: &dyn ToTokens,
    ) -> (Binding, Vec<Var>) {
        let first = values[0];
        if !values.iter().all(|v| v.same_shape(first)) || matches!(first, Binding::Uninit) {
            if values
                .iter()
                .any(|v| !matches!(v, Binding::Tuple(t) if t.is_empty()))
            {
                // Only an error if the value is used; Rust reports mismatched
                // branch types itself, so yield nothing here.
                let _ = at;
            }
            return (Binding::unit(), Vec::new());
        }
        let span = at
            .to_token_stream()
            .into_iter()
            .next()
            .map(|t| t.span())
            .unwrap_or_else(Span::call_site);
        let (merged, outs) = self.fresh_like(first, "v", span);
        for (v, block) in values.iter().zip(blocks.iter_mut()) {
            v.leaves(&mut block.yields);
        }
        (merged, outs)
    }

    /// After branches ran from `before`, merges every outer variable that some
    /// branch changed: fresh outputs, yields appended to each block.
    fn merge_envs(
        &mut self,
        before: &[Scope],
        afters: &[Vec<Scope>],
        blocks: &mut [&mut Block],
        outs: &mut Vec<Var>,
        at: Span,
    ) {
        for (level, scope) in before.iter().enumerate() {
            let mut names: Vec<&String> = scope.keys().collect();
            names.sort();
            for name in names {
                let old = &scope[name];
                let versions: Vec<&Binding> = afters.iter().map(|a| &a[level][name]).collect();
                if versions.iter().all(|v| v.same_as(old)) {
                    continue;
                }
                if versions.iter().any(|v| matches!(v, Binding::Uninit)) {
                    // Assigned on some paths only: stays unusable after the branch.
                    self.scopes[level].insert(name.clone(), Binding::Uninit);
                    continue;
                }
                if !versions.iter().all(|v| v.same_shape(versions[0])) {
                    self.errors.push_span(
                        at,
                        format!("`{name}` gets values of different shapes in different branches"),
                    );
                    continue;
                }
                let (merged, vars) = self.fresh_like(versions[0], name, at);
                for (v, block) in versions.iter().zip(blocks.iter_mut()) {
                    v.leaves(&mut block.yields);
                }
                outs.extend(vars);
                self.scopes[level].insert(name.clone(), merged);
            }
        }
    }

    /// `if` in value or statement position (with no `return` inside).
    pub fn lower_if(&mut self, i: &syn::ExprIf) -> Binding {
        let cond = self.lower_operand(&i.cond);
        let before = self.scopes.clone();
        let (mut then_block, then_val) =
            self.in_block(|l| l.scoped(|l| l.lower_seq(&i.then_branch.stmts, &[], false)));
        let after_then = std::mem::replace(&mut self.scopes, before.clone());
        let (mut else_block, else_val) = self.in_block(|l| match &i.else_branch {
            Some((_, els)) => l.scoped(|l| l.lower_expr(els)),
            None => Binding::unit(),
        });
        let after_else = std::mem::replace(&mut self.scopes, before.clone());
        let (value, mut outs) = self.merge_values(
            &[&then_val, &else_val],
            &mut [&mut then_block, &mut else_block],
            i,
        );
        self.merge_envs(
            &before,
            &[after_then, after_else],
            &mut [&mut then_block, &mut else_block],
            &mut outs,
            i.if_token.span,
        );
        self.cur.push(Stmt::If {
            cond,
            then_block,
            else_block,
            outs,
        });
        value
    }

    /// `match` in value or statement position; with `frames`, its arms run on
    /// to the function's end (an arm may `return`).
    pub fn lower_match(&mut self, m: &syn::ExprMatch, frames: Option<&[Frame]>) -> (Binding, ()) {
        let scrutinee = self.lower_operand(&m.expr);
        let before = self.scopes.clone();
        let mut arms = Vec::new();
        let mut values = Vec::new();
        let mut afters = Vec::new();
        for arm in &m.arms {
            let (block, (value, binds, guard)) = self.in_block(|l| {
                l.scoped(|l| {
                    let mut bound = Vec::new();
                    pattern_idents(&arm.pat, &mut bound);
                    let guard = arm.guard.as_ref().map(|(_, g)| {
                        let tokens = g.to_token_stream();
                        // The pattern's own names are bound by the pattern itself.
                        let reads = l
                            .reads_of(&tokens)
                            .into_iter()
                            .filter(|(id, _)| !bound.contains(id))
                            .collect();
                        (tokens, reads)
                    });
                    let binds = l.bind_arm_pattern(&arm.pat);
                    let body = [syn::Stmt::Expr((*arm.body).clone(), None)];
                    let value = match frames {
                        Some(frames) => l.lower_seq(&body, frames, true),
                        None => l.lower_seq(&body, &[], false),
                    };
                    (value, binds, guard)
                })
            });
            afters.push(std::mem::replace(&mut self.scopes, before.clone()));
            values.push(value);
            arms.push(Arm {
                pat: arm.pat.clone(),
                guard,
                binds,
                body: block,
            });
        }
        let value_refs: Vec<&Binding> = values.iter().collect();
        let mut blocks: Vec<&mut Block> = arms.iter_mut().map(|a| &mut a.body).collect();
        let (value, mut outs) = if value_refs.is_empty() {
            (Binding::unit(), Vec::new())
        } else {
            self.merge_values(&value_refs, &mut blocks, m)
        };
        if frames.is_none() {
            self.merge_envs(&before, &afters, &mut blocks, &mut outs, m.match_token.span);
        }
        self.cur.push(Stmt::Match {
            scrutinee,
            arms,
            outs,
        });
        (value, ())
    }

    /// The names an arm's pattern binds become values of the arm.
    fn bind_arm_pattern(&mut self, pat: &syn::Pat) -> Vec<(Ident, Var)> {
        let mut names = Vec::new();
        pattern_idents(pat, &mut names);
        names
            .into_iter()
            .map(|id| {
                let var = self.fresh(&id.to_string(), Kind::Scalar, id.span());
                self.declare(&id, Binding::Leaf(Operand::Var(var)));
                (id, var)
            })
            .collect()
    }

    fn lower_for(&mut self, f: &syn::ExprForLoop) {
        let index_ident = match &*f.pat {
            syn::Pat::Ident(p) if p.subpat.is_none() => p.ident.clone(),
            syn::Pat::Wild(w) => Ident::new("_i", w.span()),
            other => {
                return self.errors.push(
                    other,
                    "a `for` loop in a #[differentiable] function binds one name: `for i in 0..n`",
                );
            }
        };
        // `for v in &xs` / `for v in xs.iter()` / `for v in xs`: a loop over
        // positions, each
        // element borrowed as `&xs[k]`, so its gradient reaches `xs[k]`.
        let collection = match &*f.expr {
            syn::Expr::Reference(r) if r.mutability.is_none() => Some(&*r.expr),
            syn::Expr::MethodCall(m) if m.method == "iter" && m.args.is_empty() => {
                Some(&*m.receiver)
            }
            // `for v in xs` with `xs` a slice or a `Vec` by reference.
            syn::Expr::Path(p) if p.path.get_ident().is_some() => Some(&*f.expr),
            _ => None,
        };
        if let Some(expr) = collection {
            let span = f.for_token.span;
            let coll = self.lower_operand(expr);
            let len = self.push_op(
                Op::Method {
                    recv: coll.clone(),
                    name: Ident::new("len", span),
                    turbofish: TokenStream::new(),
                    args: Vec::new(),
                },
                span,
            );
            let n = Ident::new("__len", Span::mixed_site());
            let iter = self.push_op(
                Op::Opaque {
                    tokens: quote!(0..#n),
                    reads: vec![(n, len)],
                    what: "a range",
                },
                span,
            );
            let index = self.fresh("k", Kind::Scalar, span);
            self.lower_loop(&f.body, span, |l| {
                let elem = l.push_op(
                    Op::Index {
                        base: coll.clone(),
                        index: Operand::Var(index),
                    },
                    span,
                );
                let elem = l.push_op(Op::Ref(elem), span);
                if !matches!(&*f.pat, syn::Pat::Wild(_)) {
                    l.declare(&index_ident, Binding::Leaf(elem));
                }
                LoopKind::For { index, iter }
            });
            return;
        }
        let iter = self.lower_operand(&f.expr);
        let index = self.fresh(&index_ident.to_string(), Kind::Scalar, index_ident.span());
        self.lower_loop(&f.body, f.for_token.span, |l| {
            if !matches!(&*f.pat, syn::Pat::Wild(_)) {
                l.declare(&index_ident, Binding::Leaf(Operand::Var(index)));
            }
            LoopKind::For { index, iter }
        });
    }

    fn lower_while(&mut self, w: &syn::ExprWhile) {
        let cond_expr = &w.cond;
        self.lower_loop(&w.body, w.while_token.span, |l| {
            let (cond_block, cond) = l.in_block(|l| l.lower_operand(cond_expr));
            LoopKind::While { cond_block, cond }
        });
    }

    /// The common part of `for` and `while`: carried variables, the body.
    fn lower_loop(
        &mut self,
        body: &syn::Block,
        span: Span,
        head: impl FnOnce(&mut Self) -> LoopKind,
    ) {
        let mut names = Vec::new();
        assigned_names(body, &mut names);
        let mut carried_names = Vec::new();
        let mut inits = Vec::new();
        for name in names {
            match self.lookup(&name).cloned() {
                Some(Binding::Uninit) => {
                    self.errors.push_span(span, format!("`{name}` is assigned in this loop but has no value before it: initialize it where it is declared"));
                }
                Some(b) => {
                    carried_names.push(name);
                    inits.push(b);
                }
                None => {}
            }
        }
        let mut entries = Vec::new();
        for (name, init) in carried_names.iter().zip(&inits) {
            let (entry, vars) = self.fresh_like(init, name, span);
            self.assign(name, entry);
            entries.push(vars);
        }
        let id = self.next_loop;
        self.next_loop += 1;
        self.loop_depth += 1;
        let (mut block, kind) = self.in_block(|l| {
            l.scoped(|l| {
                let kind = head(l);
                l.scoped(|l| l.lower_seq(&body.stmts, &[], false));
                kind
            })
        });
        self.loop_depth -= 1;
        let mut carried = Vec::new();
        for ((name, init), entry) in carried_names.iter().zip(&inits).zip(entries) {
            let exit = self.lookup(name).cloned().expect("still bound");
            let (out, outs) = self.fresh_like(&exit, name, span);
            let (mut init_leaves, mut exit_leaves) = (Vec::new(), Vec::new());
            init.leaves(&mut init_leaves);
            exit.leaves(&mut exit_leaves);
            block.yields.extend(exit_leaves.iter().cloned());
            for (((init, entry), exit), out) in init_leaves
                .into_iter()
                .zip(entry)
                .zip(exit_leaves)
                .zip(outs)
            {
                carried.push(Carried {
                    init,
                    entry,
                    exit,
                    out,
                });
            }
            self.assign(name, out);
        }
        self.cur.push(Stmt::Loop(Box::new(Loop {
            kind,
            carried,
            body: block,
            id,
        })));
    }

    /// Lowers the function body; the result's leaves become the body's yields.
    pub fn lower_body(&mut self, body: &syn::Block) -> Binding {
        let (mut block, value) =
            self.in_block(|l| l.scoped(|l| l.lower_seq(&body.stmts, &[], true)));
        value.leaves(&mut block.yields);
        self.prog.body = block;
        value
    }
}

/// A key naming a pure operation by what it computes, or `None` for
/// operations with effects or hidden inputs (calls, opaque code).
fn pure_key(op: &Op) -> Option<String> {
    let o = |x: &Operand| match x {
        Operand::Var(v) => format!("v{}", v.0),
        Operand::Const(c) => format!("({c})"),
    };
    Some(match op {
        Op::Neg(x) => format!("neg {}", o(x)),
        Op::Not(x) => format!("not {}", o(x)),
        Op::Binary {
            tokens, lhs, rhs, ..
        } => format!("{} {tokens} {}", o(lhs), o(rhs)),
        Op::Index { base, index } => format!("{}[{}]", o(base), o(index)),
        Op::Cast { operand, ty } => format!("{} as {}", o(operand), ty.to_token_stream()),
        Op::Field { base, members } => {
            let path: Vec<String> = members
                .iter()
                .map(|m| m.to_token_stream().to_string())
                .collect();
            format!("{}.{}", o(base), path.join("."))
        }
        Op::Method {
            recv,
            name,
            turbofish,
            args,
        } => {
            let n = name.to_string();
            if crate::rules::method_mask(&n).is_none() && !crate::rules::is_non_diff_method(&n) {
                return None;
            }
            let args: Vec<String> = args.iter().map(o).collect();
            format!("{}.{n}{turbofish}({})", o(recv), args.join(","))
        }
        _ => return None,
    })
}

/// `+=` and friends as the binary operator they apply.
pub fn compound_op(op: &syn::BinOp) -> Option<(BinOp, TokenStream)> {
    use syn::BinOp as B;
    Some(match op {
        B::AddAssign(t) => (BinOp::Add, quote::quote_spanned!(t.span()=> +)),
        B::SubAssign(t) => (BinOp::Sub, quote::quote_spanned!(t.span()=> -)),
        B::MulAssign(t) => (BinOp::Mul, quote::quote_spanned!(t.span()=> *)),
        B::DivAssign(t) => (BinOp::Div, quote::quote_spanned!(t.span()=> /)),
        B::RemAssign(t) => (BinOp::Rem, quote::quote_spanned!(t.span()=> %)),
        B::BitAndAssign(_)
        | B::BitOrAssign(_)
        | B::BitXorAssign(_)
        | B::ShlAssign(_)
        | B::ShrAssign(_) => {
            let s = op.to_token_stream().to_string();
            let bare: TokenStream = s.trim_end_matches('=').parse().ok()?;
            (BinOp::NonDiff, bare)
        }
        _ => return None,
    })
}

/// Does `e` contain a `return` (outside closures)?
pub fn contains_return(e: &syn::Expr) -> bool {
    struct Finder(bool);
    impl<'ast> syn::visit::Visit<'ast> for Finder {
        fn visit_expr_return(&mut self, _: &'ast syn::ExprReturn) {
            self.0 = true;
        }
        fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}
        fn visit_item(&mut self, _: &'ast syn::Item) {}
        // A `return` in a loop is refused by `check`; do not report it twice.
        fn visit_expr_for_loop(&mut self, _: &'ast syn::ExprForLoop) {}
        fn visit_expr_while(&mut self, _: &'ast syn::ExprWhile) {}
    }
    let mut f = Finder(false);
    syn::visit::Visit::visit_expr(&mut f, e);
    f.0
}

/// Names assigned (`x = …`, `x += …`) anywhere in a block.
fn assigned_names(block: &syn::Block, out: &mut Vec<String>) {
    struct Finder<'a>(&'a mut Vec<String>);
    impl<'ast> syn::visit::Visit<'ast> for Finder<'_> {
        fn visit_expr_assign(&mut self, a: &'ast syn::ExprAssign) {
            if let syn::Expr::Path(p) = &*a.left
                && let Some(id) = p.path.get_ident()
            {
                let s = id.to_string();
                if !self.0.contains(&s) {
                    self.0.push(s);
                }
            }
            syn::visit::visit_expr_assign(self, a);
        }
        fn visit_expr_binary(&mut self, b: &'ast syn::ExprBinary) {
            if compound_op(&b.op).is_some()
                && let syn::Expr::Path(p) = &*b.left
                && let Some(id) = p.path.get_ident()
            {
                let s = id.to_string();
                if !self.0.contains(&s) {
                    self.0.push(s);
                }
            }
            syn::visit::visit_expr_binary(self, b);
        }
    }
    syn::visit::Visit::visit_block(&mut Finder(out), block);
}

/// The identifiers a match pattern binds.
fn pattern_idents(pat: &syn::Pat, out: &mut Vec<Ident>) {
    struct Finder<'a>(&'a mut Vec<Ident>);
    impl<'ast> syn::visit::Visit<'ast> for Finder<'_> {
        fn visit_pat_ident(&mut self, p: &'ast syn::PatIdent) {
            // A lone capitalized identifier is a unit variant or constant, not a binding.
            let s = p.ident.to_string();
            if !s.starts_with(|c: char| c.is_uppercase()) {
                self.0.push(p.ident.clone());
            }
            syn::visit::visit_pat_ident(self, p);
        }
    }
    syn::visit::Visit::visit_pat(&mut Finder(out), pat);
}

/// Every identifier in `tokens`, and `{name}` captures inside string literals.
fn collect_idents(tokens: TokenStream, out: &mut Vec<Ident>) {
    for tt in tokens {
        match tt {
            proc_macro2::TokenTree::Ident(id) => out.push(id),
            proc_macro2::TokenTree::Group(g) => collect_idents(g.stream(), out),
            proc_macro2::TokenTree::Literal(lit) => {
                let s = lit.to_string();
                if s.starts_with('"') || s.starts_with("r\"") || s.starts_with("r#") {
                    for part in s.split('{').skip(1) {
                        let name: String = part
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        if !name.is_empty() && !name.starts_with(|c: char| c.is_ascii_digit()) {
                            out.push(Ident::new(&name, lit.span()));
                        }
                    }
                }
            }
            proc_macro2::TokenTree::Punct(_) => {}
        }
    }
}
