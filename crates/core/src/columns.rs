//! The columnar store of many parsed statuses, in plain Rust.
//!
//! Each entry takes ten bytes: its status code, the presence of `message` and `warnings`
//! (absent, null or a value, so that `model_fields_set` is exact), and two `u32` ids. Messages
//! and warnings live once each in a table of distinct strings; a warnings list is itself
//! stored once in a table of distinct lists (the string ids of its items).
//!
//! Strings are kept as UTF-8, except that a lone surrogate (which only the pure path can
//! produce) is encoded as its three-byte form, as Python's `surrogatepass` handler does.

use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, OnceLock};

use foldhash::SharedSeed;
use hashbrown::hash_table::{self, HashTable};

use crate::error::Error;
use crate::parse::{ParsedStatus, Presence};
use crate::status::StatusCode;

/// The code of an entry whose payload the reference rejects.
pub use crate::status::INVALID;

const ABSENT: u8 = 0;
const NULL: u8 = 1;
const VALUE: u8 = 2;
const ID_BYTES: usize = 4;

fn presence_of<T>(slot: &Presence<T>) -> u8 {
    match slot {
        Presence::Absent => ABSENT,
        Presence::Null => NULL,
        Presence::Value(_) => VALUE,
    }
}

fn to_id(index: usize) -> Result<u32, Error> {
    u32::try_from(index).map_err(|_| Error::TooLarge)
}

/// Byte strings by id, stored back to back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Table {
    data: Vec<u8>,
    /// `ends[i]` is where item `i` ends in `data`; it starts where item `i - 1` ends.
    ends: Vec<usize>,
}

impl Table {
    /// Bytes this table holds on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.data.capacity() + self.ends.capacity() * std::mem::size_of::<usize>()
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn get(&self, id: u32) -> Option<&[u8]> {
        let id = usize::try_from(id).ok()?;
        let end = *self.ends.get(id)?;
        let start = match id.checked_sub(1) {
            Some(previous) => *self.ends.get(previous)?,
            None => 0,
        };
        self.data.get(start..end)
    }

    /// The items back to back, as [`Table::ends`] divides them.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Where each item ends in [`Table::data`]; each starts where the one before ends.
    pub fn ends(&self) -> &[usize] {
        &self.ends
    }

    /// Appends `item`; the room for it is reserved fallibly (amortized, as a push grows).
    fn push(&mut self, item: &[u8]) -> Result<(), Error> {
        self.data.try_reserve(item.len())?;
        self.ends.try_reserve(1)?;
        self.data.extend_from_slice(item);
        self.ends.push(self.data.len());
        Ok(())
    }

    /// The table as two byte strings: the items back to back, and their ends as `u64` LE.
    pub fn to_parts(&self) -> (&[u8], Vec<u8>) {
        let ends = self
            .ends
            .iter()
            .flat_map(|&end| (end as u64).to_le_bytes())
            .collect();
        (&self.data, ends)
    }

    /// The inverse of [`Table::to_parts`], checked.
    pub fn from_parts(data: &[u8], ends: &[u8]) -> Result<Table, Error> {
        if ends.len() % 8 != 0 {
            return Err(Error::BadState("table ends"));
        }
        let mut table = Table {
            data: data.to_vec(),
            ends: Vec::with_capacity(ends.len() / 8),
        };
        let mut previous = 0;
        for chunk in ends.chunks_exact(8) {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            let end = usize::try_from(u64::from_le_bytes(word))
                .map_err(|_| Error::BadState("table ends"))?;
            if end < previous || end > data.len() {
                return Err(Error::BadState("table ends"));
            }
            table.ends.push(end);
            previous = end;
        }
        Ok(table)
    }
}

/// The hash of strings that come from outside (messages, warnings lists, job ids): foldhash's
/// quality variant (well mixed, so patterned strings such as counters or shared prefixes spread
/// as random ones do), keyed from the OS's randomness per process and per table, so that no
/// input can be crafted in advance to collide. The tables are never iterated in hash order, so
/// their hashes are not observable.
pub struct OutsideHash(foldhash::quality::SeedableRandomState);

impl Default for OutsideHash {
    fn default() -> Self {
        static SHARED: OnceLock<SharedSeed> = OnceLock::new();
        // std's `RandomState` is keyed from the OS and differs per call: a SipHash of a
        // constant under it is a fresh random word.
        let random_word = || std::hash::RandomState::new().hash_one(0u8);
        let shared = SHARED.get_or_init(|| SharedSeed::from_u64(random_word()));
        OutsideHash(foldhash::quality::SeedableRandomState::with_seed(
            random_word(),
            shared,
        ))
    }
}

impl OutsideHash {
    pub fn of(&self, bytes: &[u8]) -> u64 {
        let mut hasher = self.0.build_hasher();
        hasher.write(bytes);
        hasher.finish()
    }
}

/// A table being built, which finds an item already stored by its hash.
#[derive(Default)]
struct Interner {
    table: Table,
    /// The id of each item, found by the item's hash and compared with the item in `table`:
    /// an item is stored once, and an entry of the index is one `u32` (so growing the index
    /// hashes the items again).
    index: HashTable<u32>,
    hash: OutsideHash,
}

impl Interner {
    fn intern(&mut self, item: &[u8]) -> Result<u32, Error> {
        let Interner { table, index, hash } = self;
        // Room for one more, reserved fallibly (`entry` would grow the table infallibly), and
        // only when full: the check alone is cheaper than the call.
        if index.len() == index.capacity() {
            let rehash = |&id: &u32| hash.of(table.get(id).unwrap_or_default());
            index
                .try_reserve(1, rehash)
                .map_err(|_| Error::OutOfMemory)?;
        }
        let found = index.entry(
            hash.of(item),
            |&id| table.get(id) == Some(item),
            |&id| hash.of(table.get(id).unwrap_or_default()),
        );
        match found {
            hash_table::Entry::Occupied(entry) => Ok(*entry.get()),
            hash_table::Entry::Vacant(entry) => {
                let id = to_id(table.len())?;
                table.push(item)?;
                entry.insert(id);
                Ok(id)
            }
        }
    }
}

/// One entry, borrowed: what a `RunStatus` is built from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    pub status: StatusCode,
    pub message: Presence<&'a [u8]>,
    pub warnings: Presence<Vec<&'a [u8]>>,
}

/// One entry, owned: the latest state of a tracked job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedEntry {
    pub status: StatusCode,
    pub message: Presence<Box<[u8]>>,
    pub warnings: Presence<Vec<Box<[u8]>>>,
}

impl OwnedEntry {
    /// Whether `entry` holds the same values, compared without allocating.
    pub fn same_as(&self, entry: &Entry<'_>) -> bool {
        let message = match (&self.message, &entry.message) {
            (Presence::Absent, Presence::Absent) | (Presence::Null, Presence::Null) => true,
            (Presence::Value(mine), Presence::Value(theirs)) => **mine == **theirs,
            _ => false,
        };
        let warnings = match (&self.warnings, &entry.warnings) {
            (Presence::Absent, Presence::Absent) | (Presence::Null, Presence::Null) => true,
            (Presence::Value(mine), Presence::Value(theirs)) => {
                mine.len() == theirs.len() && mine.iter().zip(theirs).all(|(a, &b)| **a == *b)
            }
            _ => false,
        };
        self.status == entry.status && message && warnings
    }

    pub fn borrow(&self) -> Entry<'_> {
        Entry {
            status: self.status,
            message: match &self.message {
                Presence::Absent => Presence::Absent,
                Presence::Null => Presence::Null,
                Presence::Value(text) => Presence::Value(text),
            },
            warnings: match &self.warnings {
                Presence::Absent => Presence::Absent,
                Presence::Null => Presence::Null,
                Presence::Value(items) => {
                    Presence::Value(items.iter().map(|item| &**item).collect())
                }
            },
        }
    }
}

impl Entry<'_> {
    pub fn to_owned_entry(&self) -> OwnedEntry {
        OwnedEntry {
            status: self.status,
            message: match &self.message {
                Presence::Absent => Presence::Absent,
                Presence::Null => Presence::Null,
                Presence::Value(text) => Presence::Value(Box::from(*text)),
            },
            warnings: match &self.warnings {
                Presence::Absent => Presence::Absent,
                Presence::Null => Presence::Null,
                Presence::Value(items) => {
                    Presence::Value(items.iter().map(|&item| Box::from(item)).collect())
                }
            },
        }
    }
}

/// The finished, immutable columns. Slices share the tables.
#[derive(Clone, Debug, Default)]
pub struct Columns {
    codes: Vec<u8>,
    /// Bits 0-1: `message` absent/null/value; bits 2-3: the same for `warnings`.
    presence: Vec<u8>,
    message: Vec<u32>,
    warnings: Vec<u32>,
    strings: Arc<Table>,
    /// Each item is the string ids of one warnings list, as `u32` LE.
    lists: Arc<Table>,
}

/// The columns as byte strings, for pickling.
pub struct ColumnParts<'a> {
    pub codes: &'a [u8],
    pub presence: &'a [u8],
    pub message: Vec<u8>,
    pub warnings: Vec<u8>,
    pub strings: (&'a [u8], Vec<u8>),
    pub lists: (&'a [u8], Vec<u8>),
}

fn ids_to_bytes(ids: &[u32]) -> Vec<u8> {
    ids.iter().flat_map(|id| id.to_le_bytes()).collect()
}

fn ids_from_bytes(bytes: &[u8]) -> Result<Vec<u32>, Error> {
    if bytes.len() % ID_BYTES != 0 {
        return Err(Error::BadState("id column"));
    }
    Ok(bytes
        .chunks_exact(ID_BYTES)
        .map(|chunk| {
            let mut word = [0; ID_BYTES];
            word.copy_from_slice(chunk);
            u32::from_le_bytes(word)
        })
        .collect())
}

impl Columns {
    /// Bytes held on the heap by the per-entry columns, and by the tables of distinct strings
    /// and warnings lists (shared with slices, so counted in each).
    pub fn heap_bytes(&self) -> (usize, usize) {
        let entries = self.codes.capacity()
            + self.presence.capacity()
            + (self.message.capacity() + self.warnings.capacity()) * ID_BYTES;
        (entries, self.strings.heap_bytes() + self.lists.heap_bytes())
    }

    pub fn len(&self) -> usize {
        self.codes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    /// One byte per entry: the `StatusCode`, or [`INVALID`].
    pub fn codes(&self) -> &[u8] {
        &self.codes
    }

    /// The entry at `index`; `None` past the end or for an invalid entry.
    pub fn entry(&self, index: usize) -> Option<Entry<'_>> {
        let status = StatusCode::from_code(*self.codes.get(index)?)?;
        let presence = *self.presence.get(index)?;
        let message = match presence & 3 {
            NULL => Presence::Null,
            VALUE => Presence::Value(self.strings.get(*self.message.get(index)?)?),
            _ => Presence::Absent,
        };
        let warnings = match (presence >> 2) & 3 {
            NULL => Presence::Null,
            VALUE => {
                let list = self.lists.get(*self.warnings.get(index)?)?;
                let mut items = Vec::with_capacity(list.len() / ID_BYTES);
                for id in ids_from_bytes(list).ok()? {
                    items.push(self.strings.get(id)?);
                }
                Presence::Value(items)
            }
            _ => Presence::Absent,
        };
        Some(Entry {
            status,
            message,
            warnings,
        })
    }

    /// The id in [`Columns::strings`] of entry `index`'s message, if it is a valid entry with
    /// a message (not absent, not null).
    pub fn message_id(&self, index: usize) -> Option<u32> {
        StatusCode::from_code(*self.codes.get(index)?)?;
        (*self.presence.get(index)? & 3 == VALUE).then(|| self.message.get(index).copied())?
    }

    /// The id in [`Columns::lists`] of entry `index`'s warnings list, if it is a valid entry
    /// with one (not absent, not null).
    pub fn warnings_id(&self, index: usize) -> Option<u32> {
        StatusCode::from_code(*self.codes.get(index)?)?;
        ((*self.presence.get(index)? >> 2) & 3 == VALUE)
            .then(|| self.warnings.get(index).copied())?
    }

    /// The distinct messages and warnings, by id.
    pub fn strings(&self) -> &Table {
        &self.strings
    }

    /// The distinct warnings lists, by id: each item is its strings' ids as `u32` LE.
    pub fn lists(&self) -> &Table {
        &self.lists
    }

    /// The entries at `indices`, in that order, sharing this batch's tables.
    pub fn select(&self, indices: &[usize]) -> Columns {
        let pick = |column: &[u32]| -> Vec<u32> {
            indices
                .iter()
                .map(|&i| column.get(i).copied().unwrap_or(0))
                .collect()
        };
        Columns {
            codes: indices
                .iter()
                .map(|&i| self.codes.get(i).copied().unwrap_or(INVALID))
                .collect(),
            presence: indices
                .iter()
                .map(|&i| self.presence.get(i).copied().unwrap_or(0))
                .collect(),
            message: pick(&self.message),
            warnings: pick(&self.warnings),
            strings: Arc::clone(&self.strings),
            lists: Arc::clone(&self.lists),
        }
    }

    pub fn to_parts(&self) -> ColumnParts<'_> {
        ColumnParts {
            codes: &self.codes,
            presence: &self.presence,
            message: ids_to_bytes(&self.message),
            warnings: ids_to_bytes(&self.warnings),
            strings: self.strings.to_parts(),
            lists: self.lists.to_parts(),
        }
    }

    /// The inverse of [`Columns::to_parts`], checked so that every id refers to a table item
    /// and every code to one of `statuses` states (or is [`INVALID`]).
    #[allow(clippy::too_many_arguments)]
    pub fn from_parts(
        statuses: usize,
        codes: &[u8],
        presence: &[u8],
        message: &[u8],
        warnings: &[u8],
        strings: Table,
        lists: Table,
    ) -> Result<Columns, Error> {
        let message = ids_from_bytes(message)?;
        let warnings = ids_from_bytes(warnings)?;
        let len = codes.len();
        if presence.len() != len || message.len() != len || warnings.len() != len {
            return Err(Error::BadState("column lengths differ"));
        }
        for id in 0..lists.len() {
            let list = lists.get(to_id(id)?).unwrap_or_default();
            let ids = ids_from_bytes(list)?;
            if ids.iter().any(|&id| strings.get(id).is_none()) {
                return Err(Error::BadState("warnings list refers to no string"));
            }
        }
        for (((&code, &bits), &message), &warnings) in
            codes.iter().zip(presence).zip(&message).zip(&warnings)
        {
            let valid_code = code == INVALID || usize::from(code) < statuses;
            let valid_bits = bits >> 4 == 0 && bits & 3 <= VALUE && (bits >> 2) & 3 <= VALUE;
            let message_ok = bits & 3 != VALUE || strings.get(message).is_some();
            let warnings_ok = (bits >> 2) & 3 != VALUE || lists.get(warnings).is_some();
            if !(valid_code && valid_bits && message_ok && warnings_ok) {
                return Err(Error::BadState("entry refers to no table item"));
            }
        }
        Ok(Columns {
            codes: codes.to_vec(),
            presence: presence.to_vec(),
            message,
            warnings,
            strings: Arc::new(strings),
            lists: Arc::new(lists),
        })
    }
}

/// Columns being filled, entry by entry or by appending another builder.
#[derive(Default)]
pub struct Builder {
    codes: Vec<u8>,
    presence: Vec<u8>,
    message: Vec<u32>,
    warnings: Vec<u32>,
    strings: Interner,
    lists: Interner,
    scratch: Vec<u8>,
}

impl Builder {
    pub fn with_capacity(entries: usize) -> Builder {
        Builder {
            codes: Vec::with_capacity(entries),
            presence: Vec::with_capacity(entries),
            message: Vec::with_capacity(entries),
            warnings: Vec::with_capacity(entries),
            ..Builder::default()
        }
    }

    /// A builder with room for `entries`, or [`Error::OutOfMemory`]: for counts taken from
    /// the input, which may not fit.
    pub fn try_with_capacity(entries: usize) -> Result<Builder, Error> {
        let mut builder = Builder::default();
        builder.reserve(entries)?;
        Ok(builder)
    }

    /// Room for `entries` more entries, reserved fallibly.
    fn reserve(&mut self, entries: usize) -> Result<(), Error> {
        self.codes.try_reserve(entries)?;
        self.presence.try_reserve(entries)?;
        self.message.try_reserve(entries)?;
        self.warnings.try_reserve(entries)?;
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.codes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.codes.is_empty()
    }

    fn intern_list<'x>(&mut self, items: impl Iterator<Item = &'x [u8]>) -> Result<u32, Error> {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        for item in items {
            scratch.extend_from_slice(&self.strings.intern(item)?.to_le_bytes());
        }
        let id = self.lists.intern(&scratch);
        self.scratch = scratch;
        id
    }

    /// The column values of one entry: (code, presence, message id, warnings id).
    fn encode<'x>(
        &mut self,
        status: StatusCode,
        message: &Presence<&'x [u8]>,
        warnings: Presence<impl Iterator<Item = &'x [u8]>>,
    ) -> Result<(u8, u8, u32, u32), Error> {
        let presence = presence_of(message) | presence_of(&warnings) << 2;
        let message_id = match message {
            Presence::Value(text) => self.strings.intern(text)?,
            _ => 0,
        };
        let warnings_id = match warnings {
            Presence::Value(items) => self.intern_list(items)?,
            _ => 0,
        };
        Ok((status.code(), presence, message_id, warnings_id))
    }

    fn push_encoded(&mut self, (code, presence, message, warnings): (u8, u8, u32, u32)) {
        self.codes.push(code);
        self.presence.push(presence);
        self.message.push(message);
        self.warnings.push(warnings);
    }

    // Inlined into the per-payload loop of a batch even where other callers exist.
    #[inline(always)]
    pub fn push_parsed(&mut self, parsed: &ParsedStatus<'_>) -> Result<(), Error> {
        let message = match &parsed.message {
            Presence::Absent => Presence::Absent,
            Presence::Null => Presence::Null,
            Presence::Value(text) => Presence::Value(text.as_bytes()),
        };
        let warnings = match &parsed.warnings {
            Presence::Absent => Presence::Absent,
            Presence::Null => Presence::Null,
            Presence::Value(items) => Presence::Value(items.iter().map(str::as_bytes)),
        };
        let encoded = self.encode(parsed.status, &message, warnings)?;
        self.push_encoded(encoded);
        Ok(())
    }

    pub fn push_entry(&mut self, entry: &Entry<'_>) -> Result<(), Error> {
        let encoded = self.encode(entry.status, &entry.message, entry_warnings(entry))?;
        self.push_encoded(encoded);
        Ok(())
    }

    /// An entry whose payload is rejected, or not yet decided.
    pub fn push_invalid(&mut self) {
        self.push_encoded((INVALID, 0, 0, 0));
    }

    /// Replaces the entry at `index` (an invalid one, decided by the pure path).
    pub fn set_entry(&mut self, index: usize, entry: &Entry<'_>) -> Result<(), Error> {
        let (code, presence, message, warnings) =
            self.encode(entry.status, &entry.message, entry_warnings(entry))?;
        let slots = (
            self.codes.get_mut(index),
            self.presence.get_mut(index),
            self.message.get_mut(index),
            self.warnings.get_mut(index),
        );
        let (Some(c), Some(p), Some(m), Some(w)) = slots else {
            return Err(Error::BadState("entry index out of range"));
        };
        (*c, *p, *m, *w) = (code, presence, message, warnings);
        Ok(())
    }

    /// Moves the entries of `other` to the end of this builder, re-numbering its strings.
    pub fn append(&mut self, other: Builder) -> Result<(), Error> {
        let mut string_ids = Vec::new();
        string_ids.try_reserve_exact(other.strings.table.len())?;
        for id in 0..other.strings.table.len() {
            let item = other.strings.table.get(to_id(id)?).unwrap_or_default();
            string_ids.push(self.strings.intern(item)?);
        }
        let mut list_ids = Vec::new();
        list_ids.try_reserve_exact(other.lists.table.len())?;
        for id in 0..other.lists.table.len() {
            let list = other.lists.table.get(to_id(id)?).unwrap_or_default();
            let mut scratch = std::mem::take(&mut self.scratch);
            scratch.clear();
            for old in ids_from_bytes(list)? {
                let new = usize::try_from(old)
                    .ok()
                    .and_then(|old| string_ids.get(old))
                    .ok_or(Error::BadState("list refers to no string"))?;
                scratch.extend_from_slice(&new.to_le_bytes());
            }
            let id = self.lists.intern(&scratch);
            self.scratch = scratch;
            list_ids.push(id?);
        }
        self.reserve(other.len())?;
        // Codes and presence carry over as they are; only the ids are renumbered.
        self.codes.extend_from_slice(&other.codes);
        self.presence.extend_from_slice(&other.presence);
        let renumbered = |presence: u8, id: u32, new_ids: &[u32]| -> u32 {
            if presence & 3 != VALUE {
                return 0;
            }
            usize::try_from(id)
                .ok()
                .and_then(|id| new_ids.get(id))
                .copied()
                .unwrap_or(0)
        };
        let fields = other
            .presence
            .iter()
            .zip(&other.message)
            .zip(&other.warnings);
        for ((&presence, &message), &warnings) in fields {
            self.message
                .push(renumbered(presence, message, &string_ids));
            self.warnings
                .push(renumbered(presence >> 2, warnings, &list_ids));
        }
        Ok(())
    }

    pub fn finish(self) -> Columns {
        Columns {
            codes: self.codes,
            presence: self.presence,
            message: self.message,
            warnings: self.warnings,
            strings: Arc::new(self.strings.table),
            lists: Arc::new(self.lists.table),
        }
    }
}

fn entry_warnings<'e, 'x>(entry: &'e Entry<'x>) -> Presence<impl Iterator<Item = &'x [u8]> + 'e> {
    match &entry.warnings {
        Presence::Absent => Presence::Absent,
        Presence::Null => Presence::Null,
        Presence::Value(items) => Presence::Value(items.iter().copied()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_status;
    use crate::status::testing::{latest, seed};
    use crate::status::Vocabulary;

    fn build(docs: &[&str]) -> Columns {
        build_with(&seed(), docs)
    }

    fn build_with(vocabulary: &Vocabulary, docs: &[&str]) -> Columns {
        let mut builder = Builder::default();
        for doc in docs {
            match parse_status(vocabulary, doc.as_bytes()) {
                Ok(parsed) => builder.push_parsed(&parsed).unwrap(),
                Err(_) => builder.push_invalid(),
            }
        }
        builder.finish()
    }

    const DOCS: [&str; 5] = [
        r#"{"status":"failed","message":"boom","warnings":["a","b"]}"#,
        r#"{"status":"ready","message":null}"#,
        r#"{"status":"nope"}"#,
        r#"{"status":"failed","message":"boom","warnings":["a","b"]}"#,
        r#"{"status":"aborted","warnings":null,"message":"a"}"#,
    ];

    #[test]
    fn entries_round_trip_and_strings_are_stored_once() {
        let columns = build(&DOCS);
        assert_eq!(columns.codes(), &[3, 2, INVALID, 3, 4]);
        let first = columns.entry(0).unwrap();
        assert_eq!(first.message, Presence::Value(&b"boom"[..]));
        assert_eq!(first.warnings, Presence::Value(vec![&b"a"[..], b"b"]));
        assert_eq!(columns.entry(3), Some(first));
        assert_eq!(columns.entry(1).unwrap().message, Presence::Null);
        assert_eq!(columns.entry(1).unwrap().warnings, Presence::Absent);
        assert_eq!(columns.entry(2), None);
        assert_eq!(columns.entry(5), None);
        // "boom", "a", "b": "a" as a message is the warning's string.
        assert_eq!(columns.strings.len(), 3);
        assert_eq!(columns.lists.len(), 1);
    }

    #[test]
    fn append_renumbers_and_matches_one_builder() {
        let whole = build(&DOCS);
        let mut left = Builder::default();
        let mut right = Builder::default();
        for (i, doc) in DOCS.iter().enumerate() {
            let target = if i < 2 { &mut left } else { &mut right };
            match parse_status(&seed(), doc.as_bytes()) {
                Ok(parsed) => target.push_parsed(&parsed).unwrap(),
                Err(_) => target.push_invalid(),
            }
        }
        left.append(right).unwrap();
        let joined = left.finish();
        for i in 0..DOCS.len() {
            assert_eq!(joined.entry(i), whole.entry(i));
        }
        assert_eq!(joined.codes(), whole.codes());
    }

    #[test]
    fn parts_round_trip_and_are_checked() {
        let columns = build(&DOCS);
        let parts = columns.to_parts();
        let strings = Table::from_parts(parts.strings.0, &parts.strings.1).unwrap();
        let lists = Table::from_parts(parts.lists.0, &parts.lists.1).unwrap();
        let back = Columns::from_parts(
            5,
            parts.codes,
            parts.presence,
            &parts.message,
            &parts.warnings,
            strings.clone(),
            lists.clone(),
        )
        .unwrap();
        for i in 0..DOCS.len() {
            assert_eq!(back.entry(i), columns.entry(i));
        }
        let mut bad_message = parts.message.clone();
        bad_message[0] = 9;
        assert!(Columns::from_parts(
            5,
            parts.codes,
            parts.presence,
            &bad_message,
            &parts.warnings,
            strings.clone(),
            lists.clone()
        )
        .is_err());
        assert!(Columns::from_parts(
            5,
            &parts.codes[1..],
            parts.presence,
            &parts.message,
            &parts.warnings,
            strings,
            lists
        )
        .is_err());
        assert!(Table::from_parts(b"ab", &5u64.to_le_bytes()).is_err());
    }

    #[test]
    fn codes_follow_the_vocabulary_they_were_parsed_with() {
        let docs = [
            r#"{"status":"post_processing_ended","message":"m"}"#,
            r#"{"status":"ready"}"#,
            r#"{"status":"pending compilation"}"#,
            r#"{"status":"unknown","warnings":["w"]}"#,
        ];
        let vocabulary = latest();
        let columns = build_with(&vocabulary, &docs);
        let code = |value: &[u8]| vocabulary.code_of(value).unwrap().code();
        assert_eq!(
            columns.codes(),
            &[
                code(b"post_processing_ended"),
                code(b"ready"),
                INVALID,
                code(b"unknown")
            ]
        );
        assert_eq!(columns.codes()[0], 15);
        assert_eq!(
            columns.entry(3).unwrap().warnings,
            Presence::Value(vec![&b"w"[..]])
        );
        // Restoring checks the codes against the number of states: 22 is only in the larger.
        let parts = columns.to_parts();
        let restore = |statuses: usize| {
            Columns::from_parts(
                statuses,
                parts.codes,
                parts.presence,
                &parts.message,
                &parts.warnings,
                Table::from_parts(parts.strings.0, &parts.strings.1).unwrap(),
                Table::from_parts(parts.lists.0, &parts.lists.1).unwrap(),
            )
        };
        assert!(restore(vocabulary.len()).is_ok());
        assert!(matches!(restore(seed().len()), Err(Error::BadState(_))));
    }

    #[test]
    fn same_as_compares_every_field() {
        let columns = build(&DOCS);
        for i in [0, 1, 3, 4] {
            for j in [0, 1, 3, 4] {
                let (a, b) = (columns.entry(i).unwrap(), columns.entry(j).unwrap());
                assert_eq!(a.to_owned_entry().same_as(&b), a == b, "{i} {j}");
            }
        }
    }

    #[test]
    fn select_and_set_entry() {
        let columns = build(&DOCS);
        let picked = columns.select(&[4, 0]);
        assert_eq!(picked.codes(), &[4, 3]);
        assert_eq!(picked.entry(1), columns.entry(0));
        let mut builder = Builder::default();
        builder.push_invalid();
        let entry = columns.entry(0).unwrap();
        builder.set_entry(0, &entry).unwrap();
        assert!(builder.set_entry(1, &entry).is_err());
        assert_eq!(builder.finish().entry(0), Some(entry));
    }

    /// The most hashes that share a value of `bits` (low bits: the bucket a hash table
    /// starts probing at; high bits: the tag it compares before the item).
    fn most_sharing(hashes: &[u64], bits: impl Fn(u64) -> u64) -> usize {
        let mut counts = std::collections::HashMap::new();
        for &hash in hashes {
            *counts.entry(bits(hash)).or_insert(0) += 1;
        }
        counts.into_values().max().unwrap_or(0)
    }

    const SPREAD_COUNT: usize = 1 << 16;

    /// Sets of `SPREAD_COUNT` distinct items from outside that a weak hash sends to few
    /// buckets.
    fn patterned_sets() -> Vec<(&'static str, Vec<Vec<u8>>)> {
        let base64 = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
        let last_word_high_bytes = (0..SPREAD_COUNT)
            .map(|i| {
                let mut text = b"Job failed ".to_vec();
                text.extend((0..4).map(|digit| base64[(i >> (6 * digit)) & 63]));
                text
            })
            .collect();
        let counters = (0..SPREAD_COUNT)
            .map(|i| format!("job-{i:010}").into_bytes())
            .collect();
        // Warnings lists as the list table stores them: string ids, the first one shared.
        let lists_with_shared_first_item = (0..SPREAD_COUNT as u32)
            .map(|i| [7u32, i].iter().flat_map(|id| id.to_le_bytes()).collect())
            .collect();
        let one_byte_apart = (0..SPREAD_COUNT)
            .map(|i| {
                let mut text = vec![b'.'; 40];
                text[i % 40] = b'a' + (i / 40 % 26) as u8;
                text.extend_from_slice(format!("{:03}", i / 1040).as_bytes());
                text
            })
            .collect();
        vec![
            (
                "strings that differ in their last word's high bytes",
                last_word_high_bytes,
            ),
            ("zero-padded counters", counters),
            (
                "lists with a shared first item",
                lists_with_shared_first_item,
            ),
            ("strings one byte apart", one_byte_apart),
        ]
    }

    /// The hand-made word hasher this table had before sent each of these sets to a few
    /// buckets whatever its seed (it had no final mixing, so the low bits of a hash came from
    /// the low bytes of the last word only), and interning became quadratic. Against a table of
    /// twice as many buckets, the fullest bucket of a random hash holds about 7; each of the
    /// 128 tags about 512.
    #[test]
    fn crafted_and_patterned_items_spread_as_random_ones() {
        let hash = OutsideHash::default();
        let mut clumped = Vec::new();
        for (name, items) in patterned_sets() {
            let distinct: std::collections::HashSet<_> = items.iter().collect();
            assert_eq!(distinct.len(), SPREAD_COUNT, "{name}");
            let hashes: Vec<u64> = items.iter().map(|item| hash.of(item)).collect();
            let bucket_mask = (2 * SPREAD_COUNT - 1) as u64;
            let fullest_bucket = most_sharing(&hashes, |hash| hash & bucket_mask);
            let commonest_tag = most_sharing(&hashes, |hash| hash >> 57);
            if fullest_bucket > 16 || commonest_tag > 768 {
                clumped.push(format!(
                    "{name}: {fullest_bucket} in one bucket, {commonest_tag} with one tag"
                ));
            }
        }
        assert!(clumped.is_empty(), "{clumped:#?}");
    }

    #[test]
    fn interning_patterned_items_keeps_each_once() {
        for (name, items) in patterned_sets() {
            let mut interner = Interner::default();
            for (id, item) in items.iter().enumerate() {
                assert_eq!(interner.intern(item).unwrap(), id as u32, "{name}");
            }
            for (id, item) in items.iter().enumerate().rev() {
                assert_eq!(interner.intern(item).unwrap(), id as u32, "{name}");
                assert_eq!(interner.table.get(id as u32), Some(&item[..]), "{name}");
            }
            assert_eq!(interner.table.len(), SPREAD_COUNT, "{name}");
        }
    }

    #[test]
    fn tables_are_keyed_apart() {
        let (one, other) = (OutsideHash::default(), OutsideHash::default());
        let items = [&b"job-0000000001"[..], b"ready", b""];
        assert!(items.iter().any(|item| one.of(item) != other.of(item)));
        assert!(items.iter().all(|item| one.of(item) == one.of(item)));
    }

    #[test]
    fn entry_is_at_most_ten_bytes_of_columns() {
        let per_entry = std::mem::size_of::<u8>() * 2 + std::mem::size_of::<u32>() * 2;
        assert!(per_entry <= 32);
    }
}
