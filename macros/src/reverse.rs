//! Emitting the reverse sweep: statements in reverse order, each adding its
//! result's adjoint times the rule's partial derivatives into its operands'
//! adjoints. Branches and loop bodies are recomputed (their `Let`s that the
//! rules read, no side effects) right before their reverse runs.

use crate::activity;
use crate::forward::{Emitter, Mode, loop_ident};
use crate::ir::*;
use crate::rules;
use proc_macro2::{Ident, TokenStream};
use quote::quote;

impl Emitter<'_> {
    /// The reverse of a block: declares the adjoints of the active values it
    /// defines (and of `extra`), adds the `seeds` (adjoints flowing into its
    /// yields from outside), then reverses its statements.
    pub fn reverse_block(
        &self,
        b: &Block,
        extra: &[Var],
        seeds: &[(Operand, TokenStream)],
    ) -> TokenStream {
        let decls = self.declare_adjoints(b, extra);
        let seeds: Vec<TokenStream> = seeds
            .iter()
            .map(|(y, adj)| self.add_to(y, adj.clone()))
            .collect();
        let stmts: Vec<TokenStream> = b.stmts.iter().rev().map(|s| self.reverse_stmt(s)).collect();
        quote!(#(#decls)* #(#seeds)* #(#stmts)*)
    }

    /// The reverse of the function's body: as [`Self::reverse_block`], and
    /// where a fused loop is the first to add into a parameter's adjoint (no
    /// statement after it reads the parameter), its buffer becomes that adjoint.
    pub fn reverse_body(&self, b: &Block, seeds: &[(Operand, TokenStream)]) -> TokenStream {
        let params: Vec<Var> = self.prog.params.iter().map(|p| p.var).collect();
        let head = self.reverse_block(
            &Block {
                stmts: Vec::new(),
                yields: Vec::new(),
            },
            &[],
            seeds,
        );
        let decls = self.declare_adjoints(b, &[]);
        let mut touched: std::collections::HashSet<Var> =
            b.yields.iter().filter_map(Operand::var).collect();
        let mut stmts = Vec::new();
        for st in b.stmts.iter().rev() {
            let code = match st {
                Stmt::Loop(l) if activity::loop_live(l, self.act) => {
                    match crate::fusion::accumulator(l, self.act) {
                        Some(acc) => self.reverse_fused(l, acc, &|v| {
                            params.contains(&v) && !touched.contains(&v)
                        }),
                        None => self.reverse_stmt(st),
                    }
                }
                _ => self.reverse_stmt(st),
            };
            stmts.push(code);
            touched.extend(crate::fusion::stmt_reads(st));
        }
        quote!(#(#decls)* #head #(#stmts)*)
    }

    /// Declarations of the adjoints of the active values a block defines at
    /// its own level, and of `extra`.
    fn declare_adjoints(&self, b: &Block, extra: &[Var]) -> Vec<TokenStream> {
        extra
            .iter()
            .copied()
            .chain(b.stmts.iter().flat_map(activity::stmt_defs))
            .filter(|v| self.act.active(*v))
            .map(|v| self.declare_adjoint(v))
            .collect()
    }

    /// `let mut __dx = <zero>;`. A scalar adjoint starts at `-0.0`, the
    /// identity of `+`, so that the first `+=` folds away.
    pub fn declare_adjoint(&self, v: Var) -> TokenStream {
        let d = self.adj(v);
        let id = self.value(v);
        let rt = &self.rt;
        match self.prog.info(v).kind {
            Kind::Scalar if self.zero_from_shape(v) => {
                let z = self.shape_ident(v);
                quote!(let mut #d = #rt::zero_from(&#z);)
            }
            Kind::Scalar => quote!(let mut #d = #rt::adjoint_zero(&#id);),
            Kind::Container => quote!(let mut #d = #rt::zero_tangent(&#id);),
        }
    }

    /// `__dx += contribution;` when `x` is an active value, else nothing.
    pub fn add_to(&self, target: &Operand, contribution: TokenStream) -> TokenStream {
        let Some(v) = target.var().filter(|v| self.act.active(*v)) else {
            return TokenStream::new();
        };
        let d = self.adj(v);
        let check = self.check_tokens(
            quote!(#d),
            &format!("the gradient of `{}`", self.user_name(target)),
            self.span_now.get(),
        );
        match self.prog.info(v).kind {
            // `+=` reads as the chain rule; the runtime implements it for
            // tensors, summing a broadcast contribution back to the shape.
            Kind::Scalar => quote!(#d += #contribution; #check),
            Kind::Container => {
                let rt = &self.rt;
                quote!(#rt::accumulate(&mut #d, #contribution); #check)
            }
        }
    }

    /// `&x` for a value, the tokens themselves for a constant.
    fn borrowed(&self, o: &Operand) -> TokenStream {
        match o {
            Operand::Var(v) if self.refs.contains_key(v) || self.prog.info(*v).by_ref => {
                self.value(*v)
            }
            Operand::Var(v) => {
                let id = self.value(*v);
                quote!(&#id)
            }
            Operand::Const(c) => c.clone(),
        }
    }

    fn reverse_stmt(&self, s: &Stmt) -> TokenStream {
        match s {
            Stmt::Let {
                var,
                op,
                outs,
                span,
            } => {
                self.span_now.set(*span);
                self.reverse_let(*var, op, outs, *span)
            }
            Stmt::Effect { .. } => TokenStream::new(),
            Stmt::If {
                cond,
                then_block,
                else_block,
                outs,
            } => {
                if !activity::stmt_live(s, self.act) {
                    return TokenStream::new();
                }
                let cond = self.operand(cond);
                let then_code = self.branch(then_block, outs);
                let else_code = self.branch(else_block, outs);
                quote!(if #cond { #then_code } else { #else_code })
            }
            Stmt::Match {
                scrutinee,
                arms,
                outs,
            } => {
                if !activity::stmt_live(s, self.act) {
                    return TokenStream::new();
                }
                let scrutinee = self.operand(scrutinee);
                let arms: Vec<TokenStream> = arms
                    .iter()
                    .map(|a| {
                        let seeds = self.merge_seeds(&a.body, outs);
                        let rev = self.reverse_block(&a.body, &[], &seeds);
                        self.arm(a, Mode::RECOMPUTE, Some(rev))
                    })
                    .collect();
                quote!(match #scrutinee { #(#arms)* })
            }
            Stmt::Loop(l) => self.reverse_loop(l),
        }
    }

    /// The reverse of a fused loop (see `fusion`): its body's reverse already
    /// ran with a unit adjoint; scale the buffers by the accumulator's adjoint.
    ///
    /// `fresh(v)`: `v`'s adjoint is still its initial zero here, so the buffer
    /// can become the adjoint (no zero buffer, no extra pass).
    fn reverse_fused(&self, l: &Loop, acc: usize, fresh: &dyn Fn(Var) -> bool) -> TokenStream {
        let c = &l.carried[acc];
        if !self.act.active(c.out) {
            return TokenStream::new();
        }
        let ds = self.adj(c.out);
        let rt = &self.rt;
        let mut out = TokenStream::new();
        for v in crate::fusion::reached(l, self.act) {
            let u = self.unit_buffer(l.id, v);
            let d = self.adj(v);
            out.extend(match self.prog.info(v).kind {
                Kind::Scalar => quote!(#d += &#ds * &#u;),
                Kind::Container if fresh(v) => quote!(#d = #rt::scaled(#u, #ds);),
                Kind::Container => quote!(#rt::accumulate_scaled(&mut #d, #ds, #u);),
            });
        }
        out.extend(self.add_to(&c.init, quote!(#ds)));
        out
    }

    /// Adjoints flowing from merged outputs into a branch's yields.
    fn merge_seeds(&self, b: &Block, outs: &[Var]) -> Vec<(Operand, TokenStream)> {
        b.yields
            .iter()
            .zip(outs)
            .filter(|(_, o)| self.act.active(**o))
            .map(|(y, o)| {
                let d = self.adj(*o);
                (y.clone(), quote!(&#d))
            })
            .collect()
    }

    /// A branch's reverse: recompute it, then reverse it.
    fn branch(&self, b: &Block, outs: &[Var]) -> TokenStream {
        let recompute = self.block(b, Mode::RECOMPUTE);
        let seeds = self.merge_seeds(b, outs);
        let rev = self.reverse_block(b, &[], &seeds);
        quote!(#recompute #rev)
    }

    fn reverse_let(
        &self,
        var: Var,
        op: &Op,
        outs: &Option<Shape>,
        span: proc_macro2::Span,
    ) -> TokenStream {
        let defs = activity::defined(var, outs);
        if !defs.iter().any(|v| self.act.active(*v)) {
            return TokenStream::new();
        }
        let dy = self.adj(var);
        let dy = quote!(#dy);
        let y = self.operand(&Operand::Var(var));
        let s = {
            let rt = &self.rt;
            quote!(#rt::scalar)
        };
        match op {
            Op::Copy(x) | Op::Ref(x) | Op::Deref(x) => self.add_to(x, quote!(&#dy)),
            Op::Neg(x) => self.add_to(x, quote!(-&#dy)),
            Op::Binary { op, lhs, rhs, .. } => {
                // Values by reference (tensors are not `Copy`), constants as they are.
                let (a, b) = (self.borrowed(lhs), self.borrowed(rhs));
                let (da, db) = rules::binary_contributions(*op, &a, &b, &y, &dy, &s);
                let mut out = self.add_to(lhs, da);
                out.extend(self.add_to(rhs, db));
                out
            }
            Op::Method {
                recv, name, args, ..
            } => {
                let operands: Vec<&Operand> = std::iter::once(recv).chain(args).collect();
                if self.is_user_method(name) {
                    // The pullback's first entry is the receiver's gradient.
                    let operands: Vec<Operand> = operands.into_iter().cloned().collect();
                    return self.reverse_call(var, op, outs, &operands, span);
                }
                // The runtime's rule for this method, one contribution per operand.
                // A value the rule does not read is passed as `()` (see
                // `rules::method_reads`), so that the pullback does not keep it.
                let (receiver, result) = rules::method_reads(&name.to_string());
                let ops: Vec<TokenStream> = operands
                    .iter()
                    .enumerate()
                    .map(|(k, o)| match k == 0 && !receiver {
                        true => quote!(()),
                        false => self.operand(o),
                    })
                    .collect();
                let y = match result {
                    true => y,
                    false => quote!(()),
                };
                let r = Ident::new(
                    &format!("__r{}", self.prog.info(var).tag),
                    proc_macro2::Span::mixed_site(),
                );
                let rt = &self.rt;
                let mut out = quote!(let #r = #rt::rules::#name(&#dy, #(&#ops,)* &#y););
                let mask = rules::method_mask(&name.to_string()).unwrap_or(&[]);
                for (k, (o, diff)) in operands.iter().zip(mask).enumerate() {
                    if *diff {
                        let k = syn::Index::from(k);
                        out.extend(self.add_to(o, quote!(#r.#k)));
                    }
                }
                out
            }
            Op::Call { args, .. } => self.reverse_call(var, op, outs, args, span),
            Op::Index { base, index } => match base.var().filter(|v| self.act.active(*v)) {
                Some(b) => {
                    let db = self.adj(b);
                    let i = self.operand(index);
                    let rt = &self.rt;
                    match (index, self.prog.info(b).kind) {
                        // A constant position: a plain update (no neighbours to
                        // pair, and the bounds check folds away for arrays).
                        (Operand::Const(_), Kind::Container) => quote!(#db[#i] += #dy;),
                        (Operand::Var(_), Kind::Container) => {
                            quote!(#rt::add_at(&mut #db, #i, #dy);)
                        }
                        // A Vec of tensors or of parameter structs.
                        _ => quote!(#rt::add_at_elem(&mut #db, #i, &#dy);),
                    }
                }
                None => TokenStream::new(),
            },
            Op::Cast { operand, .. } => {
                let x = self.operand(operand);
                self.add_to(operand, quote!(#s::cast_like(#dy, #x)))
            }
            // Refused by validation when active.
            // The field of the base's adjoint (a struct of gradients).
            Op::Field { base, members } => match base.var().filter(|v| self.act.active(*v)) {
                Some(b) => {
                    let db = self.adj(b);
                    let rt = &self.rt;
                    quote!(#rt::accumulate(&mut #db #(.#members)*, &#dy);)
                }
                None => TokenStream::new(),
            },
            Op::Not(_) | Op::Opaque { .. } => TokenStream::new(),
        }
    }

    /// Runs a call's pullback on the adjoint of its result and adds the
    /// gradient of each differentiated argument (entry `k` of the tuple).
    fn reverse_call(
        &self,
        var: Var,
        op: &Op,
        outs: &Option<Shape>,
        args: &[Operand],
        span: proc_macro2::Span,
    ) -> TokenStream {
        let pb = self.pullback(var);
        // A call at the top level that borrows a local gets its pullback here
        // (see `recomputed_call`); elsewhere its recomputation took it.
        let again = if self.recomputed_call(op) && self.top.contains(&var) {
            let call = self.vjp_call(op);
            quote!(let (_, #pb) = #call;)
        } else {
            TokenStream::new()
        };
        let ct = match outs {
            Some(shape) => self.shape_adjoints(shape),
            None => {
                let d = self.adj(var);
                quote!(#d)
            }
        };
        let g = Ident::new(
            &format!("__g{}", self.prog.info(var).tag),
            proc_macro2::Span::mixed_site(),
        );
        let rt = self.rt.clone();
        let adds = args.iter().enumerate().filter_map(|(k, a)| {
            let v = a.var().filter(|v| self.act.active(*v))?;
            let d = self.adj(v);
            let k = syn::Index::from(k);
            // Located at the call, where a callee that gives no gradient for
            // this argument (`()`) is reported.
            Some(locate(quote!(#rt::accumulate(&mut #d, #g.#k);), span))
        });
        let adds: Vec<TokenStream> = adds.collect();
        quote!(#again let #g = #pb(#ct); #(#adds)*)
    }

    fn shape_adjoints(&self, s: &Shape) -> TokenStream {
        match s {
            Shape::Leaf(v) => {
                if self.act.active(*v) {
                    let d = self.adj(*v);
                    quote!(#d)
                } else {
                    // No gradient flows back through this result: a zero cotangent.
                    let (rt, id) = (&self.rt, self.value(*v));
                    quote!(#rt::adjoint_zero(&#id))
                }
            }
            Shape::Tuple(items) => {
                let inner = items.iter().map(|i| self.shape_adjoints(i));
                quote!((#(#inner,)*))
            }
        }
    }

    fn reverse_loop(&self, l: &Loop) -> TokenStream {
        if !activity::loop_live(l, self.act) {
            return TokenStream::new();
        }
        if let Some(acc) = crate::fusion::accumulator(l, self.act) {
            return self.reverse_fused(l, acc, &|_| false);
        }
        let active: Vec<(usize, &Carried)> = l
            .carried
            .iter()
            .enumerate()
            .filter(|(_, c)| self.act.active(c.entry) || self.act.active(c.out))
            .collect();
        let dslots: Vec<Ident> = active
            .iter()
            .map(|(k, _)| loop_ident(l.id, &format!("dslot{k}")))
            .collect();
        let slot_inits = active.iter().map(|(_, c)| {
            if self.act.active(c.out) {
                let d = self.adj(c.out);
                quote!(#d)
            } else {
                let (rt, out) = (&self.rt, self.value(c.out));
                quote!(#rt::adjoint_zero(&#out))
            }
        });
        let saved = self.saved(l);
        let saved_ids: Vec<Ident> = saved.iter().map(|v| self.ident(*v).clone()).collect();
        let stack = loop_ident(l.id, "stack");
        // What each reverse iteration takes: the index, the saved entries,
        // and each kept call's results and pullback, zipped.
        let rev_of = |stack: &Ident| quote!(::core::iter::Iterator::rev(::core::iter::IntoIterator::into_iter(#stack)));
        let mut takes: Vec<(TokenStream, TokenStream)> = Vec::new();
        if let LoopKind::For { index, iter } = &l.kind {
            let (index, iter) = (self.ident(*index), self.operand(iter));
            takes.push((quote!(#index), quote!(::core::iter::Iterator::rev(#iter))));
        }
        if matches!(l.kind, LoopKind::While { .. }) || !saved.is_empty() {
            takes.push((quote!((#(#saved_ids,)*)), rev_of(&stack)));
        }
        for (var, results) in self.kept_calls(l) {
            let ids = results.iter().map(|v| self.ident(*v));
            let pb = self.pullback(var);
            takes.push((
                quote!(((#(#ids,)*), #pb)),
                rev_of(&self.kept_stack(l.id, var)),
            ));
        }
        let (mut pattern, mut iter) = takes.remove(0);
        for (p, i) in takes {
            pattern = quote!((#pattern, #p));
            iter = quote!(::core::iter::Iterator::zip(#iter, #i));
        }
        let header = quote!(for #pattern in #iter);
        let recompute = self.block(
            &l.body,
            Mode {
                kept: Some(l.id),
                ..Mode::RECOMPUTE
            },
        );
        let seeds: Vec<(Operand, TokenStream)> = active
            .iter()
            .zip(&dslots)
            .map(|((_, c), slot)| (c.exit.clone(), quote!(#slot)))
            .collect();
        // Entries are restored (saved) or recomputed: their adjoints are made
        // from them, with their shapes (a tensor may change shape from one
        // iteration to the next).
        let entries: Vec<Var> = l.carried.iter().map(|c| c.entry).collect();
        let rev = self.reverse_block(&l.body, &entries, &seeds);
        let carry_back = active.iter().zip(&dslots).map(|((_, c), slot)| {
            if self.act.active(c.entry) {
                let d = self.adj(c.entry);
                quote!(#slot = #d;)
            } else {
                let rt = &self.rt;
                quote!(#slot = #rt::adjoint_zero(&#slot);)
            }
        });
        let to_inits: Vec<TokenStream> = active
            .iter()
            .zip(&dslots)
            .map(|((_, c), slot)| self.add_to(&c.init, quote!(#slot)))
            .collect();
        quote! {
            #(let mut #dslots = #slot_inits;)*
            #header {
                #recompute
                #rev
                #(#carry_back)*
            }
            #(#to_inits)*
        }
    }
}

/// The same tokens, reported at `span` (hygiene unchanged).
fn locate(tokens: TokenStream, span: proc_macro2::Span) -> TokenStream {
    use proc_macro2::{Group, TokenTree};
    tokens
        .into_iter()
        .map(|tt| match tt {
            TokenTree::Group(g) => {
                let mut ng = Group::new(g.delimiter(), locate(g.stream(), span));
                ng.set_span(g.span().located_at(span));
                TokenTree::Group(ng)
            }
            mut other => {
                other.set_span(other.span().located_at(span));
                other
            }
        })
        .collect()
}
