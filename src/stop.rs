//! Stopping a run's setup on request. SIGINT and SIGTERM set a flag (see
//! `src/main.rs`); the day loop checkpoints when it sees it, and the stages
//! before day 0 — lattice generation, seeding, the spin-up — check it
//! between their GPU submissions and give up with [`StoppedInSetup`].

use std::sync::atomic::{AtomicBool, Ordering};

/// A stop request to honour, or none.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stop<'a>(Option<&'a AtomicBool>);

impl<'a> Stop<'a> {
    /// Never stops.
    pub fn never() -> Self {
        Self(None)
    }

    /// Stops once `flag` is set.
    pub fn on(flag: Option<&'a AtomicBool>) -> Self {
        Self(flag)
    }

    /// Whether a stop was requested.
    pub fn requested(&self) -> bool {
        self.0.is_some_and(|f| f.load(Ordering::SeqCst))
    }

    /// `Err` naming the stage (`stage()` is called only then) once a stop
    /// was requested.
    pub fn check(&self, stage: impl FnOnce() -> String) -> Result<(), StoppedInSetup> {
        if self.requested() {
            Err(StoppedInSetup { stage: stage() })
        } else {
            Ok(())
        }
    }
}

/// A run stopped on request before day 0: there is no state worth a
/// checkpoint yet (a spin-up is not checkpointed), so starting again is
/// all there is to do.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "stopped during {stage}, before day 0: nothing to checkpoint yet; run the same command again to start over"
)]
pub struct StoppedInSetup {
    /// E.g. `lattice generation`, `the spin-up (day -120 of 180 days at 1 g)`.
    pub stage: String,
}
