//! Activity analysis: which values get adjoints, and which values the reverse
//! sweep must be able to read.
//!
//! A value is *varied* if it depends, through differentiable operations, on a
//! wrt parameter; *useful* if the output depends on it the same way; *active*
//! if both. Only active values get adjoints and reverse code. A value is
//! *needed* if the reverse sweep reads it (a rule's operand, a branch
//! condition, an index) or reads something computed from it; loops save the
//! needed values they carry, one entry per iteration, and nothing else.

use crate::ir::*;
use crate::rules;

pub struct Activity {
    pub varied: Vec<bool>,
    pub useful: Vec<bool>,
    pub needed: Vec<bool>,
}

impl Activity {
    pub fn active(&self, v: Var) -> bool {
        self.varied[v.0] && self.useful[v.0]
    }

    pub fn needed(&self, v: Var) -> bool {
        self.needed[v.0]
    }
}

/// The operands a gradient flows from into the result of `op`.
pub fn flow_sources(op: &Op) -> Vec<&Operand> {
    match op {
        Op::Copy(o) | Op::Ref(o) | Op::Neg(o) | Op::Deref(o) => vec![o],
        Op::Not(_) => vec![],
        Op::Binary { op, lhs, rhs, .. } => match op {
            BinOp::NonDiff => vec![],
            _ => vec![lhs, rhs],
        },
        Op::Method {
            recv, name, args, ..
        } => {
            let name = name.to_string();
            let all = std::iter::once(recv).chain(args);
            if let Some(mask) = rules::method_mask(&name) {
                all.zip(mask.iter())
                    .filter(|(_, d)| **d)
                    .map(|(o, _)| o)
                    .collect()
            } else if rules::is_non_diff_method(&name) {
                vec![]
            } else {
                all.collect()
            }
        }
        Op::Call { args, .. } => args.iter().collect(),
        Op::Index { base, .. } => vec![base],
        Op::Cast { operand, ty } => {
            if is_float_type(ty) {
                vec![operand]
            } else {
                vec![]
            }
        }
        Op::Field { base, .. } => vec![base],
        Op::Opaque { reads, .. } => reads.iter().map(|(_, o)| o).collect(),
    }
}

/// Every operand `op` reads (to recompute it).
pub fn op_reads(op: &Op) -> Vec<&Operand> {
    match op {
        Op::Copy(o) | Op::Ref(o) | Op::Neg(o) | Op::Not(o) | Op::Deref(o) => vec![o],
        Op::Binary { lhs, rhs, .. } => vec![lhs, rhs],
        Op::Method { recv, args, .. } => std::iter::once(recv).chain(args).collect(),
        Op::Call { args, .. } => args.iter().collect(),
        Op::Index { base, index } => vec![base, index],
        Op::Cast { operand, .. } => vec![operand],
        Op::Field { base, .. } => vec![base],
        Op::Opaque { reads, .. } => reads.iter().map(|(_, o)| o).collect(),
    }
}

pub fn is_float_type(ty: &syn::Type) -> bool {
    matches!(ty, syn::Type::Path(p) if p.path.is_ident("f32") || p.path.is_ident("f64"))
}

/// The vars a `Let` defines.
pub fn defined(var: Var, outs: &Option<Shape>) -> Vec<Var> {
    match outs {
        Some(shape) => {
            let mut v = Vec::new();
            shape.leaves(&mut v);
            v
        }
        None => vec![var],
    }
}

fn edges(block: &Block, out: &mut Vec<(Var, Var)>) {
    for stmt in &block.stmts {
        match stmt {
            Stmt::Let { var, op, outs, .. } => {
                for src in flow_sources(op).into_iter().filter_map(Operand::var) {
                    for dst in defined(*var, outs) {
                        out.push((src, dst));
                    }
                }
            }
            Stmt::Effect { .. } => {}
            Stmt::If {
                then_block,
                else_block,
                outs,
                ..
            } => {
                for b in [then_block, else_block] {
                    edges(b, out);
                    merge_edges(b, outs, out);
                }
            }
            Stmt::Match { arms, outs, .. } => {
                for arm in arms {
                    edges(&arm.body, out);
                    merge_edges(&arm.body, outs, out);
                }
            }
            Stmt::Loop(l) => {
                if let LoopKind::While { cond_block, .. } = &l.kind {
                    edges(cond_block, out);
                }
                edges(&l.body, out);
                for c in &l.carried {
                    if let Some(init) = c.init.var() {
                        out.push((init, c.entry));
                        out.push((init, c.out));
                    }
                    if let Some(exit) = c.exit.var() {
                        out.push((exit, c.entry));
                        out.push((exit, c.out));
                    }
                }
            }
        }
    }
}

fn merge_edges(b: &Block, outs: &[Var], out: &mut Vec<(Var, Var)>) {
    for (y, o) in b.yields.iter().zip(outs) {
        if let Some(y) = y.var() {
            out.push((y, *o));
        }
    }
}

fn reach(
    n: usize,
    edges: &[(Var, Var)],
    seeds: impl IntoIterator<Item = Var>,
    forward: bool,
) -> Vec<bool> {
    let mut adj: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (a, b) in edges {
        if forward {
            adj[a.0].push(b.0);
        } else {
            adj[b.0].push(a.0);
        }
    }
    let mut seen = vec![false; n];
    let mut stack: Vec<usize> = seeds.into_iter().map(|v| v.0).collect();
    while let Some(v) = stack.pop() {
        if !seen[v] {
            seen[v] = true;
            stack.extend(adj[v].iter().copied());
        }
    }
    seen
}

/// Runs the analysis. `wrt` are the differentiated parameters.
pub fn analyze(prog: &Program, wrt: &[Var]) -> Activity {
    let n = prog.vars.len();
    let mut e = Vec::new();
    edges(&prog.body, &mut e);
    let varied = reach(n, &e, wrt.iter().copied(), true);
    let outputs = prog.body.yields.iter().filter_map(Operand::var);
    let useful = reach(n, &e, outputs, false);
    let mut act = Activity {
        varied,
        useful,
        needed: vec![false; n],
    };
    // An adjoint is declared from its value (`adjoint_zero(&v)`: a tensor's
    // zero has its shape), so active values inside branches and loops are
    // recomputed for it. Values of the function's top level keep only their
    // shape (`zero_shape`), and the entries of fused accumulation loops get
    // their adjoints with the loop, which saves nothing per iteration.
    let mut entries = Vec::new();
    loop_entries(&prog.body, &act, &mut entries);
    let top = top_defs(&prog.body);
    for v in 0..n {
        if act.active(Var(v)) && !entries.contains(&Var(v)) && !top.contains(&Var(v)) {
            act.needed[v] = true;
        }
    }
    // `needed` grows until nothing changes (it only grows, so this ends).
    loop {
        let before = act.needed.iter().filter(|b| **b).count();
        let mut needed = act.needed.clone();
        mark_needed(&prog.body, &act, &mut needed, true);
        act.needed = needed;
        if act.needed.iter().filter(|b| **b).count() == before {
            return act;
        }
    }
}

/// The values a statement defines at its own level (not those inside its
/// branches or loop body): a `Let`'s, the merged outputs of a branch, a
/// loop's carried values after it.
pub fn stmt_defs(s: &Stmt) -> Vec<Var> {
    match s {
        Stmt::Let { var, outs, .. } => defined(*var, outs),
        Stmt::If { outs, .. } | Stmt::Match { outs, .. } => outs.clone(),
        Stmt::Loop(l) => l.carried.iter().map(|c| c.out).collect(),
        Stmt::Effect { .. } => Vec::new(),
    }
}

/// The values the function's top level defines (not those of its branches
/// and loop bodies).
pub fn top_defs(body: &Block) -> std::collections::HashSet<Var> {
    body.stmts.iter().flat_map(stmt_defs).collect()
}

/// The entry values of the fused loops of a block, recursively.
fn loop_entries(b: &Block, act: &Activity, out: &mut Vec<Var>) {
    for s in &b.stmts {
        match s {
            Stmt::If {
                then_block,
                else_block,
                ..
            } => {
                loop_entries(then_block, act, out);
                loop_entries(else_block, act, out);
            }
            Stmt::Match { arms, .. } => arms.iter().for_each(|a| loop_entries(&a.body, act, out)),
            Stmt::Loop(l) => {
                if crate::fusion::accumulator(l, act).is_some() {
                    out.extend(l.carried.iter().map(|c| c.entry));
                }
                loop_entries(&l.body, act, out);
            }
            _ => {}
        }
    }
}

fn need(o: &Operand, needed: &mut [bool]) {
    if let Some(v) = o.var() {
        needed[v.0] = true;
    }
}

/// Does a block hold any reverse work (an active value)?
pub fn block_live(b: &Block, act: &Activity) -> bool {
    b.stmts.iter().any(|s| stmt_live(s, act))
}

/// Does the reverse sweep have work for this statement, or read its result?
pub fn stmt_live(s: &Stmt, act: &Activity) -> bool {
    match s {
        Stmt::Let { var, outs, .. } => defined(*var, outs)
            .iter()
            .any(|v| act.active(*v) || act.needed(*v)),
        Stmt::Effect { .. } => false,
        Stmt::If {
            then_block,
            else_block,
            outs,
            ..
        } => {
            outs.iter().any(|v| act.active(*v) || act.needed(*v))
                || block_live(then_block, act)
                || block_live(else_block, act)
        }
        Stmt::Match { arms, outs, .. } => {
            outs.iter().any(|v| act.active(*v) || act.needed(*v))
                || arms.iter().any(|a| block_live(&a.body, act))
        }
        Stmt::Loop(l) => loop_live(l, act),
    }
}

/// Does the reverse sweep have work for this loop, or read what it computes?
pub fn loop_live(l: &Loop, act: &Activity) -> bool {
    l.carried
        .iter()
        .any(|c| act.active(c.out) || act.needed(c.out) || act.active(c.entry))
        || block_live(&l.body, act)
}

/// One pass of the `needed` rules over a block. `top` is set for the
/// function's own body, which is never recomputed: every other block is, and
/// the constructs inside it are then run in full.
fn mark_needed(b: &Block, act: &Activity, needed: &mut [bool], top: bool) {
    for s in &b.stmts {
        let live = stmt_live(s, act);
        match s {
            Stmt::Let { var, op, outs, .. } => {
                let defs = defined(*var, outs);
                if defs.iter().any(|v| act.active(*v)) {
                    rule_reads(op, &defs, needed);
                }
                // Recomputing a value needs its operands; at the top level
                // nothing is recomputed (a value the reverse reads is kept).
                if !top && defs.iter().any(|v| needed[v.0]) {
                    op_reads(op).into_iter().for_each(|o| need(o, needed));
                }
            }
            Stmt::Effect { .. } => {}
            Stmt::If {
                cond,
                then_block,
                else_block,
                outs,
            } => {
                if live {
                    need(cond, needed);
                }
                for blk in [then_block, else_block] {
                    mark_merge(blk, outs, needed, live);
                    if live && !top {
                        mark_all(blk, needed);
                    }
                    mark_needed(blk, act, needed, false);
                }
            }
            Stmt::Match {
                scrutinee,
                arms,
                outs,
            } => {
                if live {
                    need(scrutinee, needed);
                }
                for arm in arms {
                    mark_merge(&arm.body, outs, needed, live);
                    if live && let Some((_, reads)) = &arm.guard {
                        reads.iter().for_each(|(_, o)| need(o, needed));
                    }
                    if live && !top {
                        mark_all(&arm.body, needed);
                    }
                    mark_needed(&arm.body, act, needed, false);
                }
            }
            Stmt::Loop(l) => {
                if live {
                    if let LoopKind::For { iter, .. } = &l.kind {
                        need(iter, needed);
                    }
                    for c in &l.carried {
                        need(&c.init, needed);
                    }
                }
                if live && !top {
                    mark_all(&l.body, needed);
                    if let LoopKind::While { cond_block, cond } = &l.kind {
                        mark_all(cond_block, needed);
                        need(cond, needed);
                    }
                }
                mark_needed(&l.body, act, needed, false);
            }
        }
    }
}

/// A branch's yields are needed where the merged outputs are.
fn mark_merge(b: &Block, outs: &[Var], needed: &mut [bool], live: bool) {
    for (y, o) in b.yields.iter().zip(outs) {
        if live && needed[o.0] {
            need(y, needed);
        }
    }
}

/// Everything a block reads and defines, for constructs that are
/// recomputed in full.
fn mark_all(b: &Block, needed: &mut [bool]) {
    visit_reads(b, false, &mut |o| need(o, needed));
    let mut defs = std::collections::BTreeSet::new();
    crate::fusion::defs_of(b, &mut defs);
    defs.into_iter().for_each(|v| needed[v.0] = true);
}

/// Calls `f` on every operand a block reads, recursively: operations,
/// conditions, guards, ranges, loop inits, yields, and the reads of side
/// effects when `effects` is set.
pub fn visit_reads(b: &Block, effects: bool, f: &mut dyn FnMut(&Operand)) {
    for s in &b.stmts {
        match s {
            Stmt::Let { op, .. } => op_reads(op).into_iter().for_each(&mut *f),
            Stmt::Effect { reads, .. } => {
                if effects {
                    reads.iter().for_each(|(_, o)| f(o));
                }
            }
            Stmt::If {
                cond,
                then_block,
                else_block,
                ..
            } => {
                f(cond);
                visit_reads(then_block, effects, f);
                visit_reads(else_block, effects, f);
            }
            Stmt::Match {
                scrutinee, arms, ..
            } => {
                f(scrutinee);
                for a in arms {
                    if let Some((_, reads)) = &a.guard {
                        reads.iter().for_each(|(_, o)| f(o));
                    }
                    visit_reads(&a.body, effects, f);
                }
            }
            Stmt::Loop(l) => {
                match &l.kind {
                    LoopKind::For { iter, .. } => f(iter),
                    LoopKind::While { cond_block, cond } => {
                        visit_reads(cond_block, effects, f);
                        f(cond);
                    }
                }
                l.carried.iter().for_each(|c| f(&c.init));
                visit_reads(&l.body, effects, f);
            }
        }
    }
    b.yields.iter().for_each(f);
}

/// What the reverse rule of an active `Let` reads.
fn rule_reads(op: &Op, defs: &[Var], needed: &mut [bool]) {
    let var = defs[0];
    match op {
        Op::Binary { op, lhs, rhs, .. } => {
            let (operands, result) = rules::binary_reads(*op);
            if operands {
                need(lhs, needed);
                need(rhs, needed);
            }
            if result {
                needed[var.0] = true;
            }
        }
        Op::Method {
            name, recv, args, ..
        } if rules::method_mask(&name.to_string()).is_some() => {
            // A runtime rule reads its arguments, and its receiver and
            // result unless the table says otherwise.
            let (receiver, result) = rules::method_reads(&name.to_string());
            if receiver {
                need(recv, needed);
            }
            args.iter().for_each(|o| need(o, needed));
            if result {
                defs.iter().for_each(|v| needed[v.0] = true);
            }
        }
        Op::Method { .. } | Op::Call { .. } => {
            // Calls are re-run for their pullback, or keep it with their
            // results.
            op_reads(op).into_iter().for_each(|o| need(o, needed));
            defs.iter().for_each(|v| needed[v.0] = true);
        }
        Op::Index { index, .. } => need(index, needed),
        Op::Cast { operand, .. } => need(operand, needed),
        _ => {}
    }
}
