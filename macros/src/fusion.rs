//! Loop fusion for accumulations. A loop whose only differentiated carried
//! value is an accumulator (`s += term`, nothing else reading `s`) has a reverse
//! that is linear in the accumulator's adjoint, which is the same in every
//! iteration. So its reverse can run *inside the forward loop* with a unit
//! adjoint, adding into buffers `u` (one per outer value it reaches); the
//! pullback then only scales them: `dx += ds · u`. One pass over the data
//! instead of a forward pass plus a backward one, and no per-iteration state.
//! With the `_grad` seed `ds = 1` the scaling folds away.

use crate::activity::{Activity, defined};
use crate::ir::*;
use std::collections::BTreeSet;

/// The index of the accumulator among `l.carried` when `l` can be fused.
pub fn accumulator(l: &Loop, act: &Activity) -> Option<usize> {
    let active: Vec<usize> = (0..l.carried.len())
        .filter(|k| act.active(l.carried[*k].entry) || act.active(l.carried[*k].out))
        .collect();
    let [k] = active[..] else { return None };
    let c = &l.carried[k];
    let exit = c.exit.var()?;
    // `exit = entry + t`, `t + entry` or `entry - t`, directly in the body.
    let update = l.body.stmts.iter().find_map(|s| match s {
        Stmt::Let {
            var,
            op,
            outs: None,
            ..
        } if *var == exit => Some(op),
        _ => None,
    })?;
    let is_entry = |o: &Operand| o.var() == Some(c.entry);
    let ok = match update {
        Op::Binary {
            op: BinOp::Add,
            lhs,
            rhs,
            ..
        } => is_entry(lhs) != is_entry(rhs),
        Op::Binary {
            op: BinOp::Sub,
            lhs,
            rhs,
            ..
        } => is_entry(lhs) && !is_entry(rhs),
        _ => false,
    };
    if !ok {
        return None;
    }
    // Nothing else reads the accumulator, before or after the update.
    let mut counts = std::collections::HashMap::new();
    count_reads(&l.body, &mut counts);
    if let LoopKind::While { cond_block, cond } = &l.kind {
        count_reads(cond_block, &mut counts);
        if let Some(v) = cond.var() {
            *counts.entry(v).or_insert(0) += 1;
        }
    }
    let reads = |v: Var| counts.get(&v).copied().unwrap_or(0);
    // The body's yields list `exit` once, for the carried value itself.
    (reads(c.entry) == 1 && reads(exit) == 1).then_some(k)
}

/// How often each value is read in a block (operands, conditions, yields,
/// opaque code and effects), recursively.
fn count_reads(b: &Block, counts: &mut std::collections::HashMap<Var, usize>) {
    crate::activity::visit_reads(b, true, &mut |o| {
        if let Some(v) = o.var() {
            *counts.entry(v).or_insert(0) += 1;
        }
    });
}

/// The active values defined outside the loop that its body's reverse adds
/// into: each gets a unit-adjoint buffer.
pub fn reached(l: &Loop, act: &Activity) -> Vec<Var> {
    let mut reads = std::collections::HashMap::new();
    count_reads(&l.body, &mut reads);
    let mut defs = BTreeSet::new();
    defs_of(&l.body, &mut defs);
    for c in &l.carried {
        defs.insert(c.entry);
    }
    if let LoopKind::For { index, .. } = &l.kind {
        defs.insert(*index);
    }
    let mut out: Vec<Var> = reads
        .keys()
        .copied()
        .filter(|v| !defs.contains(v) && act.active(*v))
        .collect();
    out.sort();
    out
}

/// Every value a block defines, recursively.
pub fn defs_of(b: &Block, out: &mut BTreeSet<Var>) {
    for s in &b.stmts {
        match s {
            Stmt::Let { var, outs, .. } => out.extend(defined(*var, outs)),
            Stmt::Effect { .. } => {}
            Stmt::If {
                then_block,
                else_block,
                outs,
                ..
            } => {
                out.extend(outs.iter().copied());
                defs_of(then_block, out);
                defs_of(else_block, out);
            }
            Stmt::Match { arms, outs, .. } => {
                out.extend(outs.iter().copied());
                for a in arms {
                    out.extend(a.binds.iter().map(|(_, v)| *v));
                    defs_of(&a.body, out);
                }
            }
            Stmt::Loop(l) => {
                for c in &l.carried {
                    out.insert(c.entry);
                    out.insert(c.out);
                }
                if let LoopKind::For { index, .. } = &l.kind {
                    out.insert(*index);
                }
                if let LoopKind::While { cond_block, .. } = &l.kind {
                    defs_of(cond_block, out);
                }
                defs_of(&l.body, out);
            }
        }
    }
}

/// The values one statement reads, recursively.
pub fn stmt_reads(s: &Stmt) -> Vec<Var> {
    let mut counts = std::collections::HashMap::new();
    count_reads(
        &Block {
            stmts: vec![s.clone()],
            yields: Vec::new(),
        },
        &mut counts,
    );
    counts.into_keys().collect()
}
