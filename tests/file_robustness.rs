//! Files under hostile input: bounded byte fuzzing of the IDX reader and
//! the checkpoint loader (no panic, an error for every bad file), and a
//! writer killed in the middle of a save (the previous checkpoint survives).

use adjoint::checkpoint;
use adjoint::data::read_idx;
use adjoint::nn::{Activation, Init, Mlp};
use adjoint::prelude::*;
use std::path::PathBuf;

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("adjoint-robust-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// One mutation of `bytes`: flipped bits, overwritten bytes, a cut, an
/// inserted run, or a rewritten header word.
fn mutate(bytes: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut b = bytes.to_vec();
    match rng.below(5) {
        0 => {
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(b.len().max(1));
                if i < b.len() {
                    b[i] ^= 1 << rng.below(8);
                }
            }
        }
        1 => {
            let i = rng.below(b.len().max(1));
            if i < b.len() {
                b[i] = rng.next_u64() as u8;
            }
        }
        2 => b.truncate(rng.below(b.len() + 1)),
        3 => {
            let i = rng.below(b.len() + 1);
            let run: Vec<u8> = (0..rng.below(64)).map(|_| rng.next_u64() as u8).collect();
            b.splice(i..i, run);
        }
        _ => {
            // A header word (a dimension, a length) set to a huge or odd value.
            let i = 4 * rng.below(4);
            let v = [u32::MAX, 0, 1, 1 << 30][rng.below(4)].to_be_bytes();
            if b.len() >= i + 4 {
                b[i..i + 4].copy_from_slice(&v);
            }
        }
    }
    b
}

#[test]
fn fuzzed_idx_files_give_errors_not_panics() {
    let dir = temp("idx");
    let seed_file = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/mnist-10k/t10k-labels-idx1-ubyte.gz"
    ))
    .unwrap();
    let plain = {
        let (dims, values) = read_idx(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/data/mnist-10k/t10k-labels-idx1-ubyte.gz"
        ))
        .unwrap();
        let mut b = vec![0, 0, 8, 1];
        b.extend((dims[0] as u32).to_be_bytes());
        b.extend(values);
        b
    };
    let mut rng = Rng::seed(1);
    let (mut ok, mut errors) = (0, 0);
    for i in 0..3000 {
        let base = if i % 2 == 0 { &plain } else { &seed_file };
        let path = dir.join("f");
        std::fs::write(&path, mutate(base, &mut rng)).unwrap();
        let result = std::panic::catch_unwind(|| read_idx(&path).map(|_| ()));
        match result {
            Ok(Ok(())) => ok += 1,
            Ok(Err(e)) => {
                assert!(!e.to_string().is_empty());
                errors += 1;
            }
            Err(_) => panic!("read_idx panicked on mutation {i}"),
        }
    }
    println!("IDX fuzzing: 3000 files, {ok} read, {errors} refused with an error, 0 panics");
    assert!(errors > 1000);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn fuzzed_checkpoints_give_errors_not_panics() {
    let dir = temp("ckpt");
    let path = dir.join("m.safetensors");
    let model: Mlp = Mlp::new(
        &[20, 8, 4],
        Activation::Relu,
        Init::PyTorch,
        &mut Rng::seed(2),
    );
    checkpoint::save(&model, &path, &Default::default()).unwrap();
    let good = std::fs::read(&path).unwrap();
    let mut rng = Rng::seed(3);
    let (mut ok, mut errors) = (0, 0);
    for i in 0..3000 {
        let bad = dir.join("bad.safetensors");
        std::fs::write(&bad, mutate(&good, &mut rng)).unwrap();
        let result = std::panic::catch_unwind(|| {
            let mut m: Mlp = Mlp::new(
                &[20, 8, 4],
                Activation::Relu,
                Init::PyTorch,
                &mut Rng::seed(2),
            );
            checkpoint::load(&mut m, &bad).map(|_| ())
        });
        match result {
            Ok(Ok(())) => ok += 1,
            Ok(Err(_)) => errors += 1,
            Err(_) => panic!("checkpoint::load panicked on mutation {i}"),
        }
    }
    println!(
        "checkpoint fuzzing: 3000 files, {ok} loaded, {errors} refused with an error, 0 panics"
    );
    assert!(errors > 1000);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Run by `a_writer_killed_mid_save_leaves_the_previous_checkpoint` in a
/// child process: saves large checkpoints in a loop until killed.
#[test]
#[ignore = "run as a child process by the kill test"]
fn child_saves_forever() {
    let Ok(path) = std::env::var("ADJOINT_KILL_TEST_PATH") else {
        return;
    };
    let big: Mlp = Mlp::new(
        &[2000, 1000, 10],
        Activation::Relu,
        Init::PyTorch,
        &mut Rng::seed(9),
    );
    let mut k = 0u64;
    loop {
        let meta = [("round".to_string(), k.to_string())].into_iter().collect();
        checkpoint::save(&big, &path, &meta).unwrap();
        k += 1;
    }
}

#[test]
fn a_writer_killed_mid_save_leaves_the_previous_checkpoint() {
    let dir = temp("kill");
    let path = dir.join("big.safetensors");
    let small: Mlp = Mlp::new(
        &[2000, 1000, 10],
        Activation::Relu,
        Init::PyTorch,
        &mut Rng::seed(9),
    );
    checkpoint::save(
        &small,
        &path,
        &[("round".to_string(), "before".to_string())]
            .into_iter()
            .collect(),
    )
    .unwrap();
    let mut rounds_seen = Vec::new();
    for attempt in 0..3 {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_saves_forever", "--ignored", "--nocapture"])
            .env("ADJOINT_KILL_TEST_PATH", &path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Kill at different moments of the save cycle (a save takes ~10-50 ms).
        std::thread::sleep(std::time::Duration::from_millis(400 + 37 * attempt));
        child.kill().unwrap();
        child.wait().unwrap();
        let mut loaded: Mlp = Mlp::new(
            &[2000, 1000, 10],
            Activation::Relu,
            Init::HeNormal,
            &mut Rng::seed(1),
        );
        let meta =
            checkpoint::load(&mut loaded, &path).expect("the checkpoint on disk is always whole");
        rounds_seen.push(meta["round"].clone());
        assert!(
            loaded.layers[0].w == small.layers[0].w,
            "a whole checkpoint holds the saved values"
        );
    }
    // The child did save (and was killed while saving again), not only
    // start: some checkpoint on disk came from it.
    assert!(
        rounds_seen.iter().any(|r| r != "before"),
        "the child never finished a save: {rounds_seen:?}"
    );
    println!("checkpoints found after each kill: rounds {rounds_seen:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
