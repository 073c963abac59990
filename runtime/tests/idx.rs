//! The IDX reader against malformed files: each is an error naming the file
//! and the problem, never a panic or an allocation the header asks for.

use adjoint_runtime::data::{IdxError, Mnist, read_idx};
use std::io::Write;
use std::path::PathBuf;

fn write(name: &str, bytes: &[u8]) -> PathBuf {
    let p = std::env::temp_dir().join(format!("adjoint-idx-{}-{name}", std::process::id()));
    std::fs::write(&p, bytes).unwrap();
    p
}

fn header(dims: &[u32]) -> Vec<u8> {
    let mut h = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        h.extend(d.to_be_bytes());
    }
    h
}

#[test]
fn reads_plain_and_gzipped_files() {
    let mut bytes = header(&[2, 3]);
    bytes.extend([1, 2, 3, 4, 5, 6]);
    let plain = write("plain", &bytes);
    assert_eq!(
        read_idx(&plain).unwrap(),
        (vec![2, 3], vec![1, 2, 3, 4, 5, 6])
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&bytes).unwrap();
    let zipped = write("zipped", &gz.finish().unwrap());
    assert_eq!(
        read_idx(&zipped).unwrap(),
        (vec![2, 3], vec![1, 2, 3, 4, 5, 6])
    );
}

#[test]
fn malformed_files_are_errors_that_say_why() {
    let bad_magic = write("magic", &[0x12, 0x34, 0x56, 0x78, 0, 0, 0, 1, 9]);
    let e = read_idx(&bad_magic).unwrap_err();
    assert!(
        matches!(e, IdxError::BadMagic { .. }) && e.to_string().contains("not an IDX file"),
        "{e}"
    );

    let empty = write("empty", &[]);
    assert!(matches!(
        read_idx(&empty).unwrap_err(),
        IdxError::BadMagic { .. }
    ));

    let mut short = header(&[10]);
    short.extend([1, 2, 3]);
    let e = read_idx(write("short", &short)).unwrap_err();
    assert!(
        e.to_string()
            .contains("announces 10 bytes of data but the file has 3"),
        "{e}"
    );

    // A header that lies about a huge size is refused before any allocation.
    let e = read_idx(write("huge", &header(&[60000, 60000, 60000]))).unwrap_err();
    assert!(matches!(e, IdxError::TooLarge { .. }), "{e}");

    let mut cut = header(&[5, 5]);
    cut.truncate(7);
    assert!(read_idx(write("cut", &cut)).is_err());

    let e = read_idx("/no/such/file").unwrap_err();
    assert!(e.to_string().contains("/no/such/file"), "{e}");
}

#[test]
fn a_directory_with_mismatched_images_and_labels_is_refused() {
    let dir = std::env::temp_dir().join(format!("adjoint-idx-dir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut images = header(&[2, 2, 2]);
    images.extend([0; 8]);
    let mut labels = header(&[3]);
    labels.extend([1, 2, 3]);
    for split in ["train", "t10k"] {
        std::fs::write(dir.join(format!("{split}-images-idx3-ubyte")), &images).unwrap();
        std::fs::write(dir.join(format!("{split}-labels-idx1-ubyte")), &labels).unwrap();
    }
    let e = Mnist::load(&dir).unwrap_err();
    assert!(
        e.to_string().contains("2 images but labels of shape [3]"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
