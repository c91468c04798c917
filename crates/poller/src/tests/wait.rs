//! `wait`'s side of the engine: the jobs are scanned only once as many jobs settled as were
//! pending at the last scan, a job removed or given up counts as settled, and a waiter is woken
//! only for what it acts on. The scheduler runs in paused time with a scripted server.

use std::future::Future;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use reqwest::header::HeaderMap;

use super::schedule::Run;
use super::{body, code, settings, vocabulary, Statuses, SEED};
use crate::consumer::Waiting;
use crate::engine::Engine;
use crate::http::{Fetch, Fetched};

fn not_found() -> Fetched {
    Fetched::Http {
        code: 404,
        reason: "Not Found",
        retry_after: None,
        location: None,
    }
}

fn ids(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|id| (*id).to_owned()).collect()
}

/// Whether a waiter at `waiting`'s last scan would be woken now.
fn wakes(engine: &Engine, waiting: &Waiting) -> bool {
    match engine.lock() {
        Ok(state) => state.wakes_waiter(waiting.rescan_at),
        Err(err) => unreachable!("{err}"),
    }
}

#[tokio::test(start_paused = true)]
async fn wait_scans_again_only_once_as_many_jobs_settled_as_were_pending() {
    // "a" changes status on every answer and ends ready; "b" is given up (404 on its fourth
    // request); "c" never ends and is removed; "x" is not waited for and ends early.
    let run = Run::start(settings(false), Duration::ZERO, |id, n| match id {
        "a" => {
            let chain = [
                "received",
                "compiling",
                "received",
                "compiling",
                "pending execution",
            ];
            Fetched::Body(body(chain.get(n).copied().unwrap_or("ready")))
        }
        "b" if n >= 3 => not_found(),
        "x" if n >= 1 => Fetched::Body(body("ready")),
        _ => Fetched::Body(body("received")),
    });
    run.add(&["a", "b", "c", "x"]);
    let wanted = match run.engine.resolve(Some(ids(&["a", "b", "c"]))) {
        Ok(wanted) => wanted,
        Err(err) => unreachable!("{err}"),
    };
    let mut waiting = run.engine.waiting(wanted);
    // Checked every 100 ms of paused time, as `wait` would on every wake-up: a fresh scan at
    // 3 s (a timeout's), "c" removed at 10 s.
    let mut scans = Vec::new();
    let mut done = None;
    for step in 0..300u32 {
        if step == 100 {
            assert_eq!(run.engine.remove(&ids(&["c"])).ok(), Some(1));
        }
        match run.engine.wait_progress(&mut waiting, step == 30) {
            Ok(Some(progress)) => {
                scans.push((step, progress.pending));
                if progress.pending == 0 {
                    done = Some(progress);
                    break;
                }
            }
            Ok(None) => {}
            Err(err) => unreachable!("{err}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // At 3 s only "x" settled: the fresh scan finds all three pending and moves the mark to
    // four settled jobs. "b" given up and "a" ready make three, so no scan happens until the
    // removal of "c" makes four, and that scan finds them all done. A settle left uncounted
    // would leave the loop waiting to its end; a scan per answer would show many more.
    assert_eq!(scans, [(0, 3), (30, 3), (100, 0)]);
    assert_eq!(waiting.scans(), 3);
    let terminal = done.map(|progress| progress.terminal);
    assert_eq!(terminal, Some(vec![Arc::from("a")]));
    assert_eq!(run.tracker.status("a"), Some(code("ready")));
    let failed = run.engine.failed().unwrap_or_default();
    assert_eq!(
        failed.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
        ["b"]
    );
    // Answers came all along, transitions among them, without a scan each.
    let stats = run
        .engine
        .stats()
        .map(|(stats, _)| stats)
        .unwrap_or_default();
    assert!(stats.requests >= 15, "{stats:?}");
    run.engine.close().ok();
    assert!(run.driver.await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_waiter_sleeps_through_answers_that_settle_nothing_and_wakes_for_its_own_work() {
    let run = Run::start(settings(false), Duration::ZERO, |_, n| {
        Fetched::Body(body(if n % 2 == 0 { "received" } else { "compiling" }))
    });
    run.add(&["a", "b"]);
    let wanted = run.engine.resolve(None).unwrap_or_default();
    let mut waiting = run.engine.waiting(wanted);
    let pending = run
        .engine
        .wait_progress(&mut waiting, false)
        .ok()
        .flatten()
        .map(|progress| progress.pending);
    assert_eq!(pending, Some(2));
    // Every answer is a transition, announced to the consumer; none settles a job.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let taken = run
        .engine
        .take_transitions()
        .ok()
        .flatten()
        .unwrap_or_default();
    assert!(taken.len() >= 2, "{taken:?}");
    assert!(!wakes(&run.engine, &waiting));
    // One of two settled: the other one still has to.
    assert_eq!(run.engine.remove(&ids(&["a"])).ok(), Some(1));
    assert!(!wakes(&run.engine, &waiting));
    // A body for the pure path is the waiter's to parse.
    run.engine.set_fast_parse(false);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(wakes(&run.engine, &waiting));
    let service = run.engine.take_service().ok();
    assert_eq!(service.map(|service| service.fallbacks.len()), Some(1));
    assert!(!wakes(&run.engine, &waiting));
    assert!(run.engine.close().is_ok());
    assert!(wakes(&run.engine, &waiting));
    assert!(run.driver.await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_waiter_wakes_for_a_header_refresh_only_when_none_is_under_way() {
    let run = Run::start(settings(true), Duration::ZERO, |_, _| Fetched::Http {
        code: 401,
        reason: "Unauthorized",
        retry_after: None,
        location: None,
    });
    // The first add asks the provider: that refresh is under way (the caller does it).
    assert!(run.add(&["job"]));
    let wanted = run.engine.resolve(None).unwrap_or_default();
    let mut waiting = run.engine.waiting(wanted);
    assert!(run.engine.wait_progress(&mut waiting, false).is_ok());
    assert!(!wakes(&run.engine, &waiting));
    assert!(run
        .engine
        .finish_refresh(Ok((HeaderMap::new(), None)))
        .is_ok());
    // Refused: new headers are wanted, and only a waiter can ask for them.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(wakes(&run.engine, &waiting));
    let service = run.engine.take_service().ok();
    assert_eq!(service.map(|service| service.refresh), Some(true));
    assert!(!wakes(&run.engine, &waiting));
}

/// A server that never answers; the tests that use it never run the scheduler.
struct Silent;

impl Fetch for Silent {
    fn fetch(&self, _: &str, _: Arc<HeaderMap>) -> impl Future<Output = Fetched> + Send {
        std::future::pending()
    }
}

#[test]
fn the_removal_that_settles_the_last_job_wakes_a_blocked_waiter() {
    let engine = Arc::new(Engine::new(
        settings(false),
        vocabulary(),
        Box::<Arc<Statuses>>::default(),
        SEED,
    ));
    // The scheduler is never run: the jobs stay pending until removed.
    drop(engine.driver(Silent));
    assert!(engine.add(ids(&["a", "b"])).is_ok());
    let wanted = engine.resolve(None).unwrap_or_default();
    let mut waiting = engine.waiting(wanted);
    let pending = engine
        .wait_progress(&mut waiting, false)
        .ok()
        .flatten()
        .map(|progress| progress.pending);
    assert_eq!(pending, Some(2));
    let (woken, wake) = mpsc::channel();
    let waiter = {
        let engine = Arc::clone(&engine);
        std::thread::spawn(move || {
            // Far longer than the test may take: only a wake-up ends it in time.
            engine.wait_for_change(&waiting, Duration::from_secs(3600));
            woken.send(()).ok();
        })
    };
    engine.announce();
    assert_eq!(engine.remove(&ids(&["a"])).ok(), Some(1));
    assert!(wake.try_recv().is_err());
    assert_eq!(engine.remove(&ids(&["b"])).ok(), Some(1));
    assert!(wake.recv_timeout(Duration::from_secs(60)).is_ok());
    assert!(waiter.join().is_ok());
}
