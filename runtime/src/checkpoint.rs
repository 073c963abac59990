//! Checkpoints: any `Params` (and an optimizer's state) as a safetensors
//! file, the format the Hugging Face ecosystem reads. A save writes a
//! temporary file beside the target, syncs it and renames it over the target,
//! so a crash leaves either the old checkpoint or the new one, never half of
//! one. A load checks every name, dtype and shape and says what does not
//! match.

use crate::params::{Leaf, LeafMut, Params};
use crate::scalar::Float;
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

/// What went wrong saving or loading a checkpoint.
#[derive(Debug)]
pub enum CheckpointError {
    /// Reading, writing or renaming failed.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not a valid safetensors file.
    Format { path: PathBuf, message: String },
    /// A tensor the model has is not in the file.
    Missing { path: PathBuf, name: String },
    /// The file has a tensor the model does not.
    Unexpected { path: PathBuf, name: String },
    /// A tensor has another shape or dtype in the file.
    Mismatch {
        path: PathBuf,
        name: String,
        expected: String,
        found: String,
    },
}

impl fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            CheckpointError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            CheckpointError::Format { path, message } => write!(
                f,
                "{}: not a valid safetensors file: {message}",
                path.display()
            ),
            CheckpointError::Missing { path, name } => write!(
                f,
                "{}: has no tensor `{name}`, which the model has",
                path.display()
            ),
            CheckpointError::Unexpected { path, name } => write!(
                f,
                "{}: has a tensor `{name}`, which the model does not",
                path.display()
            ),
            CheckpointError::Mismatch {
                path,
                name,
                expected,
                found,
            } => {
                write!(
                    f,
                    "{}: tensor `{name}` is {found} in the file but {expected} in the model",
                    path.display()
                )
            }
        }
    }
}

impl std::error::Error for CheckpointError {}

/// The element types a checkpoint stores.
pub trait Element: Float {
    /// Its safetensors dtype.
    const DTYPE: Dtype;
    /// Little-endian bytes of values.
    fn to_bytes(values: &[Self]) -> Vec<u8>;
    /// Values from little-endian bytes (a multiple of the size).
    fn from_bytes(bytes: &[u8]) -> Vec<Self>;
}

macro_rules! element {
    ($t:ty, $d:ident, $n:literal) => {
        impl Element for $t {
            const DTYPE: Dtype = Dtype::$d;
            fn to_bytes(values: &[Self]) -> Vec<u8> {
                values.iter().flat_map(|v| v.to_le_bytes()).collect()
            }
            fn from_bytes(bytes: &[u8]) -> Vec<Self> {
                bytes
                    .chunks_exact($n)
                    .map(|c| <$t>::from_le_bytes(c.try_into().expect("chunk size")))
                    .collect()
            }
        }
    };
}
element!(f32, F32, 4);
element!(f64, F64, 8);

/// A named tensor to store: its shape and values.
pub type Entry<T> = (String, Vec<usize>, Vec<T>);

/// Tensors read from a file by name (shape, values), and its metadata.
pub type Loaded<T> = (
    BTreeMap<String, (Vec<usize>, Vec<T>)>,
    HashMap<String, String>,
);

/// The leaves of a tree as entries (`layers.0.w`, shape, values); a scalar
/// leaf is a 0-dimensional tensor.
pub fn entries<P: Params>(params: &P, prefix: &str) -> Vec<Entry<P::Elem>> {
    let mut out = Vec::new();
    params.visit(prefix, &mut |name, leaf| match leaf {
        Leaf::Tensor(t) => out.push((name.to_string(), t.shape().to_vec(), t.to_vec())),
        Leaf::Scalar(v) => out.push((name.to_string(), Vec::new(), vec![*v])),
    });
    out
}

/// Writes entries and metadata to `path`, atomically (temporary file in the
/// same directory, fsync, rename, fsync of the directory).
pub fn save_entries<T: Element>(
    path: impl AsRef<Path>,
    entries: &[Entry<T>],
    metadata: &HashMap<String, String>,
) -> Result<(), CheckpointError> {
    let path = path.as_ref();
    let io = |source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    };
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = entries
        .iter()
        .map(|(n, s, v)| (n.clone(), s.clone(), T::to_bytes(v)))
        .collect();
    let views: Vec<(String, TensorView)> = bytes
        .iter()
        .map(|(n, s, b)| TensorView::new(T::DTYPE, s.clone(), b).map(|v| (n.clone(), v)))
        .collect::<Result<_, _>>()
        .map_err(|e| CheckpointError::Format {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    let data = safetensors::serialize(views, Some(metadata.clone())).map_err(|e| {
        CheckpointError::Format {
            path: path.to_path_buf(),
            message: e.to_string(),
        }
    })?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&data)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}

/// Reads every tensor of a checkpoint: `name → (shape, values)`, and its
/// metadata.
///
/// **Errors** if the file is not valid safetensors or holds another dtype.
pub fn load_entries<T: Element>(path: impl AsRef<Path>) -> Result<Loaded<T>, CheckpointError> {
    let path = path.as_ref();
    let raw = std::fs::read(path).map_err(|source| CheckpointError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let format = |e: safetensors::SafeTensorError| CheckpointError::Format {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let (_, meta) = SafeTensors::read_metadata(&raw).map_err(format)?;
    let st = SafeTensors::deserialize(&raw).map_err(format)?;
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != T::DTYPE {
            return Err(CheckpointError::Mismatch {
                path: path.to_path_buf(),
                name,
                expected: format!("{:?}", T::DTYPE),
                found: format!("{:?}", view.dtype()),
            });
        }
        out.insert(name, (view.shape().to_vec(), T::from_bytes(view.data())));
    }
    Ok((out, meta.metadata().clone().unwrap_or_default()))
}

/// Saves a parameter tree (tensors named by their dotted paths) with
/// metadata.
///
/// ```
/// use adjoint_runtime::{Tensor, checkpoint};
/// let dir = std::env::temp_dir().join(format!("adjoint-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("w.safetensors");
/// let w = vec![Tensor::<f32>::ones(&[2, 2]), Tensor::zeros(&[3])];
/// checkpoint::save(&w, &path, &Default::default()).unwrap();
/// let mut back = vec![Tensor::<f32>::zeros(&[2, 2]), Tensor::ones(&[3])];
/// checkpoint::load(&mut back, &path).unwrap();
/// assert_eq!(back, w);
/// // A model of another shape is refused with the name and both shapes.
/// let mut wrong = vec![Tensor::<f32>::zeros(&[2, 3]), Tensor::zeros(&[3])];
/// let err = checkpoint::load(&mut wrong, &path).unwrap_err().to_string();
/// assert!(err.contains("tensor `0` is [2, 2] in the file but [2, 3] in the model"), "{err}");
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub fn save<P: Params>(
    params: &P,
    path: impl AsRef<Path>,
    metadata: &HashMap<String, String>,
) -> Result<(), CheckpointError>
where
    P::Elem: Element,
{
    save_entries(path, &entries(params, ""), metadata)
}

/// Loads a checkpoint into a parameter tree of the same structure, checking
/// that the names and shapes match exactly; returns the metadata.
pub fn load<P: Params>(
    params: &mut P,
    path: impl AsRef<Path>,
) -> Result<HashMap<String, String>, CheckpointError>
where
    P::Elem: Element,
{
    let path = path.as_ref();
    let (mut stored, meta) = load_entries::<P::Elem>(path)?;
    take_into(params, "", &mut stored, path)?;
    if let Some(name) = stored.keys().next() {
        return Err(CheckpointError::Unexpected {
            path: path.to_path_buf(),
            name: name.clone(),
        });
    }
    Ok(meta)
}

/// Moves the stored entries under `prefix` into `params` (removing them from
/// `stored`), checking names and shapes.
pub fn take_into<P: Params>(
    params: &mut P,
    prefix: &str,
    stored: &mut BTreeMap<String, (Vec<usize>, Vec<P::Elem>)>,
    path: &Path,
) -> Result<(), CheckpointError> {
    let mut error = None;
    params.visit_mut(prefix, &mut |name, leaf| {
        if error.is_some() {
            return;
        }
        let Some((shape, values)) = stored.remove(name) else {
            error = Some(CheckpointError::Missing {
                path: path.to_path_buf(),
                name: name.to_string(),
            });
            return;
        };
        let want: Vec<usize> = match &leaf {
            LeafMut::Tensor(t) => t.shape().to_vec(),
            LeafMut::Scalar(_) => Vec::new(),
        };
        if shape != want {
            error = Some(CheckpointError::Mismatch {
                path: path.to_path_buf(),
                name: name.to_string(),
                expected: format!("{want:?}"),
                found: format!("{shape:?}"),
            });
            return;
        }
        match leaf {
            LeafMut::Tensor(t) => t.as_mut_slice().copy_from_slice(&values),
            LeafMut::Scalar(v) => *v = values[0],
        }
    });
    error.map_or(Ok(()), Err)
}

/// Saves a training run: the model's tensors (under `model.`), the
/// optimizer's buffers (under `optim.`) and its counters, and `metadata`.
pub fn save_training<P: Params>(
    path: impl AsRef<Path>,
    model: &P,
    optimizer: &dyn crate::optim::Optimizer<P>,
    metadata: &HashMap<String, String>,
) -> Result<(), CheckpointError>
where
    P::Elem: Element,
{
    let mut all = entries(model, "model");
    let state = optimizer.state();
    for (name, values) in state.buffers {
        let n = values.len();
        all.push((format!("optim.{name}"), vec![n], values));
    }
    let mut meta = metadata.clone();
    meta.extend(
        state
            .values
            .into_iter()
            .map(|(k, v)| (format!("optim.{k}"), v)),
    );
    save_entries(path, &all, &meta)
}

/// Loads a run saved by [`save_training`] into a model of the same
/// structure and an optimizer of the same kind; returns the metadata.
pub fn load_training<P: Params>(
    path: impl AsRef<Path>,
    model: &mut P,
    optimizer: &mut dyn crate::optim::Optimizer<P>,
) -> Result<HashMap<String, String>, CheckpointError>
where
    P::Elem: Element,
{
    let path = path.as_ref();
    let (mut stored, meta) = load_entries::<P::Elem>(path)?;
    take_into(model, "model", &mut stored, path)?;
    let mut state = crate::optim::OptimState::default();
    for (name, (_, values)) in std::mem::take(&mut stored) {
        match name.strip_prefix("optim.") {
            Some(rest) => state.buffers.push((rest.to_string(), values)),
            None => {
                return Err(CheckpointError::Unexpected {
                    path: path.to_path_buf(),
                    name,
                });
            }
        }
    }
    state.values = meta
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("optim.")?.to_string(), v.clone())))
        .collect();
    optimizer
        .set_state(state)
        .map_err(|message| CheckpointError::Format {
            path: path.to_path_buf(),
            message,
        })?;
    Ok(meta)
}
