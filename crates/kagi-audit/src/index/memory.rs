//! The open segment: the newest events of the lookup index, in memory, in the shape a
//! segment file will have. Inserting an event is a few hash-map look-ups (one per
//! attribute value, to intern it as a term id), a push onto each term's postings list and
//! copying the event's ids into the string heap; no disk I/O.
//!
//! Slot `i` holds the event with sequence number `first_seq + i`; postings lists hold slot
//! numbers (u16), ascending. Events normally arrive in seq order, so every push is an
//! append; an event that fills a gap is inserted at its place (slower, never wrong).
//!
//! This module does not write files or decide when to (see `index.rs`).

use super::segment::{
    event_id_hash, Kind, Record, Segment, ERROR, KINDS, NONE, NO_STRING, PRESENT, READ_ONLY,
};
use super::{IndexError, IndexedEvent};
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug)]
pub(super) struct OpenSegment {
    pub first_seq: u64,
    /// By slot; as long as the highest slot ever used.
    pub records: Vec<Record>,
    /// [`event_id_hash`] of each slot's event (0 for empty slots).
    pub id_hashes: Vec<u64>,
    /// Term number → (kind, value).
    pub terms: Vec<(Kind, Box<str>)>,
    /// Value → term number, per kind. Keyed SipHash (the standard library's): values
    /// such as a claimed access key id come from unauthenticated clients, who must not be
    /// able to make look-ups collide.
    by_value: [HashMap<Box<str>, u32>; KINDS],
    /// A direct-mapped cache in front of `by_value`: slot [`quick_hash`] → term number + 1
    /// (0: empty). A hit is checked against the term itself, so a collision, crafted or
    /// not, only costs the keyed look-up it would have cost anyway.
    cache: Vec<u32>,
    /// The term numbers of ReadOnly "false" and "true", once interned.
    read_only_terms: [Option<u32>; 2],
    /// Term number → slots whose event has the term, ascending.
    pub postings: Vec<Vec<u16>>,
    /// Every event's `eventID` followed by its `requestID`.
    pub strings: Vec<u8>,
    /// One past the highest seq ever inserted (`first_seq` when none was).
    pub next_seq: u64,
    /// Slots holding an event.
    pub events: u32,
    /// The file holding this segment as of its last write, and the retention cutoff that
    /// applies to that file (events older than it were removed here but are still in it).
    pub on_disk: Option<(Arc<Segment>, i64)>,
    /// Changed since `on_disk` was written.
    pub dirty: bool,
}

impl OpenSegment {
    /// An empty segment for the `span` events from `first_seq`. Its slot vectors are
    /// reserved whole (untouched memory costs nothing until used).
    pub(super) fn new(first_seq: u64, span: u64) -> Self {
        let span = usize::try_from(span).unwrap_or(usize::MAX).min(1 << 16);
        Self {
            first_seq,
            records: Vec::with_capacity(span),
            id_hashes: Vec::with_capacity(span),
            terms: Vec::new(),
            by_value: Default::default(),
            cache: vec![0; TERM_CACHE_SLOTS],
            read_only_terms: [None; 2],
            postings: Vec::new(),
            strings: Vec::new(),
            next_seq: first_seq,
            events: 0,
            on_disk: None,
            dirty: false,
        }
    }

    /// The term number of (kind, value), if any event of this segment had it.
    pub(super) fn term_id(&self, kind: Kind, value: &str) -> Option<u32> {
        self.by_value[kind as usize].get(value).copied()
    }

    /// Adds a term read back from a segment file, with its postings.
    pub(super) fn push_term(
        &mut self,
        kind: Kind,
        value: &str,
        postings: Vec<u16>,
    ) -> Result<u32, IndexError> {
        let id = u32::try_from(self.terms.len()).map_err(|_| IndexError::TooLarge)?;
        if id == NONE {
            return Err(IndexError::TooLarge);
        }
        self.terms.push((kind, value.into()));
        self.by_value[kind as usize].insert(value.into(), id);
        self.postings.push(postings);
        Ok(id)
    }

    /// The term number of (kind, value), created if new.
    fn intern(&mut self, kind: Kind, value: &str) -> Result<u32, IndexError> {
        let slot = (quick_hash(value) ^ kind as u64).wrapping_mul(MIX) >> (64 - TERM_CACHE_BITS);
        let slot = slot as usize;
        if let Some(id) = self.cache[slot].checked_sub(1) {
            if let Some((k, v)) = self.terms.get(id as usize) {
                if *k == kind && **v == *value {
                    return Ok(id);
                }
            }
        }
        let id = match self.term_id(kind, value) {
            Some(id) => id,
            None => self.push_term(kind, value, Vec::new())?,
        };
        self.cache[slot] = id + 1;
        Ok(id)
    }

    fn intern_read_only(&mut self, read_only: bool) -> Result<u32, IndexError> {
        if let Some(id) = self.read_only_terms[usize::from(read_only)] {
            return Ok(id);
        }
        let id = self.intern(Kind::ReadOnly, if read_only { "true" } else { "false" })?;
        self.read_only_terms[usize::from(read_only)] = Some(id);
        Ok(id)
    }

    fn intern_opt(&mut self, kind: Kind, value: &Option<String>) -> Result<u32, IndexError> {
        match value {
            Some(v) => self.intern(kind, v),
            None => Ok(NONE),
        }
    }

    /// Inserts `ev`, whose seq must lie in this segment; false if its slot already holds
    /// an event (inserting is idempotent).
    pub(super) fn insert(&mut self, ev: &IndexedEvent, span: u64) -> Result<bool, IndexError> {
        let local = match ev.seq.checked_sub(self.first_seq) {
            Some(l) if l < span && l <= u64::from(u16::MAX) => l as u16,
            _ => return Err(IndexError::TooLarge),
        };
        let slot = usize::from(local);
        if self.records.get(slot).is_some_and(Record::is_present) {
            return Ok(false);
        }
        // Every fallible step first, so that a failure leaves the segment unchanged
        // (terms interned on the way are harmless: unused terms are not written).
        let event_name = self.intern(Kind::EventName, &ev.event_name)?;
        let event_source = self.intern(Kind::EventSource, &ev.event_source)?;
        let username = self.intern_opt(Kind::Username, &ev.username)?;
        let access_key_id = self.intern_opt(Kind::AccessKeyId, &ev.access_key_id)?;
        let principal = self.intern_opt(Kind::Principal, &ev.principal)?;
        let read_only = self.intern_read_only(ev.read_only)?;
        let mut resource_terms = [NONE; 8];
        let mut more_terms = Vec::new();
        for (i, (resource_type, name)) in ev.resources.iter().enumerate() {
            let pair = [
                self.intern(Kind::ResourceName, name)?,
                self.intern(Kind::ResourceType, resource_type)?,
            ];
            match resource_terms.get_mut(2 * i..2 * i + 2) {
                Some(slots) => slots.copy_from_slice(&pair),
                None => more_terms.extend_from_slice(&pair),
            }
        }
        let event_id_len = u32::try_from(ev.event_id.len()).map_err(|_| IndexError::TooLarge)?;
        let request_id_len = match &ev.request_id {
            Some(r) => match u32::try_from(r.len()) {
                Ok(n) if n != NO_STRING => n,
                _ => return Err(IndexError::TooLarge),
            },
            None => NO_STRING,
        };

        if self.records.len() <= slot {
            self.records.resize(slot + 1, Record::default());
            self.id_hashes.resize(slot + 1, 0);
        }
        let strings_off = self.strings.len() as u64;
        self.strings.extend_from_slice(ev.event_id.as_bytes());
        if let Some(r) = &ev.request_id {
            self.strings.extend_from_slice(r.as_bytes());
        }
        let mut flags = PRESENT;
        if ev.read_only {
            flags |= READ_ONLY;
        }
        if ev.error_code.is_some() {
            flags |= ERROR;
        }
        self.records[slot] = Record {
            log_segment: ev.segment,
            log_offset: ev.offset,
            time_millis: ev.time_millis,
            strings_off,
            event_id_len,
            request_id_len,
            event_name,
            event_source,
            username,
            access_key_id,
            principal,
            flags,
        };
        self.id_hashes[slot] = event_id_hash(&ev.event_id);
        for term in [event_name, event_source, username, access_key_id, read_only]
            .into_iter()
            .chain(resource_terms)
            .chain(more_terms)
        {
            if let Some(list) = self.postings.get_mut(term as usize) {
                add_posting(list, local);
            }
        }
        self.events += 1;
        self.next_seq = self.next_seq.max(ev.seq.saturating_add(1));
        self.dirty = true;
        Ok(true)
    }

    /// Retention: empties the slots of events older than `millis`; returns how many.
    /// Their postings go too, so that a later event in the same slot is not matched by
    /// the old event's terms.
    pub(super) fn delete_before(&mut self, millis: i64) -> u64 {
        let mut deleted = 0;
        for r in &mut self.records {
            if r.is_present() && r.time_millis < millis {
                *r = Record::default();
                deleted += 1;
            }
        }
        if deleted > 0 {
            let records = &self.records;
            for list in &mut self.postings {
                list.retain(|&l| records.get(usize::from(l)).is_some_and(Record::is_present));
            }
            self.events -= deleted;
            self.dirty = true;
        }
        u64::from(deleted)
    }

    /// The record in slot `local`, if it holds an event.
    pub(super) fn record(&self, local: u32) -> Option<Record> {
        self.records
            .get(local as usize)
            .filter(|r| r.is_present())
            .copied()
    }

    /// The record's `eventID` and `requestID`.
    pub(super) fn strings(&self, r: &Record) -> Option<(String, Option<String>)> {
        let start = usize::try_from(r.strings_off).ok()?;
        super::segment::split_strings(self.strings.get(start..)?, r)
    }

    /// Slots whose event has this `eventID`.
    pub(super) fn event_id_slots(&self, id: &str) -> Vec<u32> {
        let hash = event_id_hash(id);
        let mut out = Vec::new();
        for (local, &h) in self.id_hashes.iter().enumerate() {
            if h != hash {
                continue;
            }
            let Some(r) = self.record(local as u32) else {
                continue;
            };
            let Ok(start) = usize::try_from(r.strings_off) else {
                continue;
            };
            let end = start.saturating_add(r.event_id_len as usize);
            if self.strings.get(start..end) == Some(id.as_bytes()) {
                out.push(local as u32);
            }
        }
        out
    }
}

/// Slots of the term cache (128 KiB): most installations use fewer distinct values per
/// segment, so nearly every look-up is a hit.
const TERM_CACHE_BITS: u32 = 15;
const TERM_CACHE_SLOTS: usize = 1 << TERM_CACHE_BITS;
const MIX: u64 = 0x9e37_79b9_7f4a_7c15;

/// A cheap, unkeyed hash of a value for the term cache: its length and its first and
/// last eight bytes (ARNs and ids differ at the end, names at the start).
fn quick_hash(value: &str) -> u64 {
    let b = value.as_bytes();
    let (head, tail) = match (b.first_chunk::<8>(), b.last_chunk::<8>()) {
        (Some(head), Some(tail)) => (u64::from_le_bytes(*head), u64::from_le_bytes(*tail)),
        // Shorter than eight bytes.
        _ => (b.iter().fold(0, |h, &c| h << 8 | u64::from(c)), 0),
    };
    (head.wrapping_mul(MIX) ^ tail).wrapping_mul(MIX) ^ b.len() as u64
}

/// Adds `local` to an ascending postings list, once (an event may name a resource twice).
fn add_posting(list: &mut Vec<u16>, local: u16) {
    match list.last() {
        None => list.push(local),
        Some(&last) if last < local => list.push(local),
        Some(&last) if last == local => {}
        Some(_) => {
            if let Err(at) = list.binary_search(&local) {
                list.insert(at, local);
            }
        }
    }
}
