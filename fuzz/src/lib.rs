//! Checks shared by the fuzz targets: the parser's answers against each other and against an
//! independent parse of the same bytes into a `serde_json::Value`.

use iqm_runstatus::parse::{parse_plain, parse_status, parse_with_serde, ParsedStatus, Slot};
use serde_json::Value;

/// Runs every parser on `data`, checks they agree, and returns `parse_status`'s answer.
pub fn check_document(data: &[u8]) -> Option<ParsedStatus<'_>> {
    let serde = parse_with_serde(data).ok();
    // The scanner may decline anything, but what it accepts must be serde's exact answer.
    if let Some(plain) = parse_plain(data) {
        assert_eq!(Some(&plain), serde.as_ref(), "scanner and serde disagree");
    }
    let parsed = parse_status(data).ok();
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
        Some(parsed.status.value()),
        "status"
    );
    let message = match object.get("message") {
        None => Slot::Absent,
        Some(Value::Null) => Slot::Null,
        Some(Value::String(text)) => Slot::Value(text.as_str()),
        Some(other) => panic!("parse_status accepted message {other}"),
    };
    assert_eq!(
        message,
        map_slot(&parsed.message, |text| text.as_ref()),
        "message"
    );
    let warnings = match object.get("warnings") {
        None => Slot::Absent,
        Some(Value::Null) => Slot::Null,
        Some(Value::Array(items)) => Slot::Value(
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
    let parsed_warnings = map_slot(&parsed.warnings, |items| {
        items.iter().map(|item| item.as_ref()).collect::<Vec<_>>()
    });
    assert_eq!(warnings, parsed_warnings, "warnings");
}

fn map_slot<'a, T, U>(slot: &'a Slot<T>, f: impl FnOnce(&'a T) -> U) -> Slot<U> {
    match slot {
        Slot::Absent => Slot::Absent,
        Slot::Null => Slot::Null,
        Slot::Value(value) => Slot::Value(f(value)),
    }
}
