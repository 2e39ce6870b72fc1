//! Property tests of every reader: the scene (with `--set`), MetaImage
//! (`.mhd`, `.mha`), NIfTI (`.nii`, `.nii.gz`), TIFF (multi-page and slice
//! folders), checkpoints and sweep files, fed valid files broken in
//! structured ways (shuffled or missing keys, extreme numbers, wrong
//! dimensions, headers that lie about the data size, truncations, byte
//! flips). Each input must be read or refused with an `Err` that names the
//! file, without a panic, a hang, or an allocation much larger than the
//! input (a header's sizes are checked against the file first).
//!
//! Cases per property: 256 by default (the file runs in seconds in a debug
//! build); `PROPTEST_CASES=2000 cargo test --release --test readers` for a
//! longer run.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::time::Duration;

use common::fixtures::{gzip, mhd_header, nifti_bytes, nifti_u8, tiff_bytes};
use proptest::prelude::*;
use proptest::sample::{Index, select};
use trabecula::batch::Sweep;
use trabecula::io::mhd::Volume;
use trabecula::io::volume::read_volume;
use trabecula::sim::checkpoint::{AgentsHeader, BufferHeader, Checkpoint, Header, RunProgress};

// ---------------------------------------------------------------------------
// The guard: every read runs on its own thread, timed, with the largest
// allocation it asks for recorded.

/// Largest single allocation a tracked thread asked for.
struct Tracking;

thread_local! {
    static TRACKED: Cell<bool> = const { Cell::new(false) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

/// A tracked request past this fails (as on a machine without the memory),
/// so a lying header cannot take the test machine down.
const REFUSE_ABOVE: usize = 1 << 30;

fn note(size: usize) -> bool {
    let tracked = TRACKED.try_with(Cell::get).unwrap_or(false);
    if tracked {
        let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
    }
    !(tracked && size > REFUSE_ABOVE)
}

// SAFETY: forwards to the system allocator; only refuses (null) requests.
unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !note(layout.size()) {
            return std::ptr::null_mut();
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !note(layout.size()) {
            return std::ptr::null_mut();
        }
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !note(new_size) {
            return std::ptr::null_mut();
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Tracking = Tracking;

/// Longest a read of these few-hundred-byte inputs may take in a debug build.
const HANG: Duration = Duration::from_secs(30);

/// Largest allocation a read of `input` bytes may ask for: a constant for
/// buffers and decoders, and a multiple of the input (decoding widens).
fn allowed(input: usize) -> usize {
    (8 << 20) + 64 * input
}

/// The same for compressed input, times the worst inflation of the
/// compressions read (LZW ≤ 2730:1, deflate ≤ 1032:1).
fn allowed_inflating(input: usize) -> usize {
    (8 << 20) + 4096 * input
}

/// Runs `f` on its own thread: re-raises its panic, fails if it runs past
/// [`HANG`] or asks for more than `limit` bytes at once.
fn guarded<T: Send + 'static>(limit: usize, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        TRACKED.with(|t| t.set(true));
        let out = std::panic::catch_unwind(AssertUnwindSafe(f));
        TRACKED.with(|t| t.set(false));
        let _ = tx.send((out, LARGEST.with(Cell::get)));
    });
    match rx.recv_timeout(HANG) {
        Ok((Ok(v), largest)) => {
            assert!(
                largest <= limit,
                "the reader asked for {largest} bytes at once, more than the {limit} allowed"
            );
            v
        }
        Ok((Err(panic), _)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("the reader ran past {HANG:?}"),
    }
}

fn config() -> ProptestConfig {
    let mut c = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = 256;
    }
    // Failures are kept as the named regression tests below instead.
    c.failure_persistence = None;
    c
}

// ---------------------------------------------------------------------------
// Mutations shared by every format.

/// Byte flips (position, xor mask) and an optional truncation.
#[derive(Debug, Clone)]
struct Damage {
    flips: Vec<(Index, u8)>,
    cut: Option<Index>,
}

fn damage() -> impl Strategy<Value = Damage> {
    (
        prop::collection::vec((any::<Index>(), 1u8..=255), 0..6),
        prop::option::of(any::<Index>()),
    )
        .prop_map(|(flips, cut)| Damage { flips, cut })
}

impl Damage {
    fn apply(&self, mut bytes: Vec<u8>) -> Vec<u8> {
        if !bytes.is_empty() {
            for (at, mask) in &self.flips {
                let i = at.index(bytes.len());
                bytes[i] ^= mask;
            }
        }
        if let Some(cut) = &self.cut {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        bytes
    }
}

/// Checks a refusal names the file it refuses.
fn names(err: &str, file: &str) -> Result<(), TestCaseError> {
    prop_assert!(!err.trim().is_empty(), "an empty error");
    prop_assert!(err.contains(file), "the error does not name {file}: {err}");
    Ok(())
}

/// The volume is whole: as many values as its dimensions say.
fn whole(v: &Volume) -> Result<(), TestCaseError> {
    let n: usize = v.dims.iter().product();
    prop_assert!(n > 0, "an empty volume was accepted: {:?}", v.dims);
    prop_assert_eq!(v.len(), n);
    let data = match &v.data {
        trabecula::io::mhd::VolumeData::U8(d) => d.len(),
        trabecula::io::mhd::VolumeData::U16(d) => d.len(),
        trabecula::io::mhd::VolumeData::F32(d) => d.len(),
    };
    prop_assert_eq!(data, n, "dims {:?}", v.dims);
    Ok(())
}

/// Reads a volume of `input` bytes (inflated, for a `.nii.gz` whose size
/// the test knows) under [`guarded`]; TIFF pages may be compressed.
fn read_guarded(path: &Path, input: usize) -> Result<Volume, String> {
    let p = path.to_path_buf();
    let name = p.to_string_lossy().to_lowercase();
    let tiff = name.ends_with(".tif") || name.ends_with(".tiff") || p.is_dir();
    let limit = if tiff {
        allowed_inflating(input)
    } else {
        allowed(input)
    };
    guarded(limit, move || read_volume(&p).map_err(|e| format!("{e:#}")))
}

/// Numbers a header may hold: ordinary, zero, negative, huge, not finite,
/// not numbers.
const NUMBERS: [&str; 16] = [
    "0",
    "1",
    "2",
    "3",
    "-1",
    "2.5",
    "65536",
    "4294967296",
    "9223372036854775807",
    "18446744073709551615",
    "1e30",
    "1e300",
    "NaN",
    "inf",
    "abc",
    "",
];

// ---------------------------------------------------------------------------
// MetaImage

fn triple() -> impl Strategy<Value = String> {
    let integer = select(vec![
        "1",
        "2",
        "65536",
        "4294967296",
        "9223372036854775807",
        "1e30",
    ]);
    prop_oneof![
        prop::collection::vec(select(NUMBERS.to_vec()), 1..=4).prop_map(|v| v.join(" ")),
        // Three sizes that may be valid alone but not together.
        prop::collection::vec(integer, 3).prop_map(|v| v.join(" ")),
    ]
}

/// A MetaImage header from parts that may lie, be missing or be shuffled.
#[derive(Debug, Clone)]
struct MhdCase {
    lines: Vec<(String, String)>,
    keep: Vec<bool>,
    local: bool,
    data: Vec<u8>,
}

fn mhd_case() -> impl Strategy<Value = MhdCase> {
    (
        triple(),
        triple(),
        select(vec![
            "MET_UCHAR",
            "MET_USHORT",
            "MET_FLOAT",
            "MET_DOUBLE",
            "",
        ]),
        select(NUMBERS.to_vec()),
        select(vec!["3", "2", "4", "x"]),
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(any::<bool>(), 8),
        prop::collection::vec(any::<u8>(), 0..300),
    )
        .prop_flat_map(
            |(dims, spacing, ty, hsize, ndims, msb, local, keep, data)| {
                let mut lines = vec![
                    ("NDims".to_string(), ndims.to_string()),
                    ("DimSize".to_string(), dims),
                    ("ElementSpacing".to_string(), spacing),
                    ("ElementType".to_string(), ty.to_string()),
                    ("BinaryDataByteOrderMSB".to_string(), msb.to_string()),
                    ("HeaderSize".to_string(), hsize.to_string()),
                ];
                // A well-formed DimSize that matches the data, so reads succeed too.
                lines.push(("DimSize".to_string(), format!("{} 1 1", data.len().max(1))));
                (
                    Just(lines).prop_shuffle(),
                    Just(keep),
                    Just(local),
                    Just(data),
                )
            },
        )
        .prop_map(|(lines, keep, local, data)| MhdCase {
            lines,
            keep,
            local,
            data,
        })
}

impl MhdCase {
    /// Writes the case into `dir`; returns the header's path and the bytes written.
    fn write(&self, dir: &Path) -> (std::path::PathBuf, usize) {
        let mut text = String::new();
        for ((k, v), keep) in self.lines.iter().zip(&self.keep) {
            if *keep {
                text.push_str(&format!("{k} = {v}\n"));
            }
        }
        if self.local {
            text.push_str("ElementDataFile = LOCAL\n");
            let mut bytes = text.into_bytes();
            bytes.extend_from_slice(&self.data);
            let p = dir.join("v.mha");
            std::fs::write(&p, &bytes).unwrap();
            (p, bytes.len())
        } else {
            text.push_str("ElementDataFile = v.raw\n");
            std::fs::write(dir.join("v.raw"), &self.data).unwrap();
            let p = dir.join("v.mhd");
            std::fs::write(&p, &text).unwrap();
            (p, text.len() + self.data.len())
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn metaimage_headers_that_lie(case in mhd_case()) {
        let dir = tempfile::tempdir().unwrap();
        let (path, input) = case.write(dir.path());
        match read_guarded(&path, input) {
            Ok(v) => whole(&v)?,
            Err(e) => names(&e, if case.local { "v.mha" } else { "v.mhd" })?,
        }
    }

    #[test]
    fn metaimage_damaged(dims in prop::array::uniform3(1usize..6), d in damage(), local in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let n: usize = dims.iter().product();
        let data: Vec<u8> = (0..n).map(|i| i as u8).collect();
        let (path, bytes) = if local {
            let mut b = mhd_header(dims, "LOCAL").into_bytes();
            b.extend_from_slice(&data);
            (dir.path().join("v.mha"), d.apply(b))
        } else {
            std::fs::write(dir.path().join("v.raw"), d.apply(data.clone())).unwrap();
            (dir.path().join("v.mhd"), mhd_header(dims, "v.raw").into_bytes())
        };
        std::fs::write(&path, &bytes).unwrap();
        match read_guarded(&path, bytes.len() + n) {
            Ok(v) => whole(&v)?,
            Err(e) => names(&e, "v.m")?,
        }
    }
}

// ---------------------------------------------------------------------------
// NIfTI

#[derive(Debug, Clone)]
struct NiftiCase {
    dim: [u16; 8],
    datatype: i16,
    bitpix: i16,
    vox_offset: f32,
    extension: Option<i32>,
    data: Vec<u8>,
    gz: bool,
}

fn nifti_case() -> impl Strategy<Value = NiftiCase> {
    let d = select(vec![0u16, 1, 2, 3, 4, 7, 255, 32767, 65535]);
    (
        (
            select(vec![0u16, 1, 2, 3, 4, 7, 8, 9]),
            prop::array::uniform7(d),
        ),
        select(vec![
            0i16, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 768, 2304, -1,
        ]),
        select(vec![0i16, 1, 7, 8, 16, 32, 64, -8]),
        select(vec![
            352.0f32,
            0.0,
            348.0,
            351.5,
            368.0,
            1e9,
            -1.0,
            f32::NAN,
            f32::INFINITY,
        ]),
        prop::option::of(select(vec![0i32, -1, 4, 8, 16, 32, i32::MAX, i32::MIN])),
        prop::collection::vec(any::<u8>(), 0..400),
        any::<bool>(),
    )
        .prop_map(
            |((rank, dims), datatype, bitpix, vox_offset, extension, data, gz)| {
                let mut dim = [1u16; 8];
                dim[0] = rank;
                dim[1..].copy_from_slice(&dims);
                NiftiCase {
                    dim,
                    datatype,
                    bitpix,
                    vox_offset,
                    extension,
                    data,
                    gz,
                }
            },
        )
}

impl NiftiCase {
    fn bytes(&self) -> Vec<u8> {
        let mut b = nifti_bytes(&[1, 1, 1], 2, 8, &[]);
        for (i, d) in self.dim.iter().enumerate() {
            b[40 + 2 * i..42 + 2 * i].copy_from_slice(&d.to_le_bytes());
        }
        b[70..72].copy_from_slice(&self.datatype.to_le_bytes());
        b[72..74].copy_from_slice(&self.bitpix.to_le_bytes());
        b[108..112].copy_from_slice(&self.vox_offset.to_le_bytes());
        if let Some(esize) = self.extension {
            b[348] = 1;
            b.extend_from_slice(&esize.to_le_bytes());
            b.extend_from_slice(&0i32.to_le_bytes());
        }
        b.extend_from_slice(&self.data);
        if self.gz { gzip(&b) } else { b }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn nifti_headers_that_lie(case in nifti_case()) {
        let dir = tempfile::tempdir().unwrap();
        let name = if case.gz { "v.nii.gz" } else { "v.nii" };
        let path = dir.path().join(name);
        let bytes = case.bytes();
        std::fs::write(&path, &bytes).unwrap();
        // A gzip input counts at its inflated size.
        let input = 352 + 16 + case.data.len();
        match read_guarded(&path, input.max(bytes.len())) {
            Ok(v) => whole(&v)?,
            Err(e) => names(&e, name)?,
        }
    }

    #[test]
    fn nifti_damaged(dims in prop::array::uniform3(1u16..6), d in damage(), gz in any::<bool>(), seed in any::<u8>()) {
        let dir = tempfile::tempdir().unwrap();
        let plain = nifti_u8(dims, seed);
        let inflated = plain.len();
        let (name, bytes) = if gz {
            ("v.nii.gz", d.apply(gzip(&plain)))
        } else {
            ("v.nii", d.apply(plain))
        };
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        match read_guarded(&path, inflated.max(bytes.len())) {
            Ok(v) => whole(&v)?,
            Err(e) => names(&e, name)?,
        }
    }
}

// ---------------------------------------------------------------------------
// TIFF

/// Rewrites the first page's ImageWidth and ImageLength tags (little-endian
/// TIFF, as the encoder writes) as LONGs holding `w` and `h`.
fn tiff_lie(mut b: Vec<u8>, w: u32, h: u32) -> Vec<u8> {
    let ifd = u32::from_le_bytes(b[4..8].try_into().unwrap()) as usize;
    let n = u16::from_le_bytes(b[ifd..ifd + 2].try_into().unwrap()) as usize;
    for e in 0..n {
        let at = ifd + 2 + 12 * e;
        let tag = u16::from_le_bytes(b[at..at + 2].try_into().unwrap());
        let v = match tag {
            256 => w,
            257 => h,
            _ => continue,
        };
        b[at + 2..at + 4].copy_from_slice(&4u16.to_le_bytes());
        b[at + 4..at + 8].copy_from_slice(&1u32.to_le_bytes());
        b[at + 8..at + 12].copy_from_slice(&v.to_le_bytes());
    }
    b
}

fn tiff_size() -> impl Strategy<Value = u32> {
    select(vec![0u32, 1, 3, 1000, 11_000, 65_535, 1 << 20, u32::MAX])
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn tiff_stack_damaged(w in 1u32..6, h in 1u32..6, pages in 1usize..4, sixteen in any::<bool>(), d in damage()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.tif");
        let bytes = d.apply(tiff_bytes(w, h, pages, sixteen));
        std::fs::write(&path, &bytes).unwrap();
        match read_guarded(&path, bytes.len()) {
            Ok(v) => whole(&v)?,
            Err(e) => names(&e, "v.tif")?,
        }
    }

    #[test]
    fn tiff_sizes_that_lie(pages in 1usize..3, sixteen in any::<bool>(), w in tiff_size(), h in tiff_size()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.tiff");
        let bytes = tiff_lie(tiff_bytes(4, 3, pages, sixteen), w, h);
        std::fs::write(&path, &bytes).unwrap();
        match read_guarded(&path, bytes.len()) {
            Ok(v) => whole(&v)?,
            Err(e) => names(&e, "v.tiff")?,
        }
    }

    #[test]
    fn tiff_folder_of_mismatched_or_damaged_slices(
        slices in prop::collection::vec((1u32..4, 1u32..4, any::<bool>()), 1..4),
        broken in any::<Index>(),
        d in damage(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("stack");
        std::fs::create_dir(&folder).unwrap();
        let bad = broken.index(slices.len());
        let mut input = 0;
        for (i, (w, h, sixteen)) in slices.iter().enumerate() {
            let mut b = tiff_bytes(*w, *h, 1, *sixteen);
            if i == bad {
                b = d.apply(b);
            }
            input += b.len();
            std::fs::write(folder.join(format!("s{i:03}.tif")), &b).unwrap();
        }
        match read_guarded(&folder, input) {
            Ok(v) => {
                whole(&v)?;
                prop_assert_eq!(v.dims[2], slices.len());
            }
            Err(e) => names(&e, "stack")?,
        }
    }
}

// ---------------------------------------------------------------------------
// Checkpoints (decoding only: restoring needs a GPU)

fn scene() -> trabecula::scene::Scene {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenes/demo.toml"))
            .unwrap();
    trabecula::scene::parse(&text, "demo.toml", &[]).unwrap()
}

/// A checkpoint header through serde, as a file gives it (fields added
/// later with defaults need no change here).
fn checkpoint(buffers: Vec<(String, u64)>, data: Vec<u8>, dims: [usize; 3]) -> Checkpoint {
    let buffers: Vec<BufferHeader> = buffers
        .into_iter()
        .map(|(name, bytes)| BufferHeader { name, bytes })
        .collect();
    let agents = [AgentsHeader {
        kind: "osteoclast".into(),
        len: 0,
        capacity: 16,
        next_id: 1,
    }];
    let header: Header = serde_json::from_value(serde_json::json!({
        "program": env!("CARGO_PKG_NAME"),
        "version": env!("CARGO_PKG_VERSION"),
        "scene": scene(),
        "step": 3,
        "day": 3.0,
        "dims": dims,
        "voxel_size_um": 20.0,
        "stimulus_ref": 1.0,
        "rankl_source": 1.0,
        "sclerostin_source": 1.0,
        "bone_voxels": 10.0,
        "mechanics": null,
        "agents": agents,
        "buffers": buffers,
        "run": RunProgress::default(),
    }))
    .unwrap();
    Checkpoint { header, data }
}

fn valid_checkpoint() -> Checkpoint {
    let data: Vec<u8> = (0..48u8).collect();
    checkpoint(
        vec![("mineral".into(), 32), ("agents:osteoclast".into(), 16)],
        data,
        [2, 2, 2],
    )
}

fn decode_guarded(bytes: Vec<u8>) -> Result<Checkpoint, String> {
    let n = bytes.len();
    guarded(allowed(n), move || {
        Checkpoint::decode(&bytes).map_err(|e| format!("{e:#}"))
    })
}

// Buffer sizes, small and huge, and one whose sum with any other overflows.
const BYTES: [u64; 8] = [0, 1, 16, 32, 48, 1 << 40, 1 << 62, u64::MAX];

proptest! {
    #![proptest_config(config())]

    #[test]
    fn checkpoint_damaged(d in damage()) {
        let good = valid_checkpoint().encode();
        let bytes = d.apply(good.clone());
        match decode_guarded(bytes.clone()) {
            // The checksum catches every change a reader could trust.
            Ok(c) => {
                prop_assert_eq!(&bytes, &good);
                prop_assert_eq!(c, valid_checkpoint());
            }
            Err(e) => prop_assert!(e.contains("checkpoint"), "{e}"),
        }
    }

    #[test]
    fn checkpoint_headers_that_lie(
        sizes in prop::collection::vec(select(BYTES.to_vec()), 0..3),
        data in 0usize..64,
        dims in prop::array::uniform3(select(vec![0usize, 2, 1 << 21, usize::MAX])),
        header_len in prop::option::of(select(vec![0u64, 5, 1 << 32, u64::MAX - 3, u64::MAX])),
    ) {
        // A consistent checksum, so the reader must check the header itself.
        let buffers = sizes.iter().enumerate().map(|(i, &b)| (format!("b{i}"), b)).collect();
        let mut bytes = checkpoint(buffers, vec![7; data], dims).encode();
        if let Some(len) = header_len {
            bytes[12..20].copy_from_slice(&len.to_le_bytes());
            let end = bytes.len() - 4;
            let crc = crc32fast::hash(&bytes[..end]);
            bytes[end..].copy_from_slice(&crc.to_le_bytes());
        }
        match decode_guarded(bytes) {
            Ok(c) => {
                let listed: u128 = c.header.buffers.iter().map(|b| b.bytes as u128).sum();
                prop_assert_eq!(listed, c.data.len() as u128);
            }
            Err(e) => prop_assert!(e.contains("checkpoint"), "{e}"),
        }
    }
}

// ---------------------------------------------------------------------------
// Sweep files

fn toml_number() -> impl Strategy<Value = &'static str> {
    select(vec![
        "0",
        "1",
        "3",
        "-1",
        "0.5",
        "1e308",
        "nan",
        "inf",
        "-inf",
        "4294967295",
        "9223372036854775807",
        "\"x\"",
        "[]",
    ])
}

fn sweep_text() -> impl Strategy<Value = String> {
    let entry = prop_oneof![
        toml_number().prop_map(|n| format!("[{n}, 0.2]")),
        (toml_number(), toml_number(), toml_number())
            .prop_map(|(f, t, s)| format!("{{ from = {f}, to = {t}, steps = {s} }}")),
        toml_number().prop_map(str::to_string),
    ];
    let keys = select(vec![
        "\"lattice.bv_tv\"",
        "days",
        "seed",
        "\"a.b[3]\"",
        "\"\"",
    ]);
    (
        prop::collection::vec((keys.clone(), entry), 0..4),
        prop::collection::vec((keys, toml_number()), 0..3),
        prop::option::of(toml_number()),
        prop::option::of(toml_number()),
        prop::collection::vec(any::<bool>(), 4),
    )
        .prop_flat_map(|(vary, set, seeds, replicates, keep)| {
            let mut lines = Vec::new();
            let top = [
                "name = \"s\"".to_string(),
                "scene = \"demo.toml\"".to_string(),
                seeds.map_or(String::new(), |s| format!("seeds = [{s}]")),
                replicates.map_or(String::new(), |r| format!("replicates = {r}")),
            ];
            for (line, k) in top.into_iter().zip(keep) {
                if k {
                    lines.push(line);
                }
            }
            let top = Just(lines).prop_shuffle();
            let set: Vec<String> = set.into_iter().map(|(k, v)| format!("{k} = {v}")).collect();
            let vary: Vec<String> = vary
                .into_iter()
                .map(|(k, v)| format!("{k} = {v}"))
                .collect();
            (top, Just(set).prop_shuffle(), Just(vary).prop_shuffle())
        })
        .prop_map(|(top, set, vary)| {
            format!(
                "{}\n[set]\n{}\n[vary]\n{}\n",
                top.join("\n"),
                set.join("\n"),
                vary.join("\n")
            )
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn sweep_files_with_extreme_grids(text in sweep_text()) {
        let input = text.len();
        let t = text.clone();
        let out = guarded(allowed(input), move || {
            Sweep::parse(&t, Path::new(".")).map(|s| {
                let expected: u128 = s.vary.iter().map(|(_, v)| v.len() as u128).product::<u128>()
                    * s.seeds.len() as u128;
                (expected, s.runs().len() as u128)
            }).map_err(|e| format!("{e:#}"))
        });
        match out {
            Ok((expected, runs)) => prop_assert_eq!(expected, runs),
            Err(e) => prop_assert!(!e.trim().is_empty()),
        }
    }

    #[test]
    fn sweep_files_damaged(d in damage()) {
        let dir = tempfile::tempdir().unwrap();
        let good = "name = \"s\"\nscene = \"demo.toml\"\nseeds = [1, 2]\n[set]\ndays = 2\n\
                    [vary]\n\"lattice.bv_tv\" = { from = 0.1, to = 0.3, steps = 3 }\n";
        let bytes = d.apply(good.as_bytes().to_vec());
        let path = dir.path().join("sweep.toml");
        std::fs::write(&path, &bytes).unwrap();
        let p = path.clone();
        let out = guarded(allowed(bytes.len()), move || {
            Sweep::load(&p).map(|s| s.runs().len()).map_err(|e| format!("{e:#}"))
        });
        match out {
            Ok(runs) => prop_assert!(runs >= 1),
            Err(e) => names(&e, "sweep.toml")?,
        }
    }
}

// ---------------------------------------------------------------------------
// Scenes

fn demo_text() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenes/demo.toml")).unwrap()
}

const VALUES: [&str; 16] = [
    "nan",
    "inf",
    "-inf",
    "-1",
    "0",
    "1e308",
    "9223372036854775807",
    "-9223372036854775808",
    "[]",
    "[1, 2]",
    "[100000, 100000, 100000]",
    "[0, 0, 0]",
    "\"x\"",
    "true",
    "{}",
    "[[1]]",
];

/// Line edits of a scene: drop, duplicate, swap, or give a key an extreme value.
#[derive(Debug, Clone)]
enum Edit {
    Drop(Index),
    Duplicate(Index),
    Swap(Index, Index),
    Value(Index, &'static str),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        any::<Index>().prop_map(Edit::Drop),
        any::<Index>().prop_map(Edit::Duplicate),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Edit::Swap(a, b)),
        (any::<Index>(), select(VALUES.to_vec())).prop_map(|(a, v)| Edit::Value(a, v)),
    ]
}

fn overrides() -> impl Strategy<Value = Vec<String>> {
    let key = select(vec![
        "lattice.dims",
        "lattice.bv_tv",
        "days",
        "seed",
        "dt_days",
        "loading.phases[0].days",
        "loading.phases[4294967295].gravity",
        "lattice",
        "nosuch.key",
        "",
        "lattice.dims[1]",
        "cells.osteoclast_recruit_per_day",
    ]);
    prop::collection::vec(
        prop_oneof![
            (key, select(VALUES.to_vec())).prop_map(|(k, v)| format!("{k}={v}")),
            Just("no-equals-sign".to_string()),
        ],
        0..3,
    )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn scenes_edited_and_overridden(edits in prop::collection::vec(edit(), 0..4), sets in overrides(), d in damage(), damaged in any::<bool>()) {
        let mut lines: Vec<String> = demo_text().lines().map(str::to_string).collect();
        for e in &edits {
            let n = lines.len();
            if n == 0 {
                break;
            }
            match e {
                Edit::Drop(i) => {
                    lines.remove(i.index(n));
                }
                Edit::Duplicate(i) => {
                    let l = lines[i.index(n)].clone();
                    lines.insert(i.index(n), l);
                }
                Edit::Swap(a, b) => lines.swap(a.index(n), b.index(n)),
                Edit::Value(i, v) => {
                    let l = &mut lines[i.index(n)];
                    if let Some((k, _)) = l.split_once('=') {
                        *l = format!("{k}= {v}");
                    }
                }
            }
        }
        let mut bytes = lines.join("\n").into_bytes();
        if damaged {
            bytes = d.apply(bytes);
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.toml");
        std::fs::write(&path, &bytes).unwrap();
        let (p, s) = (path.clone(), sets.clone());
        let out = guarded(allowed(bytes.len()), move || {
            trabecula::scene::load(&p, &s).map(|_| ()).map_err(|e| e.to_string())
        });
        if let Err(e) = out {
            // Refused where it went wrong: the file (with line) or the `--set`.
            prop_assert!(e.contains("s.toml") || e.contains("--set "), "{e}");
            prop_assert!(!e.contains("``"), "an empty key: {e}");
        }
    }
}

// ---------------------------------------------------------------------------
// Regression tests: inputs the properties above found, kept by name.

// ---------------------------------------------------------------------------
// Arbitrary bytes: every reader fed noise, or a valid file with many bytes
// changed. A short run here; `--features fuzz` runs 20 000 cases per reader
// (see the README's Reliability section).

fn fuzz_config() -> ProptestConfig {
    let mut c = config();
    if cfg!(feature = "fuzz") && std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = 20_000;
    }
    c
}

/// Noise, or one of `valid` with up to 64 bytes changed and maybe cut.
fn noise_or_near(valid: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let flips = prop::collection::vec((any::<Index>(), 1u8..=255), 1..64);
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..2048),
        (select(valid), flips, prop::option::of(any::<Index>()))
            .prop_map(|(b, flips, cut)| Damage { flips, cut }.apply(b)),
    ]
}

fn read_file_as(name: &str, bytes: &[u8]) -> Result<Volume, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    // Deflate inflates at most 1032:1.
    let input = if name.ends_with(".gz") {
        1032 * bytes.len()
    } else {
        bytes.len()
    };
    let out = read_guarded(&path, input);
    if let Err(e) = &out {
        assert!(e.contains(name), "the error does not name {name}: {e}");
    }
    out
}

proptest! {
    #![proptest_config(fuzz_config())]

    #[test]
    fn fuzz_metaimage(bytes in noise_or_near(vec![
        { let mut b = mhd_header([3, 2, 2], "LOCAL").into_bytes(); b.extend([9u8; 12]); b },
    ])) {
        if let Ok(v) = read_file_as("f.mha", &bytes) { whole(&v)?; }
    }

    #[test]
    fn fuzz_nifti(bytes in noise_or_near(vec![nifti_u8([3, 2, 2], 1), nifti_u8([1, 4, 3], 7)]), gz in any::<bool>()) {
        let (name, b) = if gz { ("f.nii.gz", gzip(&bytes)) } else { ("f.nii", bytes) };
        if let Ok(v) = read_file_as(name, &b) { whole(&v)?; }
    }

    #[test]
    fn fuzz_nifti_gz_stream(bytes in noise_or_near(vec![gzip(&nifti_u8([3, 2, 2], 1))])) {
        if let Ok(v) = read_file_as("f.nii.gz", &bytes) { whole(&v)?; }
    }

    #[test]
    fn fuzz_tiff(bytes in noise_or_near(vec![tiff_bytes(3, 2, 2, false), tiff_bytes(2, 2, 3, true)])) {
        if let Ok(v) = read_file_as("f.tif", &bytes) { whole(&v)?; }
    }

    #[test]
    fn fuzz_checkpoint(bytes in noise_or_near(vec![valid_checkpoint().encode()])) {
        let n = bytes.len();
        let good = valid_checkpoint().encode();
        let same = bytes == good;
        let out = guarded(allowed(n), move || Checkpoint::decode(&bytes).map(|_| ()).map_err(|e| format!("{e:#}")));
        prop_assert_eq!(out.is_ok(), same, "{:?}", out);
    }

    #[test]
    fn fuzz_sweep(bytes in noise_or_near(vec![
        b"name = \"s\"\nscene = \"d.toml\"\nreplicates = 2\n[vary]\ndays = { from = 1, to = 3, steps = 3 }\n".to_vec(),
    ])) {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let n = text.len();
        let out = guarded(allowed(n), move || Sweep::parse(&text, Path::new(".")).map(|s| s.runs().len()).map_err(|e| format!("{e:#}")));
        if let Err(e) = out { prop_assert!(!e.trim().is_empty()); }
    }

    #[test]
    fn fuzz_scene(bytes in noise_or_near(vec![demo_text().into_bytes()])) {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let n = text.len();
        let out = guarded(allowed(n), move || trabecula::scene::parse(&text, "f.toml", &[]).map(|_| ()).map_err(|e| e.to_string()));
        if let Err(e) = out { prop_assert!(e.contains("f.toml"), "{e}"); }
    }
}

/// A volume file under `dir` holding `bytes`, read under [`guarded`].
fn read_bytes_as(name: &str, bytes: &[u8], input: usize) -> Result<Volume, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    read_guarded(&path, input)
}

#[test]
fn metaimage_sizes_past_any_file_are_refused_not_overflowed() {
    // Overflowed the voxel count (a panic in debug builds).
    let mut b = mhd_header([1, 1, 1], "LOCAL")
        .replace(
            "DimSize = 1 1 1",
            "DimSize = 4294967296 4294967296 4294967296",
        )
        .into_bytes();
    b.extend([0u8; 8]);
    let e = read_bytes_as("big.mha", &b, b.len()).unwrap_err();
    assert!(e.contains("big.mha:4") && e.contains("DimSize"), "{e}");
    // Overflowed the offset plus the data size.
    let mut b = mhd_header([2, 2, 2], "LOCAL")
        .replace(
            "ElementType",
            "HeaderSize = 18446744073709551615\nElementType",
        )
        .into_bytes();
    b.extend([0u8; 8]);
    let e = read_bytes_as("off.mha", &b, b.len()).unwrap_err();
    assert!(e.contains("HeaderSize"), "{e}");
    let mut b = mhd_header([2, 2, 2], "LOCAL")
        .replace(
            "ElementType",
            "HeaderSize = 9223372036854775807\nElementType",
        )
        .into_bytes();
    b.extend([0u8; 8]);
    let e = read_bytes_as("off.mha", &b, b.len()).unwrap_err();
    assert!(e.contains("truncated") && e.contains("8 bytes"), "{e}");
}

#[test]
fn nifti_headers_declaring_more_than_the_file_are_refused_before_reading() {
    // 32767³ voxels: the reader reserved what the header declares first.
    let b = nifti_bytes(&[32767, 32767, 32767], 2, 8, &[0; 64]);
    for (name, bytes) in [("big.nii", b.clone()), ("big.nii.gz", gzip(&b))] {
        let e = read_bytes_as(name, &bytes, b.len()).unwrap_err();
        assert!(
            e.contains("truncated") && e.contains("declares 35181150962015 bytes"),
            "{e}"
        );
    }
    // 1000 voxels declared, 999 present.
    let b = nifti_bytes(&[10, 10, 10], 2, 8, &[0; 999]);
    let e = read_bytes_as("short.nii", &b, b.len()).unwrap_err();
    assert!(
        e.contains("declares 1352 bytes") && e.contains("holds 1351"),
        "{e}"
    );
    // An extension claiming 2 GiB in a file of a few hundred bytes.
    let mut b = nifti_bytes(&[2, 2, 2], 2, 8, &[]);
    b[108..112].copy_from_slice(&368f32.to_le_bytes());
    b[348] = 1;
    b.extend(i32::MAX.to_le_bytes());
    b.extend([0u8; 12 + 8]);
    let e = read_bytes_as("ext.nii", &b, b.len()).unwrap_err();
    assert!(e.contains("extension") && e.contains("2147483647"), "{e}");
    // The same file with an honest extension reads.
    b[352..356].copy_from_slice(&16i32.to_le_bytes());
    let v = read_bytes_as("ext.nii", &b, b.len()).unwrap();
    assert_eq!(v.dims, [2, 2, 2]);
}

#[test]
fn tiff_pages_claiming_more_than_the_file_are_refused_before_decoding() {
    // 11 000² 16-bit (242 MB) fit the tiff crate's default limit (256 MiB)
    // and were allocated for a file of a few hundred bytes.
    let b = tiff_lie(tiff_bytes(4, 3, 1, true), 11_000, 11_000);
    let e = read_bytes_as("big.tif", &b, b.len()).unwrap_err();
    assert!(
        e.contains("big.tif") && e.to_lowercase().contains("limit"),
        "{e}"
    );
    // An honest file of the same kind reads.
    let b = tiff_bytes(4, 3, 2, true);
    assert_eq!(
        read_bytes_as("ok.tif", &b, b.len()).unwrap().dims,
        [4, 3, 2]
    );
}

#[test]
fn sweep_grids_past_the_limit_are_refused_before_they_are_built() {
    let head = "name = \"s\"\nscene = \"d.toml\"\n";
    let cases = [
        // 4 × 10⁹ values collected, then every combination built.
        (
            format!("{head}[vary]\ndays = {{ from = 1, to = 2, steps = 4294967295 }}\n"),
            "4294967295 steps",
        ),
        (
            format!("{head}replicates = 4294967295\n"),
            "`replicates` = 4294967295",
        ),
        // 10³ × 10³ combinations of two modest ranges.
        (
            format!(
                "{head}[vary]\ndays = {{ from = 1, to = 1000, steps = 1000 }}\n\
                 seed_offset = {{ from = 1, to = 1000, steps = 1000 }}\n"
            ),
            "1000 days × 1000 seed_offset × 1 seeds",
        ),
    ];
    for (text, cause) in cases {
        let t = text.clone();
        let e = guarded(allowed(text.len()), move || {
            Sweep::parse(&t, Path::new(".")).map(|s| s.runs().len())
        })
        .unwrap_err();
        let e = format!("{e:#}");
        assert!(e.contains(cause) && e.contains("100000"), "{e}");
    }
    // At the limit a grid is still built.
    let text = format!(
        "{head}replicates = 10\n[vary]\ndays = {{ from = 1, to = 10000, steps = 10000 }}\n"
    );
    let t = text.clone();
    let runs = guarded(1 << 30, move || {
        Sweep::parse(&t, Path::new(".")).unwrap().runs().len()
    });
    assert_eq!(runs, 100_000);
}

#[test]
fn checkpoint_buffer_sizes_that_overflow_are_refused() {
    let c = checkpoint(
        vec![("a".into(), u64::MAX), ("b".into(), 1)],
        Vec::new(),
        [2, 2, 2],
    );
    let e = decode_guarded(c.encode()).unwrap_err();
    assert!(e.contains("checkpoint"), "{e}");
}

#[test]
fn nifti_byte_order_is_taken_as_the_reader_takes_it() {
    // dim[0] = 11 read little-endian means a big-endian file to the nifti
    // crate, and its extension size, byte-swapped, 18 MB: found by the long
    // fuzz run.
    let mut b = nifti_bytes(&[3, 2, 2], 2, 8, &[]);
    b[40..42].copy_from_slice(&11u16.to_le_bytes());
    b[108..112].copy_from_slice(&[68, 0, 176, 67]);
    b[348] = 1;
    b.extend([1, 30, 63, 92, 125, 154, 187, 216, 249, 22, 55, 84]);
    let e = read_bytes_as("swapped.nii", &b, b.len()).unwrap_err();
    assert!(e.contains("swapped.nii"), "{e}");
}

#[test]
fn checkpoint_dimensions_must_match_its_mineral_field() {
    let fits = checkpoint(vec![("mineral".into(), 32)], vec![0; 32], [2, 2, 2]);
    assert!(decode_guarded(fits.encode()).is_ok());
    // A header that claims a 10⁹-voxel lattice over 32 bytes of mineral.
    let lies = checkpoint(
        vec![("mineral".into(), 32)],
        vec![0; 32],
        [1000, 1000, 1000],
    );
    let e = decode_guarded(lies.encode()).unwrap_err();
    assert!(e.contains("mineral field holds 32 bytes"), "{e}");
}
