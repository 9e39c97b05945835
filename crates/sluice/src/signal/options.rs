//! What [`shutdown_on_signal`](crate::ConcurrencyManager::shutdown_on_signal) listens
//! for and does: which signals, drain or abort what is queued, the deadline, and what a
//! second signal does.

use crate::config::Config;
use std::fmt;
use std::time::Duration;
use tokio::signal::unix::SignalKind;

/// A signal that asks the program to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ShutdownSignal {
    /// `SIGTERM`: what service managers and `kill` send.
    Terminate,
    /// `SIGINT`: Ctrl-C.
    Interrupt,
    /// `SIGHUP`: the terminal went away.
    Hangup,
    /// `SIGQUIT`: Ctrl-\.
    Quit,
}

impl ShutdownSignal {
    pub(super) fn kind(self) -> SignalKind {
        match self {
            ShutdownSignal::Terminate => SignalKind::terminate(),
            ShutdownSignal::Interrupt => SignalKind::interrupt(),
            ShutdownSignal::Hangup => SignalKind::hangup(),
            ShutdownSignal::Quit => SignalKind::quit(),
        }
    }
}

impl fmt::Display for ShutdownSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ShutdownSignal::Terminate => "SIGTERM",
            ShutdownSignal::Interrupt => "SIGINT",
            ShutdownSignal::Hangup => "SIGHUP",
            ShutdownSignal::Quit => "SIGQUIT",
        })
    }
}

/// What happens to queued work when the first signal arrives. Running work is let
/// finish (until the deadline) either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OnSignal {
    /// Queued work is still run, until the deadline.
    #[default]
    Drain,
    /// Queued work is cancelled at once (it answers
    /// [`TaskError::Cancelled`](crate::TaskError::Cancelled)), as by
    /// [`abort_pending`](crate::ConcurrencyManager::abort_pending).
    AbortPending,
}

/// What a second signal does while the first one's shutdown waits for work to finish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SecondSignal {
    /// Ends the wait at once: queued work is cancelled, running futures are dropped,
    /// running closures are asked to stop, and the report is handed over — a shutdown
    /// whose deadline is now.
    #[default]
    Force,
    /// Exits the process at once with this code (no report, no destructors): the
    /// classic second Ctrl-C.
    Exit(i32),
    /// Nothing: the shutdown keeps its deadline.
    Ignore,
}

/// Options for [`shutdown_on_signal`](crate::ConcurrencyManager::shutdown_on_signal).
///
/// # Examples
///
/// ```
/// use sluice::signal::{OnSignal, SecondSignal, ShutdownSignal, SignalOptions};
/// use std::time::Duration;
///
/// let options = SignalOptions::new()
///     .signals([ShutdownSignal::Terminate, ShutdownSignal::Interrupt, ShutdownSignal::Hangup])
///     .on_signal(OnSignal::AbortPending)
///     .deadline(Duration::from_secs(10))
///     .second_signal(SecondSignal::Exit(130));
/// assert_eq!(options.deadline_len(), Duration::from_secs(10));
///
/// // The deadline from a configuration's `shutdown.timeout`.
/// let config = sluice::config::Config::default();
/// assert_eq!(SignalOptions::from_config(&config).deadline_len(), config.shutdown.timeout);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalOptions {
    /// The signals that start the shutdown.
    pub(super) signals: Vec<ShutdownSignal>,
    /// Drain or abort what is queued.
    pub(super) on_signal: OnSignal,
    /// How long running (and, draining, queued) work gets.
    pub(super) deadline: Duration,
    /// What a second signal does.
    pub(super) second: SecondSignal,
}

impl SignalOptions {
    /// The deadline unless set otherwise: 30 s, as `shutdown.timeout` defaults to in
    /// [`Config`].
    pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);

    /// `SIGTERM` and `SIGINT`; queued work drained; [`DEFAULT_DEADLINE`](Self::DEFAULT_DEADLINE);
    /// a second signal forces the end.
    pub fn new() -> Self {
        SignalOptions {
            signals: vec![ShutdownSignal::Terminate, ShutdownSignal::Interrupt],
            on_signal: OnSignal::Drain,
            deadline: Self::DEFAULT_DEADLINE,
            second: SecondSignal::Force,
        }
    }

    /// As [`new`](Self::new), with the deadline of `config.shutdown.timeout` — the
    /// same file and variables the manager was built from.
    pub fn from_config(config: &Config) -> Self {
        Self::new().deadline(config.shutdown.timeout)
    }

    /// Listens for these signals instead (at least one).
    pub fn signals(mut self, signals: impl IntoIterator<Item = ShutdownSignal>) -> Self {
        self.signals.clear();
        for signal in signals {
            if !self.signals.contains(&signal) {
                self.signals.push(signal);
            }
        }
        self
    }

    /// What happens to queued work at the first signal.
    pub fn on_signal(mut self, on_signal: OnSignal) -> Self {
        self.on_signal = on_signal;
        self
    }

    /// How long work gets to finish after the first signal, before what is left is
    /// cancelled.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// What a second signal does.
    pub fn second_signal(mut self, second: SecondSignal) -> Self {
        self.second = second;
        self
    }

    /// The deadline set.
    pub fn deadline_len(&self) -> Duration {
        self.deadline
    }
}

impl Default for SignalOptions {
    fn default() -> Self {
        Self::new()
    }
}
