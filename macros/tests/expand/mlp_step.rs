// The MLP training step's functions as the runtime writes them (nn.rs) and
// as bench_mlp's loss calls them: layers borrowed from a Vec in a loop.
#[differentiable(wrt(self, x))]
impl<T: Float> Linear<T> {
    pub fn forward(&self, x: &Tensor<T>) -> Tensor<T> {
        self.forward_owned(x.clone())
    }

    pub fn forward_owned(&self, x: Tensor<T>) -> Tensor<T> {
        x.matmul(&self.w) + &self.b
    }
}

#[differentiable(wrt(self, x))]
impl<T: Float> Mlp<T> {
    pub fn forward(&self, x: &Tensor<T>) -> Tensor<T> {
        let n = self.layers.len();
        let mut h = x.clone();
        for i in 0..n {
            h = self.layers[i].forward_owned(h);
            if i + 1 < n {
                h = h.relu();
            }
        }
        h
    }
}

#[differentiable(wrt(model))]
fn loss(model: &Mlp, x: &Tensor, labels: &[usize]) -> f32 {
    cross_entropy(&model.forward(x), labels)
}
