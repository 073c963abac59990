//! A tensor's buffer, and the per-thread pool that buffers go back to.
//!
//! Two things make a training step cheap here, and both live in this file:
//!
//! - **Buffers are reused.** A step allocates the same sizes every time
//!   (activations, adjoints, GEMM outputs). Freed buffers of at least
//!   [`POOLED_MIN`] elements go to a per-thread pool and the next tensor of
//!   that length takes one back, so a steady training loop neither calls
//!   `malloc` for them nor page-faults fresh memory in (glibc returns large
//!   freed blocks to the OS, and touching them again costs a fault per page:
//!   a third of the 784-10-10 step before this pool).
//! - **Values can be deferred.** A tensor can hold the recipe for its values
//!   instead of the values ([`Tensor::deferred`](crate::Tensor::deferred)); they are computed on first
//!   read, and never if the tensor is dropped unread. Matmul's rule returns
//!   its two gradients this way, so the gradient of a first layer's input,
//!   which a training step never reads, is never computed (JAX gets the same
//!   from dead-code elimination after tracing). A zero adjoint is deferred
//!   too: adding a gradient into it just takes the gradient.

use super::buffer::Buffer;
use crate::scalar::Float;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// Buffers shorter than this are left to the allocator, which serves small
/// sizes from its own free lists without faults.
pub const POOLED_MIN: usize = 1024;
/// At most this many idle bytes are kept per thread and element type.
const POOL_BYTES: usize = 256 << 20;
/// Idle buffers kept per length: at least this many...
const PER_LENGTH: usize = 4;
/// ...and more of a short length, up to this many bytes of them. A step
/// frees more than four buffers of some small lengths at once (784-128-10
/// b128: 64 KiB activations, gradients and streamed blocks), and each one
/// the pool turned away came back as a fresh, zeroed allocation: four a
/// step, and b128 ran 4% faster when kept. A long length stays at four: keeping more
/// 1 MiB buffers idle raised 784-1024-1024-10's heap peak past the budget.
const PER_LENGTH_BYTES: usize = 1 << 20;

/// Idle buffers of one element type on one thread, by length (reached only
/// through [`take`], [`give`] and [`idle_bytes`]).
#[derive(Default)]
pub struct Pool<T> {
    idle: HashMap<usize, Vec<Buffer<T>>>,
    bytes: usize,
}

/// The element types that have a pool (`f32`, `f64`): one thread-local per
/// type, since a `thread_local!` cannot be generic. A supertrait of
/// [`Float`], so every pool function takes any `Float`.
pub trait Pooled: Sized + 'static {
    /// Runs `f` on this thread's pool, or returns `None` while the thread is
    /// being torn down.
    fn with_pool<R>(f: impl FnOnce(&mut Pool<Self>) -> R) -> Option<R>;
}

macro_rules! pooled {
    ($($t:ty => $key:ident),*) => {$(
        thread_local! {
            static $key: RefCell<Pool<$t>> = RefCell::new(Pool::default());
        }
        impl Pooled for $t {
            fn with_pool<R>(f: impl FnOnce(&mut Pool<Self>) -> R) -> Option<R> {
                $key.try_with(|p| f(&mut p.borrow_mut())).ok()
            }
        }
    )*};
}
pooled!(f32 => POOL_F32, f64 => POOL_F64);

/// A buffer of `len` elements whose contents are unspecified (stale values of
/// an earlier tensor, or zeros): the caller overwrites every element.
///
/// ```
/// use adjoint_runtime::tensor::buffer::Buffer;
/// use adjoint_runtime::tensor::storage::{give, take};
/// give(Buffer::from(vec![1.0_f32; 4096]));
/// let mut v: Buffer<f32> = take(4096); // the buffer just given, values stale
/// v.fill(2.0);
/// assert_eq!(v.len(), 4096);
/// ```
pub fn take<T: Float>(len: usize) -> Buffer<T> {
    if len >= POOLED_MIN {
        let reused = T::with_pool(|p| {
            let v = p.idle.get_mut(&len)?.pop()?;
            p.bytes -= len * size_of::<T>();
            Some(v)
        });
        if let Some(Some(v)) = reused {
            return v;
        }
    }
    Buffer::zeroed(len)
}

/// A buffer of `len` zeros.
///
/// ```
/// let v = adjoint_runtime::tensor::storage::take_zeroed::<f64>(3);
/// assert_eq!(&v[..], [0.0; 3]);
/// ```
pub fn take_zeroed<T: Float>(len: usize) -> Buffer<T> {
    let mut v = take(len);
    v.fill(T::ZERO);
    v
}

/// The values of `values` (exactly `len` of them) in a pooled buffer.
///
/// **Panics** if the iterator is shorter than `len`.
///
/// ```
/// let v = adjoint_runtime::tensor::storage::collect(3, [1.0_f32, 2.0, 3.0].into_iter());
/// assert_eq!(&v[..], [1.0, 2.0, 3.0]);
/// ```
#[inline]
pub fn collect<T: Float>(len: usize, values: impl Iterator<Item = T>) -> Buffer<T> {
    let mut out = take(len);
    let mut written = 0;
    for (o, v) in out.iter_mut().zip(values) {
        *o = v;
        written += 1;
    }
    assert_eq!(written, len, "storage::collect: too few values");
    out
}

/// Returns a buffer to this thread's pool (or frees it when the pool is full
/// or the buffer is small).
///
/// ```
/// use adjoint_runtime::tensor::{buffer::Buffer, storage::{give, idle_bytes}};
/// let before = idle_bytes::<f64>();
/// give(Buffer::<f64>::zeroed(2048));
/// assert_eq!(idle_bytes::<f64>(), before + 2048 * 8);
/// ```
pub fn give<T: Float>(v: Buffer<T>) {
    let len = v.len();
    if len < POOLED_MIN {
        return;
    }
    let bytes = len * size_of::<T>();
    T::with_pool(move |p| {
        let list = p.idle.entry(len).or_default();
        let keep = PER_LENGTH.max(PER_LENGTH_BYTES / bytes);
        if list.len() < keep && p.bytes + bytes <= POOL_BYTES {
            list.push(v);
            p.bytes += bytes;
        }
    });
}

/// Bytes held idle in this thread's pool for `T`, for reports of memory use
/// (see [`give`] for an example).
pub fn idle_bytes<T: Float>() -> usize {
    T::with_pool(|p| p.bytes).unwrap_or(0)
}

/// A rectangle of a tensor's values, handed to a consumer while they are
/// being made (see [`Tensor::for_each_block`](crate::Tensor::for_each_block)):
/// `rows` runs of `cols` values; run `r` is `values[r·width..][..cols]` and
/// holds the tensor's elements `start + r·stride ..` (row-major order).
#[derive(Clone, Copy, Debug)]
pub struct Block<'a, T> {
    /// The tensor's element (row-major index) of the first value.
    pub start: usize,
    /// How far apart, in the tensor, the first elements of two runs are.
    pub stride: usize,
    /// The number of runs.
    pub rows: usize,
    /// Values per run.
    pub cols: usize,
    /// How far apart, in `values`, two runs are.
    pub width: usize,
    /// The values.
    pub values: &'a [T],
}

impl<'a, T> Block<'a, T> {
    /// Run `r`: the tensor's elements `start + r·stride ..` for `cols` of them.
    pub fn run(&self, r: usize) -> (usize, &'a [T]) {
        (
            self.start + r * self.stride,
            &self.values[r * self.width..][..self.cols],
        )
    }
}

/// Who visits a tensor's blocks (see
/// [`Tensor::for_each_block`](crate::Tensor::for_each_block)).
pub(crate) enum Visitor<'v, T> {
    /// One visitor on this thread.
    One(&'v mut dyn FnMut(Block<'_, T>)),
    /// One visitor shared by this many threads, which call it at once on
    /// disjoint blocks (see
    /// [`Tensor::for_each_block_shared`](crate::Tensor::for_each_block_shared)).
    Shared(&'v (dyn Fn(Block<'_, T>) + Sync), usize),
}

impl<T> Visitor<'_, T> {
    /// The same visitor, borrowed for a call that may not use it.
    fn reborrow(&mut self) -> Visitor<'_, T> {
        match self {
            Visitor::One(f) => Visitor::One(&mut **f),
            Visitor::Shared(f, parts) => Visitor::Shared(*f, *parts),
        }
    }
}

/// Hands a deferred tensor's values to a visitor in blocks as it makes
/// them, without keeping them; returns `false`, having visited nothing,
/// when it cannot (the values must then be made the ordinary way).
pub(crate) type Stream<T> = Box<dyn Fn(Visitor<'_, T>) -> bool + Send + Sync>;

/// How deferred values are made.
pub(crate) enum Recipe<T> {
    /// All zeros.
    Zeros,
    /// A computation run at the first read.
    Compute(Box<dyn FnOnce() -> Buffer<T> + Send>),
}

/// A tensor's elements: ready, or made at the first read.
pub(crate) enum Data<T: Float> {
    /// The values.
    Ready(Buffer<T>),
    /// Values not made yet.
    Deferred {
        /// How many there will be.
        len: usize,
        /// Whether the recipe is zeros (so that `+=` can replace them).
        zero: bool,
        /// The values, once made.
        made: OnceLock<Buffer<T>>,
        /// The recipe, until it runs.
        recipe: Mutex<Option<Recipe<T>>>,
        /// Another way to make the same values, block by block, for a
        /// consumer that needs each value once (Adam's update).
        stream: Option<Stream<T>>,
    },
}

impl<T: Float> Data<T> {
    /// `len` zeros, made only if read.
    pub(crate) fn zeros(len: usize) -> Self {
        Data::Deferred {
            len,
            zero: true,
            made: OnceLock::new(),
            recipe: Mutex::new(Some(Recipe::Zeros)),
            stream: None,
        }
    }

    /// `len` values computed by `f` at the first read, or streamed by
    /// `stream` (see [`Data::stream`]).
    pub(crate) fn deferred(
        len: usize,
        f: impl FnOnce() -> Buffer<T> + Send + 'static,
        stream: Option<Stream<T>>,
    ) -> Self {
        Data::Deferred {
            len,
            zero: false,
            made: OnceLock::new(),
            recipe: Mutex::new(Some(Recipe::Compute(Box::new(f)))),
            stream,
        }
    }

    /// Visits the values in blocks: made by the stream of values not made
    /// yet (which leaves them unmade: a later read computes them again,
    /// with the same result), else all at once as one block.
    pub(crate) fn stream(&self, visitor: Visitor<'_, T>) {
        let mut visitor = visitor;
        if let Data::Deferred {
            made,
            stream: Some(stream),
            ..
        } = self
            && made.get().is_none()
            && stream(visitor.reborrow())
        {
            return;
        }
        let values = self.values();
        fn whole<T>(start: usize, values: &[T]) -> Block<'_, T> {
            Block {
                start,
                stride: values.len(),
                rows: 1,
                cols: values.len(),
                width: values.len(),
                values,
            }
        }
        match visitor {
            Visitor::One(visit) => visit(whole(0, values)),
            // One contiguous part per thread.
            Visitor::Shared(visit, parts) => {
                let chunk = values.len().div_ceil(parts.max(1)).max(1);
                crate::threads::for_each_part(values.chunks(chunk).enumerate(), |(i, part)| {
                    visit(whole(i * chunk, part))
                });
            }
        }
    }

    /// The number of elements.
    pub(crate) fn len(&self) -> usize {
        match self {
            Data::Ready(v) => v.len(),
            Data::Deferred { len, .. } => *len,
        }
    }

    /// True for deferred zeros (made or not).
    pub(crate) fn is_zero(&self) -> bool {
        matches!(self, Data::Deferred { zero: true, .. })
    }

    /// The values, made now if deferred.
    ///
    /// **Panics** if a deferred computation returns the wrong number of
    /// values (a bug in the rule that deferred it), or is read again after
    /// it panicked.
    #[inline]
    pub(crate) fn values(&self) -> &[T] {
        match self {
            Data::Ready(v) => v,
            Data::Deferred {
                len, made, recipe, ..
            } => made.get_or_init(|| {
                let recipe = recipe.lock().map(|mut r| r.take()).unwrap_or(None);
                let v = match recipe {
                    Some(Recipe::Compute(f)) => f(),
                    Some(Recipe::Zeros) => take_zeroed(*len),
                    // The recipe ran before and panicked (it is taken before
                    // it runs): say so rather than make up values.
                    None => panic!("deferred tensor: its computation panicked at an earlier read"),
                };
                assert_eq!(v.len(), *len, "deferred tensor values: wrong length");
                v
            }),
        }
    }

    /// The values for writing, made now if deferred.
    pub(crate) fn values_mut(&mut self) -> &mut Buffer<T> {
        if matches!(self, Data::Deferred { .. }) {
            let _ = self.values();
            if let Data::Deferred { made, .. } = self {
                let v = made.take().expect("made by values()");
                *self = Data::Ready(v);
            }
        }
        match self {
            Data::Ready(v) => v,
            Data::Deferred { .. } => unreachable!("made ready above"),
        }
    }

    /// The values as an owned buffer, made now if deferred.
    pub(crate) fn into_buffer(mut self) -> Buffer<T> {
        std::mem::take(self.values_mut())
    }
}

impl<T: Float> Drop for Data<T> {
    fn drop(&mut self) {
        let v = match self {
            Data::Ready(v) => std::mem::take(v),
            Data::Deferred { made, .. } => made.take().unwrap_or_default(),
        };
        give(v);
    }
}
