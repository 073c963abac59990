//! The IDX format of MNIST: a big-endian header (magic `0x0000_08_0D`, `D`
//! dimensions of `u32`) followed by `u8` values. Files may be gzipped. A
//! malformed file is an error that says what is wrong, never a panic, and a
//! header cannot make the reader allocate more than the data it holds.

use crate::tensor::Tensor;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

/// What went wrong reading an IDX file.
#[derive(Debug)]
pub enum IdxError {
    /// The file could not be opened or read.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The first bytes are not an IDX header for unsigned bytes.
    BadMagic { path: PathBuf, magic: [u8; 4] },
    /// The header's dimensions ask for more data than any MNIST-like file has.
    TooLarge { path: PathBuf, dims: Vec<u32> },
    /// The file ends before the data its header announces, or goes on after.
    WrongLength {
        path: PathBuf,
        expected: usize,
        found: usize,
    },
    /// Images and labels disagree, or a file has the wrong number of
    /// dimensions.
    Mismatch { what: String },
}

impl fmt::Display for IdxError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            IdxError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            IdxError::BadMagic { path, magic } => write!(
                f,
                "{}: not an IDX file of unsigned bytes (the first bytes are {magic:02x?}, expected 00 00 08 and a dimension count)",
                path.display()
            ),
            IdxError::TooLarge { path, dims } => write!(
                f,
                "{}: the header's dimensions {dims:?} are too large",
                path.display()
            ),
            IdxError::WrongLength {
                path,
                expected,
                found,
            } => write!(
                f,
                "{}: the header announces {expected} bytes of data but the file has {found}",
                path.display()
            ),
            IdxError::Mismatch { what } => write!(f, "{what}"),
        }
    }
}

impl std::error::Error for IdxError {}

/// The largest data an IDX header may announce (2^31 bytes): MNIST's
/// largest file holds 47 MB.
const MAX_BYTES: u64 = 1 << 31;

/// Reads an IDX file of unsigned bytes (gzipped when its first bytes say so)
/// into its dimensions and values.
///
/// ```
/// let (dims, values) = adjoint_runtime::data::read_idx("../data/mnist-10k/t10k-labels-idx1-ubyte.gz").unwrap();
/// assert_eq!(dims, [2000]);
/// assert!(values.iter().all(|&l| l < 10));
/// ```
pub fn read_idx(path: impl AsRef<Path>) -> Result<(Vec<usize>, Vec<u8>), IdxError> {
    let path = path.as_ref();
    let io = |source| IdxError::Io {
        path: path.to_path_buf(),
        source,
    };
    let raw = std::fs::read(path).map_err(io)?;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        gunzip(&raw, path)?
    } else {
        raw
    };
    parse(&bytes, path)
}

/// Decompresses, reading at most `MAX_BYTES` plus a header: a file that
/// inflates without end is an error, not an exhausted memory.
fn gunzip(raw: &[u8], path: &Path) -> Result<Vec<u8>, IdxError> {
    let mut out = Vec::new();
    let limit = MAX_BYTES + 4 + 4 * 255 + 1;
    flate2::read::GzDecoder::new(raw)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|source| IdxError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(out)
}

fn parse(bytes: &[u8], path: &Path) -> Result<(Vec<usize>, Vec<u8>), IdxError> {
    let magic: [u8; 4] = bytes
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .unwrap_or([0; 4]);
    if bytes.len() < 4 || magic[0] != 0 || magic[1] != 0 || magic[2] != 0x08 || magic[3] == 0 {
        return Err(IdxError::BadMagic {
            path: path.to_path_buf(),
            magic,
        });
    }
    let ndim = magic[3] as usize;
    let header = 4 + 4 * ndim;
    let Some(dim_bytes) = bytes.get(4..header) else {
        return Err(IdxError::WrongLength {
            path: path.to_path_buf(),
            expected: header,
            found: bytes.len(),
        });
    };
    let dims: Vec<u32> = dim_bytes
        .chunks(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let total = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .filter(|&t| t <= MAX_BYTES);
    let Some(total) = total else {
        return Err(IdxError::TooLarge {
            path: path.to_path_buf(),
            dims,
        });
    };
    let found = bytes.len() - header;
    if found as u64 != total {
        return Err(IdxError::WrongLength {
            path: path.to_path_buf(),
            expected: total as usize,
            found,
        });
    }
    Ok((
        dims.iter().map(|&d| d as usize).collect(),
        bytes[header..].to_vec(),
    ))
}

/// MNIST (or the bundled 10,000-digit subset): images as `[n, 784]` pixel
/// values scaled to `[0, 1]`, labels 0–9.
#[derive(Clone, Debug)]
pub struct Mnist {
    pub train_images: Tensor<f32>,
    pub train_labels: Vec<usize>,
    pub test_images: Tensor<f32>,
    pub test_labels: Vec<usize>,
}

impl Mnist {
    /// Reads the four files of `dir` (`train-images-idx3-ubyte` and so on,
    /// each plain or with `.gz`).
    ///
    /// ```
    /// let mnist = adjoint_runtime::data::Mnist::load("../data/mnist-10k").unwrap();
    /// assert_eq!(mnist.train_images.shape(), &[8000, 784]);
    /// assert_eq!(mnist.test_labels.len(), 2000);
    /// ```
    pub fn load(dir: impl AsRef<Path>) -> Result<Mnist, IdxError> {
        let dir = dir.as_ref();
        let (train_images, train_labels) = load_split(dir, "train")?;
        let (test_images, test_labels) = load_split(dir, "t10k")?;
        Ok(Mnist {
            train_images,
            train_labels,
            test_images,
            test_labels,
        })
    }

    /// Standardizes the pixels with the training set's mean and standard
    /// deviation (as `torchvision.transforms.Normalize((0.1307,), (0.3081,))`
    /// does with MNIST's), computed here from the data itself.
    pub fn normalize(&mut self) {
        let xs = self.train_images.as_slice();
        let n = xs.len() as f64;
        let mean = xs.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = xs.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
        let (m, s) = (mean as f32, var.sqrt().max(1e-12) as f32);
        for t in [&mut self.train_images, &mut self.test_images] {
            t.as_mut_slice().iter_mut().for_each(|v| *v = (*v - m) / s);
        }
    }
}

/// The file `dir/name`, or `dir/name.gz`.
fn find(dir: &Path, name: &str) -> PathBuf {
    let plain = dir.join(name);
    if plain.exists() {
        plain
    } else {
        dir.join(format!("{name}.gz"))
    }
}

fn load_split(dir: &Path, split: &str) -> Result<(Tensor<f32>, Vec<usize>), IdxError> {
    let (idims, pixels) = read_idx(find(dir, &format!("{split}-images-idx3-ubyte")))?;
    let (ldims, labels) = read_idx(find(dir, &format!("{split}-labels-idx1-ubyte")))?;
    let [n, rows, cols] = idims[..] else {
        return Err(IdxError::Mismatch {
            what: format!("{split} images: expected 3 dimensions, found {idims:?}"),
        });
    };
    if ldims != [n] {
        return Err(IdxError::Mismatch {
            what: format!("{split}: {n} images but labels of shape {ldims:?}"),
        });
    }
    if let Some(bad) = labels.iter().find(|&&l| l > 9) {
        return Err(IdxError::Mismatch {
            what: format!("{split} labels: {bad} is not a digit"),
        });
    }
    let data =
        crate::tensor::storage::collect(pixels.len(), pixels.iter().map(|&p| p as f32 / 255.0));
    Ok((
        Tensor::from_buffer(data, &[n, rows * cols]),
        labels.iter().map(|&l| l as usize).collect(),
    ))
}
