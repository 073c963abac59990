//! Optimizers over any parameter tree, with PyTorch's update rules and
//! defaults, learning-rate schedules and clipping by global gradient norm.
//!
//! State (momentum buffers, Adam's moments) is kept per leaf, in the order the
//! tree is walked, so one optimizer serves any `Params`.

use crate::params::{Leaf, LeafMut, Params};
use crate::scalar::Float;
use crate::tensor::storage::Block;

mod fast;
mod moments;
use moments::{Moments, page_offset};

/// One leaf's values, for writing: a tensor's elements or a scalar.
fn values_mut<'a, T: Float>(leaf: LeafMut<'a, T>) -> &'a mut [T] {
    match leaf {
        LeafMut::Tensor(t) => t.as_mut_slice(),
        LeafMut::Scalar(v) => std::slice::from_mut(v),
    }
}

fn values<'a, T: Float>(leaf: Leaf<'a, T>) -> &'a [T] {
    match leaf {
        Leaf::Tensor(t) => t.as_slice(),
        Leaf::Scalar(v) => std::slice::from_ref(v),
    }
}

/// Updates parameters from their gradient.
pub trait Optimizer<P: Params> {
    /// One update: `params` moves against `grads`.
    fn step(&mut self, params: &mut P, grads: &P);
    /// The learning rate the next step uses.
    fn lr(&self) -> f64;
    /// Sets the learning rate (what a schedule does each step).
    fn set_lr(&mut self, lr: f64);
    /// The state a resumed run needs (moment buffers, step count), as named
    /// buffers and text values, for a checkpoint.
    fn state(&self) -> OptimState<P::Elem>;
    /// Restores a state from [`Optimizer::state`]; says what is wrong with
    /// one that does not fit.
    fn set_state(&mut self, state: OptimState<P::Elem>) -> Result<(), String>;
}

/// An optimizer's state: named buffers and named text values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OptimState<T> {
    /// Buffers such as `adam.m.3` (the first moment of leaf 3).
    pub buffers: Vec<(String, Vec<T>)>,
    /// Counters and settings such as `adam.t`.
    pub values: std::collections::HashMap<String, String>,
}

/// Buffers `kind.0`, `kind.1`, … from a state, in order.
fn take_buffers<T>(state: &mut OptimState<T>, kind: &str) -> Vec<Vec<T>> {
    let mut found: Vec<(usize, Vec<T>)> = Vec::new();
    let mut rest = Vec::new();
    for (name, values) in state.buffers.drain(..) {
        match name
            .strip_prefix(kind)
            .and_then(|r| r.strip_prefix('.'))
            .and_then(|k| k.parse().ok())
        {
            Some(k) => found.push((k, values)),
            None => rest.push((name, values)),
        }
    }
    state.buffers = rest;
    found.sort_by_key(|(k, _)| *k);
    found.into_iter().map(|(_, v)| v).collect()
}

/// Walks `params` and `grads` together, calling `f(leaf index, param values,
/// grad values)`.
fn each_leaf<P: Params>(
    params: &mut P,
    grads: &P,
    mut f: impl FnMut(usize, &mut [P::Elem], &[P::Elem]),
) {
    let mut k = 0;
    params.zip_mut(grads, "", &mut |_, p, g| {
        f(k, values_mut(p), values(g));
        k += 1;
    });
}

/// Stochastic gradient descent with momentum, Nesterov momentum and weight
/// decay, as `torch.optim.SGD`:
/// `g = ∇ + λ·p; b = μ·b + (1 − τ)·g (b = g at the first step);
/// g = g + μ·b (Nesterov) or b; p = p − lr·g`.
///
/// ```
/// use adjoint_runtime::{Tensor, optim::{Optimizer, Sgd}};
/// let mut p = Tensor::from_vec(vec![1.0_f64], &[1]);
/// let g = Tensor::from_vec(vec![0.5_f64], &[1]);
/// Sgd::new(0.1).step(&mut p, &g);
/// assert_eq!(p.to_vec(), [0.95]);
/// ```
#[derive(Clone, Debug)]
pub struct Sgd<T: Float = f32> {
    pub lr: f64,
    pub momentum: f64,
    pub dampening: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
    buffers: Vec<Vec<T>>,
}

impl<T: Float> Sgd<T> {
    /// Plain SGD with learning rate `lr` (PyTorch's other defaults: no
    /// momentum, no dampening, no weight decay).
    pub fn new(lr: f64) -> Self {
        Sgd {
            lr,
            momentum: 0.0,
            dampening: 0.0,
            nesterov: false,
            weight_decay: 0.0,
            buffers: Vec::new(),
        }
    }

    /// With momentum `mu` (and Nesterov's variant if `nesterov`).
    pub fn momentum(mut self, mu: f64, nesterov: bool) -> Self {
        self.momentum = mu;
        self.nesterov = nesterov;
        self
    }

    /// With L2 weight decay `wd` added to the gradient.
    pub fn weight_decay(mut self, wd: f64) -> Self {
        self.weight_decay = wd;
        self
    }
}

impl<P: Params> Optimizer<P> for Sgd<P::Elem> {
    fn state(&self) -> OptimState<P::Elem> {
        OptimState {
            buffers: self
                .buffers
                .iter()
                .enumerate()
                .map(|(k, b)| (format!("sgd.buf.{k}"), b.clone()))
                .collect(),
            values: Default::default(),
        }
    }
    fn set_state(&mut self, mut state: OptimState<P::Elem>) -> Result<(), String> {
        self.buffers = take_buffers(&mut state, "sgd.buf");
        Ok(())
    }
    fn step(&mut self, params: &mut P, grads: &P) {
        let c = |v: f64| P::Elem::from_f64(v);
        let (lr, mu, damp, wd) = (
            c(self.lr),
            c(self.momentum),
            c(1.0 - self.dampening),
            c(self.weight_decay),
        );
        let (use_mu, nesterov) = (self.momentum != 0.0, self.nesterov);
        let buffers = &mut self.buffers;
        each_leaf(params, grads, |k, p, g| {
            if buffers.len() <= k {
                buffers.push(Vec::new());
            }
            let buf = &mut buffers[k];
            let first = buf.is_empty();
            if use_mu && first {
                buf.resize(p.len(), P::Elem::ZERO);
            }
            for i in 0..p.len() {
                let mut d = g[i] + wd * p[i];
                if use_mu {
                    buf[i] = if first { d } else { mu * buf[i] + damp * d };
                    d = if nesterov { d + mu * buf[i] } else { buf[i] };
                }
                p[i] -= lr * d;
            }
        });
    }
    fn lr(&self) -> f64 {
        self.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }
}

/// Adam, as `torch.optim.Adam` (`weight_decay` is L2 added to the gradient)
/// or, with [`Adam::adamw`], as `torch.optim.AdamW` (decoupled decay
/// `p = p·(1 − lr·λ)` before the update):
/// `m = β₁m + (1−β₁)g; v = β₂v + (1−β₂)g²;
/// p = p − lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε)`.
///
/// ```
/// use adjoint_runtime::{Tensor, optim::{Adam, Optimizer}};
/// let mut p = Tensor::from_vec(vec![1.0_f64], &[1]);
/// Adam::new(0.1).step(&mut p, &Tensor::from_vec(vec![0.5], &[1]));
/// // The first step moves every parameter by about lr, against the gradient's sign.
/// assert!((p.to_vec()[0] - 0.9).abs() < 1e-6);
/// ```
#[derive(Clone, Debug)]
pub struct Adam<T: Float = f32> {
    pub lr: f64,
    pub betas: (f64, f64),
    pub eps: f64,
    pub weight_decay: f64,
    /// Decoupled weight decay (AdamW).
    pub decoupled: bool,
    t: i32,
    moments: Vec<Moments<T>>,
}

impl<T: Float> Adam<T> {
    /// Adam with PyTorch's defaults but `lr`: betas (0.9, 0.999), eps 1e-8,
    /// no weight decay.
    pub fn new(lr: f64) -> Self {
        Adam {
            lr,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
            t: 0,
            moments: Vec::new(),
        }
    }

    /// AdamW with PyTorch's defaults but `lr`: weight decay 0.01, decoupled.
    pub fn adamw(lr: f64) -> Self {
        Adam {
            weight_decay: 0.01,
            decoupled: true,
            ..Adam::new(lr)
        }
    }

    /// With weight decay `wd` (L2 for Adam, decoupled for AdamW).
    pub fn weight_decay(mut self, wd: f64) -> Self {
        self.weight_decay = wd;
        self
    }
}

impl<P: Params> Optimizer<P> for Adam<P::Elem> {
    fn state(&self) -> OptimState<P::Elem> {
        let mut buffers = Vec::new();
        for (k, mv) in self.moments.iter().enumerate() {
            let (m, v) = mv.both();
            buffers.push((format!("adam.m.{k}"), m.to_vec()));
            buffers.push((format!("adam.v.{k}"), v.to_vec()));
        }
        let values = [("adam.t".to_string(), self.t.to_string())]
            .into_iter()
            .collect();
        OptimState { buffers, values }
    }
    fn set_state(&mut self, mut state: OptimState<P::Elem>) -> Result<(), String> {
        let t = state.values.get("adam.t").ok_or("no `adam.t` step count")?;
        self.t = t
            .parse()
            .map_err(|_| format!("`adam.t` is not a step count: {t}"))?;
        let (m, v) = (
            take_buffers(&mut state, "adam.m"),
            take_buffers(&mut state, "adam.v"),
        );
        if m.len() != v.len() {
            return Err(format!(
                "{} first moments but {} second moments",
                m.len(),
                v.len()
            ));
        }
        let mut moments = Vec::new();
        for (k, (m, v)) in m.into_iter().zip(v).enumerate() {
            if m.len() != v.len() {
                return Err(format!(
                    "moments {k}: {} first but {} second",
                    m.len(),
                    v.len()
                ));
            }
            moments.push(Moments::from_parts(&m, &v));
        }
        self.moments = moments;
        Ok(())
    }
    fn step(&mut self, params: &mut P, grads: &P) {
        self.t += 1;
        let c = |v: f64| P::Elem::from_f64(v);
        let (b1, b2) = self.betas;
        let bc1 = 1.0 - b1.powi(self.t);
        let bc2 = 1.0 - b2.powi(self.t);
        let step_size = c(self.lr / bc1);
        let (cb1, cb2, eps) = (c(b1), c(b2), c(self.eps));
        let inv_sqrt_bc2 = c(1.0 / bc2.sqrt());
        let (one_b1, one_b2) = (c(1.0 - b1), c(1.0 - b2));
        let (l2, decay) = if self.decoupled {
            (P::Elem::ZERO, c(1.0 - self.lr * self.weight_decay))
        } else {
            (c(self.weight_decay), P::Elem::ONE)
        };
        let rule = AdamRule {
            l2,
            decay,
            cb1,
            cb2,
            one_b1,
            one_b2,
            inv_sqrt_bc2,
            eps,
            step_size,
        };
        let moments = &mut self.moments;
        let threads = crate::threads::count();
        let mut k = 0;
        params.zip_mut(grads, "", &mut |_, p, g| {
            let p = values_mut(p);
            if moments.len() <= k {
                moments.push(Moments::zeros(p.len(), page_offset(p.as_ptr()), Vec::new()));
            }
            moments[k].place(p.as_ptr());
            let (m, v, grads_seen) = moments[k].for_update();
            k += 1;
            if threads < 2 || p.len() < PARALLEL_LEAF {
                // A weight's gradient comes block by block as its product
                // makes it, and each block is applied while it is in cache.
                return match g {
                    Leaf::Tensor(g) => g.for_each_block(|block| {
                        Moments::saw_grads(grads_seen, block.values.as_ptr(), block.start);
                        rule.apply_block(p, m, v, block)
                    }),
                    Leaf::Scalar(g) => rule.apply(p, std::slice::from_ref(g), m, v),
                };
            }
            // A large leaf's update is split over the threads, as the big
            // matrix products are (each element's update is independent):
            // the threads make the gradient's blocks together and each
            // applies its own, or else take a contiguous part each.
            let state = Disjoint {
                p: p.as_mut_ptr(),
                m: m.as_mut_ptr(),
                v: v.as_mut_ptr(),
                len: p.len(),
            };
            let update = |block: Block<'_, P::Elem>| {
                for r in 0..block.rows {
                    let (at, g) = block.run(r);
                    // SAFETY: the blocks visited are disjoint (the contract
                    // of `for_each_block_shared`), so no two threads hold
                    // the same elements; `part` checks the bounds.
                    let (p, m, v) = unsafe { state.part(at, g.len()) };
                    rule.apply(p, g, m, v);
                }
            };
            match g {
                Leaf::Tensor(g) => g.for_each_block_shared(threads, update),
                Leaf::Scalar(g) => {
                    // SAFETY: one thread, the whole leaf.
                    let (p, m, v) = unsafe { state.part(0, 1) };
                    rule.apply(p, std::slice::from_ref(g), m, v);
                }
            }
        });
    }
    fn lr(&self) -> f64 {
        self.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }
}

/// A leaf's parameters and moments, for threads that update disjoint parts
/// of them at once.
struct Disjoint<T> {
    p: *mut T,
    m: *mut T,
    v: *mut T,
    len: usize,
}

// SAFETY: the pointers are into slices that `Adam::step` borrows mutably
// until the threads are done, and each thread takes only the parts its
// blocks cover (see `part`).
unsafe impl<T: Send> Sync for Disjoint<T> {}

impl<T> Disjoint<T> {
    /// Elements `at..at + len` of the parameters and both moments.
    ///
    /// **Panics** if they run past the leaf.
    ///
    /// # Safety
    /// No other thread holds any of these elements while they are in use.
    #[allow(clippy::mut_from_ref)]
    unsafe fn part(&self, at: usize, len: usize) -> (&mut [T], &mut [T], &mut [T]) {
        assert!(at + len <= self.len, "Adam: a gradient block past its leaf");
        // SAFETY: in bounds (just checked); disjoint (the caller's).
        unsafe {
            (
                std::slice::from_raw_parts_mut(self.p.add(at), len),
                std::slice::from_raw_parts_mut(self.m.add(at), len),
                std::slice::from_raw_parts_mut(self.v.add(at), len),
            )
        }
    }
}

/// Leaves of at least this many parameters have their update split over the
/// threads (a few hundred microseconds of work: more than starting a thread).
const PARALLEL_LEAF: usize = 1 << 18;

/// Adam's per-element update with one step's constants (see [`Adam`]).
#[derive(Clone, Copy)]
struct AdamRule<T> {
    l2: T,
    decay: T,
    cb1: T,
    cb2: T,
    one_b1: T,
    one_b2: T,
    /// `1/√(1−β₂ᵗ)`: a multiply where PyTorch divides. The divider unit
    /// is Adam's bottleneck (a division and a square root per element
    /// besides), and the product differs from the quotient by an ulp.
    inv_sqrt_bc2: T,
    eps: T,
    step_size: T,
}

impl<T: Float> AdamRule<T> {
    /// Updates `p`, `m` and `v` in place from the gradient `g`.
    fn apply(&self, p: &mut [T], g: &[T], m: &mut [T], v: &mut [T]) {
        crate::simd::widest(
            #[inline(always)]
            || self.update(p, g, m, v),
        );
    }

    /// [`AdamRule::apply`] to the elements of one leaf that `block` holds
    /// the gradient of.
    fn apply_block(&self, p: &mut [T], m: &mut [T], v: &mut [T], block: Block<'_, T>) {
        crate::simd::widest(
            #[inline(always)]
            || {
                for r in 0..block.rows {
                    let (at, g) = block.run(r);
                    let span = at..at + g.len();
                    self.update(&mut p[span.clone()], g, &mut m[span.clone()], &mut v[span]);
                }
            },
        );
    }

    /// The update itself, inlined into the callers' vectorized loops: `f32`
    /// on AVX-512 without a division ([`fast`]), else (and the last few
    /// elements) as written here.
    #[inline(always)]
    fn update(&self, p: &mut [T], g: &[T], m: &mut [T], v: &mut [T]) {
        let done = fast::update(self, p, g, m, v);
        let (p, g, m, v) = (&mut p[done..], &g[done..], &mut m[done..], &mut v[done..]);
        let r = *self;
        // Zipped slices, no indexing: the loop vectorizes, at the CPU's
        // widest. Each element is read into locals and written once: with
        // the updates written in place, LLVM stored p and m and loaded them
        // back within the iteration (0.9 -> 0.4 ns per parameter).
        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            let (p0, m0, v0) = (*p, *m, *v);
            let d = g + r.l2 * p0;
            let m1 = r.cb1 * m0 + r.one_b1 * d;
            let v1 = r.cb2 * v0 + r.one_b2 * d * d;
            let denom = v1.sqrt() * r.inv_sqrt_bc2 + r.eps;
            *p = p0 * r.decay - r.step_size * m1 / denom;
            *m = m1;
            *v = v1;
        }
    }
}

/// A learning rate as a function of the step (0-based).
#[derive(Clone, Debug, PartialEq)]
pub enum Schedule {
    /// The base rate throughout.
    Constant,
    /// Multiplied by `gamma` every `every` steps (`StepLR`).
    Step { every: usize, gamma: f64 },
    /// Cosine from the base rate down to `min` over `total` steps
    /// (`CosineAnnealingLR`).
    Cosine { total: usize, min: f64 },
    /// Linear warm-up from 0 over `steps`, then `then`.
    Warmup { steps: usize, then: Box<Schedule> },
}

impl Schedule {
    /// The rate at `step` for a base rate `base`.
    ///
    /// ```
    /// use adjoint_runtime::optim::Schedule;
    /// let s = Schedule::Warmup { steps: 10, then: Box::new(Schedule::Step { every: 100, gamma: 0.1 }) };
    /// assert_eq!(s.lr(4, 1.0), 0.5);
    /// assert_eq!(s.lr(110, 1.0), 0.1);
    /// ```
    pub fn lr(&self, step: usize, base: f64) -> f64 {
        match self {
            Schedule::Constant => base,
            Schedule::Step { every, gamma } => base * gamma.powi((step / (*every).max(1)) as i32),
            Schedule::Cosine { total, min } => {
                let t = (step as f64 / (*total).max(1) as f64).min(1.0);
                min + (base - min) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
            }
            Schedule::Warmup { steps, then } => {
                if step < *steps {
                    base * (step + 1) as f64 / *steps as f64
                } else {
                    then.lr(step - steps, base)
                }
            }
        }
    }
}

/// Scales `grads` so that their global L2 norm is at most `max_norm`, as
/// `torch.nn.utils.clip_grad_norm_` (coefficient `max_norm / (norm + 1e-6)`),
/// and returns the norm before clipping.
///
/// ```
/// use adjoint_runtime::{Tensor, optim::clip_grad_norm};
/// let mut g = Tensor::from_vec(vec![3.0_f64, 4.0], &[2]);
/// assert_eq!(clip_grad_norm(&mut g, 1.0), 5.0);
/// assert!((g.to_vec()[0] - 0.6).abs() < 1e-6);
/// ```
pub fn clip_grad_norm<P: Params>(grads: &mut P, max_norm: f64) -> f64 {
    let mut sq = 0.0;
    grads.visit("", &mut |_, leaf| {
        sq += values(leaf)
            .iter()
            .map(|v| v.to_f64() * v.to_f64())
            .sum::<f64>();
    });
    let norm = sq.sqrt();
    let coef = max_norm / (norm + 1e-6);
    if coef < 1.0 {
        grads.scale(P::Elem::from_f64(coef));
    }
    norm
}
