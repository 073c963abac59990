//! Constructs refused anywhere in a differentiable body, found before lowering so
//! that each gets one precise error at its token.

use crate::error::Errors;
use syn::spanned::Spanned;
use syn::visit::{self, Visit};

struct Check<'a> {
    errors: &'a mut Errors,
    loop_depth: usize,
}

/// Walks the body and records an error for every refused construct.
pub fn check_body(body: &syn::Block, errors: &mut Errors) {
    Check {
        errors,
        loop_depth: 0,
    }
    .visit_block(body);
}

impl<'ast> Visit<'ast> for Check<'_> {
    fn visit_expr_closure(&mut self, e: &'ast syn::ExprClosure) {
        self.errors.push(
            e.or1_token,
            "closures are not supported in a #[differentiable] function: write a `for` loop, or move the code into a #[differentiable] helper fn",
        );
    }

    fn visit_expr_unsafe(&mut self, e: &'ast syn::ExprUnsafe) {
        self.errors.push(
            e.unsafe_token,
            "`unsafe` is not supported in a #[differentiable] function: adjoint cannot see what unsafe code does to the values it differentiates",
        );
    }

    fn visit_expr_async(&mut self, e: &'ast syn::ExprAsync) {
        self.errors.push(
            e.async_token,
            "`async` blocks are not supported in a #[differentiable] function: compute the value synchronously",
        );
    }

    fn visit_expr_await(&mut self, e: &'ast syn::ExprAwait) {
        self.errors.push(
            e.await_token,
            "`.await` is not supported in a #[differentiable] function: await the value before calling it",
        );
    }

    fn visit_expr_try(&mut self, e: &'ast syn::ExprTry) {
        self.errors.push(
            e.question_token,
            "the `?` operator is not supported in a #[differentiable] function: check the input before calling it",
        );
    }

    fn visit_expr_loop(&mut self, e: &'ast syn::ExprLoop) {
        self.errors.push(
            e.loop_token,
            "`loop` is not supported in a #[differentiable] function: write a `while` loop whose condition says when to stop, or a `for` loop over a range",
        );
    }

    fn visit_expr_break(&mut self, e: &'ast syn::ExprBreak) {
        self.errors.push(
            e.break_token,
            "`break` is not supported in a #[differentiable] function: put the stopping test in the `while` condition",
        );
    }

    fn visit_expr_continue(&mut self, e: &'ast syn::ExprContinue) {
        self.errors.push(
            e.continue_token,
            "`continue` is not supported in a #[differentiable] function: wrap the rest of the loop body in an `if`",
        );
    }

    fn visit_expr_return(&mut self, e: &'ast syn::ExprReturn) {
        if self.loop_depth > 0 {
            self.errors.push(
                e.return_token,
                "`return` inside a loop is not supported in a #[differentiable] function: compute the result in a variable and return after the loop",
            );
        }
        visit::visit_expr_return(self, e);
    }

    fn visit_expr_for_loop(&mut self, e: &'ast syn::ExprForLoop) {
        self.loop_depth += 1;
        visit::visit_expr_for_loop(self, e);
        self.loop_depth -= 1;
    }

    fn visit_expr_while(&mut self, e: &'ast syn::ExprWhile) {
        self.loop_depth += 1;
        visit::visit_expr_while(self, e);
        self.loop_depth -= 1;
    }

    fn visit_expr_reference(&mut self, e: &'ast syn::ExprReference) {
        if let Some(m) = e.mutability {
            self.errors.push(
                m,
                "`&mut` borrows are not supported in a #[differentiable] function: adjoint tracks values, not writes through references; pass the value and return the result",
            );
        }
        visit::visit_expr_reference(self, e);
    }

    fn visit_local(&mut self, l: &'ast syn::Local) {
        if let Some(init) = &l.init
            && let Some((else_token, _)) = &init.diverge
        {
            self.errors.push(
                else_token,
                "`let … else` is not supported in a #[differentiable] function: use `match`",
            );
        }
        visit::visit_local(self, l);
    }

    fn visit_item(&mut self, item: &'ast syn::Item) {
        self.errors.push_span(
            item.span(),
            "items inside a #[differentiable] function are not supported: move this item out of the function",
        );
    }

    fn visit_expr_let(&mut self, e: &'ast syn::ExprLet) {
        self.errors.push(
            e.let_token,
            "`if let` and `while let` are not supported in a #[differentiable] function: use `match`",
        );
    }
}
