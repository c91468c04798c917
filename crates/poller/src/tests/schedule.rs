//! The engine end to end in tokio's paused time: the scheduler on the test's runtime
//! (`Engine::driver`), a scripted server, and the times of its requests. A timer fires on the
//! millisecond at or after its due time, hence the one-millisecond window of `assert_gap`.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use tokio::time::Instant;

use super::{body, code, settings, vocabulary, Statuses, MAX_RETRIES, SEED};
use crate::engine::{Engine, Settings};
use crate::error::Error;
use crate::http::{Fetch, Fetched};
use crate::policy::RetryAfter;
use crate::rng::Jitter;

type Answer = dyn Fn(&str, usize) -> Fetched + Send + Sync;

/// A server that answers the `n`th request for a job (from 0) as the script says, after
/// `latency`, and logs each request.
struct Server {
    answer: Box<Answer>,
    latency: Duration,
    log: Arc<Mutex<Vec<(String, Instant, HeaderMap)>>>,
    in_flight: Arc<AtomicUsize>,
    most_in_flight: Arc<AtomicUsize>,
}

impl Fetch for Server {
    fn fetch(&self, id: &str, headers: Arc<HeaderMap>) -> impl Future<Output = Fetched> + Send {
        let answer = match self.log.lock() {
            Ok(mut log) => {
                let n = log.iter().filter(|(logged, ..)| logged == id).count();
                log.push((id.to_owned(), Instant::now(), (*headers).clone()));
                (self.answer)(id, n)
            }
            Err(_) => Fetched::Transport("the log is poisoned".to_owned()),
        };
        let latency = self.latency;
        let in_flight = Arc::clone(&self.in_flight);
        let most = Arc::clone(&self.most_in_flight);
        async move {
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(latency).await;
            in_flight.fetch_sub(1, Ordering::SeqCst);
            answer
        }
    }
}

pub(super) struct Run {
    pub(super) engine: Engine,
    pub(super) tracker: Arc<Statuses>,
    log: Arc<Mutex<Vec<(String, Instant, HeaderMap)>>>,
    most_in_flight: Arc<AtomicUsize>,
    pub(super) driver: tokio::task::JoinHandle<()>,
}

impl Run {
    pub(super) fn start(
        settings: Settings,
        latency: Duration,
        answer: impl Fn(&str, usize) -> Fetched + Send + Sync + 'static,
    ) -> Run {
        let tracker = Arc::new(Statuses::default());
        let engine = Engine::new(settings, vocabulary(), Box::new(Arc::clone(&tracker)), SEED);
        engine.set_fast_parse(true);
        let log = Arc::default();
        let most_in_flight = Arc::new(AtomicUsize::new(0));
        let server = Server {
            answer: Box::new(answer),
            latency,
            log: Arc::clone(&log),
            in_flight: Arc::default(),
            most_in_flight: Arc::clone(&most_in_flight),
        };
        let driver = tokio::spawn(engine.driver(server));
        Run {
            engine,
            tracker,
            log,
            most_in_flight,
            driver,
        }
    }

    pub(super) fn add(&self, ids: &[&str]) -> bool {
        match self
            .engine
            .add(ids.iter().map(|id| (*id).to_owned()).collect())
        {
            Ok(ask) => ask,
            Err(err) => unreachable!("add failed: {err}"),
        }
    }

    /// Lets paused time run until nothing more will come, or `limit` has passed.
    async fn settle_all(&self, limit: Duration) {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            match self.engine.take_transitions() {
                Ok(None) => return,
                Ok(Some(_)) => tokio::time::sleep(Duration::from_millis(250)).await,
                Err(err) => unreachable!("{err}"),
            }
        }
    }

    fn times(&self, id: &str) -> Vec<Instant> {
        match self.log.lock() {
            Ok(log) => log
                .iter()
                .filter(|(logged, ..)| logged == id)
                .map(|(_, at, _)| *at)
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}

/// `later - earlier` is `expected`, or up to a millisecond more (the timer's resolution).
fn assert_gap(earlier: Instant, later: Instant, expected: Duration) {
    let gap = later - earlier;
    assert!(
        gap >= expected && gap < expected + Duration::from_millis(1),
        "{gap:?} between requests, expected {expected:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_job_is_polled_at_once_then_at_intervals_growing_by_one_and_a_half() {
    let start = Instant::now();
    let run = Run::start(settings(false), Duration::ZERO, |_, n| {
        Fetched::Body(body(if n < 6 { "received" } else { "ready" }))
    });
    run.add(&["job"]);
    run.settle_all(Duration::from_secs(600)).await;
    let times = run.times("job");
    assert_eq!(times.len(), 7);
    assert_gap(start, times[0], Duration::ZERO);
    let mut jitter = Jitter::new(SEED);
    for (pair, base) in times
        .windows(2)
        .zip([1.0, 1.5, 2.25, 3.375, 5.0625, 7.59375])
    {
        let factor = jitter.factor();
        assert!((0.9..1.1).contains(&factor) && factor != 1.0);
        assert_gap(pair[0], pair[1], Duration::from_secs_f64(base * factor));
    }
    assert_eq!(run.tracker.status("job"), Some(code("ready")));
    run.engine.close().ok();
    assert!(run.driver.await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn retry_after_seconds_delay_the_next_request_exactly_and_garbage_backs_off() {
    let run = Run::start(settings(false), Duration::ZERO, |id, n| match n {
        0 => Fetched::Http {
            code: 503,
            reason: "Service Unavailable",
            retry_after: RetryAfter::parse(if id == "obeyed" { "7" } else { "later" }),
            location: None,
        },
        _ => Fetched::Body(body("ready")),
    });
    run.add(&["obeyed", "garbage"]);
    run.settle_all(Duration::from_secs(60)).await;
    let obeyed = run.times("obeyed");
    assert_eq!(obeyed.len(), 2);
    assert_gap(obeyed[0], obeyed[1], Duration::from_secs(7));
    let garbage = run.times("garbage");
    assert_eq!(garbage.len(), 2);
    let gap = garbage[1] - garbage[0];
    // The first backoff, jittered: never at once.
    assert!(
        gap >= Duration::from_millis(900) && gap < Duration::from_millis(1101),
        "{gap:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_server_that_never_answers_times_out_backs_off_and_gives_the_job_up() {
    let run = Run::start(settings(false), Duration::from_secs(3600), |_, _| {
        Fetched::Body(body("ready"))
    });
    run.add(&["job"]);
    run.settle_all(Duration::from_secs(600)).await;
    let times = run.times("job");
    assert_eq!(times.len(), usize::try_from(MAX_RETRIES).unwrap_or(0) + 1);
    let mut jitter = Jitter::new(SEED);
    for (pair, base) in times.windows(2).zip([1.0, 2.0, 4.0]) {
        let expected = Duration::from_secs(10) + Duration::from_secs_f64(base * jitter.factor());
        let gap = pair[1] - pair[0];
        assert!(
            gap >= expected && gap < expected + Duration::from_millis(2),
            "{gap:?}, expected {expected:?}"
        );
    }
    let failed = run.engine.failed().unwrap_or_default();
    assert_eq!(
        failed,
        [(
            "job".to_owned(),
            "no complete response within 10.000 s (4 failures in a row)".to_owned()
        )]
    );
    let stats = run
        .engine
        .stats()
        .map(|(stats, _)| stats)
        .unwrap_or_default();
    assert_eq!((stats.timeouts, stats.retries, stats.requests), (4, 3, 4));
}

#[tokio::test(start_paused = true)]
async fn no_more_requests_are_in_flight_than_the_concurrency() {
    let run = Run::start(settings(false), Duration::from_secs(1), |_, _| {
        Fetched::Body(body("ready"))
    });
    let ids: Vec<String> = (0..10).map(|n| format!("job-{n}")).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    run.add(&ids);
    run.settle_all(Duration::from_secs(60)).await;
    assert_eq!(run.most_in_flight.load(Ordering::SeqCst), 4);
    let (stats, polls) = run.engine.stats().unwrap_or_default();
    assert_eq!(stats.requests, 10);
    assert!(polls.iter().all(|(_, count)| *count == 1));
    let wanted = run.engine.resolve(None).unwrap_or_default();
    let progress = run.engine.progress(&wanted).ok();
    assert_eq!(
        progress.map(|progress| (progress.pending, progress.terminal.len())),
        Some((0, 10))
    );
}

#[tokio::test(start_paused = true)]
async fn a_removed_job_is_not_polled_again_and_close_ends_the_loop() {
    let run = Run::start(settings(false), Duration::ZERO, |_, _| {
        Fetched::Body(body("received"))
    });
    run.add(&["job"]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        run.engine
            .remove(&["job".to_owned(), "other".to_owned()])
            .ok(),
        Some(1)
    );
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(run.times("job").len(), 1);
    // Its transition stays to be taken; then nothing more comes.
    let taken = run.engine.take_transitions().ok().flatten();
    assert_eq!(taken.map(|taken| taken.len()), Some(1));
    assert!(matches!(run.engine.take_transitions(), Ok(None)));
    assert!(run.engine.close().is_ok());
    assert!(run.driver.await.is_ok());
    assert!(matches!(
        run.engine.add(vec!["job".to_owned()]),
        Err(Error::Closed)
    ));
    assert!(matches!(
        run.engine.resolve(Some(vec!["nobody".to_owned()])),
        Err(Error::UnknownJob(id)) if id == "nobody"
    ));
}

#[tokio::test(start_paused = true)]
async fn under_a_provider_no_request_goes_out_before_its_headers_and_a_failed_refresh_is_reported()
{
    let run = Run::start(settings(true), Duration::ZERO, |_, n| match n {
        0 => Fetched::Body(body("received")),
        _ => Fetched::Http {
            code: 401,
            reason: "Unauthorized",
            retry_after: None,
            location: None,
        },
    });
    // The first add asks for the provider's headers; nothing is polled until they come.
    assert!(run.add(&["job"]));
    assert!(!run.add(&["other"]));
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(run.log.lock().map(|log| log.is_empty()).unwrap_or(false));
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer fresh"));
    assert!(run.engine.finish_refresh(Ok((headers, None))).is_ok());
    tokio::time::sleep(Duration::from_secs(5)).await;
    let sent: Vec<_> = run
        .log
        .lock()
        .map(|log| {
            log.iter()
                .map(|(_, _, headers)| headers.get(AUTHORIZATION).cloned())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(sent.len(), 4, "{sent:?}");
    assert!(sent
        .iter()
        .all(|value| value.as_ref().and_then(|v| v.to_str().ok()) == Some("Bearer fresh")));
    // Refused: the consumer is asked to refresh; the refresh fails and the jobs give up.
    let service = run.engine.take_service().ok();
    assert_eq!(service.map(|service| service.refresh), Some(true));
    assert!(run
        .engine
        .finish_refresh(Err("the provider raised".to_owned()))
        .is_ok());
    let failed = run.engine.failed().unwrap_or_default();
    assert_eq!(failed.len(), 2);
    assert!(failed
        .iter()
        .all(|(_, why)| why == "refused, and refreshing the headers failed: the provider raised"));
    let stats = run
        .engine
        .stats()
        .map(|(stats, _)| stats)
        .unwrap_or_default();
    assert_eq!(stats.auth_refresh_failures, 1);
}

#[tokio::test(start_paused = true)]
async fn ids_that_are_no_path_segment_of_their_own_are_refused() {
    let run = Run::start(settings(false), Duration::ZERO, |_, _| {
        Fetched::Body(body("ready"))
    });
    for id in ["", ".", ".."] {
        assert!(matches!(
            run.engine.add(vec!["fine".to_owned(), id.to_owned()]),
            Err(Error::NotASegment(refused)) if refused == id
        ));
    }
    assert_eq!(
        run.engine.summary().map(|summary| summary.jobs).ok(),
        Some(0)
    );
    assert_eq!(
        crate::http::path_segment("a/b?c#d%e f"),
        "a%2Fb%3Fc%23d%25e%20f"
    );
    assert_eq!(crate::http::path_segment("..."), "...");
    assert_eq!(crate::http::path_segment("ü~-_.9"), "%C3%BC~-_.9");
}
