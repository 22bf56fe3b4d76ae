//! Segment files of the lookup index: how one segment is laid out on disk, checked when
//! it is opened, and read back with positioned reads. The layout is documented, with its
//! version, in docs/formats.md ("The lookup index"); change both together, and never
//! change the meaning of version 1 (add a version instead).
//!
//! A segment file is written once, whole (temporary file, fsync, rename, fsync of the
//! directory) and never modified: a newer copy of the same segment gets a new generation
//! number in its name. Opening reads every byte once to check the CRC-32 and the
//! structure (sorted dictionary, postings in bounds and ascending, records consistent with
//! the header and the time blocks), then keeps only [`Segment`]: the header, the time
//! blocks and two sparse fences. Queries read what they need with `read_at`.
//!
//! This module does not decide what goes into a segment or when it is written (see
//! `memory.rs` and `index.rs`).

use super::memory::OpenSegment;
use super::IndexError;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

pub(super) const MAGIC: &[u8; 8] = b"KAGIIDX\0";
/// The segment format this build writes and reads.
pub(super) const FORMAT_VERSION: u16 = 1;
const HEADER_LEN: usize = 128;
pub(super) const RECORD_LEN: usize = 64;
const BLOCK_INFO_LEN: usize = 24;
const DICT_ENTRY_LEN: usize = 32;
const ID_ENTRY_LEN: usize = 10;
const TRAILER_LEN: usize = 4;
/// Slots per time block: the granularity at which time ranges prune records.
pub(super) const BLOCK: u32 = 256;
/// One dictionary entry in this many is kept in memory, as a fence.
const DICT_FENCE: usize = 16;
/// One event-id table entry in this many is kept in memory, as a fence.
const ID_FENCE: usize = 256;
/// Records read at once (and cached) by a [`Reader`].
const RECORD_CHUNK: u32 = 32;
/// Postings entries read at once.
pub(super) const POSTINGS_CHUNK: u64 = 1024;

/// A term id that names no term (an absent `username`, …).
pub(super) const NONE: u32 = u32::MAX;
/// The length of an absent `requestID`.
pub(super) const NO_STRING: u32 = u32::MAX;
/// Record flags.
pub(super) const PRESENT: u8 = 1;
pub(super) const READ_ONLY: u8 = 2;
pub(super) const ERROR: u8 = 4;
const KNOWN_FLAGS: u8 = PRESENT | READ_ONLY | ERROR;

/// What a term is. Stored in the dictionary, so never renumber.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Kind {
    EventName = 1,
    EventSource = 2,
    Username = 3,
    AccessKeyId = 4,
    /// `userIdentity.arn`: no postings, only grouped by in usage summaries.
    Principal = 5,
    ResourceName = 6,
    ResourceType = 7,
    /// `"true"` or `"false"`.
    ReadOnly = 8,
}

/// One past the largest [`Kind`] number: arrays indexed by kind have this length.
pub(super) const KINDS: usize = 9;

impl Kind {
    fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            1 => Self::EventName,
            2 => Self::EventSource,
            3 => Self::Username,
            4 => Self::AccessKeyId,
            5 => Self::Principal,
            6 => Self::ResourceName,
            7 => Self::ResourceType,
            8 => Self::ReadOnly,
            _ => return None,
        })
    }
}

/// The order of the dictionary: by kind number, then by the value's bytes.
pub(super) fn term_order(a: (Kind, &str), b: (Kind, &str)) -> std::cmp::Ordering {
    (a.0 as u8, a.1.as_bytes()).cmp(&(b.0 as u8, b.1.as_bytes()))
}

/// FNV-1a (64-bit) of an `eventID`: the key of the event-id table. Part of the format.
pub(super) fn event_id_hash(id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// One event slot: fixed width ([`RECORD_LEN`] bytes on disk). A slot without
/// [`PRESENT`] holds no event (a gap in the sequence numbers, or a deleted event).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Record {
    pub log_segment: u64,
    pub log_offset: u64,
    pub time_millis: i64,
    /// Where `eventID` starts in the string heap; `requestID` follows it.
    pub strings_off: u64,
    pub event_id_len: u32,
    /// [`NO_STRING`] when the event has none.
    pub request_id_len: u32,
    pub event_name: u32,
    pub event_source: u32,
    pub username: u32,
    pub access_key_id: u32,
    pub principal: u32,
    pub flags: u8,
}

impl Record {
    pub(super) fn is_present(&self) -> bool {
        self.flags & PRESENT != 0
    }

    fn to_bytes(self) -> [u8; RECORD_LEN] {
        let mut b = [0u8; RECORD_LEN];
        b[0..8].copy_from_slice(&self.log_segment.to_le_bytes());
        b[8..16].copy_from_slice(&self.log_offset.to_le_bytes());
        b[16..24].copy_from_slice(&self.time_millis.to_le_bytes());
        b[24..32].copy_from_slice(&self.strings_off.to_le_bytes());
        b[32..36].copy_from_slice(&self.event_id_len.to_le_bytes());
        b[36..40].copy_from_slice(&self.request_id_len.to_le_bytes());
        b[40..44].copy_from_slice(&self.event_name.to_le_bytes());
        b[44..48].copy_from_slice(&self.event_source.to_le_bytes());
        b[48..52].copy_from_slice(&self.username.to_le_bytes());
        b[52..56].copy_from_slice(&self.access_key_id.to_le_bytes());
        b[56..60].copy_from_slice(&self.principal.to_le_bytes());
        b[60] = self.flags;
        b
    }

    fn decode(b: &[u8]) -> Option<Self> {
        if b.len() != RECORD_LEN {
            return None;
        }
        Some(Self {
            log_segment: u64_at(b, 0)?,
            log_offset: u64_at(b, 8)?,
            time_millis: i64_at(b, 16)?,
            strings_off: u64_at(b, 24)?,
            event_id_len: u32_at(b, 32)?,
            request_id_len: u32_at(b, 36)?,
            event_name: u32_at(b, 40)?,
            event_source: u32_at(b, 44)?,
            username: u32_at(b, 48)?,
            access_key_id: u32_at(b, 52)?,
            principal: u32_at(b, 56)?,
            flags: *b.get(60)?,
        })
    }

    /// The byte range of `eventID` and `requestID` together in the string heap.
    fn strings_range(&self) -> Option<(u64, u64)> {
        let rid = if self.request_id_len == NO_STRING {
            0
        } else {
            u64::from(self.request_id_len)
        };
        let len = u64::from(self.event_id_len).checked_add(rid)?;
        Some((self.strings_off, self.strings_off.checked_add(len)?))
    }
}

/// Time bounds and event count of [`BLOCK`] consecutive slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct BlockInfo {
    /// `i64::MAX` / `i64::MIN` when the block holds no event.
    pub min: i64,
    pub max: i64,
    pub count: u32,
}

impl BlockInfo {
    const EMPTY: Self = Self {
        min: i64::MAX,
        max: i64::MIN,
        count: 0,
    };

    fn add(&mut self, time: i64) {
        self.min = self.min.min(time);
        self.max = self.max.max(time);
        self.count += 1;
    }
}

/// A term as a segment knows it: its id (the dictionary position on disk, the term
/// number in memory) and where its postings are.
#[derive(Debug, Clone, Copy)]
pub(super) struct TermRef {
    pub id: u32,
    /// First postings entry (absolute index into the postings section on disk; 0 in
    /// memory) and the number of entries.
    pub start: u64,
    pub len: u64,
}

/// Byte offsets of the sections of a segment file.
#[derive(Debug, Clone, Copy)]
struct Layout {
    records: u64,
    blocks: u64,
    dict: u64,
    terms: u64,
    postings: u64,
    ids: u64,
    strings: u64,
    end: u64,
}

impl Layout {
    fn new(
        slots: u64,
        dict_entries: u64,
        term_bytes: u64,
        postings_entries: u64,
        id_entries: u64,
        string_bytes: u64,
    ) -> Option<Self> {
        let blocks_n = slots.div_ceil(u64::from(BLOCK));
        let records = HEADER_LEN as u64;
        let blocks = records.checked_add(slots.checked_mul(RECORD_LEN as u64)?)?;
        let dict = blocks.checked_add(blocks_n.checked_mul(BLOCK_INFO_LEN as u64)?)?;
        let terms = dict.checked_add(dict_entries.checked_mul(DICT_ENTRY_LEN as u64)?)?;
        let postings = terms.checked_add(term_bytes)?;
        let ids = postings.checked_add(postings_entries.checked_mul(2)?)?;
        let strings = ids.checked_add(id_entries.checked_mul(ID_ENTRY_LEN as u64)?)?;
        let end = strings.checked_add(string_bytes)?;
        Some(Self {
            records,
            blocks,
            dict,
            terms,
            postings,
            ids,
            strings,
            end,
        })
    }
}

/// What the index keeps in memory of one segment file: its header, the time bounds of
/// every block and sparse fences over the dictionary and the event-id table. About
/// 8 KiB for a full segment plus 1/16 of its dictionary's values.
#[derive(Debug)]
pub(super) struct Segment {
    pub path: PathBuf,
    pub first_seq: u64,
    pub generation: u64,
    /// One past the highest seq ever inserted into this segment.
    pub next_seq: u64,
    pub slots: u32,
    pub events: u32,
    pub min_time: i64,
    pub max_time: i64,
    pub blocks: Vec<BlockInfo>,
    layout: Layout,
    dict_len: u32,
    /// The (kind, value) of dictionary entries 0, [`DICT_FENCE`], 2·[`DICT_FENCE`], ….
    dict_fences: Vec<(Kind, Box<str>)>,
    id_len: u32,
    /// The hash of event-id entries 0, [`ID_FENCE`], ….
    id_fences: Vec<u64>,
}

/// The name of generation `generation` of the segment starting at `first_seq`.
pub(super) fn file_name(first_seq: u64, generation: u64) -> String {
    format!("seg-{first_seq:020}-{generation:020}.idx")
}

/// (first seq, generation) from a segment file's name; `None` for any other name.
pub(super) fn parse_file_name(name: &str) -> Option<(u64, u64)> {
    let rest = name.strip_prefix("seg-")?.strip_suffix(".idx")?;
    let (first, generation) = rest.split_once('-')?;
    if first.len() != 20 || generation.len() != 20 {
        return None;
    }
    Some((first.parse().ok()?, generation.parse().ok()?))
}

/// The `N` bytes of `b` at `at`, if they are all there.
fn array_at<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    array_at(b, at).map(u16::from_le_bytes)
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    array_at(b, at).map(u32::from_le_bytes)
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    array_at(b, at).map(u64::from_le_bytes)
}

fn i64_at(b: &[u8], at: usize) -> Option<i64> {
    array_at(b, at).map(i64::from_le_bytes)
}

/// `b[start..end]` for file offsets, `None` when out of bounds.
fn range(b: &[u8], start: u64, end: u64) -> Option<&[u8]> {
    b.get(usize::try_from(start).ok()?..usize::try_from(end).ok()?)
}

fn too_large(_: std::num::TryFromIntError) -> IndexError {
    IndexError::TooLarge
}

/// The bytes of `open` as the segment file `path` (format [`FORMAT_VERSION`]), and what
/// the index keeps of it. Slots without an event are written empty, and terms no event
/// of the file uses are left out.
pub(super) fn encode(
    open: &OpenSegment,
    path: &Path,
    span_bits: u8,
    generation: u64,
) -> Result<(Vec<u8>, Segment), IndexError> {
    let slots = open.records.len();
    let slots_u32 = u32::try_from(slots).map_err(too_large)?;
    // Terms in dictionary order, without those nothing refers to any more. Postings only
    // ever name slots that hold an event (deleting an event removes its postings).
    let mut used = vec![false; open.terms.len()];
    let (mut min_time, mut max_time, mut events) = (i64::MAX, i64::MIN, 0u32);
    let mut blocks = vec![BlockInfo::EMPTY; slots.div_ceil(BLOCK as usize)];
    let mut ids = Vec::with_capacity(open.events as usize);
    for (local, r) in open.records.iter().enumerate() {
        if !r.is_present() {
            continue;
        }
        for t in [
            r.event_name,
            r.event_source,
            r.username,
            r.access_key_id,
            r.principal,
        ] {
            if let Some(u) = used.get_mut(t as usize) {
                *u = true;
            }
        }
        blocks[local / BLOCK as usize].add(r.time_millis);
        min_time = min_time.min(r.time_millis);
        max_time = max_time.max(r.time_millis);
        events += 1;
        let hash = open.id_hashes.get(local).copied().unwrap_or(0);
        ids.push((hash, local as u16));
    }
    sort_by_hash(&mut ids);
    let mut postings_entries: u64 = 0;
    for (t, list) in open.postings.iter().enumerate() {
        debug_assert!(list.iter().all(|&l| open
            .records
            .get(usize::from(l))
            .is_some_and(Record::is_present)));
        if !list.is_empty() {
            used[t] = true;
            postings_entries += list.len() as u64;
        }
    }
    let mut order: Vec<u32> = (0..open.terms.len())
        .filter(|&t| used[t])
        .map(u32::try_from)
        .collect::<Result<_, _>>()
        .map_err(too_large)?;
    order.sort_unstable_by(|&a, &b| {
        let (ka, va) = &open.terms[a as usize];
        let (kb, vb) = &open.terms[b as usize];
        term_order((*ka, va), (*kb, vb))
    });
    let mut new_id = vec![NONE; open.terms.len()];
    let mut term_bytes: u64 = 0;
    for (position, &t) in order.iter().enumerate() {
        new_id[t as usize] = u32::try_from(position).map_err(too_large)?;
        term_bytes += open.terms[t as usize].1.len() as u64;
    }
    let remap = |t: u32| new_id.get(t as usize).copied().unwrap_or(NONE);

    let layout = Layout::new(
        slots as u64,
        order.len() as u64,
        term_bytes,
        postings_entries,
        ids.len() as u64,
        open.strings.len() as u64,
    )
    .ok_or(IndexError::TooLarge)?;
    let total = usize::try_from(layout.end)
        .map_err(too_large)?
        .checked_add(TRAILER_LEN)
        .ok_or(IndexError::TooLarge)?;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.push(span_bits);
    out.push(0);
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&open.first_seq.to_le_bytes());
    out.extend_from_slice(&generation.to_le_bytes());
    out.extend_from_slice(&open.next_seq.to_le_bytes());
    out.extend_from_slice(&slots_u32.to_le_bytes());
    out.extend_from_slice(&events.to_le_bytes());
    out.extend_from_slice(&min_time.to_le_bytes());
    out.extend_from_slice(&max_time.to_le_bytes());
    let dict_len = u32::try_from(order.len()).map_err(too_large)?;
    out.extend_from_slice(&dict_len.to_le_bytes());
    out.extend_from_slice(&events.to_le_bytes());
    out.extend_from_slice(&term_bytes.to_le_bytes());
    out.extend_from_slice(&postings_entries.to_le_bytes());
    out.extend_from_slice(&(open.strings.len() as u64).to_le_bytes());
    out.resize(HEADER_LEN, 0);
    for r in &open.records {
        if !r.is_present() {
            out.extend_from_slice(&[0; RECORD_LEN]);
            continue;
        }
        let mut w = *r;
        w.event_name = remap(r.event_name);
        w.event_source = remap(r.event_source);
        w.username = remap(r.username);
        w.access_key_id = remap(r.access_key_id);
        w.principal = remap(r.principal);
        out.extend_from_slice(&w.to_bytes());
    }
    for b in &blocks {
        out.extend_from_slice(&b.min.to_le_bytes());
        out.extend_from_slice(&b.max.to_le_bytes());
        out.extend_from_slice(&b.count.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
    }
    let mut dict_fences = Vec::with_capacity(order.len().div_ceil(DICT_FENCE));
    let (mut value_off, mut postings_start) = (0u64, 0u64);
    for (position, &t) in order.iter().enumerate() {
        let (kind, value) = &open.terms[t as usize];
        let count = open.postings.get(t as usize).map_or(0, Vec::len);
        out.push(*kind as u8);
        out.extend_from_slice(&[0; 3]);
        out.extend_from_slice(&u32::try_from(value.len()).map_err(too_large)?.to_le_bytes());
        out.extend_from_slice(&value_off.to_le_bytes());
        out.extend_from_slice(&postings_start.to_le_bytes());
        out.extend_from_slice(&u32::try_from(count).map_err(too_large)?.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        value_off += value.len() as u64;
        postings_start += count as u64;
        if position % DICT_FENCE == 0 {
            dict_fences.push((*kind, value.clone()));
        }
    }
    for &t in &order {
        out.extend_from_slice(open.terms[t as usize].1.as_bytes());
    }
    for &t in &order {
        for &local in open.postings.get(t as usize).map_or(&[][..], Vec::as_slice) {
            out.extend_from_slice(&local.to_le_bytes());
        }
    }
    let mut id_fences = Vec::with_capacity(ids.len().div_ceil(ID_FENCE));
    for (i, (hash, local)) in ids.iter().enumerate() {
        out.extend_from_slice(&hash.to_le_bytes());
        out.extend_from_slice(&local.to_le_bytes());
        if i % ID_FENCE == 0 {
            id_fences.push(*hash);
        }
    }
    out.extend_from_slice(&open.strings);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    debug_assert_eq!(out.len(), total);
    let seg = Segment {
        path: path.to_path_buf(),
        first_seq: open.first_seq,
        generation,
        next_seq: open.next_seq,
        slots: slots_u32,
        events,
        min_time,
        max_time,
        blocks,
        layout,
        dict_len,
        dict_fences,
        id_len: events,
        id_fences,
    };
    #[cfg(debug_assertions)]
    {
        // What opening the file will find: the same summary.
        let parsed = Segment::parse(path, &out, span_bits, open.first_seq, generation)?;
        debug_assert_eq!(format!("{parsed:?}"), format!("{seg:?}"));
    }
    Ok((out, seg))
}

/// Sorts (hash, slot) pairs that arrive in slot order by (hash, slot): a stable LSD radix
/// sort on the hash's bytes, about ten times cheaper than a comparison sort here.
fn sort_by_hash(ids: &mut Vec<(u64, u16)>) {
    let mut counts = [[0usize; 256]; 8];
    for (hash, _) in ids.iter() {
        for (digit, count) in counts.iter_mut().enumerate() {
            count[(hash >> (8 * digit)) as usize & 0xff] += 1;
        }
    }
    let mut scratch = vec![(0u64, 0u16); ids.len()];
    for (digit, count) in counts.iter().enumerate() {
        if count.contains(&ids.len()) {
            continue; // every hash has the same byte here
        }
        let mut next = [0usize; 256];
        let mut total = 0;
        for (n, c) in next.iter_mut().zip(count) {
            *n = total;
            total += c;
        }
        for &entry in ids.iter() {
            let bucket = (entry.0 >> (8 * digit)) as usize & 0xff;
            scratch[next[bucket]] = entry;
            next[bucket] += 1;
        }
        std::mem::swap(ids, &mut scratch);
    }
}

/// A decoded dictionary entry.
#[derive(Debug, Clone, Copy)]
struct DictEntry {
    kind: Kind,
    value_len: u32,
    value_off: u64,
    postings_start: u64,
    postings_len: u32,
}

/// The bytes of an entry's postings in the postings section.
fn postings_bytes<'b>(postings: &'b [u8], e: &DictEntry) -> Option<&'b [u8]> {
    let end = e.postings_start.checked_add(u64::from(e.postings_len))?;
    range(
        postings,
        e.postings_start.checked_mul(2)?,
        end.checked_mul(2)?,
    )
}

impl DictEntry {
    fn decode(b: &[u8]) -> Option<Self> {
        Some(Self {
            kind: Kind::from_byte(*b.first()?)?,
            value_len: u32_at(b, 4)?,
            value_off: u64_at(b, 8)?,
            postings_start: u64_at(b, 16)?,
            postings_len: u32_at(b, 24)?,
        })
    }

    fn value_end(&self) -> Option<u64> {
        self.value_off.checked_add(u64::from(self.value_len))
    }
}

impl Segment {
    /// Checks a whole segment file's bytes (magic, version, CRC-32, structure) and keeps
    /// what queries need. `first_seq` and `generation` are those of its name; `span_bits`
    /// is the index's segment size.
    pub(super) fn parse(
        path: &Path,
        bytes: &[u8],
        span_bits: u8,
        first_seq: u64,
        generation: u64,
    ) -> Result<Self, IndexError> {
        let corrupt = |what: &'static str| IndexError::Corrupt {
            file: path.to_path_buf(),
            what,
        };
        if bytes.len() < 10 || &bytes[..8] != MAGIC {
            return Err(corrupt("not a segment file (bad magic)"));
        }
        let version = u16_at(bytes, 8).ok_or_else(|| corrupt("short header"))?;
        if version > FORMAT_VERSION {
            return Err(IndexError::UnsupportedFormat {
                file: path.to_path_buf(),
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        if version != FORMAT_VERSION {
            return Err(corrupt("unknown format version"));
        }
        if bytes.len() < HEADER_LEN + TRAILER_LEN {
            return Err(corrupt("truncated"));
        }
        let (body, trailer) = bytes.split_at(bytes.len() - TRAILER_LEN);
        if u32_at(trailer, 0) != Some(crc32fast::hash(body)) {
            return Err(corrupt("checksum mismatch"));
        }
        let h = |at| u64_at(bytes, at).ok_or_else(|| corrupt("short header"));
        let h32 = |at| u32_at(bytes, at).ok_or_else(|| corrupt("short header"));
        if bytes[10] != span_bits {
            return Err(corrupt("segment size differs from the index's"));
        }
        let span = 1u64 << span_bits;
        let seg_first = h(16)?;
        let seg_generation = h(24)?;
        let next_seq = h(32)?;
        let slots = h32(40)?;
        let events = h32(44)?;
        let min_time = i64_at(bytes, 48).ok_or_else(|| corrupt("short header"))?;
        let max_time = i64_at(bytes, 56).ok_or_else(|| corrupt("short header"))?;
        let dict_len = h32(64)?;
        let id_len = h32(68)?;
        let term_bytes = h(72)?;
        let postings_entries = h(80)?;
        let string_bytes = h(88)?;
        if seg_first != first_seq || seg_generation != generation {
            return Err(corrupt("header does not match the file name"));
        }
        if !first_seq.is_multiple_of(span)
            || u64::from(slots) > span
            || events > slots
            || id_len != events
            || next_seq < first_seq
            || next_seq - first_seq > span
            || u64::from(slots) > next_seq - first_seq
        {
            return Err(corrupt("inconsistent header"));
        }
        let layout = Layout::new(
            u64::from(slots),
            u64::from(dict_len),
            term_bytes,
            postings_entries,
            u64::from(id_len),
            string_bytes,
        )
        .ok_or_else(|| corrupt("sections overflow"))?;
        if layout.end != body.len() as u64 {
            return Err(corrupt("length does not match the header"));
        }
        let section =
            |start: u64, end: u64| range(body, start, end).ok_or_else(|| corrupt("section"));
        let records = section(layout.records, layout.blocks)?;
        let blocks_bytes = section(layout.blocks, layout.dict)?;
        let dict = section(layout.dict, layout.terms)?;
        let terms = section(layout.terms, layout.postings)?;
        let postings = section(layout.postings, layout.ids)?;
        let ids = section(layout.ids, layout.strings)?;

        // Records: flags known, term ids in the dictionary, strings in the heap; their
        // times must agree with the blocks and the header.
        let mut expected_blocks = vec![BlockInfo::EMPTY; (slots as usize).div_ceil(BLOCK as usize)];
        let (mut lo, mut hi, mut count) = (i64::MAX, i64::MIN, 0u32);
        for (local, chunk) in records.chunks_exact(RECORD_LEN).enumerate() {
            let r = Record::decode(chunk).ok_or_else(|| corrupt("record"))?;
            if r.flags & !KNOWN_FLAGS != 0 {
                return Err(corrupt("record flags"));
            }
            if !r.is_present() {
                continue;
            }
            let term_ok = |t: u32, optional: bool| (optional && t == NONE) || t < dict_len;
            if !(term_ok(r.event_name, false)
                && term_ok(r.event_source, false)
                && term_ok(r.username, true)
                && term_ok(r.access_key_id, true)
                && term_ok(r.principal, true))
            {
                return Err(corrupt("record term id"));
            }
            match r.strings_range() {
                Some((_, end)) if end <= string_bytes => {}
                _ => return Err(corrupt("record strings")),
            }
            expected_blocks[local / BLOCK as usize].add(r.time_millis);
            lo = lo.min(r.time_millis);
            hi = hi.max(r.time_millis);
            count += 1;
        }
        if count != events || (count > 0 && (lo != min_time || hi != max_time)) {
            return Err(corrupt("records disagree with the header"));
        }
        let mut blocks = Vec::with_capacity(expected_blocks.len());
        for (chunk, expected) in blocks_bytes
            .chunks_exact(BLOCK_INFO_LEN)
            .zip(&expected_blocks)
        {
            let b = BlockInfo {
                min: i64_at(chunk, 0).ok_or_else(|| corrupt("block"))?,
                max: i64_at(chunk, 8).ok_or_else(|| corrupt("block"))?,
                count: u32_at(chunk, 16).ok_or_else(|| corrupt("block"))?,
            };
            if b != *expected {
                return Err(corrupt("time block disagrees with the records"));
            }
            blocks.push(b);
        }

        // Dictionary: sorted, unique, values in bounds and UTF-8, postings in bounds,
        // ascending and naming slots that hold an event.
        let mut dict_fences = Vec::new();
        let mut previous: Option<(Kind, &str)> = None;
        let mut next_postings = 0u64;
        for (i, chunk) in dict.chunks_exact(DICT_ENTRY_LEN).enumerate() {
            let e = DictEntry::decode(chunk).ok_or_else(|| corrupt("dictionary entry"))?;
            let value = range(
                terms,
                e.value_off,
                e.value_end().ok_or_else(|| corrupt("term"))?,
            )
            .ok_or_else(|| corrupt("term out of bounds"))?;
            let value = std::str::from_utf8(value).map_err(|_| corrupt("term is not UTF-8"))?;
            if previous.is_some_and(|p| term_order(p, (e.kind, value)).is_ge()) {
                return Err(corrupt("dictionary out of order"));
            }
            previous = Some((e.kind, value));
            if i % DICT_FENCE == 0 {
                dict_fences.push((e.kind, value.into()));
            }
            if e.postings_start != next_postings {
                return Err(corrupt("postings out of order"));
            }
            let end = e.postings_start.saturating_add(u64::from(e.postings_len));
            let list =
                postings_bytes(postings, &e).ok_or_else(|| corrupt("postings out of bounds"))?;
            let mut last: Option<u16> = None;
            for pair in list.chunks_exact(2) {
                let local = u16_at(pair, 0).ok_or_else(|| corrupt("postings"))?;
                let holds_event = records
                    .get(usize::from(local) * RECORD_LEN + 60)
                    .is_some_and(|f| f & PRESENT != 0);
                if last.is_some_and(|l| l >= local) || !holds_event {
                    return Err(corrupt("postings entry"));
                }
                last = Some(local);
            }
            next_postings = end;
        }
        if next_postings != postings_entries {
            return Err(corrupt("postings section length"));
        }

        // Event-id table: sorted by (hash, slot), one entry per event.
        let mut id_fences = Vec::new();
        let mut previous: Option<(u64, u16)> = None;
        for (i, chunk) in ids.chunks_exact(ID_ENTRY_LEN).enumerate() {
            let entry = (
                u64_at(chunk, 0).ok_or_else(|| corrupt("event id entry"))?,
                u16_at(chunk, 8).ok_or_else(|| corrupt("event id entry"))?,
            );
            if previous.is_some_and(|p| p >= entry) || u32::from(entry.1) >= slots {
                return Err(corrupt("event id table"));
            }
            previous = Some(entry);
            if i % ID_FENCE == 0 {
                id_fences.push(entry.0);
            }
        }

        Ok(Self {
            path: path.to_path_buf(),
            first_seq,
            generation,
            next_seq,
            slots,
            events,
            min_time,
            max_time,
            blocks,
            layout,
            dict_len,
            dict_fences,
            id_len,
            id_fences,
        })
    }

    /// Whether block `b` may hold an event whose time is in [lo, hi].
    pub(super) fn block_may_match(&self, local: u32, lo: i64, hi: i64) -> bool {
        self.blocks
            .get((local / BLOCK) as usize)
            .is_some_and(|b| b.count > 0 && b.max >= lo && b.min <= hi)
    }

    /// The whole segment as an open (in-memory) segment again, without the events the
    /// retention `cutoff` removed: for appending to it or rewriting it.
    pub(super) fn load(
        &self,
        bytes: &[u8],
        cutoff: i64,
        span: u64,
    ) -> Result<OpenSegment, IndexError> {
        let corrupt = |what: &'static str| IndexError::Corrupt {
            file: self.path.clone(),
            what,
        };
        let body = bytes
            .get(..bytes.len().saturating_sub(TRAILER_LEN))
            .unwrap_or(&[]);
        if body.len() as u64 != self.layout.end {
            return Err(corrupt("changed since it was opened"));
        }
        let l = &self.layout;
        let section =
            |start: u64, end: u64| range(body, start, end).ok_or_else(|| corrupt("section"));
        let mut open = OpenSegment::new(self.first_seq, span);
        open.next_seq = self.next_seq;
        for chunk in section(l.records, l.blocks)?.chunks_exact(RECORD_LEN) {
            let mut r = Record::decode(chunk).ok_or_else(|| corrupt("record"))?;
            if r.is_present() && r.time_millis < cutoff {
                r = Record::default();
            }
            open.records.push(r);
        }
        open.id_hashes = vec![0; open.records.len()];
        for chunk in section(l.ids, l.strings)?.chunks_exact(ID_ENTRY_LEN) {
            let hash = u64_at(chunk, 0).ok_or_else(|| corrupt("event id entry"))?;
            let local = u16_at(chunk, 8).ok_or_else(|| corrupt("event id entry"))?;
            if let Some(slot) = open.id_hashes.get_mut(usize::from(local)) {
                *slot = hash;
            }
        }
        let terms = section(l.terms, l.postings)?;
        let postings = section(l.postings, l.ids)?;
        for chunk in section(l.dict, l.terms)?.chunks_exact(DICT_ENTRY_LEN) {
            let e = DictEntry::decode(chunk).ok_or_else(|| corrupt("dictionary entry"))?;
            let value = range(
                terms,
                e.value_off,
                e.value_end().ok_or_else(|| corrupt("term"))?,
            )
            .ok_or_else(|| corrupt("term"))?;
            let value = std::str::from_utf8(value).map_err(|_| corrupt("term"))?;
            let list = postings_bytes(postings, &e).ok_or_else(|| corrupt("postings"))?;
            let locals = list
                .chunks_exact(2)
                .filter_map(|p| u16_at(p, 0))
                .filter(|&local| {
                    open.records
                        .get(usize::from(local))
                        .is_some_and(Record::is_present)
                })
                .collect();
            open.push_term(e.kind, value, locals)?;
        }
        open.strings = section(l.strings, l.end)?.to_vec();
        open.events = open.records.iter().filter(|r| r.is_present()).count() as u32;
        Ok(open)
    }
}

/// Positioned reads of one segment file, with a small cache of records.
pub(super) struct Reader<'a> {
    seg: &'a Segment,
    file: File,
    chunk: Vec<u8>,
    chunk_first: u32,
}

#[cfg(test)]
thread_local! {
    /// Record chunks read from segment files by this thread (tests bound a page's reads).
    pub(super) static RECORD_READS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

impl<'a> Reader<'a> {
    /// Opens the segment's file. A file that no longer exists (retention removed it, or a
    /// newer generation replaced it) is an `Io` error of kind `NotFound`.
    pub(super) fn open(seg: &'a Segment) -> Result<Self, IndexError> {
        let file = File::open(&seg.path).map_err(IndexError::Io)?;
        Ok(Self {
            seg,
            file,
            chunk: Vec::new(),
            chunk_first: 0,
        })
    }

    fn corrupt(&self, what: &'static str) -> IndexError {
        IndexError::Corrupt {
            file: self.seg.path.clone(),
            what,
        }
    }

    /// Reads `len` bytes at `offset`, which must lie inside [start, end) (a section).
    fn read(&self, offset: u64, len: u64, end: u64) -> Result<Vec<u8>, IndexError> {
        let stop = offset
            .checked_add(len)
            .ok_or_else(|| self.corrupt("range"))?;
        if stop > end {
            return Err(self.corrupt("read past its section"));
        }
        let mut buf = vec![0; usize::try_from(len).map_err(|_| self.corrupt("range"))?];
        self.file
            .read_exact_at(&mut buf, offset)
            .map_err(IndexError::Io)?;
        Ok(buf)
    }

    /// The record in slot `local`, if it holds an event.
    pub(super) fn record(&mut self, local: u32) -> Result<Option<Record>, IndexError> {
        if local >= self.seg.slots {
            return Ok(None);
        }
        let chunk_records = self.chunk.len() / RECORD_LEN;
        if self.chunk.is_empty()
            || local < self.chunk_first
            || local >= self.chunk_first + chunk_records as u32
        {
            let first = local - local % RECORD_CHUNK;
            let n = RECORD_CHUNK.min(self.seg.slots - first);
            let l = &self.seg.layout;
            self.chunk = self.read(
                l.records + u64::from(first) * RECORD_LEN as u64,
                u64::from(n) * RECORD_LEN as u64,
                l.blocks,
            )?;
            self.chunk_first = first;
            #[cfg(test)]
            RECORD_READS.with(|r| r.set(r.get() + 1));
        }
        let at = (local - self.chunk_first) as usize * RECORD_LEN;
        let r = self
            .chunk
            .get(at..at + RECORD_LEN)
            .and_then(Record::decode)
            .ok_or_else(|| self.corrupt("record"))?;
        Ok(r.is_present().then_some(r))
    }

    /// The dictionary entry of (kind, value), if this segment has the term.
    pub(super) fn term(&mut self, kind: Kind, value: &str) -> Result<Option<TermRef>, IndexError> {
        let fences = &self.seg.dict_fences;
        let after = fences.partition_point(|(k, v)| term_order((*k, v), (kind, value)).is_le());
        let Some(block) = after.checked_sub(1) else {
            return Ok(None);
        };
        let first = block * DICT_FENCE;
        let n = DICT_FENCE.min((self.seg.dict_len as usize).saturating_sub(first));
        let entries = self.dict_entries(first as u32, n as u32)?;
        let (Some(a), Some(b)) = (entries.first(), entries.last()) else {
            return Ok(None);
        };
        let end = b.value_end().ok_or_else(|| self.corrupt("term"))?;
        let l = &self.seg.layout;
        let values = self.read(
            l.terms + a.value_off,
            end.checked_sub(a.value_off)
                .ok_or_else(|| self.corrupt("term"))?,
            l.postings,
        )?;
        for (i, e) in entries.iter().enumerate() {
            let v = e
                .value_off
                .checked_sub(a.value_off)
                .zip(e.value_end().and_then(|end| end.checked_sub(a.value_off)))
                .and_then(|(s, t)| range(&values, s, t))
                .ok_or_else(|| self.corrupt("term"))?;
            if e.kind == kind && v == value.as_bytes() {
                return Ok(Some(TermRef {
                    id: (first + i) as u32,
                    start: e.postings_start,
                    len: u64::from(e.postings_len),
                }));
            }
        }
        Ok(None)
    }

    fn dict_entries(&self, first: u32, n: u32) -> Result<Vec<DictEntry>, IndexError> {
        let l = &self.seg.layout;
        let bytes = self.read(
            l.dict + u64::from(first) * DICT_ENTRY_LEN as u64,
            u64::from(n) * DICT_ENTRY_LEN as u64,
            l.terms,
        )?;
        bytes
            .chunks_exact(DICT_ENTRY_LEN)
            .map(|c| DictEntry::decode(c).ok_or_else(|| self.corrupt("dictionary entry")))
            .collect()
    }

    /// The value of dictionary entry `id`.
    pub(super) fn term_value(&self, id: u32) -> Result<String, IndexError> {
        if id >= self.seg.dict_len {
            return Err(self.corrupt("term id"));
        }
        let e = self.dict_entries(id, 1)?;
        let e = e.first().ok_or_else(|| self.corrupt("term id"))?;
        let l = &self.seg.layout;
        let bytes = self.read(l.terms + e.value_off, u64::from(e.value_len), l.postings)?;
        String::from_utf8(bytes).map_err(|_| self.corrupt("term is not UTF-8"))
    }

    /// Postings entries [end − n, end) of `term` (n ≤ [`POSTINGS_CHUNK`]), ascending, into
    /// `out`; returns the new end.
    pub(super) fn postings_chunk(
        &self,
        term: &TermRef,
        end: u64,
        out: &mut Vec<u16>,
    ) -> Result<u64, IndexError> {
        let start = end.saturating_sub(POSTINGS_CHUNK);
        let l = &self.seg.layout;
        let offset = term
            .start
            .checked_add(start)
            .and_then(|i| i.checked_mul(2))
            .and_then(|b| b.checked_add(l.postings))
            .ok_or_else(|| self.corrupt("postings"))?;
        let bytes = self.read(offset, (end - start) * 2, l.ids)?;
        out.clear();
        out.extend(bytes.chunks_exact(2).filter_map(|p| u16_at(p, 0)));
        Ok(start)
    }

    /// The slots whose event-id hash is `hash` (callers compare the strings).
    pub(super) fn event_id_slots(&self, hash: u64) -> Result<Vec<u32>, IndexError> {
        let fences = &self.seg.id_fences;
        let block = fences.partition_point(|&f| f < hash).saturating_sub(1);
        let mut out = Vec::new();
        let l = &self.seg.layout;
        let mut first = block * ID_FENCE;
        while first < self.seg.id_len as usize {
            let n = ID_FENCE.min(self.seg.id_len as usize - first);
            let bytes = self.read(
                l.ids + (first * ID_ENTRY_LEN) as u64,
                (n * ID_ENTRY_LEN) as u64,
                l.strings,
            )?;
            for entry in bytes.chunks_exact(ID_ENTRY_LEN) {
                let h = u64_at(entry, 0).ok_or_else(|| self.corrupt("event id entry"))?;
                if h > hash {
                    return Ok(out);
                }
                if h == hash {
                    out.push(u32::from(
                        u16_at(entry, 8).ok_or_else(|| self.corrupt("event id entry"))?,
                    ));
                }
            }
            first += n;
        }
        Ok(out)
    }

    /// The record's `eventID` and `requestID`.
    pub(super) fn strings(&self, r: &Record) -> Result<(String, Option<String>), IndexError> {
        let (start, end) = r
            .strings_range()
            .ok_or_else(|| self.corrupt("record strings"))?;
        let l = &self.seg.layout;
        let bytes = self.read(l.strings + start, end - start, l.end)?;
        split_strings(&bytes, r).ok_or_else(|| self.corrupt("record strings"))
    }

    /// Whether the record's `eventID` is `id`.
    pub(super) fn event_id_is(&self, r: &Record, id: &str) -> Result<bool, IndexError> {
        if r.event_id_len as usize != id.len() {
            return Ok(false);
        }
        let l = &self.seg.layout;
        let bytes = self.read(l.strings + r.strings_off, u64::from(r.event_id_len), l.end)?;
        Ok(bytes == id.as_bytes())
    }
}

/// (`eventID`, `requestID`) from the bytes of a record's strings.
pub(super) fn split_strings(bytes: &[u8], r: &Record) -> Option<(String, Option<String>)> {
    let (id, rest) = bytes.split_at_checked(r.event_id_len as usize)?;
    let id = String::from_utf8(id.to_vec()).ok()?;
    let request = if r.request_id_len == NO_STRING {
        None
    } else {
        Some(String::from_utf8(rest.get(..r.request_id_len as usize)?.to_vec()).ok()?)
    };
    Some((id, request))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn the_radix_sort_orders_by_hash_then_slot(hashes in proptest::collection::vec(any::<u64>(), 0..600), narrow in any::<bool>()) {
            // Narrow hashes repeat, so that ties (ordered by slot) occur.
            let mut ids: Vec<(u64, u16)> = hashes
                .iter()
                .enumerate()
                .map(|(slot, &h)| (if narrow { h % 7 } else { h }, slot as u16))
                .collect();
            let mut want = ids.clone();
            want.sort_unstable();
            sort_by_hash(&mut ids);
            prop_assert_eq!(ids, want);
        }
    }
}
