//! MetaImage round trips and clear header errors.

use trabecula::io::mhd::{Volume, VolumeData};

fn dims() -> [usize; 3] {
    [5, 4, 3]
}

#[test]
fn round_trip_all_element_types() {
    let dir = tempfile::tempdir().unwrap();
    let n = 60;
    let cases = [
        VolumeData::U8((0..n).map(|i| (i * 4) as u8).collect()),
        VolumeData::U16((0..n).map(|i| (i * 1000) as u16).collect()),
        VolumeData::F32((0..n).map(|i| i as f32 * 0.25 - 3.0).collect()),
    ];
    for (k, data) in cases.into_iter().enumerate() {
        let v = Volume {
            dims: dims(),
            spacing_mm: [0.02, 0.02, 0.025],
            data,
        };
        let path = dir.path().join(format!("v{k}.mhd"));
        v.write(&path).unwrap();
        let back = Volume::read(&path).unwrap();
        assert_eq!(back, v);
        // x fastest on disk: the raw file's first bytes are voxel (0,0,0), (1,0,0).
        let raw = std::fs::read(path.with_extension("raw")).unwrap();
        let elem = raw.len() / n;
        assert_eq!(raw.len(), n * elem);
    }
}

#[test]
fn big_endian_and_local_data_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("be.mha");
    let mut bytes = b"NDims = 3\nDimSize = 2 1 1\nElementType = MET_USHORT\nBinaryDataByteOrderMSB = True\nElementDataFile = LOCAL\n".to_vec();
    bytes.extend_from_slice(&[0x01, 0x02, 0x00, 0x05]);
    std::fs::write(&path, bytes).unwrap();
    let v = Volume::read(&path).unwrap();
    assert_eq!(v.data, VolumeData::U16(vec![0x0102, 0x0005]));
}

#[test]
fn missing_dimsize_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.mhd");
    std::fs::write(
        &path,
        "NDims = 3\nElementType = MET_UCHAR\nElementDataFile = bad.raw\n",
    )
    .unwrap();
    let e = Volume::read(&path).unwrap_err().to_string();
    assert!(e.contains("DimSize") && e.contains("bad.mhd"), "{e}");
}

#[test]
fn truncated_raw_is_named_with_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.mhd");
    std::fs::write(
        &path,
        "NDims = 3\nDimSize = 4 4 4\nElementType = MET_FLOAT\nElementDataFile = t.raw\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("t.raw"), vec![0u8; 100]).unwrap();
    let e = Volume::read(&path).unwrap_err().to_string();
    assert!(
        e.contains("truncated") && e.contains("256") && e.contains("100"),
        "{e}"
    );
}

#[test]
fn bad_element_type_names_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.mhd");
    std::fs::write(
        &path,
        "NDims = 3\nDimSize = 1 1 1\nElementType = MET_DOUBLE\nElementDataFile = e.raw\n",
    )
    .unwrap();
    let e = Volume::read(&path).unwrap_err().to_string();
    assert!(e.contains("e.mhd:3") && e.contains("MET_DOUBLE"), "{e}");
}
