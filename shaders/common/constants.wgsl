// Constants every side shares. Their Rust twins are compared with these by
// name in tests/shaders.rs (`every_shared_constant_matches_its_rust_twin`).

// Mineral fraction from which a voxel is bone (lattice::BONE_THRESHOLD).
const BONE_THRESHOLD: f32 = 0.5;

// Values per invocation of the scan and the deterministic sum (scan::CHUNK).
const CHUNK: u32 = 64u;

// Slots of the fate kernels' counter buffer (cells::fate::COUNT_*).
const COUNT_OSTEOCYTES_ALIVE: u32 = 0u;
const COUNT_OSTEOCYTES_APOPTOTIC: u32 = 1u;
const COUNT_OSTEOCLASTS: u32 = 2u;
const COUNT_OSTEOBLASTS: u32 = 3u;
const COUNT_OSTEOCYTES_DISUSE: u32 = 4u;
