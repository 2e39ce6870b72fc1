//! The simulation: state, one step, metrics, and the headless run that
//! writes a run folder.

pub mod checkpoint;
pub mod mechanics;
pub mod metrics;
pub mod run;
pub mod session;
pub mod snapshot;
pub mod state;
pub mod step;
pub mod systemic;

pub use metrics::{Metrics, TimeSeries};
pub use run::{Interrupted, OnDay, RunOptions, RunRecord, RunSummary, resume_run, run_scene};
pub use session::{Clock, MorphSchedule, Session};
pub use step::{Field, NonFinite, Simulation, StepReport};
