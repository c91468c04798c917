//! Arbitrary bytes through the batch splitters: no panic, the array splitter agrees with
//! serde_json, the NDJSON split with a plain one, and each element parses as `parse_status`
//! parses it. The last byte picks the chunk size of the streamed NDJSON read.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (chunk, data) = match data.split_last() {
        Some((&last, rest)) => (usize::from(last % 32) + 1, rest),
        None => (1, data),
    };
    iqm_runstatus_fuzz::check_batch_split(data, chunk);
});
