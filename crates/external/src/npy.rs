//! `.npy` files (f64, C order) through the `npyz` crate: the data and parameters handed to a
//! child, and the parameters it hands back.

use crate::error::ExternalError;
use faer::MatRef;
use npyz::WriterBuilder;
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;

fn npy_error(path: &Path, e: impl std::fmt::Display) -> ExternalError {
    ExternalError::Npy {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Writes `m` (n×d) as an n×d f64 `.npy` file in C order.
pub fn write_matrix(path: &Path, m: MatRef<'_, f64>) -> Result<(), ExternalError> {
    let file = File::create(path).map_err(|e| npy_error(path, e))?;
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&[m.nrows() as u64, m.ncols() as u64])
        .writer(BufWriter::new(file))
        .begin_nd()
        .map_err(|e| npy_error(path, e))?;
    w.extend((0..m.nrows()).flat_map(|i| (0..m.ncols()).map(move |j| m[(i, j)])))
        .map_err(|e| npy_error(path, e))?;
    w.finish().map_err(|e| npy_error(path, e))
}

/// Writes `v` as a 1-D f64 `.npy` file.
pub fn write_vector(path: &Path, v: &[f64]) -> Result<(), ExternalError> {
    let file = File::create(path).map_err(|e| npy_error(path, e))?;
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&[v.len() as u64])
        .writer(BufWriter::new(file))
        .begin_nd()
        .map_err(|e| npy_error(path, e))?;
    w.extend(v.iter().copied())
        .map_err(|e| npy_error(path, e))?;
    w.finish().map_err(|e| npy_error(path, e))
}

/// Reads an f64 `.npy` file of any shape as its values in storage order, with its shape.
pub fn read_vector(path: &Path) -> Result<(Vec<f64>, Vec<u64>), ExternalError> {
    let file = File::open(path).map_err(|e| npy_error(path, e))?;
    let npy = npyz::NpyFile::new(BufReader::new(file)).map_err(|e| npy_error(path, e))?;
    let shape = npy.shape().to_vec();
    let values = npy.into_vec::<f64>().map_err(|e| npy_error(path, e))?;
    Ok((values, shape))
}

#[cfg(test)]
mod tests {
    use super::*;
    use faer::Mat;

    #[test]
    fn a_matrix_and_a_vector_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let m = Mat::from_fn(3, 2, |i, j| i as f64 * 10.0 + j as f64 + 0.25);
        let p = dir.path().join("m.npy");
        write_matrix(&p, m.as_ref()).unwrap();
        let (values, shape) = read_vector(&p).unwrap();
        assert_eq!(shape, vec![3, 2]);
        assert_eq!(
            values,
            vec![0.25, 1.25, 10.25, 11.25, 20.25, 21.25],
            "C order"
        );
        let q = dir.path().join("v.npy");
        write_vector(&q, &[1.5, -2.0, f64::MIN_POSITIVE]).unwrap();
        assert_eq!(
            read_vector(&q).unwrap(),
            (vec![1.5, -2.0, f64::MIN_POSITIVE], vec![3])
        );
    }

    #[test]
    fn a_file_that_is_not_npy_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.npy");
        std::fs::write(&p, b"hello").unwrap();
        let e = read_vector(&p).unwrap_err().to_string();
        assert!(e.contains("bad.npy"), "{e}");
    }
}
