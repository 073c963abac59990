//! Lowering, part 2: expressions. Each operation becomes one `Let` of a fresh
//! value; operations on constants only stay constant expressions.

use crate::ir::*;
use crate::lower::{Binding, Lowerer, compound_op};
use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::Expr;
use syn::spanned::Spanned;

impl Lowerer<'_> {
    /// Lowers an expression that must be a single value.
    pub fn lower_operand(&mut self, e: &Expr) -> Operand {
        let b = self.lower_expr(e);
        self.leaf(b, e)
    }

    /// Lowers an expression to the binding of its value.
    pub fn lower_expr(&mut self, e: &Expr) -> Binding {
        let span = e.span();
        let leaf = |op| Binding::Leaf(op);
        match e {
            Expr::Lit(l) => leaf(Operand::Const(l.to_token_stream())),
            Expr::Path(p) => {
                if p.qself.is_none()
                    && let Some(id) = p.path.get_ident()
                {
                    if let Some(b) = self.lookup(&id.to_string()) {
                        return b.clone();
                    }
                    if id == "self" {
                        return leaf(Operand::Const(quote!(#id)));
                    }
                }
                // A constant, static, unit struct or enum variant.
                leaf(Operand::Const(p.to_token_stream()))
            }
            Expr::Paren(p) => self.lower_expr(&p.expr),
            Expr::Group(g) => self.lower_expr(&g.expr),
            Expr::Unary(u) => {
                let operand = self.lower_operand(&u.expr);
                match u.op {
                    syn::UnOp::Neg(_) => match operand {
                        Operand::Const(c) => leaf(Operand::Const(quote!((-#c)))),
                        o => leaf(self.push_op(Op::Neg(o), span)),
                    },
                    syn::UnOp::Not(_) => leaf(self.push_op(Op::Not(operand), span)),
                    _ => leaf(self.push_op(Op::Deref(operand), span)),
                }
            }
            Expr::Reference(r) => {
                let operand = self.lower_operand(&r.expr);
                leaf(self.push_op(Op::Ref(operand), span))
            }
            Expr::Binary(b) => self.lower_binary(e, b),
            Expr::MethodCall(m) if m.args.iter().any(|a| matches!(a, Expr::Closure(_))) => {
                Binding::poison()
            }
            Expr::MethodCall(m) => {
                let recv = self.lower_operand(&m.receiver);
                let args = m.args.iter().map(|a| self.lower_operand(a)).collect();
                let turbofish = m.turbofish.to_token_stream();
                leaf(self.push_op(
                    Op::Method {
                        recv,
                        name: m.method.clone(),
                        turbofish,
                        args,
                    },
                    m.method.span(),
                ))
            }
            Expr::Call(c) => self.lower_call(e, c),
            Expr::Index(i) => {
                let base = self.lower_operand(&i.expr);
                let index = self.lower_operand(&i.index);
                leaf(self.push_op(Op::Index { base, index }, span))
            }
            Expr::Cast(c) => {
                let operand = self.lower_operand(&c.expr);
                let ty = (*c.ty).clone();
                match operand {
                    Operand::Const(k) => leaf(Operand::Const(quote!((#k as #ty)))),
                    operand => leaf(self.push_op(Op::Cast { operand, ty }, span)),
                }
            }
            Expr::Field(f) => {
                // `a.b.c`: the whole path of fields as one operation.
                let mut members = vec![f.member.clone()];
                let mut root = &*f.base;
                while let Expr::Field(inner) = root {
                    members.insert(0, inner.member.clone());
                    root = &inner.base;
                }
                let mut base = self.lower_expr(root);
                // Tuple fields (`t.0`) are taken apart at compile time.
                while let (Binding::Tuple(items), Some(syn::Member::Unnamed(idx))) =
                    (&base, members.first())
                {
                    match items.get(idx.index as usize) {
                        Some(b) => {
                            base = b.clone();
                            members.remove(0);
                        }
                        None => {
                            self.errors.push(&f.member, "this tuple has no such field");
                            return Binding::unit();
                        }
                    }
                }
                if members.is_empty() {
                    return base;
                }
                let base = self.leaf(base, &f.base);
                leaf(self.push_op(Op::Field { base, members }, span))
            }
            Expr::Tuple(t) => Binding::Tuple(t.elems.iter().map(|x| self.lower_expr(x)).collect()),
            Expr::Block(b) => self.scoped(|l| l.lower_seq(&b.block.stmts, &[], false)),
            Expr::If(i) => self.lower_if(i),
            Expr::Match(m) => self.lower_match(m, None).0,
            Expr::Macro(_) => self.opaque(e, "a macro"),
            Expr::Range(_) => self.opaque(e, "a range"),
            Expr::Array(_) | Expr::Repeat(_) => self.opaque(e, "an array"),
            Expr::Struct(_) => self.opaque(e, "a struct literal"),
            Expr::Return(_) if self.loop_depth > 0 => Binding::poison(), // refused by `check`
            Expr::Return(r) => {
                self.errors.push(
                    r.return_token,
                    "`return` is supported in statement position (`if c { return v; }`), not inside an expression: compute the value in a variable first",
                );
                Binding::unit()
            }
            Expr::Assign(_) => {
                self.errors.push(
                    e,
                    "an assignment is a statement here: write it on its own line",
                );
                Binding::unit()
            }
            // Refused by `check` with a precise message.
            Expr::Closure(_)
            | Expr::Unsafe(_)
            | Expr::Async(_)
            | Expr::Await(_)
            | Expr::Try(_)
            | Expr::Loop(_)
            | Expr::Break(_)
            | Expr::Continue(_)
            | Expr::Let(_) => Binding::poison(),
            Expr::ForLoop(_) | Expr::While(_) => {
                self.errors
                    .push(e, "a loop has no value: write it as a statement");
                Binding::unit()
            }
            _ => {
                self.errors.push(
                    e,
                    "this expression is not supported in a #[differentiable] function",
                );
                Binding::unit()
            }
        }
    }

    fn lower_binary(&mut self, e: &Expr, b: &syn::ExprBinary) -> Binding {
        use syn::BinOp as B;
        if compound_op(&b.op).is_some() {
            self.errors.push(
                e,
                "a compound assignment is a statement here: write it on its own line",
            );
            return Binding::unit();
        }
        if matches!(b.op, B::And(_) | B::Or(_)) {
            // Kept whole: the right operand must only run when the left allows it.
            return self.opaque(e, "a `&&`/`||` expression");
        }
        // `&a + &b` is `a + b`: the generated code borrows operands anyway.
        let lhs = self.lower_operand(strip_ref(&b.left));
        let rhs = self.lower_operand(strip_ref(&b.right));
        let op = match b.op {
            B::Add(_) => BinOp::Add,
            B::Sub(_) => BinOp::Sub,
            B::Mul(_) => BinOp::Mul,
            B::Div(_) => BinOp::Div,
            B::Rem(_) => BinOp::Rem,
            _ => BinOp::NonDiff,
        };
        let tokens = b.op.to_token_stream();
        if let (Operand::Const(l), Operand::Const(r)) = (&lhs, &rhs) {
            return Binding::Leaf(Operand::Const(quote!((#l #tokens #r))));
        }
        Binding::Leaf(self.push_op(
            Op::Binary {
                op,
                tokens,
                lhs,
                rhs,
            },
            b.op.span(),
        ))
    }

    fn lower_call(&mut self, e: &Expr, c: &syn::ExprCall) -> Binding {
        let Expr::Path(func) = &*c.func else {
            self.errors.push(
                &c.func,
                "only functions named by a path can be called in a #[differentiable] function",
            );
            return Binding::unit();
        };
        let path = &func.path;
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        let last = path.segments.last().expect("a path has a segment");
        if func.qself.is_none()
            && segments.len() == 2
            && (segments[0] == "f64" || segments[0] == "f32")
            && !c.args.is_empty()
        {
            // `f64::sqrt(x)` is `x.sqrt()`.
            let mut args = c.args.iter().map(|a| self.lower_operand(a));
            let recv = args.next().expect("not empty");
            let args = args.collect();
            return Binding::Leaf(self.push_op(
                Op::Method {
                    recv,
                    name: last.ident.clone(),
                    turbofish: TokenStream::new(),
                    args,
                },
                last.ident.span(),
            ));
        }
        if func.qself.is_some()
            || last
                .ident
                .to_string()
                .starts_with(|ch: char| ch.is_uppercase())
        {
            // A tuple struct or enum variant constructor.
            return self.opaque(e, "a constructor");
        }
        let args = c.args.iter().map(|a| self.lower_operand(a)).collect();
        Binding::Leaf(self.push_op(
            Op::Call {
                path: path.clone(),
                args,
            },
            last.ident.span(),
        ))
    }

    /// An expression kept as written; see [`Op::Opaque`].
    fn opaque(&mut self, e: &Expr, what: &'static str) -> Binding {
        let tokens = e.to_token_stream();
        let reads = self.reads_of(&tokens);
        Binding::Leaf(self.push_op(
            Op::Opaque {
                tokens,
                reads,
                what,
            },
            e.span(),
        ))
    }
}

/// `e` of `&e`, `(&e)`.
fn strip_ref(e: &Expr) -> &Expr {
    match e {
        Expr::Reference(r) if r.mutability.is_none() => strip_ref(&r.expr),
        Expr::Paren(p) => match &*p.expr {
            Expr::Reference(_) => strip_ref(&p.expr),
            _ => e,
        },
        _ => e,
    }
}
