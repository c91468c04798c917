//! Checks shared by the fuzz targets: the parser's answers against each other and against an
//! independent parse of the same bytes into a `serde_json::Value`.

use iqm_runstatus_core::parse::{
    scan_status, scan_status_into, parse_status, parse_with_serde, ParsedStatus, ScannedList,
    ScanSink, Presence, KEPT_ITEMS,
};
use iqm_runstatus_core::status::Vocabulary;
use serde_json::Value;

/// The statuses the fuzz targets know: the seed's five (iqm-client 17.2) and the 23 of
/// iqm-client 32.1.1, so that both spellings of the pending states are found.
const STATUSES: [&str; 25] = [
    "pending compilation",
    "pending execution",
    "ready",
    "failed",
    "aborted",
    "received",
    "validation_started",
    "processing",
    "validation_ended",
    "fetch_calibration_started",
    "fetch_calibration_ended",
    "compilation_started",
    "compilation_ended",
    "save_sweep_metadata_started",
    "save_sweep_metadata_ended",
    "pending_execution",
    "execution_started",
    "execution_ended",
    "post_processing_pending",
    "post_processing_started",
    "post_processing_ended",
    "pending deletion",
    "deletion failed",
    "deleted",
    "unknown",
];

/// The vocabulary of [`STATUSES`], built once.
pub fn vocabulary() -> &'static Vocabulary {
    static VOCABULARY: std::sync::OnceLock<Vocabulary> = std::sync::OnceLock::new();
    VOCABULARY.get_or_init(|| {
        Vocabulary::new(STATUSES, |value| value == b"ready").expect("a valid vocabulary")
    })
}

/// Runs every parser on `data`, checks they agree, and returns `parse_status`'s answer.
pub fn check_document(data: &[u8]) -> Option<ParsedStatus<'_>> {
    let serde = parse_with_serde(vocabulary(), data).ok();
    // The scanner may decline anything, but what it accepts must be serde's exact answer.
    let scanned = scan_status(vocabulary(), data);
    if let Some(scanned) = &scanned {
        assert_eq!(Some(scanned), serde.as_ref(), "scanner and serde disagree");
    }
    // A sink that keeps the items sees the same document (what single payloads are built from).
    match (scan_status_into(vocabulary(), data, &mut Checking), &scanned) {
        (Some(document), Some(scanned)) => {
            assert_eq!(document.status, scanned.status, "sink status");
            assert_eq!(
                document.message,
                map_presence(&scanned.message, |text| text.as_ref()),
                "sink message"
            );
            let warnings = map_presence(&scanned.warnings, |items| {
                items.iter().map(str::to_owned).collect::<Vec<_>>()
            });
            assert_eq!(document.warnings, warnings, "sink warnings");
        }
        (None, None) => {}
        (document, _) => panic!(
            "the sink changed whether the scanner answers: {}",
            document.is_some()
        ),
    }
    let parsed = parse_status(vocabulary(), data).ok();
    assert_eq!(
        parsed, serde,
        "parse_status is neither the scanner's nor serde's answer"
    );
    if let Some(parsed) = &parsed {
        check_against_value(data, parsed);
    }
    parsed
}

/// `parsed` is what a generic JSON parse of `data` says. The generic parse keeps the last of
/// duplicate keys; `parse_status` refuses duplicates of the three fields, so where it answers
/// there is exactly one of each and the two must agree.
fn check_against_value(data: &[u8], parsed: &ParsedStatus<'_>) {
    let value: Value = serde_json::from_slice(data).expect("parse_status accepted invalid JSON");
    let object = value
        .as_object()
        .expect("parse_status accepted a non-object");
    assert_eq!(
        object.get("status").and_then(Value::as_str),
        std::str::from_utf8(vocabulary().value(parsed.status)).ok(),
        "status"
    );
    let message = match object.get("message") {
        None => Presence::Absent,
        Some(Value::Null) => Presence::Null,
        Some(Value::String(text)) => Presence::Value(text.as_str()),
        Some(other) => panic!("parse_status accepted message {other}"),
    };
    assert_eq!(
        message,
        map_presence(&parsed.message, |text| text.as_ref()),
        "message"
    );
    let warnings = match object.get("warnings") {
        None => Presence::Absent,
        Some(Value::Null) => Presence::Null,
        Some(Value::Array(items)) => Presence::Value(
            items
                .iter()
                .map(|item| {
                    item.as_str()
                        .expect("parse_status accepted a non-string warning")
                })
                .collect::<Vec<_>>(),
        ),
        Some(other) => panic!("parse_status accepted warnings {other}"),
    };
    let parsed_warnings = map_presence(&parsed.warnings, |items| {
        items.iter().map(|item| item.as_ref()).collect::<Vec<_>>()
    });
    assert_eq!(warnings, parsed_warnings, "warnings");
}

/// A sink that checks what the scanner hands it: the ASCII flags, and the items it kept
/// against the ones found again in the list's text.
struct Checking;

impl<'a> ScanSink<'a> for Checking {
    type Text = &'a str;
    type List = Vec<String>;
    const KEEPS_ITEMS: bool = true;

    fn text(&mut self, text: &'a str, ascii: bool) -> Option<&'a str> {
        assert_eq!(ascii, text.is_ascii(), "message ASCII flag");
        Some(text)
    }

    fn list(&mut self, list: ScannedList<'a, '_>) -> Option<Vec<String>> {
        let again: Vec<String> = list.as_span().iter().map(str::to_owned).collect();
        assert_eq!(again.len(), list.len, "list length");
        assert_eq!(
            list.ascii,
            again.iter().all(|item| item.is_ascii()),
            "list ASCII flag"
        );
        match list.items {
            Some(items) => assert_eq!(items, &again[..], "kept items"),
            None => assert!(list.len > KEPT_ITEMS, "a short list's items were not kept"),
        }
        Some(again)
    }
}

fn map_presence<'a, T, U>(slot: &'a Presence<T>, f: impl FnOnce(&'a T) -> U) -> Presence<U> {
    match slot {
        Presence::Absent => Presence::Absent,
        Presence::Null => Presence::Null,
        Presence::Value(value) => Presence::Value(f(value)),
    }
}

/// The batch splitters on arbitrary bytes: no panic; the array splitter agrees with serde_json
/// wherever serde_json splits, accepts more only for what `json.loads` reads beyond strict
/// JSON, and names a non-array only if wrapping it in brackets makes a one-element array; the
/// NDJSON split equals a plain split on `\n` and streaming it in chunks changes nothing; and
/// the parallel parse of the element slices is `parse_status` on each.
pub fn check_batch_split(data: &[u8], chunk: usize) {
    use iqm_runstatus_core::split::{ndjson_lines, split_array, LineStream, SplitError};
    use serde_json::value::RawValue;

    let ours = split_array(data, false);
    let serde = serde_json::from_slice::<Vec<&RawValue>>(data);
    match (&ours, &serde) {
        (Ok(elements), Ok(raw)) => {
            assert_eq!(elements.len(), raw.len(), "element count");
            for (element, raw) in elements.iter().zip(raw) {
                // The same bytes of the same input, not just equal text.
                assert_eq!(element.as_ptr(), raw.get().as_ptr(), "element start");
                assert_eq!(element.len(), raw.get().len(), "element length");
            }
        }
        (Err(err), Ok(_)) => panic!("serde_json split an array the splitter refused: {err:?}"),
        (Ok(_), Err(_)) => assert!(
            beyond_strict_json(data),
            "the splitter accepted an array serde_json refuses, for no json.loads reason"
        ),
        (Err(_), Err(_)) => {}
    }
    if let Err(SplitError::NotAnArray(_)) = ours {
        let wrapped = [b"[", data, b"]"].concat();
        let trimmed = trim_json_space(data);
        assert_eq!(
            split_array(&wrapped, false),
            Ok(vec![trimmed]),
            "wrapped non-array"
        );
    }
    // Skipping a BOM changes nothing unless there is one.
    if !data.starts_with(iqm_runstatus_core::split::BOM) {
        assert_eq!(split_array(data, true), ours, "skip_bom without a BOM");
    }

    let Ok(lines) = ndjson_lines(data) else {
        return; // out of memory: nothing to compare
    };
    let reference: Vec<&[u8]> = data
        .split(|&b| b == b'\n')
        .filter(|line| !line.iter().all(|b| b" \t\r".contains(b)))
        .collect();
    assert_eq!(lines, reference, "NDJSON lines");
    // As the file reader does: whole lines of each growing chunk, then the tail.
    let mut streamed: Vec<Vec<u8>> = Vec::new();
    let mut stream = LineStream::default();
    for piece in data.chunks(chunk.max(1)) {
        if let Ok(Some(len)) = stream.push(piece) {
            let whole = ndjson_lines(stream.whole_lines(len)).unwrap_or_default();
            streamed.extend(whole.into_iter().map(<[u8]>::to_vec));
            stream.consume(len);
        }
    }
    let rest = ndjson_lines(stream.rest()).unwrap_or_default();
    streamed.extend(rest.into_iter().map(<[u8]>::to_vec));
    assert_eq!(streamed, lines, "streamed NDJSON lines");
    assert_eq!(stream.searched(), data.len(), "bytes searched for line ends");

    if let Ok(elements) = &ours {
        check_batch_parse(elements);
    }
    check_batch_parse(&lines);
}

/// `parse_all` on the slices (in two chunks when there are enough) equals `parse_status` on
/// each: the same entries, and failures exactly where `parse_status` refuses.
fn check_batch_parse(slices: &[&[u8]]) {
    use iqm_runstatus_core::parallel::parse_all;

    let payloads: Vec<Option<&[u8]>> = slices.iter().copied().map(Some).collect();
    let (builder, failures) = parse_all(vocabulary(), &payloads, 2).expect("parse_all failed");
    let columns = builder.finish();
    assert_eq!(columns.len(), slices.len());
    let mut expected_failures = Vec::new();
    for (at, slice) in slices.iter().enumerate() {
        match parse_status(vocabulary(), slice) {
            Ok(parsed) => {
                let entry = columns.entry(at).expect("a parsed payload has no entry");
                assert_eq!(entry.status, parsed.status, "status");
                let message = map_presence(&parsed.message, |text| text.as_bytes());
                assert_eq!(entry.message, message, "message");
                let warnings = map_presence(&parsed.warnings, |items| {
                    items.iter().map(|item| item.as_bytes()).collect::<Vec<_>>()
                });
                assert_eq!(entry.warnings, warnings, "warnings");
            }
            Err(_) => {
                assert!(
                    columns.entry(at).is_none(),
                    "a refused payload has an entry"
                );
                expected_failures.push(at);
            }
        }
        if slices.len() <= 8 {
            check_document(slice);
        }
    }
    assert_eq!(failures, expected_failures, "failures");
}

fn trim_json_space(data: &[u8]) -> &[u8] {
    let space = |b: &u8| b" \t\n\r".contains(b);
    let start = data.iter().position(|b| !space(b)).unwrap_or(data.len());
    let end = data
        .iter()
        .rposition(|b| !space(b))
        .map_or(start, |at| at + 1);
    &data[start..end]
}

/// Whether `data` has something `json.loads` reads and serde_json refuses: `NaN` or
/// `Infinity`, a surrogate (escaped, or encoded as `surrogatepass` writes it), or enough
/// brackets to nest near serde_json's 128 levels (a generous count: a necessary condition).
fn beyond_strict_json(data: &[u8]) -> bool {
    let has = |needle: &[u8]| data.windows(needle.len()).any(|w| w == needle);
    let surrogate_escape = data.windows(4).any(|w| {
        matches!(
            w,
            [b'\\', b'u', b'd' | b'D', b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F']
        )
    });
    let encoded_surrogate = data.windows(2).any(|w| matches!(w, [0xed, 0xa0..=0xbf]));
    let brackets = data.iter().filter(|&&b| b == b'[' || b == b'{').count();
    has(b"NaN") || has(b"Infinity") || surrogate_escape || encoded_surrogate || brackets > 100
}
