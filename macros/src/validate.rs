//! Refusals that need the activity analysis: an operation on a differentiated
//! value that has no derivative rule. A value with no gradient may go through
//! anything; a differentiated one only through operations the compiler knows.

use crate::activity::Activity;
use crate::callees::Callees;
use crate::error::Errors;
use crate::ir::*;
use crate::rules;

pub fn validate(prog: &Program, act: &Activity, errors: &mut Errors) {
    let callees = crate::callees::Callees::of_current_file();
    block(prog, &prog.body, act, &callees, errors);
}

fn block(prog: &Program, b: &Block, act: &Activity, callees: &Callees, errors: &mut Errors) {
    for s in &b.stmts {
        match s {
            Stmt::Let {
                var,
                op,
                outs,
                span,
            } => {
                let defs = crate::activity::defined(*var, outs);
                if defs.iter().any(|v| act.active(*v)) {
                    let_stmt(prog, op, act, *span, callees, errors);
                }
            }
            Stmt::Effect { .. } => {}
            Stmt::If {
                then_block,
                else_block,
                ..
            } => {
                block(prog, then_block, act, callees, errors);
                block(prog, else_block, act, callees, errors);
            }
            Stmt::Match { arms, .. } => arms
                .iter()
                .for_each(|a| block(prog, &a.body, act, callees, errors)),
            Stmt::Loop(l) => {
                if let LoopKind::While { cond_block, .. } = &l.kind {
                    block(prog, cond_block, act, callees, errors);
                }
                block(prog, &l.body, act, callees, errors);
            }
        }
    }
}

/// A number or tensor, as opposed to a struct whose methods may be the user's.
fn numeric(prog: &Program, o: &Operand) -> bool {
    o.var().is_none_or(|v| prog.info(v).numeric)
}

fn varied(act: &Activity, o: &Operand) -> bool {
    o.var().is_some_and(|v| act.varied[v.0])
}

fn let_stmt(
    prog: &Program,
    op: &Op,
    act: &Activity,
    span: proc_macro2::Span,
    callees: &Callees,
    errors: &mut Errors,
) {
    match op {
        Op::Call { path, .. } => {
            let name = path.segments.last().expect("a path has a segment").ident.to_string();
            let local = path.segments.len() == 1
                || (path.segments.len() == 2 && matches!(path.segments[0].ident.to_string().as_str(), "self" | "Self"));
            if local && callees.surely_not_differentiable(&name) {
                errors.push(
                    path,
                    format!(
                        "`{name}` is not differentiable, but a differentiated value is passed to it: annotate `fn {name}` with #[differentiable] so that adjoint generates its pullback"
                    ),
                );
            }
        }
        Op::Method { recv, name, args, .. } => {
            let n = name.to_string();
            if let Some(mask) = rules::method_mask(&n) {
                if mask.len() != args.len() + 1 {
                    errors.push(name, format!("`.{n}()` takes {} argument(s)", mask.len() - 1));
                }
            } else if !varied(act, recv) && !rules::is_non_diff_method(&n) && callees.surely_not_differentiable(&n) {
                errors.push(
                    name,
                    format!(
                        "the method `{n}` is not differentiable, but a differentiated value is passed to it: annotate `fn {n}` with #[differentiable] (or its `impl` block) so that adjoint generates its pullback"
                    ),
                );
            } else if varied(act, recv) && numeric(prog, recv) && !rules::is_non_diff_method(&n) {
                let near = rules::nearest_methods(&n).iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ");
                errors.push(
                    name,
                    format!(
                        "adjoint has no derivative rule for the method `{n}` on a differentiated value; the nearest supported methods are {near} (the full list is in the README)"
                    ),
                );
            }
        }
        Op::Opaque { what, .. } => errors.push_span(
            span,
            format!(
                "adjoint cannot differentiate through {what}: it reads a differentiated value and its result reaches the output; compute the value with supported operations or a #[differentiable] helper function"
            ),
        ),
        _ => {}
    }
}
