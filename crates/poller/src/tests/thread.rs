//! The engine's own network thread, started by the first `add` and joined by `close`, with
//! reqwest against a port where nothing listens: no wait on the clock, the test closes at once.

use std::net::TcpListener;

use super::{settings, vocabulary, Statuses, SEED};
use crate::engine::Engine;
use crate::error::Error;

/// A local port that was free a moment ago (its listener is dropped).
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or(9)
}

#[test]
fn the_first_add_starts_the_thread_and_close_joins_it_and_refuses_more() {
    let mut settings = settings(false);
    settings.base = format!("http://127.0.0.1:{}", closed_port());
    let engine = Engine::new(
        settings,
        vocabulary(),
        Box::<std::sync::Arc<Statuses>>::default(),
        SEED,
    );
    assert!(matches!(engine.add(Vec::new()), Ok(false)));
    assert!(matches!(engine.add(vec!["job".to_owned()]), Ok(false)));
    assert!(engine.check_process().is_ok());
    assert!(engine.close().is_ok());
    // Closing twice is harmless; nothing more is taken.
    assert!(engine.close().is_ok());
    assert!(matches!(
        engine.add(vec!["job".to_owned()]),
        Err(Error::Closed)
    ));
    assert!(matches!(engine.wakeup_fd(), Ok(None)));
    let summary = engine.summary().ok();
    assert_eq!(
        summary.map(|summary| (summary.jobs, summary.pending)),
        Some((1, 1))
    );
    // The loop stopped with the job pending: iteration ends, nothing failed.
    assert!(matches!(engine.take_transitions(), Ok(None)));
}
