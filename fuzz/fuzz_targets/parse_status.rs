//! Arbitrary bytes: no panic, the scanner agrees with serde, and every accepted document
//! agrees with a generic JSON parse.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    iqm_runstatus_fuzz::check_document(data);
});
