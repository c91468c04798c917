//! What each answer does to a job, asserted exactly: the delay to its next poll from the
//! policy and a seeded jitter, give-up reasons, errors, and coalesced transitions.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;
use tokio::time::Instant;

use super::{body, code, settings, vocabulary, Statuses, INTERVAL, MAX_RETRIES, SEED};
use crate::engine::Settings;
use crate::http::Fetched;
use crate::policy::{RetryAfter, MAX_DELAY};
use crate::rng::Jitter;
use crate::settle::{Context, TOO_LARGE};
use crate::state::{Phase, State};

/// One job's state, answered at each due time.
struct Job {
    state: State,
    settings: Settings,
    tracker: Arc<Statuses>,
    now: Instant,
    id: Arc<str>,
    /// The same draws as the state's, to know each delay.
    jitter: Jitter,
}

impl Job {
    fn new(has_provider: bool) -> Job {
        let now = Instant::now();
        let mut state = State::new(HeaderMap::new(), Jitter::new(SEED));
        let id: Arc<str> = Arc::from("job");
        state.insert_job(Arc::clone(&id), INTERVAL, false, now);
        Job {
            state,
            settings: settings(has_provider),
            tracker: Arc::default(),
            now,
            id,
            jitter: Jitter::new(SEED),
        }
    }

    /// Polls the job when it is due and answers `fetched`: the delay to its next poll, if it
    /// has one.
    fn answer(&mut self, fetched: Fetched) -> Option<Duration> {
        let due = self.state.next_due()?;
        self.now = due;
        let Some((id, generation)) = self.state.start_due(due) else {
            unreachable!("the job is due");
        };
        assert_eq!(id, self.id);
        let cx = Context {
            settings: &self.settings,
            vocabulary: vocabulary(),
            tracker: &self.tracker,
            fast_parse: true,
            now: due,
        };
        self.state.settle(&cx, &id, generation, fetched);
        self.state.next_due().map(|at| at - due)
    }

    /// `base` seconds times the next jitter factor, checked to be within ±10% and not `base`.
    fn jittered(&mut self, base: f64) -> Duration {
        let factor = self.jitter.factor();
        assert!((0.9..1.1).contains(&factor) && factor != 1.0, "{factor}");
        Duration::from_secs_f64(base * factor)
    }

    fn phase(&self) -> Option<Phase> {
        self.state.jobs.get(&self.id).map(|job| job.phase)
    }

    fn failed(&self) -> Option<String> {
        self.state.failed.get(&self.id).cloned()
    }
}

fn http(code: u16, reason: &'static str, retry_after: Option<&str>) -> Fetched {
    Fetched::Http {
        code,
        reason,
        retry_after: retry_after.and_then(RetryAfter::parse),
        location: None,
    }
}

#[test]
fn the_interval_grows_by_one_and_a_half_resets_on_a_change_and_is_capped() {
    let mut job = Job::new(false);
    // The first answer is a change (the job is new): the base interval.
    let mut delays = vec![job.answer(Fetched::Body(body("received")))];
    for _ in 0..10 {
        delays.push(job.answer(Fetched::Body(body("received"))));
    }
    let bases = [
        1.0,
        1.5,
        2.25,
        3.375,
        5.0625,
        7.59375,
        11.390625,
        17.0859375,
        25.62890625,
        30.0,
        30.0,
    ];
    let expected: Vec<_> = bases.iter().map(|base| Some(job.jittered(*base))).collect();
    assert_eq!(delays, expected);
    // A change resets it, then it grows again.
    assert_eq!(
        job.answer(Fetched::Body(body("compiling"))),
        Some(job.jittered(1.0))
    );
    assert_eq!(
        job.answer(Fetched::Body(body("compiling"))),
        Some(job.jittered(1.5))
    );
    assert_eq!(job.state.jobs.get(&job.id).map(|job| job.polls), Some(13));
    // A terminal status ends the schedule.
    assert_eq!(job.answer(Fetched::Body(body("ready"))), None);
    assert_eq!(job.phase(), Some(Phase::Terminal));
    assert_eq!(job.state.active, 0);
}

#[test]
fn failures_back_off_by_doubling_with_jitter_then_give_up_with_the_reason() {
    let mut job = Job::new(false);
    let mut delays = Vec::new();
    for _ in 0..MAX_RETRIES {
        delays.push(job.answer(http(500, "Internal Server Error", None)));
    }
    let expected: Vec<_> = [1.0, 2.0, 4.0]
        .iter()
        .map(|base| Some(job.jittered(*base)))
        .collect();
    assert_eq!(delays, expected);
    assert_eq!(job.state.stats.retries, u64::from(MAX_RETRIES));
    assert_eq!(job.phase(), Some(Phase::Polling));
    // One failure more than max_retries gives the job up.
    assert_eq!(job.answer(http(500, "Internal Server Error", None)), None);
    assert_eq!(job.phase(), Some(Phase::GivenUp));
    assert_eq!(
        job.failed().as_deref(),
        Some("HTTP 500 Internal Server Error (4 failures in a row)")
    );
    assert_eq!(job.state.active, 0);
}

#[test]
fn a_good_answer_resets_the_failures() {
    let mut job = Job::new(false);
    job.answer(Fetched::Timeout);
    job.answer(Fetched::Transport("connection failed: refused".to_owned()));
    job.answer(Fetched::Body(body("received")));
    for _ in 0..MAX_RETRIES {
        job.answer(Fetched::Timeout);
    }
    assert_eq!(job.phase(), Some(Phase::Polling));
    job.answer(Fetched::Timeout);
    assert_eq!(
        job.failed().as_deref(),
        Some("no complete response within 10.000 s (4 failures in a row)")
    );
    assert_eq!(job.state.stats.timeouts, 5);
    assert_eq!(job.state.stats.transport_errors, 1);
}

/// The delay after one 503 answered with `Retry-After: value`.
fn after_503(value: &str) -> (Option<Duration>, Duration) {
    let mut job = Job::new(false);
    let delay = job.answer(http(503, "Service Unavailable", Some(value)));
    (delay, job.jittered(1.0))
}

#[test]
fn retry_after_in_seconds_is_obeyed_exactly() {
    assert_eq!(after_503("7").0, Some(Duration::from_secs(7)));
    let mut job = Job::new(false);
    assert_eq!(
        job.answer(http(429, "Too Many Requests", Some("42"))),
        Some(Duration::from_secs(42))
    );
}

#[test]
fn retry_after_as_an_http_date_is_read_against_the_injected_wall_clock() {
    let at = super::fixed_wall_clock() + Duration::from_secs(90);
    assert_eq!(
        after_503(&httpdate::fmt_http_date(at)).0,
        Some(Duration::from_secs(90))
    );
    let passed = super::fixed_wall_clock() - Duration::from_secs(90);
    assert_eq!(
        after_503(&httpdate::fmt_http_date(passed)).0,
        Some(Duration::ZERO)
    );
}

#[test]
fn an_unreadable_or_negative_retry_after_backs_off_as_usual_never_at_once() {
    for value in ["soon", "-5", "", "1.5", "Fri, 99 Foo 2015"] {
        let (delay, backoff) = after_503(value);
        assert_eq!(delay, Some(backoff), "Retry-After: {value:?}");
        assert!(backoff >= Duration::from_millis(900), "{backoff:?}");
    }
}

#[test]
fn a_huge_retry_after_is_capped() {
    assert_eq!(after_503("99999999999999").0, Some(MAX_DELAY));
    assert_eq!(
        after_503("Fri, 31 Dec 9999 23:59:59 GMT").0,
        Some(MAX_DELAY)
    );
}

#[test]
fn retry_after_counts_only_on_429_and_503() {
    let mut job = Job::new(false);
    let delay = job.answer(http(500, "Internal Server Error", Some("7")));
    assert_eq!(delay, Some(job.jittered(1.0)));
}

#[test]
fn not_found_redirects_and_other_codes_give_the_job_up_at_once() {
    let mut job = Job::new(false);
    assert_eq!(job.answer(http(404, "Not Found", None)), None);
    assert_eq!(
        job.failed().as_deref(),
        Some("HTTP 404 Not Found: the server does not know the job")
    );

    let mut job = Job::new(false);
    let redirect = Fetched::Http {
        code: 302,
        reason: "Found",
        retry_after: None,
        location: Some("http://elsewhere.invalid/".to_owned()),
    };
    assert_eq!(job.answer(redirect), None);
    assert_eq!(
        job.failed().as_deref(),
        Some("HTTP 302 Found: redirects are not followed (to http://elsewhere.invalid/)")
    );

    let mut job = Job::new(false);
    assert_eq!(job.answer(http(418, "I'm a teapot", None)), None);
    assert_eq!(
        job.failed().as_deref(),
        Some("HTTP 418 I'm a teapot: not a status answer")
    );
    assert_eq!(job.state.stats.responses.get(&418), Some(&1));
}

#[test]
fn a_refusal_without_a_provider_gives_up_and_with_one_waits_for_new_headers_once() {
    let mut job = Job::new(false);
    assert_eq!(job.answer(http(401, "Unauthorized", None)), None);
    assert_eq!(
        job.failed().as_deref(),
        Some("HTTP 401 Unauthorized: refused, and there is no client to refresh the headers from")
    );

    let mut job = Job::new(true);
    assert_eq!(job.answer(http(403, "Forbidden", None)), None);
    assert_eq!(job.phase(), Some(Phase::AwaitingAuth));
    assert!(job.state.refresh_wanted);
    assert_eq!(job.failed(), None);
    // New headers came: polled at once; refused again, it is given up.
    if let Some(state) = job.state.jobs.get_mut(&job.id) {
        state.phase = Phase::Polling;
        state.auth_refreshed = true;
    }
    let (id, generation) = (Arc::clone(&job.id), job.state.generations);
    job.state.schedule(&id, generation, Duration::ZERO, job.now);
    assert_eq!(job.answer(http(401, "Unauthorized", None)), None);
    assert_eq!(
        job.failed().as_deref(),
        Some("HTTP 401 Unauthorized: still refused after the headers were refreshed")
    );
}

#[test]
fn a_body_rejected_more_than_max_retries_times_in_a_row_gives_the_job_up_with_the_reason() {
    let mut job = Job::new(false);
    job.answer(Fetched::Body(body("received")));
    job.jittered(1.0);
    let too_large = || Fetched::TooLarge {
        code: 200,
        size: Some(100),
    };
    // Rejected bodies keep the job polled, with the interval growing as for an unchanged one.
    for base in [1.5, 2.25, 3.375] {
        assert_eq!(job.answer(too_large()), Some(job.jittered(base)));
        assert_eq!(job.phase(), Some(Phase::Polling));
    }
    let message = "the response body has 100 bytes, more than the limit of 64".to_owned();
    assert_eq!(
        job.state.errors.get(&job.id),
        Some(&(TOO_LARGE.to_owned(), message.clone()))
    );
    assert_eq!(job.answer(too_large()), None);
    assert_eq!(job.phase(), Some(Phase::GivenUp));
    assert_eq!(
        job.failed(),
        Some(format!(
            "the body was rejected (4 times in a row): {TOO_LARGE}: {message}"
        ))
    );
}

#[test]
fn a_good_body_clears_the_error_and_the_count_of_rejections() {
    let mut job = Job::new(false);
    let unread = || Fetched::TooLarge {
        code: 200,
        size: None,
    };
    for _ in 0..MAX_RETRIES {
        job.answer(unread());
    }
    assert!(job.state.errors.contains_key(&job.id));
    job.answer(Fetched::Body(body("received")));
    assert!(!job.state.errors.contains_key(&job.id));
    for _ in 0..MAX_RETRIES {
        job.answer(unread());
    }
    assert_eq!(job.phase(), Some(Phase::Polling));
    // The pure path's rejections count the same way.
    let cx = Context {
        settings: &job.settings,
        vocabulary: vocabulary(),
        tracker: &job.tracker,
        fast_parse: true,
        now: job.now,
    };
    let error = ("ValidationError".to_owned(), "not JSON".to_owned());
    job.state.rejected(&cx, &job.id, error, false);
    assert_eq!(
        job.failed().as_deref(),
        Some("the body was rejected (4 times in a row): ValidationError: not JSON")
    );
}

#[test]
fn a_body_the_fast_parser_is_unsure_of_goes_to_the_pure_path_and_the_job_stays_polled() {
    let mut job = Job::new(false);
    let odd = b"{\"status\": \"received\", \"status\": \"ready\"}".to_vec();
    let delay = job.answer(Fetched::Body(odd.clone()));
    assert_eq!(delay, Some(job.jittered(1.5)));
    let fallback = job
        .state
        .fallbacks
        .get(&job.id)
        .map(|fallback| &fallback.bytes);
    assert_eq!(fallback, Some(&odd));
    assert_eq!(job.tracker.status(&job.id), None);
}

#[test]
fn transitions_are_coalesced_per_job_into_one_chain() {
    let mut job = Job::new(false);
    job.answer(Fetched::Body(body("received")));
    job.answer(Fetched::Body(body("pending execution")));
    job.answer(Fetched::Body(body("compiling")));
    assert_eq!(
        job.state.take_transitions(),
        [(Arc::clone(&job.id), None, code("compiling"))]
    );
    job.answer(Fetched::Body(body("received")));
    // Back at the status last shown: nothing to see.
    job.answer(Fetched::Body(body("compiling")));
    assert!(job.state.take_transitions().is_empty());
    job.answer(Fetched::Body(body("ready")));
    assert_eq!(
        job.state.take_transitions(),
        [(Arc::clone(&job.id), Some(code("compiling")), code("ready"))]
    );
}

#[test]
fn transitions_of_many_jobs_come_in_the_order_they_first_arrived() {
    let mut job = Job::new(false);
    let now = job.now;
    for id in ["b", "a", "c"] {
        job.state.insert_job(Arc::from(id), INTERVAL, false, now);
    }
    let tracker = Arc::clone(&job.tracker);
    let settings = super::settings(false);
    let cx = Context {
        settings: &settings,
        vocabulary: vocabulary(),
        tracker: &tracker,
        fast_parse: true,
        now,
    };
    let mut started = Vec::new();
    while let Some(due) = job.state.start_due(now) {
        started.push(due);
    }
    for (id, generation) in &started {
        job.state
            .settle(&cx, id, *generation, Fetched::Body(body("received")));
    }
    let order: Vec<_> = job
        .state
        .take_transitions()
        .into_iter()
        .map(|(id, ..)| id.to_string())
        .collect();
    let expected: Vec<_> = started.iter().map(|(id, _)| id.to_string()).collect();
    assert_eq!(order, expected);
    assert_eq!(order.len(), 4);
}
