//! Parsing one job-status JSON document into a [`ParsedStatus`], on borrowed bytes.
//!
//! Two routes: the [scanner](scan_status) answers the shape nearly every status has, and
//! serde_json's [visitors](parse_with_serde) answer everything else. The parse is strict: it
//! accepts only documents on which it agrees exactly with `json.loads` followed by the
//! reference's `from_dict`, and reports anything else as an [`Error`] so the caller can hand
//! the input to the pure path.

mod scanner;
mod types;
mod visitors;

pub use scanner::{
    scan_status, scan_status_into, ScanSink, ScannedDocument, ScannedList, KEPT_ITEMS,
};
pub use types::{ParsedStatus, Presence, StrList, StrListIter};
pub use visitors::parse_with_serde;

use crate::error::Error;
use crate::status::Vocabulary;

/// Parses one JSON document. `Ok` only when the result is certainly the reference's.
// Inlined into the per-payload loop of a batch even where other callers exist (the poller).
#[inline(always)]
pub fn parse_status<'a>(
    vocabulary: &Vocabulary,
    input: &'a [u8],
) -> Result<ParsedStatus<'a>, Error> {
    if let Some(parsed) = scan_status(vocabulary, input) {
        return Ok(parsed);
    }
    parse_with_serde(vocabulary, input)
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::visitors::MAX_INTEGER_DIGITS;
    use super::*;
    use crate::error::Field;
    use crate::status::testing::{latest, seed};
    use crate::status::StatusCode;

    fn parse(input: &str) -> Result<ParsedStatus<'_>, Error> {
        parse_status(&seed(), input.as_bytes())
    }

    fn code(value: &str) -> StatusCode {
        seed().code_of(value.as_bytes()).unwrap()
    }

    fn scan_status(input: &[u8]) -> Option<ParsedStatus<'_>> {
        super::scan_status(&seed(), input)
    }

    fn parse_with_serde(input: &[u8]) -> Result<ParsedStatus<'_>, Error> {
        super::parse_with_serde(&seed(), input)
    }

    fn parse_status<'a>(
        vocabulary: &Vocabulary,
        input: &'a [u8],
    ) -> Result<ParsedStatus<'a>, Error> {
        super::parse_status(vocabulary, input)
    }

    #[test]
    fn minimal_payload() {
        let parsed = parse(r#"{"status": "pending compilation"}"#).unwrap();
        assert_eq!(parsed.status, code("pending compilation"));
        assert_eq!(parsed.message, Presence::Absent);
        assert_eq!(parsed.warnings, Presence::Absent);
    }

    #[test]
    fn every_status_of_each_vocabulary() {
        for vocabulary in [seed(), latest()] {
            for status in vocabulary.codes() {
                let value = std::str::from_utf8(vocabulary.value(status)).unwrap();
                for doc in [
                    format!(r#"{{"status":"{value}"}}"#),
                    format!(r#"{{ "status" : "{value}" , "message": "m"}}"#),
                    format!(r#"{{"status":"{value}","x":1}}"#),
                    format!(r#"{{"status":"{}"}}"#, value.replace('_', "\\u005f")),
                ] {
                    assert_eq!(
                        parse_status(&vocabulary, doc.as_bytes()).unwrap().status,
                        status
                    );
                    if let Some(scanned) = super::scan_status(&vocabulary, doc.as_bytes()) {
                        assert_eq!(scanned.status, status);
                    }
                }
            }
        }
        assert!(super::scan_status(&latest(), br#"{"status":"post_processing_ended"}"#).is_some());
    }

    #[test]
    fn a_value_of_another_vocabulary_is_unknown() {
        for (vocabulary, foreign) in [
            (seed(), "post_processing_ended"),
            (seed(), "deleted"),
            (latest(), "pending compilation"),
            (latest(), "pending execution"),
        ] {
            let doc = format!(r#"{{"status":"{foreign}"}}"#);
            assert!(super::scan_status(&vocabulary, doc.as_bytes()).is_none());
            assert!(matches!(
                parse_status(&vocabulary, doc.as_bytes()),
                Err(Error::UnknownStatus)
            ));
        }
    }

    #[test]
    fn full_payload_borrows_unescaped_strings() {
        let parsed = parse(
            r#"{"status":"failed","message":"boom","warnings":["a","b\nc"],"x":[1,{"y":null}]}"#,
        )
        .unwrap();
        assert_eq!(parsed.status, code("failed"));
        let Presence::Value(message) = &parsed.message else {
            panic!("message")
        };
        assert!(matches!(message, Cow::Borrowed("boom")));
        let Presence::Value(StrList::Collected(warnings)) = &parsed.warnings else {
            panic!("warnings")
        };
        assert!(matches!(warnings[0], Cow::Borrowed("a")));
        assert!(matches!(&warnings[1], Cow::Owned(s) if s == "b\nc"));
    }

    /// A sink that records what the scanner hands it.
    struct Recording(Vec<(usize, Option<Vec<String>>, Vec<String>)>);

    impl<'a> ScanSink<'a> for Recording {
        type Text = String;
        type List = ();
        const KEEPS_ITEMS: bool = true;

        fn text(&mut self, text: &'a str, ascii: bool) -> Option<String> {
            assert_eq!(ascii, text.is_ascii());
            Some(text.to_owned())
        }

        fn list(&mut self, list: ScannedList<'a, '_>) -> Option<()> {
            assert_eq!(list.ascii, list.span.is_ascii());
            let kept =
                (list.items).map(|items| items.iter().map(|item| item.to_string()).collect());
            let again = list.as_span().iter().map(str::to_owned).collect();
            self.0.push((list.len, kept, again));
            Some(())
        }
    }

    #[test]
    fn a_sink_gets_the_items_of_short_lists_as_they_are_read() {
        for count in [0, 1, KEPT_ITEMS, KEPT_ITEMS + 1, 3 * KEPT_ITEMS] {
            let items: Vec<String> = (0..count).map(|i| format!("w{i} \u{e9}")).collect();
            let doc = format!(
                r#"{{"message": "m", "status":"ready","warnings":[ {} ]}}"#,
                items
                    .iter()
                    .map(|item| format!("\"{item}\""))
                    .collect::<Vec<_>>()
                    .join(" ,")
            );
            let mut sink = Recording(Vec::new());
            let document = scan_status_into(&seed(), doc.as_bytes(), &mut sink).unwrap();
            assert_eq!(document.status, code("ready"));
            assert_eq!(document.message, Presence::Value("m".to_owned()));
            let [(len, kept, again)] = &sink.0[..] else {
                panic!("one list")
            };
            assert_eq!((*len, again), (count, &items));
            assert_eq!(kept.as_ref(), (count <= KEPT_ITEMS).then_some(&items));
        }
    }

    #[test]
    fn scanned_lists_are_spans_read_item_by_item() {
        let doc =
            "{\"status\":\"ready\",\"warnings\":[ \"a\" ,\"\",\"caf\u{e9} \u{1f600}\", \"x y\"\t]}";
        let parsed = scan_status(doc.as_bytes()).unwrap();
        let Presence::Value(warnings @ StrList::Span { .. }) = &parsed.warnings else {
            panic!("a scanned list is kept as its span")
        };
        assert_eq!(warnings.len(), 4);
        assert_eq!(warnings.iter().len(), 4);
        let items: Vec<&str> = warnings.iter().collect();
        assert_eq!(items, ["a", "", "caf\u{e9} \u{1f600}", "x y"]);
        assert_eq!(parsed, parse_with_serde(doc.as_bytes()).unwrap());
        let empty = scan_status(br#"{"status":"ready","warnings":[ ]}"#).unwrap();
        assert_eq!(
            empty.warnings,
            Presence::Value(StrList::Collected(Vec::new()))
        );
        assert!(
            matches!(&empty.warnings, Presence::Value(list) if list.is_empty() && list.iter().next().is_none())
        );
    }

    #[test]
    fn explicit_nulls_are_present() {
        let parsed = parse(r#"{"message":null,"warnings":null,"status":"ready"}"#).unwrap();
        assert_eq!(parsed.message, Presence::Null);
        assert_eq!(parsed.warnings, Presence::Null);
    }

    #[test]
    fn escaped_keys_match() {
        let parsed = parse(r#"{"st\u0061tus":"re\u0061dy"}"#).unwrap();
        assert_eq!(parsed.status, code("ready"));
    }

    #[test]
    fn semantic_problems_are_classified() {
        assert!(matches!(
            parse(r#"{"message":"x"}"#),
            Err(Error::MissingStatus)
        ));
        assert!(matches!(
            parse(r#"{"status":"Ready"}"#),
            Err(Error::UnknownStatus)
        ));
        assert!(matches!(
            parse(r#"{"status":1}"#),
            Err(Error::WrongType(Field::Status))
        ));
        assert!(matches!(
            parse(r#"{"status":"ready","message":1}"#),
            Err(Error::WrongType(Field::Message))
        ));
        assert!(matches!(
            parse(r#"{"status":"ready","warnings":[1]}"#),
            Err(Error::WrongType(Field::Warnings))
        ));
        assert!(matches!(
            parse(r#"{"status":"ready","warnings":"w"}"#),
            Err(Error::WrongType(Field::Warnings))
        ));
        assert!(matches!(
            parse(r#"{"status":"ready","st\u0061tus":"failed"}"#),
            Err(Error::DuplicateKey(Field::Status))
        ));
        for doc in ["[]", "\"ready\"", "1", "null", "true"] {
            assert!(matches!(parse(doc), Err(Error::NotAnObject)), "{doc}");
        }
    }

    #[test]
    fn what_json_loads_treats_differently_is_refused() {
        let big_int = format!(r#"{{"status":"ready","x":1{}}}"#, "0".repeat(5000));
        let deep = format!(
            r#"{{"status":"ready","x":{}{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        for doc in [
            r#"{"status":"ready","x":NaN}"#,
            r#"{"status":"ready","x":1e400}"#,
            r#"{"status":"ready","message":"\ud800"}"#,
            "\u{feff}{\"status\":\"ready\"}",
            r#"{"status":"ready"} x"#,
            r#"{"status":"ready",}"#,
            "",
            deep.as_str(),
        ] {
            assert!(matches!(parse(doc), Err(Error::Json(_))), "{doc:.60}");
        }
        assert!(matches!(parse(&big_int), Err(Error::TooManyDigits)));
        assert!(matches!(
            parse_status(&seed(), b"{\"status\":\"ready\",\"m\":\"\xff\"}"),
            Err(Error::Json(_))
        ));
    }

    #[test]
    fn long_integer_parts_are_refused_even_in_range() {
        // Found by the Python-level fuzzing: serde_json reads these as finite floats, but
        // pydantic's model_validate_json rejects an integer part over 4300 digits.
        let nines = "9".repeat(MAX_INTEGER_DIGITS + 1);
        for number in [
            format!("{nines}e-4000"),
            format!("-{nines}.5e-4000"),
            // A long exponent is refused too: rare, and the pure path is right either way.
            format!("0.5e-{nines}"),
        ] {
            let doc = format!(r#"{{"status":"ready","x":{number}}}"#);
            assert!(
                matches!(parse(&doc), Err(Error::TooManyDigits)),
                "{number:.20}"
            );
        }
        let in_range = format!(
            r#"{{"status":"ready","x":{}e-4000}}"#,
            "9".repeat(MAX_INTEGER_DIGITS)
        );
        assert!(parse(&in_range).is_ok());
        // Digits inside strings, even after escaped quotes, are text, not numbers.
        let in_string = format!(r#"{{"status":"ready","message":"\"{nines}","x":1}}"#);
        assert!(parse(&in_string).is_ok());
        let unescaped = format!(r#"{{"status":"ready","message":"{nines}"}}"#);
        assert!(scan_status(unescaped.as_bytes()).is_some());
        assert!(parse_with_serde(unescaped.as_bytes()).is_ok());
    }

    #[test]
    fn nesting_just_under_the_limit_is_accepted() {
        let nested = format!(
            r#"{{"status":"ready","x":{}{}}}"#,
            "[".repeat(100),
            "]".repeat(100)
        );
        assert!(parse(&nested).is_ok());
    }

    #[test]
    fn scanner_agrees_with_serde_where_it_answers() {
        let docs = [
            r#"{"status":"ready"}"#,
            r#" { "status" : "failed" , "message" : "m\u00e9" , "warnings" : [ "a" , "b" ] } "#,
            "{\"status\":\"failed\",\"message\":\"caf\u{e9} \u{1f600}\",\"warnings\":[]}",
            r#"{"warnings":null,"message":null,"status":"aborted"}"#,
            r#"{"status":"ready","x":1}"#,
            r#"{"status":"ready","status":"failed"}"#,
            r#"{"status":"ready","message":"a\"b"}"#,
            r#"{"status":"nope"}"#,
            r#"{"message":"m"}"#,
            r#"{"status":"ready"}  x"#,
            r#"{"status":"ready",}"#,
            r#"{"status":"ready","warnings":["a",]}"#,
            r#"{"status":"ready","message":nul}"#,
            "{\"status\":\"ready\",\"message\":\"tab\there\"}",
        ];
        let mut answered = 0;
        for doc in docs {
            if let Some(scanned) = scan_status(doc.as_bytes()) {
                answered += 1;
                assert_eq!(
                    Some(scanned),
                    parse_with_serde(doc.as_bytes()).ok(),
                    "{doc}"
                );
            }
        }
        assert_eq!(answered, 3);
        let invalid_utf8 = b"{\"status\":\"ready\",\"message\":\"\xff\"}";
        assert!(scan_status(invalid_utf8).is_none());
    }

    #[test]
    fn every_truncation_is_an_error() {
        let doc = r#"{"status":"failed","message":"m","warnings":["w1","w2"],"extra":{"k":[1,2.5,true,null]}}"#;
        for end in 0..doc.len() {
            assert!(parse(&doc[..end]).is_err(), "{}", &doc[..end]);
        }
        assert!(parse(doc).is_ok());
    }
}
