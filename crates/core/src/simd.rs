//! The byte scans that run many bytes at a time: one dispatch function per operation, choosing
//! the vector route where the CPU has one and the portable route elsewhere. The two routes are
//! tested against each other.

/// Whether `byte` continues a string without escape, control character or non-ASCII text.
pub const fn is_unescaped_ascii(byte: u8) -> bool {
    matches!(byte, 0x20..=0x7f) && byte != b'"' && byte != b'\\'
}

/// The length of the run of [`is_unescaped_ascii`] bytes that starts at `start` in `input`: 16
/// bytes at a time where SSE2 is there (every x86-64 CPU), else 8 at a time.
#[inline(always)]
pub fn unescaped_ascii_run(input: &[u8], start: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        sse2::unescaped_ascii_run(input, start)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        portable::unescaped_ascii_run(input.get(start..).unwrap_or_default())
    }
}

#[cfg(target_arch = "x86_64")]
mod sse2 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_cmplt_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };

    /// [`super::unescaped_ascii_run`] 16 bytes at a time.
    #[inline(always)]
    pub fn unescaped_ascii_run(input: &[u8], start: usize) -> usize {
        let mut at = start;
        loop {
            let stops = match input.get(at..at + 16) {
                Some(chunk) => stops_16(chunk),
                None => {
                    // Fewer than 16 bytes are left: read the input's last 16 bytes instead and
                    // drop the ones before `at` (no copy, which would stall the load), with a
                    // stop at the end of the input.
                    let left = input.len().saturating_sub(at);
                    match input
                        .len()
                        .checked_sub(16)
                        .and_then(|last| input.get(last..))
                    {
                        Some(last) => (stops_16(last) >> (16 - left)) | (1 << left),
                        None => {
                            let tail = input.get(at..).unwrap_or_default();
                            return at - start + super::portable::unescaped_ascii_run(tail);
                        }
                    }
                }
            };
            if stops != 0 {
                return at - start + stops.trailing_zeros() as usize;
            }
            at += 16;
        }
    }

    /// A bit set for each of the first 16 bytes of `chunk` that is not
    /// [`super::is_unescaped_ascii`].
    fn stops_16(chunk: &[u8]) -> u32 {
        if chunk.len() < 16 {
            return u32::MAX;
        }
        // SAFETY: `chunk` holds at least 16 bytes and `loadu` needs no alignment; SSE2 is part
        // of the x86-64 baseline, so the intrinsics are always available.
        unsafe {
            let word = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
            let quote = _mm_cmpeq_epi8(word, _mm_set1_epi8(b'"' as i8));
            let backslash = _mm_cmpeq_epi8(word, _mm_set1_epi8(b'\\' as i8));
            // A signed compare: below 0x20 is a control character, and bytes from 0x80 on are
            // negative, so one compare flags both.
            let control_or_high = _mm_cmplt_epi8(word, _mm_set1_epi8(0x20));
            let stops = _mm_or_si128(_mm_or_si128(quote, backslash), control_or_high);
            _mm_movemask_epi8(stops) as u32
        }
    }
}

pub(crate) mod portable {
    use super::is_unescaped_ascii;

    /// [`super::unescaped_ascii_run`] 8 bytes at a time, on a slice that starts the run.
    pub fn unescaped_ascii_run(bytes: &[u8]) -> usize {
        const ONES: u64 = u64::from_le_bytes([0x01; 8]);
        const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
        // The high bit of each byte that is zero; a borrow can flag bytes above a true hit,
        // never below one, so the lowest flagged byte is exact.
        let zero_bytes = |word: u64| word.wrapping_sub(ONES) & !word;
        let mut run = 0;
        for chunk in bytes.chunks_exact(8) {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            let word = u64::from_le_bytes(word);
            let stops = (zero_bytes(word ^ (ONES * u64::from(b'"')))
                | zero_bytes(word ^ (ONES * u64::from(b'\\')))
                | (word.wrapping_sub(ONES * 0x20) & !word)
                | word)
                & HIGH;
            if stops != 0 {
                return run + (stops.trailing_zeros() / 8) as usize;
            }
            run += 8;
        }
        let tail = bytes.get(run..).unwrap_or_default();
        run + tail
            .iter()
            .take_while(|&&byte| is_unescaped_ascii(byte))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescaped_ascii_run_stops_exactly_at_the_first_stop_byte() {
        let run_from_start = |bytes: &[u8]| unescaped_ascii_run(bytes, 0);
        assert_eq!(run_from_start(b"abcdefghijklmnop\""), 16);
        assert_eq!(run_from_start(b""), 0);
        assert_eq!(run_from_start(b"abc"), 3);
        // Runs that start inside the input, ending in its last 16 bytes or at its end.
        let text = b"0123456789abcdefghijklmnopqrstuvwxyz";
        for start in 0..=text.len() {
            assert_eq!(
                unescaped_ascii_run(text, start),
                text.len() - start,
                "from {start}"
            );
            let mut quoted = text.to_vec();
            quoted[text.len() - 1] = b'"';
            assert_eq!(
                unescaped_ascii_run(&quoted, start.min(text.len() - 1)),
                text.len() - 1 - start.min(text.len() - 1)
            );
        }
        for stop in [b'"', b'\\', 0x00, 0x01, 0x1f, 0x80, 0xff] {
            for len in 1..40 {
                for at in 0..len {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = stop;
                    // A second stop byte right after must not move the answer.
                    if at + 1 < len {
                        bytes[at + 1] = 0x00;
                    }
                    assert_eq!(run_from_start(&bytes), at, "{stop:#x} at {at} of {len}");
                }
            }
        }
        for byte in 0..=255u8 {
            for len in [9, 17, 33] {
                let expected = if is_unescaped_ascii(byte) { len } else { 0 };
                let bytes = vec![byte; len];
                assert_eq!(run_from_start(&bytes), expected, "{byte:#x}");
                assert_eq!(portable::unescaped_ascii_run(&bytes), expected, "{byte:#x}");
            }
        }
    }
}
