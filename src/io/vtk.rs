//! VTK XML files for ParaView: lattice fields as ImageData (`.vti`), agents
//! as PolyData point clouds (`.vtp`), and `.pvd` collections that give
//! ParaView the time of each file.
//!
//! Arrays are inline base64 (`format="binary"`, UInt64 byte-count header),
//! so every file is well-formed XML that any XML parser reads back. Lengths
//! are in millimetres, as in the MetaImage files.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};
use base64::Engine as _;

use super::write_atomic_bytes;

/// One named array of per-voxel or per-point values.
#[derive(Debug, Clone, Copy)]
pub enum Array<'a> {
    F32(&'a [f32]),
    I32(&'a [i32]),
    U32(&'a [u32]),
}

impl Array<'_> {
    fn vtk_type(&self) -> &'static str {
        match self {
            Array::F32(_) => "Float32",
            Array::I32(_) => "Int32",
            Array::U32(_) => "UInt32",
        }
    }

    fn len(&self) -> usize {
        match self {
            Array::F32(v) => v.len(),
            Array::I32(v) => v.len(),
            Array::U32(v) => v.len(),
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Array::F32(v) => bytemuck::cast_slice(v),
            Array::I32(v) => bytemuck::cast_slice(v),
            Array::U32(v) => bytemuck::cast_slice(v),
        }
    }
}

/// base64 of the UInt64 byte count followed by the little-endian data: the
/// layout VTK reads for uncompressed inline binary arrays.
fn encode(bytes: &[u8]) -> String {
    let mut raw = Vec::with_capacity(8 + bytes.len());
    raw.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    raw.extend_from_slice(bytes);
    base64::engine::general_purpose::STANDARD.encode(raw)
}

fn data_array(xml: &mut String, name: Option<&str>, components: usize, vtk_type: &str, b: &[u8]) {
    let name = name.map(|n| format!(" Name=\"{n}\"")).unwrap_or_default();
    let _ = writeln!(
        xml,
        "<DataArray type=\"{vtk_type}\"{name} NumberOfComponents=\"{components}\" format=\"binary\">{}</DataArray>",
        encode(b)
    );
}

const HEADER: &str = "<?xml version=\"1.0\"?>\n";

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        bail!("VTK array name {name:?} must be non-empty ASCII letters, digits or '_'");
    }
    Ok(())
}

/// Writes per-voxel `fields` (x fastest) of a `dims` lattice with cubic
/// voxels of `voxel_mm` as VTK ImageData cell data, atomically.
pub fn write_vti(
    path: &Path,
    dims: [usize; 3],
    voxel_mm: f64,
    fields: &[(&str, Array)],
) -> Result<()> {
    let n = dims.iter().product::<usize>();
    for (name, a) in fields {
        check_name(name)?;
        if a.len() != n {
            bail!(
                "field {name} has {} values, the {dims:?} lattice {n} voxels",
                a.len()
            );
        }
    }
    let [nx, ny, nz] = dims;
    let extent = format!("0 {nx} 0 {ny} 0 {nz}");
    let mut xml = String::from(HEADER);
    xml.push_str(
        "<VTKFile type=\"ImageData\" version=\"1.0\" byte_order=\"LittleEndian\" header_type=\"UInt64\">\n",
    );
    let _ = writeln!(
        xml,
        "<ImageData WholeExtent=\"{extent}\" Origin=\"0 0 0\" Spacing=\"{voxel_mm} {voxel_mm} {voxel_mm}\">"
    );
    let _ = writeln!(xml, "<Piece Extent=\"{extent}\">");
    let scalars = fields
        .first()
        .map(|(n, _)| format!(" Scalars=\"{n}\""))
        .unwrap_or_default();
    let _ = writeln!(xml, "<CellData{scalars}>");
    for (name, a) in fields {
        data_array(&mut xml, Some(name), 1, a.vtk_type(), a.bytes());
    }
    xml.push_str("</CellData>\n</Piece>\n</ImageData>\n</VTKFile>\n");
    write_atomic_bytes(path, xml.as_bytes()).with_context(|| format!("writing {}", path.display()))
}

/// Writes points (mm) with per-point `attributes` as VTK PolyData with one
/// vertex per point, atomically.
pub fn write_vtp(path: &Path, points_mm: &[[f32; 3]], attributes: &[(&str, Array)]) -> Result<()> {
    let n = points_mm.len();
    for (name, a) in attributes {
        check_name(name)?;
        if a.len() != n {
            bail!("attribute {name} has {} values for {n} points", a.len());
        }
    }
    let mut xml = String::from(HEADER);
    xml.push_str(
        "<VTKFile type=\"PolyData\" version=\"1.0\" byte_order=\"LittleEndian\" header_type=\"UInt64\">\n<PolyData>\n",
    );
    let _ = writeln!(
        xml,
        "<Piece NumberOfPoints=\"{n}\" NumberOfVerts=\"{n}\" NumberOfLines=\"0\" NumberOfStrips=\"0\" NumberOfPolys=\"0\">"
    );
    let scalars = attributes
        .first()
        .map(|(n, _)| format!(" Scalars=\"{n}\""))
        .unwrap_or_default();
    let _ = writeln!(xml, "<PointData{scalars}>");
    for (name, a) in attributes {
        data_array(&mut xml, Some(name), 1, a.vtk_type(), a.bytes());
    }
    xml.push_str("</PointData>\n<Points>\n");
    data_array(
        &mut xml,
        Some("Points"),
        3,
        "Float32",
        bytemuck::cast_slice(points_mm),
    );
    xml.push_str("</Points>\n<Verts>\n");
    let connectivity: Vec<i64> = (0..n as i64).collect();
    let offsets: Vec<i64> = (1..=n as i64).collect();
    data_array(
        &mut xml,
        Some("connectivity"),
        1,
        "Int64",
        bytemuck::cast_slice(&connectivity),
    );
    data_array(
        &mut xml,
        Some("offsets"),
        1,
        "Int64",
        bytemuck::cast_slice(&offsets),
    );
    xml.push_str("</Verts>\n</Piece>\n</PolyData>\n</VTKFile>\n");
    write_atomic_bytes(path, xml.as_bytes()).with_context(|| format!("writing {}", path.display()))
}

/// Writes a ParaView collection: each file (relative to the `.pvd`) at its day.
pub fn write_pvd(path: &Path, entries: &[(f64, String)]) -> Result<()> {
    let mut xml = String::from(HEADER);
    xml.push_str(
        "<VTKFile type=\"Collection\" version=\"1.0\" byte_order=\"LittleEndian\">\n<Collection>\n",
    );
    for (day, file) in entries {
        let _ = writeln!(
            xml,
            "<DataSet timestep=\"{day}\" group=\"\" part=\"0\" file=\"{file}\"/>"
        );
    }
    xml.push_str("</Collection>\n</VTKFile>\n");
    write_atomic_bytes(path, xml.as_bytes()).with_context(|| format!("writing {}", path.display()))
}
