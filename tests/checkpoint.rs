//! Checkpoints: a run resumed from one ends bit-identical to a run that was
//! not interrupted; bad files and mismatched models get clear errors.

use adjoint::checkpoint::{self, load_training, save_training};
use adjoint::data::{Batches, Mnist};
use adjoint::nn::{Activation, Init, Mlp};
use adjoint::optim::{Adam, Optimizer, Sgd};
use adjoint::prelude::*;
use std::path::PathBuf;

#[differentiable(wrt(model))]
fn loss(model: &Mlp, x: &Tensor, labels: &[usize], seed: u64) -> f32 {
    cross_entropy(&model.forward(x, true, seed), labels)
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("adjoint-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// One epoch over the first 1,600 training digits, its batch order and
/// dropout masks fixed by the epoch number.
fn epoch(model: &mut Mlp, opt: &mut dyn Optimizer<Mlp>, mnist: &Mnist, e: u64) {
    for (b, idx) in Batches::new(1600, 64, Some(100 + e)).enumerate() {
        let x = mnist.train_images.gather_rows(&idx);
        let labels: Vec<usize> = idx.iter().map(|&i| mnist.train_labels[i]).collect();
        let (_, g) = loss_grad(model, &x, &labels, e * 1000 + b as u64);
        opt.step(model, &g);
    }
}

fn fresh() -> Mlp {
    let mut m: Mlp = Mlp::new(
        &[784, 16, 10],
        Activation::Relu,
        Init::HeNormal,
        &mut Rng::seed(5),
    );
    m.dropout = 0.2;
    m
}

#[test]
fn resuming_from_a_checkpoint_is_bit_identical() {
    let mnist = Mnist::load(concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist-10k")).unwrap();
    let dir = temp_dir("resume");
    for adam in [true, false] {
        let make = || -> Box<dyn Optimizer<Mlp>> {
            if adam {
                Box::new(Adam::new(1e-3))
            } else {
                Box::new(Sgd::new(0.05).momentum(0.9, true))
            }
        };
        // Three epochs straight.
        let (mut straight, mut opt) = (fresh(), make());
        for e in 0..3 {
            epoch(&mut straight, opt.as_mut(), &mnist, e);
        }
        // Two epochs, a checkpoint, then a new process's worth of state.
        let (mut first, mut opt1) = (fresh(), make());
        for e in 0..2 {
            epoch(&mut first, opt1.as_mut(), &mnist, e);
        }
        let path = dir.join("run.safetensors");
        let meta = [("epoch".to_string(), "2".to_string())]
            .into_iter()
            .collect();
        save_training(&path, &first, opt1.as_ref(), &meta).unwrap();
        let (mut resumed, mut opt2) = (fresh(), make());
        let back = load_training(&path, &mut resumed, opt2.as_mut()).unwrap();
        assert_eq!(back["epoch"], "2");
        epoch(&mut resumed, opt2.as_mut(), &mnist, 2);
        for (a, b) in straight.layers.iter().zip(&resumed.layers) {
            assert!(
                a.w == b.w && a.b == b.b,
                "resumed parameters differ (adam: {adam})"
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn mismatches_and_bad_files_are_reported() {
    let dir = temp_dir("errors");
    let path = dir.join("m.safetensors");
    let model = fresh();
    checkpoint::save(&model, &path, &Default::default()).unwrap();
    // Another architecture.
    let mut other: Mlp = Mlp::new(
        &[784, 32, 10],
        Activation::Relu,
        Init::HeNormal,
        &mut Rng::seed(5),
    );
    let err = checkpoint::load(&mut other, &path).unwrap_err().to_string();
    assert!(
        err.contains("tensor `layers.0.w` is [784, 16] in the file but [784, 32] in the model"),
        "{err}"
    );
    // Fewer layers: a tensor the model does not have.
    let mut shallow: Mlp = Mlp::new(
        &[784, 16],
        Activation::Relu,
        Init::HeNormal,
        &mut Rng::seed(5),
    );
    let err = checkpoint::load(&mut shallow, &path)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("has a tensor `layers.1.b`, which the model does not"),
        "{err}"
    );
    // Truncated and garbage files.
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = checkpoint::load(&mut fresh(), &path)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a valid safetensors file"), "{err}");
    std::fs::write(&path, b"not a checkpoint").unwrap();
    assert!(checkpoint::load(&mut fresh(), &path).is_err());
    // A failed save leaves the previous file as it was.
    checkpoint::save(&model, &path, &Default::default()).unwrap();
    let before = std::fs::read(&path).unwrap();
    let missing_dir = dir.join("no/such/dir/m.safetensors");
    assert!(checkpoint::save(&model, &missing_dir, &Default::default()).is_err());
    assert_eq!(std::fs::read(&path).unwrap(), before);
    std::fs::remove_dir_all(&dir).unwrap();
}
