//! `import trabecula`: the simulator, its micro-FE and its morphometry from
//! Python. Thin over the library: scenes load and validate as on the
//! command line, a simulation steps through the one step loop
//! ([`trabecula::sim::Session`]) and writes the same run folder.
//!
//! Long work runs on a worker thread while this thread, with the GIL
//! released between looks, watches for Ctrl-C: a step finishes its day
//! before `KeyboardInterrupt` is raised, so the state stays whole.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray3, PyUntypedArrayMethods};
use pyo3::create_exception;
use pyo3::exceptions::{
    PyFileNotFoundError, PyKeyboardInterrupt, PyRuntimeError, PyTypeError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyList, PyString};

use trabecula::cells::CellType;
use trabecula::cells::agents::{STATE_ALIVE, STATE_APOPTOTIC, STATE_DEAD, STATE_EMBED};
use trabecula::gpu::GpuContext;
use trabecula::lattice::{self, Lattice};
use trabecula::mech::Compression;
use trabecula::morph::{MorphReport, ThicknessConvention};
use trabecula::scene::{self, Scene};
use trabecula::sim::checkpoint::{self, Checkpoint};
use trabecula::sim::run::{begin_session, resume_session, run_progress, write_run_folder};
use trabecula::sim::{Field, Interrupted, Metrics, OnDay, RunOptions, RunRecord, Session};
use trabecula::stop::{Stop, StoppedInSetup};

create_exception!(
    trabecula,
    SceneError,
    PyValueError,
    "A scene key or value that is not allowed: the message names the key, the value and the allowed range."
);

/// The bundled default scene (`scenes/demo.toml`), for `Scene.default()`.
const DEFAULT_SCENE: &str = include_str!("../../scenes/demo.toml");
const DEFAULT_SCENE_FILE: &str = "scenes/demo.toml";

/// One GPU context per process: adapters are slow to open.
static GPU: Mutex<Option<Arc<GpuContext>>> = Mutex::new(None);

fn gpu() -> PyResult<Arc<GpuContext>> {
    let mut held = GPU.lock().expect("GPU lock");
    if let Some(ctx) = &*held {
        return Ok(ctx.clone());
    }
    let ctx = Arc::new(GpuContext::new().map_err(|e| PyRuntimeError::new_err(e.to_string()))?);
    *held = Some(ctx.clone());
    Ok(ctx)
}

/// A library error as the Python exception a user expects.
fn py_err(e: anyhow::Error) -> PyErr {
    if let Some(se) = e.downcast_ref::<scene::SceneError>() {
        return SceneError::new_err(se.to_string());
    }
    let missing = e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound)
    });
    if missing {
        return PyFileNotFoundError::new_err(format!("{e:#}"));
    }
    PyRuntimeError::new_err(format!("{e:#}"))
}

/// Runs `work` on a worker thread, looking for Ctrl-C every 20 ms with the
/// GIL released in between (and back the moment the work is done). On
/// Ctrl-C `stop` is raised and the worker is waited for (it finishes what it
/// must to leave the state whole); the `KeyboardInterrupt` is returned.
fn interruptible<T: Send>(
    py: Python<'_>,
    stop: &AtomicBool,
    work: impl FnOnce() -> T + Send,
) -> PyResult<T> {
    std::thread::scope(|scope| {
        let (done, mut finished) = std::sync::mpsc::channel();
        let worker = scope.spawn(move || {
            let out = work();
            // The receiver outlives the scope's threads.
            let _ = done.send(());
            out
        });
        let mut interrupt = None;
        loop {
            // The receiver is not `Sync`: it goes into the wait and comes back.
            let (waited, back) = py.detach(move || {
                let waited = finished.recv_timeout(Duration::from_millis(20));
                (waited, finished)
            });
            finished = back;
            // Done, or the worker panicked (the sender dropped).
            if !matches!(waited, Err(std::sync::mpsc::RecvTimeoutError::Timeout)) {
                break;
            }
            if interrupt.is_none()
                && let Err(e) = py.check_signals()
            {
                stop.store(true, Ordering::SeqCst);
                interrupt = Some(e);
            }
        }
        let out = match worker.join() {
            Ok(out) => out,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        match interrupt {
            Some(e) => Err(e),
            None => Ok(out),
        }
    })
}

// ---------------------------------------------------------------- scenes

#[derive(Clone, Debug)]
enum SceneOrigin {
    File(PathBuf),
    Default,
}

/// A scene: a TOML file (or the bundled default) with overrides, validated
/// as `trabecula run --set` validates them.
#[pyclass(module = "trabecula", name = "Scene")]
#[derive(Clone)]
struct PyScene {
    origin: SceneOrigin,
    /// `key=value` overrides in TOML syntax, in order.
    sets: Vec<String>,
    scene: Scene,
}

impl PyScene {
    fn resolve(origin: &SceneOrigin, sets: &[String]) -> Result<Scene, scene::SceneError> {
        match origin {
            SceneOrigin::File(path) => scene::load(path, sets),
            SceneOrigin::Default => scene::parse(DEFAULT_SCENE, DEFAULT_SCENE_FILE, sets),
        }
    }

    fn from_origin(origin: SceneOrigin) -> PyResult<Self> {
        if let SceneOrigin::File(path) = &origin
            && !path.exists()
        {
            return Err(PyFileNotFoundError::new_err(format!(
                "{}: no such scene file",
                path.display()
            )));
        }
        let scene = Self::resolve(&origin, &[]).map_err(|e| SceneError::new_err(e.to_string()))?;
        Ok(Self {
            origin,
            sets: Vec::new(),
            scene,
        })
    }

    /// A scene given as a `Scene` or a path.
    fn from_any(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        if let Ok(s) = obj.extract::<PyScene>() {
            return Ok(s);
        }
        match obj.extract::<PathBuf>() {
            Ok(path) => Self::from_origin(SceneOrigin::File(path)),
            Err(_) => Err(PyTypeError::new_err(
                "a scene is a trabecula.Scene or the path of a scene file",
            )),
        }
    }

    fn with_set(&self, key: &str, value: &Bound<'_, PyAny>) -> PyResult<Self> {
        let toml_text = inline_toml(&to_toml_value(value)?);
        let mut sets = self.sets.clone();
        sets.push(format!("{key}={toml_text}"));
        match Self::resolve(&self.origin, &sets) {
            Ok(scene) => Ok(Self {
                origin: self.origin.clone(),
                sets,
                scene,
            }),
            Err(mut e) => {
                if e.location.starts_with("--set") {
                    e.location = format!("Scene.set({key:?}, {})", value.repr()?);
                }
                Err(SceneError::new_err(e.to_string()))
            }
        }
    }
}

/// A Python value as TOML: bool, int, float, str, sequences and dicts.
fn to_toml_value(v: &Bound<'_, PyAny>) -> PyResult<toml::Value> {
    if v.is_instance_of::<PyBool>() {
        return Ok(toml::Value::Boolean(v.extract()?));
    }
    if v.is_instance_of::<PyString>() {
        return Ok(toml::Value::String(v.extract()?));
    }
    if v.is_instance_of::<PyFloat>() {
        return Ok(toml::Value::Float(v.extract()?));
    }
    if let Ok(d) = v.cast::<PyDict>() {
        let mut t = toml::Table::new();
        for (k, x) in d.iter() {
            t.insert(k.extract::<String>()?, to_toml_value(&x)?);
        }
        return Ok(toml::Value::Table(t));
    }
    if let Ok(i) = v.extract::<i64>() {
        return Ok(toml::Value::Integer(i));
    }
    if let Ok(f) = v.extract::<f64>() {
        return Ok(toml::Value::Float(f));
    }
    if let Ok(items) = v.try_iter() {
        let values = items
            .map(|x| to_toml_value(&x?))
            .collect::<PyResult<Vec<_>>>()?;
        return Ok(toml::Value::Array(values));
    }
    Err(PyTypeError::new_err(format!(
        "{} cannot be a scene value (give a bool, number, string, list or dict)",
        v.repr()?
    )))
}

/// TOML text of one value, inline (tables as `{ k = v }`).
fn inline_toml(v: &toml::Value) -> String {
    match v {
        toml::Value::Float(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 => {
            format!("{f:.1}")
        }
        toml::Value::Float(f) if f.is_nan() => "nan".into(),
        toml::Value::Float(f) if f.is_infinite() => if *f > 0.0 { "inf" } else { "-inf" }.into(),
        toml::Value::Array(a) => {
            let items: Vec<String> = a.iter().map(inline_toml).collect();
            format!("[{}]", items.join(", "))
        }
        toml::Value::Table(t) => {
            let items: Vec<String> = t
                .iter()
                .map(|(k, x)| format!("{} = {}", toml::Value::String(k.clone()), inline_toml(x)))
                .collect();
            format!("{{ {} }}", items.join(", "))
        }
        other => other.to_string(),
    }
}

#[pymethods]
impl PyScene {
    /// Loads a scene file (TOML), as `trabecula run SCENE` does.
    #[staticmethod]
    fn load(path: PathBuf) -> PyResult<Self> {
        Self::from_origin(SceneOrigin::File(path))
    }

    /// The bundled default scene (`scenes/demo.toml`): 48³ human bone, a
    /// 180-day spin-up, 30 days on the ground and 90 in orbit.
    #[staticmethod]
    fn default() -> PyResult<Self> {
        Self::from_origin(SceneOrigin::Default)
    }

    /// Sets `key` (dotted, e.g. `"loading.gravity"`) to `value`, as
    /// `--set key=value` does; a bad key or value raises `SceneError` naming
    /// the key, the value and the allowed range, and leaves the scene as it was.
    fn set(&mut self, key: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
        *self = self.with_set(key, value)?;
        Ok(())
    }

    /// The resolved scene (every default filled in) as TOML.
    fn to_toml(&self) -> PyResult<String> {
        toml::to_string(&self.scene).map_err(|e| PyRuntimeError::new_err(e.to_string()))
    }

    #[getter]
    fn name(&self) -> String {
        self.scene.name.clone()
    }

    #[getter]
    fn seed(&self) -> u64 {
        self.scene.seed
    }

    #[getter]
    fn days(&self) -> u32 {
        self.scene.days
    }

    /// The overrides applied so far, as `key=value` TOML.
    #[getter]
    fn overrides(&self) -> Vec<String> {
        self.sets.clone()
    }

    fn __repr__(&self) -> String {
        let from = match &self.origin {
            SceneOrigin::File(p) => p.display().to_string(),
            SceneOrigin::Default => DEFAULT_SCENE_FILE.into(),
        };
        format!(
            "<trabecula.Scene {:?} from {from}, {} days, seed {}, {} override(s)>",
            self.scene.name,
            self.scene.days,
            self.scene.seed,
            self.sets.len()
        )
    }
}

// ---------------------------------------------------------------- arrays

/// A 3-D numpy volume in (z, y, x) order: its dims (x, y, z), its values
/// x fastest as f32, and its dtype's name.
fn volume_values(obj: &Bound<'_, PyAny>) -> PyResult<([usize; 3], Vec<f32>, String)> {
    let untyped = obj
        .cast::<numpy::PyUntypedArray>()
        .map_err(|_| PyTypeError::new_err("a volume is a 3-D numpy array in (z, y, x) order"))?;
    let shape = untyped.shape().to_vec();
    if shape.len() != 3 || shape.contains(&0) {
        return Err(PyValueError::new_err(format!(
            "a volume is a non-empty 3-D array (z, y, x); this one has shape ({})",
            shape
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let dtype = untyped.dtype().str()?.to_string();
    let dims = [shape[2], shape[1], shape[0]];
    macro_rules! values {
        ($($t:ty),*) => {$(
            if let Ok(a) = obj.extract::<PyReadonlyArray3<$t>>() {
                return Ok((dims, a.as_array().iter().map(|&v| v as f32).collect(), dtype));
            }
        )*};
    }
    if let Ok(a) = obj.extract::<PyReadonlyArray3<bool>>() {
        let v = a
            .as_array()
            .iter()
            .map(|&b| if b { 1.0 } else { 0.0 })
            .collect();
        return Ok((dims, v, dtype));
    }
    values!(u8, u16, i16, i32, u32, f32, f64);
    Err(PyTypeError::new_err(format!(
        "volume dtype {dtype} is not supported (bool, uint8, uint16, int16, int32, uint32, float32, float64)"
    )))
}

/// The first non-finite value of a volume, named by its voxel.
fn refuse_non_finite(dims: [usize; 3], values: &[f32]) -> PyResult<()> {
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        let [nx, ny, _] = dims;
        return Err(PyValueError::new_err(format!(
            "volume voxel (z {}, y {}, x {}) is {}; a volume's values must be finite",
            i / (nx * ny),
            i / nx % ny,
            i % nx,
            values[i]
        )));
    }
    Ok(())
}

fn positive_voxel_um(voxel_um: f64) -> PyResult<f64> {
    if voxel_um.is_finite() && voxel_um > 0.0 {
        Ok(voxel_um)
    } else {
        Err(PyValueError::new_err(format!(
            "voxel_um must be a positive number of µm, not {voxel_um}"
        )))
    }
}

/// A field (x fastest) as a float32 numpy array of shape (z, y, x), without
/// a copy: numpy takes the vector's memory.
fn field_array<'py>(
    py: Python<'py>,
    dims: [usize; 3],
    values: Vec<f32>,
) -> PyResult<Bound<'py, PyAny>> {
    let [nx, ny, nz] = dims;
    Ok(PyArray1::from_vec(py, values)
        .reshape([nz, ny, nx])?
        .into_any())
}

/// Columns as a pandas DataFrame, or a dict of numpy arrays without pandas.
fn frame<'py>(py: Python<'py>, columns: Bound<'py, PyDict>) -> PyResult<Bound<'py, PyAny>> {
    match py.import("pandas") {
        Ok(pandas) => pandas.call_method1("DataFrame", (columns,)),
        Err(_) => Ok(columns.into_any()),
    }
}

/// JSON text as Python objects.
fn json_to_py<'py>(py: Python<'py>, value: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    let text = serde_json::to_string(value).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    py.import("json")?.call_method1("loads", (text,))
}

// ---------------------------------------------------------------- simulation

/// Simulation(scene, seed=None, lattice=None, voxel_um=None)
///
/// A simulation between days: step it, look at its fields, cells and time
/// series, checkpoint it, write its run folder.
///
/// `scene` is a `Scene` or the path of a scene file; `seed` is `--seed`.
/// The lattice is built from the scene, or given as `lattice`, a (z, y, x)
/// numpy volume (uint8 0/255 or bool segmentation, or float mineral
/// fractions 0–1) of `voxel_um` µm voxels. The cells are seeded and the
/// scene's spin-up run as `trabecula run` does; day 0 is after it.
#[pyclass(module = "trabecula", name = "Simulation")]
struct PySimulation {
    ctx: Arc<GpuContext>,
    session: Session,
    record: RunRecord,
    /// Day 0's lattice (after the spin-up), for `lattice_start.mhd`.
    lattice_start: Option<Lattice>,
}

fn command_line(py: Python<'_>) -> Vec<String> {
    py.import("sys")
        .and_then(|sys| sys.getattr("argv"))
        .and_then(|argv| argv.extract::<Vec<String>>())
        .unwrap_or_default()
}

impl PySimulation {
    fn rows(&self) -> usize {
        self.session.series.rows.len()
    }
}

#[pymethods]
impl PySimulation {
    /// Builds `scene`'s lattice (or takes `lattice`, a (z, y, x) numpy volume:
    /// uint8 0/255 or bool segmentation, or float mineral fractions 0–1, with
    /// voxels of `voxel_um` µm), seeds the cells and spins up as `trabecula run`
    /// does. `seed` is `--seed`.
    #[new]
    #[pyo3(signature = (scene, seed = None, lattice = None, voxel_um = None))]
    fn new(
        py: Python<'_>,
        scene: &Bound<'_, PyAny>,
        seed: Option<u64>,
        lattice: Option<&Bound<'_, PyAny>>,
        voxel_um: Option<f64>,
    ) -> PyResult<Self> {
        let mut s = PyScene::from_any(scene)?;
        if let Some(seed) = seed {
            s = s.with_set("seed", &seed.into_pyobject(py)?.into_any())?;
        }
        let mut scene = s.scene;
        let given = match lattice {
            Some(obj) => {
                let (dims, values, dtype) = volume_values(obj)?;
                refuse_non_finite(dims, &values)?;
                let voxel_um = match voxel_um.or(scene.lattice.voxel_size_um) {
                    Some(v) => positive_voxel_um(v)?,
                    None => return Err(PyValueError::new_err("give voxel_um with a lattice")),
                };
                let mineral = match dtype.as_str() {
                    "uint8" => values
                        .iter()
                        .map(|&v| if v >= 128.0 { 1.0 } else { 0.0 })
                        .collect(),
                    "bool" => values,
                    d if d.starts_with("float") => {
                        values.iter().map(|v| v.clamp(0.0, 1.0)).collect()
                    }
                    d => {
                        return Err(PyTypeError::new_err(format!(
                            "a lattice is uint8 (0/255), bool, or float mineral fractions 0–1; not {d}"
                        )));
                    }
                };
                scene.lattice.dims = Some(dims);
                scene.lattice.voxel_size_um = Some(voxel_um);
                let origin = serde_json::json!({
                    "source": format!("numpy array, shape (z, y, x) = ({}, {}, {}), dtype {dtype}", dims[2], dims[1], dims[0]),
                });
                Some((
                    Lattice {
                        dims,
                        voxel_size_um: voxel_um,
                        mineral,
                    },
                    origin,
                ))
            }
            None if voxel_um.is_some() => {
                return Err(PyValueError::new_err(
                    "voxel_um is for a lattice given as an array; set lattice.voxel_size_um in the scene instead",
                ));
            }
            None => None,
        };
        let ctx = gpu()?;
        let argv = command_line(py);
        let stop = AtomicBool::new(false);
        let built = interruptible(py, &stop, || -> anyhow::Result<Self> {
            let t0 = Instant::now();
            let (lat, origin) = match given {
                Some(g) => g,
                None => {
                    let (lat, origin) =
                        lattice::from_scene_with_stop(&ctx, &scene, Stop::on(Some(&stop)))?;
                    (lat, serde_json::to_value(&origin)?)
                }
            };
            let mut record = RunRecord::new(&ctx, &scene, argv, origin, t0.elapsed().as_secs_f64());
            let (session, lattice_start) =
                begin_session(&ctx, &scene, lat, &mut record, Stop::on(Some(&stop)), t0)?;
            Ok(Self {
                ctx: ctx.clone(),
                session,
                record,
                lattice_start: Some(lattice_start),
            })
        })?;
        built.map_err(|e| {
            if e.downcast_ref::<StoppedInSetup>().is_some() {
                PyKeyboardInterrupt::new_err("stopped while setting up the simulation")
            } else {
                py_err(e)
            }
        })
    }

    /// Continues a run from a checkpoint file, or from the newest checkpoint
    /// of a run folder (as `trabecula resume` does).
    #[staticmethod]
    fn resume(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        if !path.exists() {
            return Err(PyFileNotFoundError::new_err(format!(
                "{}: no such checkpoint or run folder",
                path.display()
            )));
        }
        let ctx = gpu()?;
        let argv = command_line(py);
        let stop = AtomicBool::new(false);
        let resumed = interruptible(py, &stop, || -> anyhow::Result<Self> {
            let t0 = Instant::now();
            let file = if path.is_dir() {
                checkpoint::latest(&path)?
            } else {
                path.clone()
            };
            let ckpt = Checkpoint::read(&file)?;
            let h = &ckpt.header;
            let (session, record) = resume_session(&ctx, &ckpt, h.scene.clone(), argv, t0)?;
            let start = path.join("lattice_start.mhd");
            let lattice_start = if path.is_dir() && start.exists() {
                let v = trabecula::io::mhd::Volume::read(&start)?;
                Some(Lattice::from_volume(&v, None, h.voxel_size_um))
            } else {
                None
            };
            Ok(Self {
                ctx: ctx.clone(),
                session,
                record,
                lattice_start,
            })
        })?;
        resumed.map_err(py_err)
    }

    /// Advances `days` days (steps of the scene's `dt_days`) with the GIL
    /// released. Ctrl-C raises `KeyboardInterrupt` after the day in progress:
    /// the state is whole and stepping can go on.
    #[pyo3(signature = (days = 1))]
    fn step(&mut self, py: Python<'_>, days: u32) -> PyResult<()> {
        let steps = (days as f64 / self.session.sim.scene.dt_days).round() as u32;
        let stop = AtomicBool::new(false);
        let (ctx, session) = (&self.ctx, &mut self.session);
        // One worker for all the days; a Ctrl-C lets the day in progress end.
        interruptible(py, &stop, || -> anyhow::Result<()> {
            for _ in 0..steps {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                session.step(ctx)?;
            }
            Ok(())
        })?
        .map_err(py_err)
    }

    /// The simulated day.
    #[getter]
    fn day(&self) -> f64 {
        self.session.sim.day()
    }

    /// The scene's last day.
    #[getter]
    fn days(&self) -> u32 {
        self.session.sim.scene.days
    }

    /// Voxel edge, µm.
    #[getter]
    fn voxel_um(&self) -> f64 {
        self.session.sim.state.voxel_size_um
    }

    /// Lattice shape in numpy order (z, y, x).
    #[getter]
    fn shape(&self) -> (usize, usize, usize) {
        let [nx, ny, nz] = self.session.sim.state.dims;
        (nz, ny, nx)
    }

    /// The scene in force (resolved, every default filled in), as TOML.
    #[getter]
    fn scene_toml(&self) -> PyResult<String> {
        toml::to_string(&self.session.sim.scene).map_err(|e| PyRuntimeError::new_err(e.to_string()))
    }

    /// One row per day from day 0, the columns of `timeseries.csv`: a pandas
    /// DataFrame, or a dict of numpy arrays when pandas is not installed.
    fn timeseries<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        timeseries_frame(py, &self.session.series.rows)
    }

    /// Mineral fraction per voxel (0–1; bone where ≥ 0.5), float32 (z, y, x).
    fn mineral<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.field(py, Field::Mineral)
    }

    /// Strain energy density under the habitual (1 g) load, MPa, float32
    /// (z, y, x); the day's stimulus is this times the day's `load_factor`.
    fn sed<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.field(py, Field::SedUnit)
    }

    /// RANKL concentration per voxel, float32 (z, y, x).
    fn rankl<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.field(py, Field::Rankl)
    }

    /// Sclerostin concentration per voxel, float32 (z, y, x).
    fn sclerostin<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.field(py, Field::Sclerostin)
    }

    /// One row per cell: kind (osteocyte, osteoclast, osteoblast), state
    /// (alive, apoptotic, dead, embedding, precursor), voxel (z, y, x), id,
    /// age in days. A DataFrame, or a dict of numpy arrays without pandas.
    fn agents<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let [nx, ny, _] = self.session.sim.state.dims;
        let (mut kind, mut state) = (Vec::<&str>::new(), Vec::<&str>::new());
        let (mut z, mut y, mut x) = (Vec::<u32>::new(), Vec::<u32>::new(), Vec::<u32>::new());
        let (mut id, mut age) = (Vec::<u32>::new(), Vec::<f32>::new());
        for t in CellType::ALL {
            for a in self.session.sim.read_agents(&self.ctx, t) {
                kind.push(match t {
                    CellType::Osteocyte => "osteocyte",
                    CellType::Osteoclast => "osteoclast",
                    CellType::Osteoblast => "osteoblast",
                });
                state.push(match a.state {
                    _ if t == CellType::Osteoclast && a.age_days < 0.0 => "precursor",
                    STATE_ALIVE => "alive",
                    STATE_APOPTOTIC => "apoptotic",
                    STATE_DEAD => "dead",
                    STATE_EMBED => "embedding",
                    _ => "unknown",
                });
                let v = a.voxel as usize;
                x.push((v % nx) as u32);
                y.push((v / nx % ny) as u32);
                z.push((v / (nx * ny)) as u32);
                id.push(a.id);
                age.push(a.age_days);
            }
        }
        let np = py.import("numpy")?;
        let cols = PyDict::new(py);
        cols.set_item(
            "kind",
            np.call_method1("asarray", (PyList::new(py, kind)?,))?,
        )?;
        cols.set_item(
            "state",
            np.call_method1("asarray", (PyList::new(py, state)?,))?,
        )?;
        cols.set_item("z", PyArray1::from_vec(py, z))?;
        cols.set_item("y", PyArray1::from_vec(py, y))?;
        cols.set_item("x", PyArray1::from_vec(py, x))?;
        cols.set_item("id", PyArray1::from_vec(py, id))?;
        cols.set_item("age_days", PyArray1::from_vec(py, age))?;
        frame(py, cols)
    }

    /// Writes a checkpoint file that `Simulation.resume` (or `trabecula
    /// resume` in a run folder) continues from exactly.
    fn save_checkpoint(&self, path: PathBuf) -> PyResult<()> {
        let opts = RunOptions::new(path.parent().unwrap_or(Path::new(".")));
        let run = run_progress(&self.session, &self.record, &opts).map_err(py_err)?;
        Checkpoint::capture(&self.ctx, &self.session.sim, run)
            .write(&path)
            .map_err(py_err)
    }

    /// Writes the run folder `trabecula run` writes (`run.json`,
    /// `timeseries.csv`, `lattice_start.mhd`, `lattice_end.mhd`, `plots/`) for
    /// the days stepped so far; `run.json` says `finished` at the scene's
    /// last day, else `partial`.
    fn write_run(&mut self, dir: PathBuf) -> PyResult<()> {
        if dir.exists() && !dir.is_dir() {
            return Err(PyValueError::new_err(format!(
                "{} is a file, not a folder",
                dir.display()
            )));
        }
        write_run_folder(
            &self.ctx,
            &self.session,
            self.lattice_start.as_ref(),
            &mut self.record,
            &dir,
        )
        .map_err(py_err)
    }

    fn __repr__(&self) -> String {
        let (z, y, x) = self.shape();
        format!(
            "<trabecula.Simulation {:?} day {} of {}, {z}×{y}×{x} voxels of {} µm, {} rows>",
            self.session.sim.scene.name,
            self.day(),
            self.days(),
            self.voxel_um(),
            self.rows()
        )
    }
}

impl PySimulation {
    fn field<'py>(&self, py: Python<'py>, field: Field) -> PyResult<Bound<'py, PyAny>> {
        let values = self.session.sim.read_field(&self.ctx, field);
        field_array(py, self.session.sim.state.dims, values)
    }
}

/// The rows as columns (int64 where every value is an integer, else float64
/// with NaN for empty cells), in `timeseries.csv` order.
fn timeseries_frame<'py>(py: Python<'py>, rows: &[Metrics]) -> PyResult<Bound<'py, PyAny>> {
    let names = Metrics::columns();
    let values: Vec<serde_json::Value> = rows
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<_, _>>()
        .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    let cols = PyDict::new(py);
    for name in &names {
        let cells: Vec<&serde_json::Value> = values.iter().map(|v| &v[name.as_str()]).collect();
        if cells.iter().all(|c| c.is_i64() || c.is_u64()) {
            let ints: Vec<i64> = cells.iter().map(|c| c.as_i64().unwrap_or(0)).collect();
            cols.set_item(name, PyArray1::from_vec(py, ints))?;
        } else {
            let floats: Vec<f64> = cells
                .iter()
                .map(|c| c.as_f64().unwrap_or(f64::NAN))
                .collect();
            cols.set_item(name, PyArray1::from_vec(py, floats))?;
        }
    }
    frame(py, cols)
}

// ---------------------------------------------------------------- functions

/// Runs a scene (a `Scene` or a scene file) headless into the folder `out`
/// (default `runs/<name>-seed<seed>`), exactly as `trabecula run`; returns
/// the folder. `progress(day, last_day)` is called after every day. Ctrl-C
/// stops after the day in progress with a checkpoint (`Simulation.resume`
/// or `trabecula resume` continues it) and raises `KeyboardInterrupt`.
#[pyfunction]
#[pyo3(signature = (scene, out = None, seed = None, days = None, progress = None, checkpoint_every = 0))]
fn run(
    py: Python<'_>,
    scene: &Bound<'_, PyAny>,
    out: Option<PathBuf>,
    seed: Option<u64>,
    days: Option<u32>,
    progress: Option<Py<PyAny>>,
    checkpoint_every: u32,
) -> PyResult<PathBuf> {
    let mut s = PyScene::from_any(scene)?;
    if let Some(seed) = seed {
        s = s.with_set("seed", &seed.into_pyobject(py)?.into_any())?;
    }
    if let Some(days) = days {
        s = s.with_set("days", &days.into_pyobject(py)?.into_any())?;
    }
    let scene = s.scene;
    let out =
        out.unwrap_or_else(|| PathBuf::from(format!("runs/{}-seed{}", scene.name, scene.seed)));
    if out.exists() && !out.is_dir() {
        return Err(PyValueError::new_err(format!(
            "{} is a file, not a folder",
            out.display()
        )));
    }
    let ctx = gpu()?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut opts = RunOptions::new(&out);
    opts.progress = false;
    opts.command_line = command_line(py);
    opts.checkpoint_every_days = checkpoint_every;
    opts.stop = Some(stop.clone());
    let callback_error: Arc<Mutex<Option<PyErr>>> = Arc::new(Mutex::new(None));
    if let Some(cb) = progress {
        let error = callback_error.clone();
        let stop = stop.clone();
        opts.on_day = Some(OnDay(Arc::new(move |row: &Metrics, steps: u32| {
            Python::attach(|py| {
                if let Err(e) = cb.call1(py, (row.day, steps)) {
                    // The run stops at this day with a checkpoint; the
                    // callback's error is raised.
                    error.lock().expect("lock").get_or_insert(e);
                    stop.store(true, Ordering::SeqCst);
                }
            })
        })));
    }
    let result = interruptible(py, &stop, || trabecula::sim::run_scene(&ctx, &scene, &opts));
    if let Some(e) = callback_error.lock().expect("lock").take() {
        return Err(e);
    }
    match result {
        Err(interrupt) => {
            // Ctrl-C: the run checkpointed after the day in progress.
            let msg = format!(
                "run stopped; continue it with trabecula.Simulation.resume({:?})",
                out.display().to_string()
            );
            Err(PyKeyboardInterrupt::new_err(format!("{interrupt}: {msg}")))
        }
        Ok(Ok(_)) => Ok(out),
        Ok(Err(e)) if e.downcast_ref::<Interrupted>().is_some() => {
            Err(PyKeyboardInterrupt::new_err(e.to_string()))
        }
        Ok(Err(e)) => Err(py_err(e)),
    }
}

/// Morphometry of a (z, y, x) volume of `voxel_um` µm voxels, bone where the
/// value ≥ `threshold`: the keys of `trabecula morph --json` (BV/TV, BS/BV,
/// Tb.Th, Tb.Sp, Tb.N, Conn.D, …) and the thickness convention used.
#[pyfunction]
#[pyo3(signature = (volume, voxel_um, threshold = 0.5, thickness_convention = "face-to-face"))]
fn morphometry<'py>(
    py: Python<'py>,
    volume: &Bound<'py, PyAny>,
    voxel_um: f64,
    threshold: f64,
    thickness_convention: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let voxel_um = positive_voxel_um(voxel_um)?;
    if !threshold.is_finite() {
        return Err(PyValueError::new_err(format!(
            "threshold must be a finite grey value, not {threshold}"
        )));
    }
    let convention: ThicknessConvention =
        serde_json::from_value(serde_json::Value::String(thickness_convention.into())).map_err(|_| {
            PyValueError::new_err(format!(
                "thickness_convention {thickness_convention:?} is not one of \"face-to-face\", \"centre-to-centre\""
            ))
        })?;
    let (dims, values, _) = volume_values(volume)?;
    refuse_non_finite(dims, &values)?;
    let vol = trabecula::io::mhd::Volume::from_f32(dims, voxel_um / 1000.0, values);
    let report = py.detach(|| {
        let lattice = Lattice::from_volume(&vol, Some(threshold), voxel_um);
        let m = trabecula::sim::metrics::lattice_morphometry_with(&lattice, convention);
        serde_json::to_value(MorphReport::new(m, convention))
    });
    json_to_py(
        py,
        &report.map_err(|e| PyRuntimeError::new_err(e.to_string()))?,
    )
}

/// Uniaxial compression along z of a (z, y, x) volume, as `trabecula mech`:
/// `threshold` None takes values as mineral fractions (clamped to 0–1), else
/// bone where value ≥ threshold. Returns `sed` (MPa) and `displacement`
/// (magnitude, mm) as float32 (z, y, x) arrays, `reaction_force_n`,
/// `apparent_modulus_mpa`, `iterations`, `relative_residual` and the rest
/// of `mech.json`.
#[pyfunction]
#[pyo3(signature = (volume, voxel_um, strain = 0.01, young_mpa = 15000.0, poisson = 0.3, tol = 1e-6, threshold = None, exponent = 2.0, confined = false, max_iter = 20000))]
#[allow(clippy::too_many_arguments)]
fn solve_fe<'py>(
    py: Python<'py>,
    volume: &Bound<'py, PyAny>,
    voxel_um: f64,
    strain: f64,
    young_mpa: f64,
    poisson: f64,
    tol: f64,
    threshold: Option<f64>,
    exponent: f64,
    confined: bool,
    max_iter: u32,
) -> PyResult<Bound<'py, PyAny>> {
    let voxel_um = positive_voxel_um(voxel_um)?;
    let checks = [
        (
            "strain",
            strain,
            strain.is_finite() && strain != 0.0,
            "a non-zero number",
        ),
        (
            "young_mpa",
            young_mpa,
            young_mpa.is_finite() && young_mpa > 0.0,
            "> 0 MPa",
        ),
        (
            "poisson",
            poisson,
            (0.0..0.5).contains(&poisson),
            "0 ≤ poisson < 0.5",
        ),
        ("tol", tol, tol > 0.0 && tol < 1.0, "0 < tol < 1"),
        (
            "exponent",
            exponent,
            exponent.is_finite() && exponent >= 0.0,
            "≥ 0",
        ),
    ];
    for (key, value, ok, allowed) in checks {
        if !ok {
            return Err(PyValueError::new_err(format!(
                "{key} = {value} is out of range; allowed {allowed}"
            )));
        }
    }
    let (dims, values, _) = volume_values(volume)?;
    refuse_non_finite(dims, &values)?;
    let vol = trabecula::io::mhd::Volume::from_f32(dims, voxel_um / 1000.0, values);
    let lattice = Lattice::from_volume(&vol, threshold, voxel_um);
    let test = Compression {
        strain,
        young_mpa,
        poisson,
        exponent,
        tol,
        max_iter,
        confined,
        ..Compression::default()
    };
    let ctx = gpu()?;
    let stop = AtomicBool::new(false);
    let solved = interruptible(py, &stop, || test.solve(&ctx, &lattice))?.map_err(py_err)?;
    let r = &solved.result;
    let out = PyDict::new(py);
    out.set_item("sed", field_array(py, dims, solved.sed_mpa)?)?;
    out.set_item(
        "displacement",
        field_array(py, dims, solved.displacement_mm)?,
    )?;
    out.set_item("reaction_force_n", r.reaction_force_n)?;
    out.set_item("apparent_modulus_mpa", r.apparent_modulus_mpa)?;
    out.set_item("iterations", r.iterations)?;
    out.set_item("host_iterations", r.host_iterations)?;
    out.set_item("relative_residual", r.relative_residual)?;
    out.set_item("voxels_solved", r.voxels_solved)?;
    out.set_item("voxels_set_aside", r.voxels_set_aside)?;
    out.set_item("wall_s", r.wall_s)?;
    out.set_item("voxel_um", voxel_um)?;
    Ok(out.into_any())
}

/// The GPU adapter trabecula uses (what `trabecula info --json` prints).
#[pyfunction]
fn adapter_info<'py>(py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
    let ctx = gpu()?;
    let value =
        serde_json::to_value(&ctx.summary).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
    json_to_py(py, &value)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("SceneError", m.py().get_type::<SceneError>())?;
    m.add_class::<PyScene>()?;
    m.add_class::<PySimulation>()?;
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(morphometry, m)?)?;
    m.add_function(wrap_pyfunction!(solve_fe, m)?)?;
    m.add_function(wrap_pyfunction!(adapter_info, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
