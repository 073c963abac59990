//! A character-level recurrent network trained on seven of Shakespeare's
//! sonnets (`data/text/sonnets.txt`, public domain). The whole sequence —
//! embedding lookup, recurrent cell, loss at every step — is one
//! `#[differentiable]` function with the time-step loop inside it. It prints
//! the loss falling and samples of what it writes before and after training.
//!
//! ```sh
//! cargo run --release --example char_rnn [-- --epochs N --hidden N --seed N]
//! ```

mod cli;

use adjoint::optim::{Adam, Optimizer, clip_grad_norm};
use adjoint::prelude::*;

#[derive(Params, Clone)]
struct Rnn {
    /// Character embeddings, `[vocab, hidden]`.
    embed: Tensor,
    /// The recurrent weights, `[hidden, hidden]`.
    wh: Tensor,
    b: Tensor,
    /// The read-out, `[hidden, vocab]`.
    wo: Tensor,
    bo: Tensor,
}

/// Mean cross-entropy of predicting each next character over a window:
/// `inputs[t]` and `targets[t]` hold one character per sequence of the batch.
#[differentiable(wrt(p))]
fn sequence_loss(p: &Rnn, inputs: &[Vec<usize>], targets: &[Vec<usize>], h0: &Tensor) -> f32 {
    let mut h = h0.clone();
    let mut total = 0.0;
    for t in 0..inputs.len() {
        let x = p.embed.gather_rows(&inputs[t]);
        h = (x + h.matmul(&p.wh) + &p.b).tanh();
        let logits = h.matmul(&p.wo) + &p.bo;
        total += cross_entropy(&logits, &targets[t]);
    }
    total / inputs.len() as f32
}

/// Writes `n` characters after `start`, sampling at `temperature`.
fn sample(
    p: &Rnn,
    vocab: &[char],
    start: usize,
    n: usize,
    temperature: f32,
    rng: &mut Rng,
) -> String {
    let hidden = p.wh.shape()[0];
    let mut h: Tensor = Tensor::zeros(&[1, hidden]);
    let mut c = start;
    let mut out = String::new();
    for _ in 0..n {
        h = (p.embed.gather_rows(&[c]) + h.matmul(&p.wh) + &p.b).tanh();
        let probs = ((h.matmul(&p.wo) + &p.bo) * (1.0 / temperature)).softmax(1);
        let u = rng.uniform() as f32;
        let mut acc = 0.0;
        c = probs
            .as_slice()
            .iter()
            .position(|&q| {
                acc += q;
                acc > u
            })
            .unwrap_or(vocab.len() - 1);
        out.push(vocab[c]);
    }
    out
}

fn main() {
    let (epochs, hidden, seed) = (
        cli::flag::<usize>("--epochs", 100),
        cli::flag::<usize>("--hidden", 96),
        cli::flag::<u64>("--seed", 0),
    );
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/text/sonnets.txt"
    ))
    .expect("the bundled text");
    let mut vocab: Vec<char> = text.chars().collect();
    vocab.sort();
    vocab.dedup();
    let ids: Vec<usize> = text
        .chars()
        .map(|c| vocab.binary_search(&c).expect("in the vocabulary"))
        .collect();
    let v = vocab.len();
    let mut rng = Rng::seed(seed);
    let s = 1.0 / (hidden as f64).sqrt();
    let mut p = Rnn {
        embed: Tensor::randn(&[v, hidden], 0.0, 0.3, &mut rng),
        wh: Tensor::randn(&[hidden, hidden], 0.0, s, &mut rng),
        b: Tensor::zeros(&[hidden]),
        wo: Tensor::randn(&[hidden, v], 0.0, s, &mut rng),
        bo: Tensor::zeros(&[v]),
    };
    let mut opt = Adam::new(3e-3);
    let (window, batch) = (32, 16);
    let start = vocab.binary_search(&'T').unwrap_or(0);
    println!(
        "{} characters, {v} distinct; RNN with {hidden} hidden units, {} parameters",
        ids.len(),
        p.num_params()
    );
    println!(
        "before training: {:?}",
        sample(&p, &vocab, start, 80, 0.8, &mut Rng::seed(1))
    );
    let timer = std::time::Instant::now();
    for epoch in 1..=epochs {
        // Each batch: `batch` windows starting at random offsets.
        let steps = ids.len() / (window * batch);
        let mut total = 0.0;
        for _ in 0..steps {
            let starts: Vec<usize> = (0..batch)
                .map(|_| rng.below(ids.len() - window - 1))
                .collect();
            let inputs: Vec<Vec<usize>> = (0..window)
                .map(|t| starts.iter().map(|&o| ids[o + t]).collect())
                .collect();
            let targets: Vec<Vec<usize>> = (0..window)
                .map(|t| starts.iter().map(|&o| ids[o + t + 1]).collect())
                .collect();
            let h0 = Tensor::zeros(&[batch, hidden]);
            let (loss, mut g) = sequence_loss_grad(&p, &inputs, &targets, &h0);
            clip_grad_norm(&mut g, 5.0);
            opt.step(&mut p, &g);
            total += loss;
        }
        if epoch == 1 || epoch % 10 == 0 {
            println!(
                "epoch {epoch:>3}: loss {:.3} ({:.1} s)",
                total / steps as f32,
                timer.elapsed().as_secs_f64()
            );
        }
    }
    println!(
        "after training:  {:?}",
        sample(&p, &vocab, start, 240, 0.6, &mut Rng::seed(1))
    );
}
