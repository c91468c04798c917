//! The engine's errors, each with the text a user is shown. The bindings turn them into
//! Python exceptions in one place.

use std::fmt;

use iqm_runstatus_core::Error as CoreError;

/// Why the network thread stopped on its own; every later call reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The async runtime could not be built (the reason from the OS).
    RuntimeStart(String),
    /// The HTTP client could not be made (the reason from the TLS or HTTP stack).
    Client(String),
    /// A dependency panicked on the network thread.
    Panicked,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::RuntimeStart(why) => write!(f, "the poller's runtime did not start: {why}"),
            Failure::Client(why) => write!(f, "the HTTP client could not be made: {why}"),
            Failure::Panicked => f.write_str("the poller's network thread panicked"),
        }
    }
}

/// Why an operation of the engine did not happen.
#[derive(Debug)]
pub enum Error {
    /// A panic while the state was locked left it unusable.
    Poisoned,
    /// `close` was called.
    Closed,
    /// The engine's thread was started by another process: it did not survive `fork`.
    OtherProcess,
    /// The job was not added to this engine.
    UnknownJob(String),
    /// The id would not be one path segment of `/jobs/{id}/status`.
    NotASegment(String),
    /// The network thread could not be started (the reason from the OS).
    ThreadStart(std::io::Error),
    /// The network thread ended in a panic that `join` reported.
    ThreadFailed,
    /// The network thread stopped on its own.
    Stopped(Failure),
    /// The tracker refused a status.
    Tracker(CoreError),
    /// The wakeup descriptor could not be made.
    Wakeup(std::io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Poisoned => f.write_str("the poller's state is poisoned"),
            Error::Closed => f.write_str("the poller is closed"),
            Error::OtherProcess => f.write_str(
                "this StatusPoller was started in another process: its threads did not survive \
                 fork(); make a new StatusPoller in this process",
            ),
            Error::UnknownJob(id) => write!(f, "{id} was not added to this poller"),
            Error::NotASegment(id) => write!(
                f,
                "job_ids: {id:?} is not a job id: it would not be one path segment of \
                 /jobs/{{job_id}}/status"
            ),
            Error::ThreadStart(err) => write!(f, "the poller's thread did not start: {err}"),
            Error::ThreadFailed => f.write_str("the poller's thread failed"),
            Error::Stopped(failure) => failure.fmt(f),
            Error::Tracker(err) => err.fmt(f),
            Error::Wakeup(err) => err.fmt(f),
        }
    }
}

impl std::error::Error for Error {}
