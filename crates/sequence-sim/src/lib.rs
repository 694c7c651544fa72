//! `sequence-sim`: a deterministic simulator of the Sequence application layer, in the spirit of
//! TigerBeetle's VOPR.
//!
//! A run is a seed and a number of steps. Each step draws one operation from a seeded generator
//! ([`generate`]) — open accounts, deposit, transfer, approve, write and switch rules, trigger
//! them (also many times at once), advance an organization's sandbox clock or move real time,
//! run the background worker on one or two replicas, crash a use case before its commit, make
//! one collide and retry, plant hostile data in an organization — and carries it out through
//! the use cases of `sequence-app` (not HTTP), on SQLite or PostgreSQL, with an injected clock
//! ([`clock::SimClock`]) that only the simulator moves. After every step the invariants
//! ([`check`]) are checked against the database: money conserved and replayable, nothing
//! negative, reservations exact, caps held, scheduled occurrences run exactly once, due work
//! settled, one tenant's broken data never holding up another, no internal error for normal
//! input, `TOP_UP` never filling a gap twice, every use case finishing in time.
//!
//! A violation stops the run with the seed, the step, the invariant and the log of the last
//! steps; `sequence-sim` (the binary) then shrinks it to the fewest steps that still fail and
//! prints the command that reproduces it. Why a simulator and not more example tests: the bugs
//! that matter here (a cap exceeded under parallel triggers, a gap filled twice, a schedule that
//! never moves forward) live in interleavings and edge values nobody writes down; a seeded
//! generator finds them, and a seed is a reproduction.
//!
//! Determinism: the operations are a function of the seed and of the outcomes so far. On
//! SQLite (one writer) outcomes repeat; on PostgreSQL concurrent operations race for real, so a
//! seed reproduces the same operations but not always the same interleaving.

pub mod check;
pub mod clock;
pub mod db;
pub mod generate;
pub mod model;
pub mod ops;
mod sim;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

pub use db::Backend;
pub use sim::run;

/// What one run does.
#[derive(Debug, Clone)]
pub struct Config {
    /// The seed: names the sequence of operations.
    pub seed: u64,
    /// How many steps.
    pub ops: u64,
    /// Where.
    pub backend: Backend,
    /// A PostgreSQL server (any database on it) for PostgreSQL runs.
    pub postgres_url: String,
    /// Longest a use case (or a worker pass) may take.
    pub timeout: Duration,
    /// Every organization is audited (with the expensive checks) every this many steps.
    pub full_check_every: u64,
    /// How many of the last steps a report keeps.
    pub log_tail: usize,
}

/// A broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The step that broke it (0: the final drain and audit).
    pub step: u64,
    /// Which invariant.
    pub invariant: &'static str,
    /// What was seen.
    pub detail: String,
}

impl Violation {
    /// A violation of `invariant` (the step is filled in by the runner).
    pub fn new(invariant: &'static str, detail: impl Into<String>) -> Violation {
        Violation { step: 0, invariant, detail: detail.into() }
    }

    /// The same, naming the organization it is about.
    pub fn in_org(self, label: &str) -> Violation {
        Violation { detail: format!("{label}: {}", self.detail), ..self }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step {}: {}: {}", self.step, self.invariant, self.detail)
    }
}

/// How often an operation kind succeeded or was refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// It happened.
    pub ok: u64,
    /// It was refused (a 4xx answer).
    pub refused: u64,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Report {
    /// The run's seed.
    pub seed: u64,
    /// Its backend.
    pub backend: Backend,
    /// Steps carried out (up to the violation, if any).
    pub ops: u64,
    /// Time spent in the steps and their checks (not creating the database).
    pub elapsed: Duration,
    /// The first broken invariant.
    pub violation: Option<Violation>,
    /// The last steps, oldest first.
    pub log: Vec<String>,
    /// Outcomes per operation kind.
    pub tallies: BTreeMap<&'static str, Tally>,
    /// Steps and time spent per operation kind (and in the checks).
    pub timings: BTreeMap<&'static str, (u64, Duration)>,
}

static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

/// Replaces the panic hook by one that remembers the last panic (message and location) instead
/// of printing it: hostile organizations panic on purpose every worker pass, and an unexpected
/// panic is reported as a violation with [`last_panic`]'s text.
pub fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        *LAST_PANIC.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some(info.to_string());
    }));
}

/// The last panic's message and location, if any.
pub fn last_panic() -> Option<String> {
    LAST_PANIC.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
}
