//! The policy's pure functions: growth, backoff, give-up, jitter bounds, `Retry-After` forms.

use std::time::Duration;

use super::{fixed_wall_clock, SEED};
use crate::policy::{Policy, RetryAfter, MAX_DELAY};
use crate::rng::Jitter;

const POLICY: Policy = Policy {
    interval: Duration::from_secs(2),
    max_interval: Duration::from_secs(60),
    max_retries: 8,
};

#[test]
fn the_interval_grows_by_one_and_a_half_while_the_status_stays_and_resets_on_a_change() {
    assert_eq!(POLICY.grown(Duration::from_secs(2)), Duration::from_secs(3));
    assert_eq!(
        POLICY.grown(Duration::from_secs(3)),
        Duration::from_millis(4500)
    );
    assert_eq!(
        POLICY.next_interval(Duration::from_secs(3), false),
        Duration::from_millis(4500)
    );
    assert_eq!(
        POLICY.next_interval(Duration::from_secs(27), true),
        Duration::from_secs(2)
    );
    // Capped at max_interval.
    assert_eq!(
        POLICY.grown(Duration::from_secs(50)),
        Duration::from_secs(60)
    );
    assert_eq!(POLICY.grown(MAX_DELAY), Duration::from_secs(60));
}

#[test]
fn failures_back_off_by_doubling_up_to_max_interval() {
    let backoffs: Vec<u64> = (1..=7)
        .map(|failures| POLICY.backoff(failures).as_secs())
        .collect();
    assert_eq!(backoffs, [2, 4, 8, 16, 32, 60, 60]);
    assert_eq!(POLICY.backoff(u32::MAX), Duration::from_secs(60));
}

#[test]
fn a_job_is_given_up_after_max_retries_and_one_more_in_a_row() {
    assert!(!POLICY.gives_up(8));
    assert!(POLICY.gives_up(9));
    let none = Policy {
        max_retries: 0,
        ..POLICY
    };
    assert!(none.gives_up(1));
}

#[test]
fn jitter_stays_within_ten_percent_and_spreads_over_the_whole_range() {
    let mut jitter = Jitter::new(SEED);
    let factors: Vec<f64> = (0..10_000).map(|_| jitter.factor()).collect();
    let low = factors.iter().copied().fold(f64::INFINITY, f64::min);
    let high = factors.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    assert!(low >= 0.9 && high < 1.1, "{low} .. {high}");
    // Not zero jitter, nor a sliver of it: the draws reach both ends.
    assert!(low < 0.901 && high > 1.099, "{low} .. {high}");
    let below = factors.iter().filter(|factor| **factor < 1.0).count();
    assert!((4_500..5_500).contains(&below), "{below} of 10000 below 1");
}

#[test]
fn jitter_is_the_same_for_the_same_seed_and_differs_for_another() {
    let draws = |seed| {
        let mut jitter = Jitter::new(seed);
        (0..8)
            .map(|_| jitter.apply(Duration::from_secs(10)))
            .collect::<Vec<_>>()
    };
    assert_eq!(draws(SEED), draws(SEED));
    assert_ne!(draws(SEED), draws(SEED + 2));
    assert!(draws(SEED)
        .iter()
        .all(|delay| *delay != Duration::from_secs(10)));
    // Zero is a seed like another.
    assert_eq!(draws(0).len(), 8);
}

#[test]
fn retry_after_is_read_in_both_forms_and_nothing_else() {
    let now = fixed_wall_clock();
    let delay = |text: &str| RetryAfter::parse(text).map(|after| after.delay(now));
    assert_eq!(delay("7"), Some(Duration::from_secs(7)));
    assert_eq!(delay(" 0 "), Some(Duration::ZERO));
    let in_two_minutes = httpdate::fmt_http_date(now + Duration::from_secs(120));
    assert_eq!(delay(&in_two_minutes), Some(Duration::from_secs(120)));
    // A date passed asks for no delay.
    let passed = httpdate::fmt_http_date(now - Duration::from_secs(120));
    assert_eq!(delay(&passed), Some(Duration::ZERO));
    // Huge values are capped.
    assert_eq!(delay("99999999999999999"), Some(MAX_DELAY));
    assert_eq!(delay("Fri, 31 Dec 9999 23:59:59 GMT"), Some(MAX_DELAY));
    // Neither form: the caller backs off as after any failure.
    for unreadable in [
        "",
        "soon",
        "-5",
        "1.5",
        "5s",
        "18446744073709551616",
        "Fri, 99 Foo",
    ] {
        assert_eq!(RetryAfter::parse(unreadable), None, "{unreadable:?}");
    }
}
