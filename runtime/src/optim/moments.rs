//! Adam's two moments of a leaf, placed in memory against the update's
//! other streams.

use crate::scalar::Float;
use crate::tensor::buffer::Buffer;

/// Adam's two moments of one leaf, `m` and `v`, in one buffer.
///
/// Where they start is chosen against the other streams of the update: the
/// parameters, and the blocks of the gradient as its product hands them
/// over. When two streams that the update reads and writes share their low
/// 12 address bits, the CPU takes a load for a dependency on an earlier
/// store to the other stream (4K aliasing). `m` and `v` go where their
/// offsets modulo 4 KiB lie farthest from the others'. With a fixed gap
/// between them, `v` landed on the gradient block's offset in 784-128-10
/// b128, and the step ran 4.5% slower than with `v` elsewhere. The
/// gradient's blocks come from the buffer pool, which hands over one of a
/// few buffers; the moments move (a copy) when a new block offset is seen,
/// up to [`GRADS_TRACKED`] of them, and when the parameters move. The
/// buffer is 64-byte aligned, and the offsets are whole cache lines.
#[derive(Clone, Debug)]
pub(super) struct Moments<T> {
    buf: Buffer<T>,
    len: usize,
    m_at: usize,
    v_at: usize,
    /// The offset (modulo 4 KiB) of the parameters, and how many of
    /// `grads_seen`, that `m_at` and `v_at` were chosen for.
    placed_for: (usize, usize),
    /// The offsets of the gradient's blocks seen so far.
    grads_seen: Vec<usize>,
}

/// At most this many offsets of gradient blocks are kept track of.
const GRADS_TRACKED: usize = 4;

/// Bytes in the window of addresses that 4K aliasing compares.
const PAGE: usize = 4096;

/// The offset modulo [`PAGE`] of an address.
pub(super) fn page_offset<T>(p: *const T) -> usize {
    p as usize % PAGE
}

/// Of the cache-line offsets modulo [`PAGE`], the one farthest (around the
/// page) from every offset in `taken`.
fn farthest_from(taken: &[usize]) -> usize {
    let distance = |a: usize, b: usize| {
        let d = a.abs_diff(b) % PAGE;
        d.min(PAGE - d)
    };
    (0..PAGE)
        .step_by(64)
        .max_by_key(|&c| taken.iter().map(|&t| distance(c, t)).min().unwrap_or(0))
        .unwrap_or(0)
}

impl<T: Float> Moments<T> {
    /// Zero moments for `len` parameters at the offset `params` (modulo
    /// 4 KiB), whose gradient's blocks have come at the offsets `grads`.
    pub(super) fn zeros(len: usize, params: usize, grads: Vec<usize>) -> Self {
        let size = size_of::<T>();
        let buf = Buffer::zeroed(2 * len + 2 * PAGE / size);
        let base = buf.as_ptr() as usize;
        let mut taken = vec![params];
        taken.extend(&grads);
        // The first index from `from` whose address is `offset` modulo the
        // page (addresses and offsets are multiples of `size`).
        let at = |from: usize, offset: usize| {
            from + (offset + PAGE - (base + from * size) % PAGE) % PAGE / size
        };
        let m_at = at(0, farthest_from(&taken));
        taken.push(page_offset(buf[m_at..].as_ptr()));
        let v_at = at(m_at + len, farthest_from(&taken));
        Moments {
            buf,
            len,
            m_at,
            v_at,
            placed_for: (params, grads.len()),
            grads_seen: grads,
        }
    }

    /// Moments holding `m` and `v` (a checkpoint's), placed for parameters
    /// at offset 0 until the first update places them for the real ones.
    pub(super) fn from_parts(m: &[T], v: &[T]) -> Self {
        Moments::holding(m, v, 0, Vec::new())
    }

    /// [`Moments::zeros`] with `m` and `v` copied in.
    fn holding(m: &[T], v: &[T], params: usize, grads: Vec<usize>) -> Self {
        let mut mv = Moments::zeros(m.len(), params, grads);
        let (dm, dv) = mv.both_mut();
        dm.copy_from_slice(m);
        dv.copy_from_slice(v);
        mv
    }

    /// Moves these moments if need be to suit the parameters at `params` (a
    /// leaf's buffer moves when it is replaced or copied on write) and the
    /// offsets of the gradient's blocks seen so far.
    pub(super) fn place(&mut self, params: *const T) {
        let params = page_offset(params);
        if self.placed_for == (params, self.grads_seen.len()) {
            return;
        }
        let (m, v) = self.both();
        *self = Moments::holding(m, v, params, self.grads_seen.clone());
    }

    /// Notes the offset of a gradient block's element 0 (`first` is the
    /// address of its element `start`).
    pub(super) fn saw_grads(seen: &mut Vec<usize>, first: *const T, start: usize) {
        let at = (first as usize).wrapping_sub(start * size_of::<T>()) % PAGE;
        if seen.len() < GRADS_TRACKED && !seen.contains(&at) {
            seen.push(at);
        }
    }

    pub(super) fn both(&self) -> (&[T], &[T]) {
        let n = self.len;
        (
            &self.buf[self.m_at..self.m_at + n],
            &self.buf[self.v_at..self.v_at + n],
        )
    }

    /// `m`, `v` and the record of the gradient blocks' offset, for an update.
    pub(super) fn for_update(&mut self) -> (&mut [T], &mut [T], &mut Vec<usize>) {
        let n = self.len;
        let (m, v) = self.buf.split_at_mut(self.v_at);
        (
            &mut m[self.m_at..self.m_at + n],
            &mut v[..n],
            &mut self.grads_seen,
        )
    }

    pub(super) fn both_mut(&mut self) -> (&mut [T], &mut [T]) {
        let n = self.len;
        let (m, v) = self.buf.split_at_mut(self.v_at);
        (&mut m[self.m_at..self.m_at + n], &mut v[..n])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The circular distance between two offsets modulo the page.
    fn apart(a: usize, b: usize) -> usize {
        let d = a.abs_diff(b) % PAGE;
        d.min(PAGE - d)
    }

    #[test]
    fn moments_lie_apart_from_the_parameters_and_the_gradient_blocks() {
        for (params, grads) in [(64, vec![]), (64, vec![2112]), (0, vec![1024, 3000])] {
            let mut mv = Moments::<f32>::zeros(1000, params, grads.clone());
            let (m, v) = mv.both_mut();
            let (m, v) = (page_offset(m.as_ptr()), page_offset(v.as_ptr()));
            let mut all = vec![params, m, v];
            all.extend(&grads);
            for (i, &a) in all.iter().enumerate() {
                for &b in &all[i + 1..] {
                    // Four or five streams around a 4 KiB page: at least
                    // an eighth of it between any two (aliasing needs the
                    // same low 12 bits within a few vectors).
                    assert!(apart(a, b) >= 512, "{all:?}");
                }
            }
            assert_eq!((m % 64, v % 64), (0, 0), "whole cache lines");
        }
    }

    #[test]
    fn moving_keeps_the_values_and_happens_once_per_new_offset() {
        let m: Vec<f64> = (0..300).map(|i| i as f64).collect();
        let v: Vec<f64> = (0..300).map(|i| -(i as f64)).collect();
        let mut mv = Moments::from_parts(&m, &v);
        let params = [0.0_f64; 300];
        mv.place(params.as_ptr());
        let before = mv.both().0.as_ptr();
        mv.place(params.as_ptr());
        assert_eq!(mv.both().0.as_ptr(), before, "placed already: not moved");
        let (_, _, seen) = mv.for_update();
        Moments::<f64>::saw_grads(seen, 0x1000 as *const f64, 0);
        Moments::<f64>::saw_grads(seen, 0x1000 as *const f64, 0);
        assert_eq!(seen.len(), 1, "an offset is noted once");
        mv.place(params.as_ptr());
        assert_eq!(mv.both(), (&m[..], &v[..]));
    }
}
