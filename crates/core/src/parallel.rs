//! Parsing many payloads into columns, on several threads, without Python.
//!
//! The payloads are split into contiguous chunks, one per thread; each thread fills its own
//! [`Builder`] and the builders are appended in input order, so the result does not depend on
//! the number of threads.

use std::num::NonZeroUsize;

use crate::columns::Builder;
use crate::error::Error;
use crate::parse::parse_status;
use crate::status::Vocabulary;

/// Below this many payloads per thread, a thread does not pay for itself: starting it and
/// merging its chunk's strings cost more than parsing a few thousand payloads.
pub const MIN_PER_THREAD: usize = 4096;

/// The stack of a parse thread: the parsers recurse at most to serde_json's depth limit, far
/// within it. Set here rather than inherited from `RUST_MIN_STACK`, so that the address space a
/// parse takes does not depend on the environment.
const PARSE_STACK: usize = 2 << 20;

/// The number of threads to use when the caller does not say.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

/// The parsed columns, and the positions of the payloads the fast path did not accept: those
/// are invalid entries for the caller to decide with the pure path. A `None` payload is one
/// only the pure path can read.
pub fn parse_all(
    vocabulary: &Vocabulary,
    payloads: &[Option<&[u8]>],
    threads: usize,
) -> Result<(Builder, Vec<usize>), Error> {
    let threads = threads.clamp(1, (payloads.len() / MIN_PER_THREAD).max(1));
    if threads == 1 {
        return parse_chunk(vocabulary, payloads, 0);
    }
    let chunk_len = payloads.len().div_ceil(threads);
    let mut chunks = payloads.chunks(chunk_len.max(1)).enumerate();
    let first = chunks.next();
    let results = std::thread::scope(|scope| {
        // A chunk whose thread cannot be started (no memory for its stack, say) is parsed
        // here, after the first one: the result is the same.
        let workers: Vec<_> = chunks
            .map(|(i, chunk)| {
                let offset = i * chunk_len;
                let started = std::thread::Builder::new()
                    .name("iqm-parse".into())
                    .stack_size(PARSE_STACK)
                    .spawn_scoped(scope, move || parse_chunk(vocabulary, chunk, offset));
                (started.ok(), chunk, offset)
            })
            .collect();
        // Each builder has room for its own chunk only; appending the others to the first
        // grows it (fallibly), so no single reservation is sized for the whole input.
        let mut results = vec![match first {
            Some((_, chunk)) => parse_chunk(vocabulary, chunk, 0),
            None => Ok((Builder::default(), Vec::new())),
        }];
        for (worker, chunk, offset) in workers {
            results.push(match worker {
                Some(handle) => handle.join().unwrap_or(Err(Error::WorkerFailed)),
                None => parse_chunk(vocabulary, chunk, offset),
            });
        }
        results
    });
    let mut results = results.into_iter();
    let (mut builder, mut failures) = results
        .next()
        .unwrap_or_else(|| Ok((Builder::default(), Vec::new())))?;
    for result in results {
        let (part, part_failures) = result?;
        builder.append(part)?;
        failures.extend(part_failures);
    }
    Ok((builder, failures))
}

/// Parses `payloads` (at `offset` in the whole) into a builder with room for all of them.
fn parse_chunk(
    vocabulary: &Vocabulary,
    payloads: &[Option<&[u8]>],
    offset: usize,
) -> Result<(Builder, Vec<usize>), Error> {
    let mut builder = Builder::try_with_capacity(payloads.len())?;
    let mut failures = Vec::new();
    for (i, payload) in payloads.iter().enumerate() {
        match payload.map(|payload| parse_status(vocabulary, payload)) {
            Some(Ok(parsed)) => builder.push_parsed(&parsed)?,
            _ => {
                builder.push_invalid();
                failures.try_reserve(1)?;
                failures.push(offset + i);
            }
        }
    }
    Ok((builder, failures))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::columns::INVALID;
    use crate::status::testing::{latest, seed};

    #[test]
    fn thread_count_does_not_change_the_result() {
        for vocabulary in [seed(), latest()] {
            thread_count_does_not_change_the_result_with(&vocabulary);
        }
    }

    fn thread_count_does_not_change_the_result_with(vocabulary: &Vocabulary) {
        let docs: Vec<String> = (0..20_000)
            .map(|i| match i % 7 {
                0 => format!(r#"{{"status":"failed","message":"m{}"}}"#, i % 13),
                1 => r#"{"status":"nope"}"#.to_string(),
                2 => format!(r#"{{"status":"ready","warnings":["w{}","x"]}}"#, i % 5),
                3 => "{".to_string(),
                4 => r#"{"status":"pending execution"}"#.to_string(),
                _ => r#"{"status":"post_processing_ended"}"#.to_string(),
            })
            .collect();
        let mut payloads: Vec<Option<&[u8]>> = docs.iter().map(|d| Some(d.as_bytes())).collect();
        payloads[17] = None;
        let (one, one_failures) = parse_all(vocabulary, &payloads, 1).unwrap();
        let one = one.finish();
        for threads in [2, 3, 4] {
            let (many, failures) = parse_all(vocabulary, &payloads, threads).unwrap();
            let many = many.finish();
            assert_eq!(failures, one_failures);
            assert_eq!(many.codes(), one.codes());
            for i in 0..docs.len() {
                assert_eq!(many.entry(i), one.entry(i), "{i}");
            }
        }
        assert!(one_failures.contains(&17));
        assert_eq!(one.codes()[1], INVALID);
        // Each vocabulary reads its own values and leaves the other's to the pure path.
        let pipeline = vocabulary.code_of(b"post_processing_ended");
        let old_pending = vocabulary.code_of(b"pending execution");
        assert!(pipeline.is_some() != old_pending.is_some());
        assert_eq!(one.codes()[4], old_pending.map_or(INVALID, |s| s.code()));
        assert_eq!(one.codes()[5], pipeline.map_or(INVALID, |s| s.code()));
        assert!(parse_all(vocabulary, &[], 4).unwrap().0.is_empty());
    }
}
