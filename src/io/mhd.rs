//! MetaImage (`.mhd` header + `.raw` data) volumes, the ITK convention:
//! `ElementSpacing` in millimetres, x fastest on disk, little-endian unless
//! `BinaryDataByteOrderMSB = True`.

use std::path::{Path, PathBuf};

use super::atomic::write_atomic_bytes;

/// Most voxels a MetaImage header may declare (2⁴⁸, far past any file).
const MAX_VOXELS: f64 = 281_474_976_710_656.0;

/// Voxel values of a volume, in one of the supported element types.
#[derive(Debug, Clone, PartialEq)]
pub enum VolumeData {
    U8(Vec<u8>),
    U16(Vec<u16>),
    F32(Vec<f32>),
}

impl VolumeData {
    fn len(&self) -> usize {
        match self {
            VolumeData::U8(v) => v.len(),
            VolumeData::U16(v) => v.len(),
            VolumeData::F32(v) => v.len(),
        }
    }

    fn met_type(&self) -> &'static str {
        match self {
            VolumeData::U8(_) => "MET_UCHAR",
            VolumeData::U16(_) => "MET_USHORT",
            VolumeData::F32(_) => "MET_FLOAT",
        }
    }
}

/// A 3-D volume with spacing in millimetres.
#[derive(Debug, Clone, PartialEq)]
pub struct Volume {
    pub dims: [usize; 3],
    pub spacing_mm: [f64; 3],
    pub data: VolumeData,
}

/// What can go wrong reading a MetaImage file; every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum MhdError {
    // `error` rather than `source`: the message already holds it, and a
    // source would print it twice in an error chain.
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Header {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: the header has no `{key}`, which a MetaImage volume needs")]
    Missing { path: PathBuf, key: &'static str },
    #[error("{path}: {message}")]
    Unsupported { path: PathBuf, message: String },
    #[error(
        "{raw}: truncated: {dims:?} voxels of {element} need {expected} bytes after a {offset}-byte offset, the file has {actual}"
    )]
    Truncated {
        raw: PathBuf,
        dims: [usize; 3],
        element: String,
        expected: u64,
        offset: u64,
        actual: u64,
    },
}

impl Volume {
    pub fn from_f32(dims: [usize; 3], spacing_mm: f64, values: Vec<f32>) -> Self {
        assert_eq!(values.len(), dims.iter().product::<usize>());
        Self {
            dims,
            spacing_mm: [spacing_mm; 3],
            data: VolumeData::F32(values),
        }
    }

    pub fn len(&self) -> usize {
        self.dims.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Values widened to f64, in file order.
    pub fn values_f64(&self) -> Box<dyn Iterator<Item = f64> + '_> {
        match &self.data {
            VolumeData::U8(v) => Box::new(v.iter().map(|&x| x as f64)),
            VolumeData::U16(v) => Box::new(v.iter().map(|&x| x as f64)),
            VolumeData::F32(v) => Box::new(v.iter().map(|&x| x as f64)),
        }
    }

    /// Isotropic voxel size in µm; an error names the spacing if it is not isotropic.
    pub fn isotropic_voxel_um(&self) -> Result<f64, String> {
        let [a, b, c] = self.spacing_mm;
        let tol = 1e-6 * a.abs().max(1e-12);
        if (a - b).abs() > tol || (a - c).abs() > tol {
            return Err(format!(
                "voxels must be isotropic cubes; ElementSpacing is {a} {b} {c} mm"
            ));
        }
        Ok(a * 1000.0)
    }

    /// Reads `path` (`.mhd` with a separate data file, or `.mha` with `LOCAL` data).
    pub fn read(path: &Path) -> Result<Volume, MhdError> {
        let io = |error| MhdError::Io {
            path: path.to_path_buf(),
            error,
        };
        let bytes = std::fs::read(path).map_err(io)?;
        let (header, header_len) = split_header(&bytes);
        let header_err = |line: usize, message: String| MhdError::Header {
            path: path.to_path_buf(),
            line,
            message,
        };

        let mut dims = None;
        let mut spacing = None;
        let mut element = None;
        let mut data_file = None;
        let mut msb = false;
        let mut header_size: Option<i64> = None;
        for (no, line) in header.lines().enumerate() {
            let line_no = no + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err(header_err(
                    line_no,
                    format!("expected `Key = Value`, found `{line}`"),
                ));
            };
            let (key, value) = (key.trim(), value.trim());
            let numbers = |n: usize| -> Result<Vec<f64>, MhdError> {
                let v: Result<Vec<f64>, _> = value.split_whitespace().map(str::parse).collect();
                match v {
                    Ok(v) if v.len() == n => Ok(v),
                    _ => Err(header_err(
                        line_no,
                        format!("`{key}` needs {n} numbers, found `{value}`"),
                    )),
                }
            };
            match key {
                "NDims" if value != "3" => {
                    return Err(header_err(
                        line_no,
                        format!("NDims = {value}: only 3-D volumes are supported"),
                    ));
                }
                "DimSize" => {
                    let v = numbers(3)?;
                    if v.iter().any(|&d| d < 1.0 || d.fract() != 0.0) {
                        return Err(header_err(
                            line_no,
                            format!("DimSize = {value}: sizes must be positive integers"),
                        ));
                    }
                    // Checked here, so the byte counts below cannot overflow.
                    if v.iter().product::<f64>() > MAX_VOXELS {
                        return Err(header_err(
                            line_no,
                            format!("DimSize = {value}: more than 2^48 voxels, past any file"),
                        ));
                    }
                    dims = Some([v[0] as usize, v[1] as usize, v[2] as usize]);
                }
                "ElementSpacing" | "ElementSize" => {
                    let v = numbers(3)?;
                    if v.iter().any(|&s| s <= 0.0 || !s.is_finite()) {
                        return Err(header_err(
                            line_no,
                            format!("{key} = {value}: spacing must be positive (mm)"),
                        ));
                    }
                    // ElementSpacing wins over ElementSize when both are given.
                    if key == "ElementSpacing" || spacing.is_none() {
                        spacing = Some([v[0], v[1], v[2]]);
                    }
                }
                "ElementType" => element = Some((value.to_string(), line_no)),
                "ElementDataFile" => data_file = Some(value.to_string()),
                "BinaryDataByteOrderMSB" | "ElementByteOrderMSB" => {
                    msb = value.eq_ignore_ascii_case("true")
                }
                "CompressedData" if value.eq_ignore_ascii_case("true") => {
                    return Err(MhdError::Unsupported {
                        path: path.to_path_buf(),
                        message: "compressed MetaImage data is not supported; save it uncompressed"
                            .into(),
                    });
                }
                "HeaderSize" => {
                    header_size = Some(value.parse().map_err(|_| {
                        header_err(line_no, format!("HeaderSize = {value}: not a byte count"))
                    })?)
                }
                _ => {}
            }
            if key == "ElementDataFile" {
                break; // by the format, the last header line
            }
        }
        let missing = |key| MhdError::Missing {
            path: path.to_path_buf(),
            key,
        };
        let dims = dims.ok_or_else(|| missing("DimSize"))?;
        let (element, element_line) = element.ok_or_else(|| missing("ElementType"))?;
        let data_file = data_file.ok_or_else(|| missing("ElementDataFile"))?;
        let spacing_mm = spacing.unwrap_or([1.0; 3]);
        let elem_size: u64 = match element.as_str() {
            "MET_UCHAR" => 1,
            "MET_USHORT" => 2,
            "MET_FLOAT" => 4,
            other => {
                return Err(header_err(
                    element_line,
                    format!(
                        "ElementType = {other}: supported are MET_UCHAR, MET_USHORT, MET_FLOAT"
                    ),
                ));
            }
        };

        let (raw_path, raw) = if data_file.eq_ignore_ascii_case("LOCAL") {
            (path.to_path_buf(), bytes[header_len..].to_vec())
        } else {
            let raw_path = path.parent().unwrap_or(Path::new(".")).join(&data_file);
            let raw = std::fs::read(&raw_path).map_err(|error| MhdError::Io {
                path: raw_path.clone(),
                error,
            })?;
            (raw_path, raw)
        };
        let n = (dims[0] * dims[1] * dims[2]) as u64;
        let expected = n * elem_size;
        // HeaderSize = -1 means "the data is at the end of the file".
        let offset = match header_size {
            Some(h) if h < 0 => (raw.len() as u64).saturating_sub(expected),
            Some(h) => h as u64,
            None => 0,
        };
        if (raw.len() as u64) < offset.saturating_add(expected) {
            return Err(MhdError::Truncated {
                raw: raw_path,
                dims,
                element,
                expected,
                offset,
                actual: raw.len() as u64,
            });
        }
        let body = &raw[offset as usize..(offset + expected) as usize];
        let data = match elem_size {
            1 => VolumeData::U8(body.to_vec()),
            2 => VolumeData::U16(
                body.chunks_exact(2)
                    .map(|c| {
                        let b = [c[0], c[1]];
                        if msb {
                            u16::from_be_bytes(b)
                        } else {
                            u16::from_le_bytes(b)
                        }
                    })
                    .collect(),
            ),
            _ => VolumeData::F32(
                body.chunks_exact(4)
                    .map(|c| {
                        let b = [c[0], c[1], c[2], c[3]];
                        if msb {
                            f32::from_be_bytes(b)
                        } else {
                            f32::from_le_bytes(b)
                        }
                    })
                    .collect(),
            ),
        };
        Ok(Volume {
            dims,
            spacing_mm,
            data,
        })
    }

    /// Writes `path` (`.mhd`) and its `.raw` beside it, each atomically; the
    /// header is renamed last, so a complete header means complete data.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        assert_eq!(
            self.data.len(),
            self.len(),
            "volume data does not match dims"
        );
        let raw_path = path.with_extension("raw");
        let raw_name = raw_path
            .file_name()
            .expect("raw file name")
            .to_string_lossy()
            .into_owned();
        let bytes: Vec<u8> = match &self.data {
            VolumeData::U8(v) => v.clone(),
            VolumeData::U16(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            VolumeData::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        };
        write_atomic_bytes(&raw_path, &bytes)?;
        let [nx, ny, nz] = self.dims;
        let [sx, sy, sz] = self.spacing_mm;
        let header = format!(
            "ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\n\
             CompressedData = False\nOffset = 0 0 0\nElementSpacing = {sx} {sy} {sz}\n\
             DimSize = {nx} {ny} {nz}\nElementType = {}\nElementDataFile = {raw_name}\n",
            self.data.met_type()
        );
        write_atomic_bytes(path, header.as_bytes())
    }
}

/// The header text and its length in bytes: up to and including the
/// `ElementDataFile` line (after which `.mha` files carry their data).
fn split_header(bytes: &[u8]) -> (String, usize) {
    let mut pos = 0;
    while pos < bytes.len() {
        let end = bytes[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|e| pos + e + 1)
            .unwrap_or(bytes.len());
        let line = String::from_utf8_lossy(&bytes[pos..end]);
        pos = end;
        if line.trim_start().starts_with("ElementDataFile") {
            break;
        }
    }
    (String::from_utf8_lossy(&bytes[..pos]).into_owned(), pos)
}
