//! Which pixels move a digit's class score: the gradient of the score with
//! respect to the input image (a `wrt(x)` gradient), for a few test digits,
//! from the model `mnist_mlp` saved.
//!
//! ```sh
//! cargo run --release --example mnist_mlp      # writes out/mnist_mlp/model.safetensors
//! cargo run --release --example saliency       # writes out/mnist_mlp/saliency.png
//! ```
//!
//! Flags: `--model FILE`, `--data DIR`, `--count N`, `--out FILE`.

mod cli;

use adjoint::data::Mnist;
use adjoint::image::Image;
use adjoint::metrics::argmax_rows;
use adjoint::nn::{Activation, Init, Mlp};
use adjoint::prelude::*;

/// The logit of `class` for one image `x: [1, 784]`.
#[differentiable(wrt(x))]
fn class_score(model: &Mlp, x: &Tensor, class: usize) -> f32 {
    let logits = model.forward(x, false, 0);
    logits.t().gather_rows(&[class]).sum().item()
}

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(1)
}

fn main() {
    let model_path = cli::flag("--model", "out/mnist_mlp/model.safetensors".to_string());
    let data = cli::flag(
        "--data",
        concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist-10k").to_string(),
    );
    let out = cli::flag("--out", "out/mnist_mlp/saliency.png".to_string());
    let count: usize = cli::flag("--count", 8);

    // Rebuild the architecture the checkpoint records, then load it.
    let (_, meta) = adjoint::checkpoint::load_entries::<f32>(&model_path).unwrap_or_else(|e| {
        fail(&format!(
            "{e} (run `cargo run --release --example mnist_mlp` first)"
        ))
    });
    let sizes: Vec<usize> = meta
        .get("sizes")
        .and_then(|s| s.split(',').map(|v| v.parse().ok()).collect())
        .unwrap_or_else(|| fail(&format!("{model_path}: no `sizes` in its metadata")));
    let mut model: Mlp = Mlp::new(&sizes, Activation::Relu, Init::PyTorch, &mut Rng::seed(0));
    adjoint::checkpoint::load(&mut model, &model_path).unwrap_or_else(|e| fail(&e.to_string()));

    let mut raw = Mnist::load(&data).unwrap_or_else(|e| fail(&e.to_string()));
    let pixels = raw.test_images.clone();
    raw.normalize();
    let count = count.min(raw.test_labels.len());
    let (scale, cell) = (4i64, 28 * 4 + 12);
    let mut img = Image::new(count * cell as usize + 12, 2 * cell as usize + 30);
    for k in 0..count {
        let x = raw.test_images.gather_rows(&[k]);
        let predicted = argmax_rows(&model.forward(&x, false, 0))[0];
        let (score, grad) = class_score_grad(&model, &x, predicted);
        let max = grad.as_slice().iter().fold(0f32, |m, v| m.max(v.abs()));
        let x0 = 12 + k as i64 * cell;
        img.grey(
            x0,
            12,
            &pixels.as_slice()[k * 784..(k + 1) * 784],
            28,
            28,
            0.0,
            1.0,
            scale,
        );
        img.heat(x0, 12 + cell, grad.as_slice(), 28, 28, max, scale);
        img.text(
            x0,
            2 * cell + 8,
            &format!("{} {}", raw.test_labels[k], predicted),
            2,
            [0, 0, 0],
        );
        println!(
            "digit {k}: label {}, predicted {predicted}, score {score:.3}, largest |d score/d pixel| {max:.4}",
            raw.test_labels[k]
        );
    }
    img.save_png(&out)
        .unwrap_or_else(|e| fail(&format!("{out}: {e}")));
    println!(
        "wrote {out}: digits (top), gradient of the predicted class's score (bottom: red raises it, blue lowers it)"
    );
}
