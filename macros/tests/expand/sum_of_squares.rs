// A loop over a slice: nothing is saved per iteration, since the accumulator
// is only added to; the reverse loop walks the range backwards.
#[differentiable]
fn sum_of_squares(x: &[f64]) -> f64 {
    let mut s = 0.0;
    for i in 0..x.len() {
        s += x[i] * x[i];
    }
    s
}
