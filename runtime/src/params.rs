//! Parameter trees: structs of tensors, scalars, nested parameter structs,
//! `Vec`s and arrays of them, with `#[derive(Params)]`. The gradient of a
//! `&P` is a `P`; optimizers and checkpoints walk a tree by dotted names
//! (`layers.0.w`).

use crate::scalar::Float;
use crate::tensor::Tensor;

/// One leaf of a parameter tree.
pub enum Leaf<'a, T: Float> {
    /// A tensor.
    Tensor(&'a Tensor<T>),
    /// A scalar.
    Scalar(&'a T),
}

/// The callback of [`Params::zip_mut`]: a leaf's name, the leaf of the tree
/// being written, and the same leaf of the other tree.
pub type ZipFn<'f, T> = dyn FnMut(&str, LeafMut<'_, T>, Leaf<'_, T>) + 'f;

/// One leaf of a parameter tree, for writing.
pub enum LeafMut<'a, T: Float> {
    /// A tensor.
    Tensor(&'a mut Tensor<T>),
    /// A scalar.
    Scalar(&'a mut T),
}

/// A tree of parameters. `#[derive(Params)]` implements it for structs whose
/// fields all implement it; the runtime implements it for `Tensor<T>`,
/// `f32`, `f64`, `Vec<P>` and `[P; N]`.
///
/// ```
/// use adjoint_runtime::{Params, Tensor};
/// let layers = vec![Tensor::<f32>::zeros(&[2, 3]), Tensor::zeros(&[3])];
/// assert_eq!(layers.num_params(), 9);
/// let mut names = Vec::new();
/// layers.visit("layers", &mut |name, _| names.push(name.to_string()));
/// assert_eq!(names, ["layers.0", "layers.1"]);
/// ```
pub trait Params: Clone {
    /// The float type of the leaves.
    type Elem: Float;

    /// Calls `f` on every leaf with its dotted name under `prefix`.
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, Leaf<'_, Self::Elem>));

    /// Calls `f` on every leaf, for writing.
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, LeafMut<'_, Self::Elem>));

    /// Calls `f` on every leaf of `self` with the same leaf of `other` (a
    /// tree of the same structure, such as the gradient).
    ///
    /// **Panics** if the structures differ (a `Vec` of another length).
    fn zip_mut(&mut self, other: &Self, prefix: &str, f: &mut ZipFn<'_, Self::Elem>);

    /// A tree of the same structure with every leaf zero.
    fn zeros_like(&self) -> Self;

    /// The number of scalars in the tree.
    fn num_params(&self) -> usize {
        let mut n = 0;
        self.visit("", &mut |_, leaf| {
            n += match leaf {
                Leaf::Tensor(t) => t.len(),
                Leaf::Scalar(_) => 1,
            }
        });
        n
    }

    /// `self += other`, leaf by leaf.
    fn add_assign_tree(&mut self, other: &Self) {
        self.zip_mut(other, "", &mut |_, a, b| match (a, b) {
            (LeafMut::Tensor(a), Leaf::Tensor(b)) => *a += b,
            (LeafMut::Scalar(a), Leaf::Scalar(b)) => *a += *b,
            _ => unreachable!("zip_mut pairs leaves of the same kind"),
        });
    }

    /// `self *= s`, leaf by leaf.
    fn scale(&mut self, s: Self::Elem) {
        self.visit_mut("", &mut |_, leaf| match leaf {
            LeafMut::Tensor(t) => t.as_mut_slice().iter_mut().for_each(|v| *v *= s),
            LeafMut::Scalar(v) => *v *= s,
        });
    }
}

/// `prefix.name`, or `name` at the root.
pub fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

impl<T: Float> Params for Tensor<T> {
    type Elem = T;
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, Leaf<'_, T>)) {
        f(prefix, Leaf::Tensor(self));
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, LeafMut<'_, T>)) {
        f(prefix, LeafMut::Tensor(self));
    }
    #[track_caller]
    fn zip_mut(&mut self, other: &Self, prefix: &str, f: &mut ZipFn<'_, T>) {
        assert_eq!(
            self.shape(),
            other.shape(),
            "parameter `{prefix}`: shapes {:?} and {:?} differ",
            self.shape(),
            other.shape()
        );
        f(prefix, LeafMut::Tensor(self), Leaf::Tensor(other));
    }
    fn zeros_like(&self) -> Self {
        Tensor::zeros_like(self)
    }
}

macro_rules! scalar_params {
    ($($t:ty),*) => {$(
        impl Params for $t {
            type Elem = $t;
            fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, Leaf<'_, $t>)) {
                f(prefix, Leaf::Scalar(self));
            }
            fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, LeafMut<'_, $t>)) {
                f(prefix, LeafMut::Scalar(self));
            }
            fn zip_mut(&mut self, other: &Self, prefix: &str, f: &mut ZipFn<'_, $t>) {
                f(prefix, LeafMut::Scalar(self), Leaf::Scalar(other));
            }
            fn zeros_like(&self) -> Self {
                0.0
            }
        }
    )*};
}
scalar_params!(f32, f64);

// A `Vec` and an array walk their entries the same way, named by index.
fn visit_items<P: Params>(items: &[P], prefix: &str, f: &mut dyn FnMut(&str, Leaf<'_, P::Elem>)) {
    for (i, p) in items.iter().enumerate() {
        p.visit(&join(prefix, &i.to_string()), f);
    }
}

fn visit_items_mut<P: Params>(
    items: &mut [P],
    prefix: &str,
    f: &mut dyn FnMut(&str, LeafMut<'_, P::Elem>),
) {
    for (i, p) in items.iter_mut().enumerate() {
        p.visit_mut(&join(prefix, &i.to_string()), f);
    }
}

fn zip_items_mut<P: Params>(
    items: &mut [P],
    other: &[P],
    prefix: &str,
    f: &mut ZipFn<'_, P::Elem>,
) {
    for (i, (p, q)) in items.iter_mut().zip(other).enumerate() {
        p.zip_mut(q, &join(prefix, &i.to_string()), f);
    }
}

impl<P: Params> Params for Vec<P> {
    type Elem = P::Elem;
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, Leaf<'_, P::Elem>)) {
        visit_items(self, prefix, f);
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, LeafMut<'_, P::Elem>)) {
        visit_items_mut(self, prefix, f);
    }
    #[track_caller]
    fn zip_mut(&mut self, other: &Self, prefix: &str, f: &mut ZipFn<'_, P::Elem>) {
        assert_eq!(
            self.len(),
            other.len(),
            "parameter `{prefix}`: {} entries against {}",
            self.len(),
            other.len()
        );
        zip_items_mut(self, other, prefix, f);
    }
    fn zeros_like(&self) -> Self {
        self.iter().map(Params::zeros_like).collect()
    }
}

impl<P: Params, const N: usize> Params for [P; N] {
    type Elem = P::Elem;
    fn visit(&self, prefix: &str, f: &mut dyn FnMut(&str, Leaf<'_, P::Elem>)) {
        visit_items(self, prefix, f);
    }
    fn visit_mut(&mut self, prefix: &str, f: &mut dyn FnMut(&str, LeafMut<'_, P::Elem>)) {
        visit_items_mut(self, prefix, f);
    }
    fn zip_mut(&mut self, other: &Self, prefix: &str, f: &mut ZipFn<'_, P::Elem>) {
        // Same length by type.
        zip_items_mut(self, other, prefix, f);
    }
    fn zeros_like(&self) -> Self {
        std::array::from_fn(|i| self[i].zeros_like())
    }
}
