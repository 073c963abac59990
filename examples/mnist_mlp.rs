//! Trains a multilayer perceptron on MNIST: by default the project's origin
//! model, 784 → 10 ReLU → 10 with softmax cross-entropy and Adam for 5 epochs,
//! on the 10,000 digits bundled in `data/mnist-10k`.
//!
//! ```sh
//! cargo run --release --example mnist_mlp
//! cargo run --release --example mnist_mlp -- --hidden 128 --epochs 10
//! cargo run --release --example mnist_mlp -- --data path/to/full/mnist --threads 2
//! ```
//!
//! Flags: `--hidden N [N ...]`, `--epochs N`, `--batch-size N`, `--lr X`,
//! `--optimizer adam|adamw|sgd`, `--dropout X`, `--weight-decay X`,
//! `--seed N`, `--data DIR`, `--threads N`, `--out DIR` (default
//! `out/mnist_mlp`: where `model.safetensors` and `training.png` are written).

use adjoint::data::{Batches, Mnist};
use adjoint::image::{Image, chart};
use adjoint::metrics::{ConfusionMatrix, accuracy, argmax_rows};
use adjoint::nn::{Activation, Init, Mlp};
use adjoint::optim::{Adam, Optimizer, Sgd};
use adjoint::prelude::*;
use std::io::Write;
use std::time::Instant;

/// The objective: mean softmax cross-entropy of the model's logits
/// (`training` turns dropout on, with masks from `seed`).
#[differentiable(wrt(model))]
fn loss(model: &Mlp, x: &Tensor, labels: &[usize], training: bool, seed: u64) -> f32 {
    let logits = model.forward(x, training, seed);
    cross_entropy(&logits, labels)
}

struct Args {
    hidden: Vec<usize>,
    epochs: usize,
    batch_size: usize,
    lr: f64,
    optimizer: String,
    dropout: f32,
    weight_decay: f64,
    seed: u64,
    data: String,
    threads: usize,
    out: String,
}

fn usage(msg: &str) -> ! {
    eprintln!("error: {msg}");
    eprintln!(
        "usage: mnist_mlp [--hidden N [N ...]] [--epochs N] [--batch-size N] [--lr X] [--optimizer adam|adamw|sgd] \
         [--dropout X] [--weight-decay X] [--seed N] [--data DIR] [--threads N] [--out DIR]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        hidden: vec![10],
        epochs: 5,
        batch_size: 64,
        lr: 1e-3,
        optimizer: "adam".into(),
        dropout: 0.0,
        weight_decay: 0.0,
        seed: 0,
        data: concat!(env!("CARGO_MANIFEST_DIR"), "/data/mnist-10k").into(),
        threads: 1,
        out: "out/mnist_mlp".into(),
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    fn num<T: std::str::FromStr>(argv: &[String], i: usize, flag: &str) -> T {
        argv.get(i + 1)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| usage(&format!("{flag} needs a number")))
    }
    while i < argv.len() {
        let flag = argv[i].as_str();
        match flag {
            "--hidden" => {
                a.hidden.clear();
                while let Some(n) = argv.get(i + 1).and_then(|v| v.parse().ok()) {
                    a.hidden.push(n);
                    i += 1;
                }
                if a.hidden.is_empty() {
                    usage("--hidden needs one or more sizes");
                }
                i += 1;
                continue;
            }
            "--epochs" => a.epochs = num(&argv, i, flag),
            "--batch-size" => a.batch_size = num(&argv, i, flag),
            "--lr" => a.lr = num(&argv, i, flag),
            "--dropout" => a.dropout = num(&argv, i, flag),
            "--weight-decay" => a.weight_decay = num(&argv, i, flag),
            "--seed" => a.seed = num(&argv, i, flag),
            "--threads" => a.threads = num(&argv, i, flag),
            "--optimizer" | "--data" | "--out" => {
                let v = argv
                    .get(i + 1)
                    .cloned()
                    .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
                match flag {
                    "--optimizer" => a.optimizer = v,
                    "--data" => a.data = v,
                    _ => a.out = v,
                }
            }
            "-h" | "--help" => usage("help"),
            other => usage(&format!("unknown flag {other}")),
        }
        i += 2;
    }
    if a.batch_size == 0 || a.threads == 0 || !(0.0..1.0).contains(&a.dropout) {
        usage("--batch-size and --threads must be positive, --dropout in [0, 1)");
    }
    a
}

fn main() {
    let args = parse_args();
    // Large matrix products split over this many threads.
    adjoint::threads::set_count(args.threads);

    let mut mnist = Mnist::load(&args.data).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(1)
    });
    mnist.normalize();
    let n_train = mnist.train_labels.len();
    let mut sizes = vec![784];
    sizes.extend(&args.hidden);
    sizes.push(10);
    let mut model: Mlp = Mlp::new(
        &sizes,
        Activation::Relu,
        Init::PyTorch,
        &mut Rng::seed(args.seed),
    );
    model.dropout = args.dropout;
    let mut optimizer: Box<dyn Optimizer<Mlp>> = match args.optimizer.as_str() {
        "adam" => Box::new(Adam::new(args.lr).weight_decay(args.weight_decay)),
        "adamw" => Box::new(Adam::adamw(args.lr).weight_decay(args.weight_decay)),
        "sgd" => Box::new(
            Sgd::new(args.lr)
                .momentum(0.9, false)
                .weight_decay(args.weight_decay),
        ),
        other => usage(&format!("unknown optimizer {other}: adam, adamw or sgd")),
    };
    println!(
        "MLP {sizes:?} ({} parameters), {} optimizer lr {}, batch {}, {} epochs, {} training / {} test digits from {}",
        model.num_params(),
        args.optimizer,
        args.lr,
        args.batch_size,
        args.epochs,
        n_train,
        mnist.test_labels.len(),
        args.data
    );

    let mut step_seed = Rng::seed(args.seed ^ 0x5eed);
    let (mut losses, mut accuracies): (Vec<f64>, Vec<f64>) = (Vec::new(), Vec::new());
    for epoch in 1..=args.epochs {
        let start = Instant::now();
        let batches = Batches::new(
            n_train,
            args.batch_size,
            Some(args.seed.wrapping_add(epoch as u64)),
        );
        let total = batches.len();
        let (mut loss_sum, mut seen) = (0.0f64, 0usize);
        for (b, idx) in batches.enumerate() {
            let x = mnist.train_images.gather_rows(&idx);
            let labels: Vec<usize> = idx.iter().map(|&i| mnist.train_labels[i]).collect();
            let (value, grads) = loss_grad(&model, &x, &labels, true, step_seed.next_u64());
            optimizer.step(&mut model, &grads);
            loss_sum += value as f64 * idx.len() as f64;
            seen += idx.len();
            if b % 10 == 0 || b + 1 == total {
                let done = (b + 1) * 30 / total;
                print!(
                    "\repoch {epoch}/{} [{}{}] {}/{} loss {:.4} {:.0} examples/s",
                    args.epochs,
                    "=".repeat(done),
                    " ".repeat(30 - done),
                    b + 1,
                    total,
                    loss_sum / seen as f64,
                    seen as f64 / start.elapsed().as_secs_f64()
                );
                let _ = std::io::stdout().flush();
            }
        }
        let predicted = argmax_rows(&model.forward(&mnist.test_images, false, 0));
        let acc = accuracy(&predicted, &mnist.test_labels);
        println!("  test accuracy {:.2}%", 100.0 * acc);
        losses.push(loss_sum / seen as f64);
        accuracies.push(acc);
    }
    let predicted = argmax_rows(&model.forward(&mnist.test_images, false, 0));
    let acc = accuracy(&predicted, &mnist.test_labels);
    let test_loss = loss(&model, &mnist.test_images, &mnist.test_labels, false, 0);
    println!(
        "\nfinal test accuracy: {:.2}% (test loss {test_loss:.4})",
        100.0 * acc
    );
    println!(
        "confusion matrix (rows: true digit, columns: predicted):\n{}",
        ConfusionMatrix::new(&predicted, &mnist.test_labels, 10)
    );
    if let Err(e) = write_outputs(&args, &model, &sizes, &losses, &accuracies) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// The checkpoint (with what `saliency` needs to rebuild the model) and the
/// plot of training loss and test accuracy per epoch.
fn write_outputs(
    args: &Args,
    model: &Mlp,
    sizes: &[usize],
    losses: &[f64],
    accs: &[f64],
) -> Result<(), Box<dyn std::error::Error>> {
    let out = std::path::Path::new(&args.out);
    std::fs::create_dir_all(out)?;
    let meta = [
        (
            "sizes".to_string(),
            sizes
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(","),
        ),
        ("activation".to_string(), "relu".to_string()),
        (
            "test_accuracy".to_string(),
            format!("{:.4}", accs.last().copied().unwrap_or(0.0)),
        ),
    ]
    .into_iter()
    .collect();
    let ckpt = out.join("model.safetensors");
    adjoint::checkpoint::save(model, &ckpt, &meta)?;
    let mut img = Image::new(900, 380);
    chart(
        &mut img,
        (110, 50, 300, 250),
        "training loss",
        &[(losses, [200, 40, 40])],
        false,
    );
    chart(
        &mut img,
        (560, 50, 300, 250),
        "test accuracy",
        &[(accs, [40, 90, 200])],
        true,
    );
    let plot = out.join("training.png");
    img.save_png(&plot)?;
    println!("wrote {} and {}", ckpt.display(), plot.display());
    Ok(())
}
