use adjoint::prelude::*;

struct Scale {
    k: f64,
}

impl Scale {
    #[differentiable(wrt(self, x))]
    fn apply(&self, x: f64) -> f64 {
        self.k * x
    }
}

fn main() {}
