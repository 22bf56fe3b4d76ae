//! Answers over several nodes' logs: nodes that share one store keep one log each, and a
//! lookup on any of them must cover all of them.
//!
//! The node that serves a `LookupEvents` asks every live node (itself included) for one
//! page of matches below that node's position, and [`merge`]s the pages newest first
//! into one page of the client's size. What it took from each node moves that node's
//! position; the positions of all nodes travel in the `NextToken` ([`Positions`]), so
//! every event of every node is returned exactly once over the pages, as on one node.
//! Usage summaries combine by summing each group over the nodes ([`merge_usage_rows`]).

use crate::index::{usage_rows, Aggregate, IndexError, UsageKey, UsageRow, FINGERPRINT_LEN};
use base64::Engine as _;
use std::collections::{BTreeMap, HashMap};

/// The version byte of a token over several nodes (a one-node token starts with 1).
const TOKEN_VERSION: u8 = 2;
/// Most nodes a token may name (a decoding bound, far above any real cluster).
const MAX_NODES: usize = 1024;

/// One matching event of one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeEvent {
    /// The event's index in its node's log.
    pub seq: u64,
    /// `eventTime`, in milliseconds since the epoch: the order across nodes.
    pub time_millis: i64,
    /// The canonical event bytes.
    pub bytes: Vec<u8>,
}

/// One node's answer: up to a page of matches below its position, newest first, and
/// whether more follow them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePage {
    pub node: String,
    pub events: Vec<NodeEvent>,
    pub more: bool,
}

/// Where a paginated lookup stands on each node: the log index below which that node's
/// next matches lie. A node not named has not been read yet (it starts at its newest);
/// 0 means it has nothing more.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Positions {
    before: BTreeMap<String, u64>,
}

impl Positions {
    /// The position of `node`: [`u64::MAX`] if it has not been read yet.
    pub fn before(&self, node: &str) -> u64 {
        self.before.get(node).copied().unwrap_or(u64::MAX)
    }

    /// `version | fingerprint | node count (u16) | (name length (u8) | name | position
    /// (u64))*`, big-endian, base64url without padding.
    pub fn encode(&self, fingerprint: &[u8; FINGERPRINT_LEN]) -> String {
        let mut out = Vec::with_capacity(1 + FINGERPRINT_LEN + 2 + self.before.len() * 24);
        out.push(TOKEN_VERSION);
        out.extend_from_slice(fingerprint);
        // Node names are 1-64 bytes and nodes far fewer than 65,536 (the binary checks
        // names; `decode` bounds both).
        out.extend_from_slice(&(self.before.len() as u16).to_be_bytes());
        for (node, before) in &self.before {
            out.push(node.len() as u8);
            out.extend_from_slice(node.as_bytes());
            out.extend_from_slice(&before.to_be_bytes());
        }
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out)
    }

    /// The positions in `token`, if it is a token of ours for the query with this
    /// fingerprint; [`IndexError::InvalidNextToken`] otherwise.
    pub fn decode(token: &str, fingerprint: &[u8; FINGERPRINT_LEN]) -> Result<Self, IndexError> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| IndexError::InvalidNextToken)?;
        let mut r = Reader(&bytes);
        if r.take(1)? != [TOKEN_VERSION] || r.take(FINGERPRINT_LEN)? != fingerprint {
            return Err(IndexError::InvalidNextToken);
        }
        let count = u16::from_be_bytes(r.array()?) as usize;
        if count > MAX_NODES {
            return Err(IndexError::InvalidNextToken);
        }
        let mut before = BTreeMap::new();
        for _ in 0..count {
            let len = r.take(1)?[0] as usize;
            let name = std::str::from_utf8(r.take(len)?)
                .map_err(|_| IndexError::InvalidNextToken)?
                .to_string();
            let position = u64::from_be_bytes(r.array()?);
            if name.is_empty() || before.insert(name, position).is_some() {
                return Err(IndexError::InvalidNextToken);
            }
        }
        if !r.0.is_empty() {
            return Err(IndexError::InvalidNextToken);
        }
        Ok(Self { before })
    }
}

/// Reads a token front to back; running short is an invalid token.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], IndexError> {
        if self.0.len() < n {
            return Err(IndexError::InvalidNextToken);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], IndexError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
}

/// One page of up to `limit` events from the nodes' pages, newest first (ties in order
/// of node name; each node's own order is kept), and whether more follow. Moves
/// `positions` past what the page took: a node's position becomes the log index of the
/// last event taken from it, or 0 once it has nothing more. Positions of nodes without a
/// page here (not reachable now) are kept as they are and do not count as "more".
pub fn merge(
    pages: Vec<NodePage>,
    limit: usize,
    positions: &mut Positions,
) -> (Vec<NodeEvent>, bool) {
    let mut pages = pages;
    pages.sort_by(|a, b| a.node.cmp(&b.node));
    let mut taken = vec![0usize; pages.len()];
    let mut out = Vec::with_capacity(limit);
    while out.len() < limit {
        let mut best: Option<usize> = None;
        for (i, page) in pages.iter().enumerate() {
            let Some(candidate) = page.events.get(taken[i]) else {
                continue;
            };
            let newer = match best {
                None => true,
                Some(b) => candidate.time_millis > pages[b].events[taken[b]].time_millis,
            };
            if newer {
                best = Some(i);
            }
        }
        let Some(i) = best else { break };
        out.push(i);
        taken[i] += 1;
    }
    let mut more = false;
    for (page, &n) in pages.iter().zip(&taken) {
        let left = n < page.events.len() || page.more;
        let position = if !left {
            0
        } else if n > 0 {
            page.events[n - 1].seq
        } else {
            positions.before(&page.node)
        };
        positions.before.insert(page.node.clone(), position);
        more |= left;
    }
    // Each page's events move out in the order they were taken.
    let mut events: Vec<std::vec::IntoIter<NodeEvent>> =
        pages.into_iter().map(|p| p.events.into_iter()).collect();
    let page = out.into_iter().filter_map(|i| events[i].next()).collect();
    (page, more)
}

/// Usage groups of several nodes as one summary: one row per (principal, access key,
/// operation), counts summed, first and last use over all nodes, newest last use first.
pub fn merge_usage_rows(rows: impl IntoIterator<Item = UsageRow>) -> Vec<UsageRow> {
    let mut groups: HashMap<UsageKey, Aggregate> = HashMap::new();
    for row in rows {
        let (key, tallies) = row.into_group();
        groups.entry(key).or_default().merge(&tallies);
    }
    usage_rows(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: [u8; FINGERPRINT_LEN] = [7; FINGERPRINT_LEN];

    fn event(seq: u64, time_millis: i64) -> NodeEvent {
        NodeEvent {
            seq,
            time_millis,
            bytes: format!("{seq}@{time_millis}").into_bytes(),
        }
    }

    /// A node's log: events at the given times (oldest first), seq = position.
    fn log(times: &[i64]) -> Vec<NodeEvent> {
        times
            .iter()
            .enumerate()
            .map(|(i, &t)| event(i as u64, t))
            .collect()
    }

    /// What a node answers: up to `limit` events below `before`, newest first.
    fn page_of(node: &str, log: &[NodeEvent], before: u64, limit: usize) -> NodePage {
        let below: Vec<NodeEvent> = log
            .iter()
            .rev()
            .filter(|e| e.seq < before)
            .cloned()
            .collect();
        NodePage {
            node: node.to_string(),
            more: below.len() > limit,
            events: below.into_iter().take(limit).collect(),
        }
    }

    #[test]
    fn pages_over_several_nodes_return_every_event_once_newest_first() {
        let logs = [
            ("a", log(&[1, 4, 4, 9, 12, 30])),
            ("b", log(&[2, 3, 5, 8, 13])),
            ("c", log(&[])),
            ("d", log(&[40])),
        ];
        for limit in 1..=7 {
            let mut positions = Positions::default();
            let mut seen = Vec::new();
            let mut token: Option<String> = None;
            for _round in 0..100 {
                if let Some(t) = &token {
                    positions = Positions::decode(t, &FP).unwrap();
                }
                let pages = logs
                    .iter()
                    .map(|(n, l)| page_of(n, l, positions.before(n), limit))
                    .collect();
                let (page, more) = merge(pages, limit, &mut positions);
                assert!(page.len() <= limit);
                seen.extend(page.into_iter().map(|e| e.time_millis));
                if !more {
                    break;
                }
                token = Some(positions.encode(&FP));
            }
            let mut expected: Vec<i64> = logs
                .iter()
                .flat_map(|(_, l)| l.iter().map(|e| e.time_millis))
                .collect();
            expected.sort_by(|a, b| b.cmp(a));
            assert_eq!(seen, expected, "limit {limit}");
        }
    }

    #[test]
    fn a_node_without_a_page_keeps_its_position_and_is_not_more() {
        let mut positions = Positions::default();
        positions.before.insert("gone".into(), 17);
        let pages = vec![page_of("a", &log(&[1, 2]), u64::MAX, 5)];
        let (page, more) = merge(pages, 5, &mut positions);
        assert_eq!(page.len(), 2);
        assert!(!more);
        assert_eq!(positions.before("gone"), 17);
        assert_eq!(positions.before("a"), 0);
        // A node first seen on a later page starts at its newest.
        assert_eq!(positions.before("new"), u64::MAX);
    }

    #[test]
    fn tokens_round_trip_and_bind_to_their_query() {
        let mut positions = Positions::default();
        positions.before.insert("node-1".into(), 0);
        positions.before.insert("node-2".into(), u64::MAX);
        positions.before.insert("n".repeat(64), 12345);
        let token = positions.encode(&FP);
        assert_eq!(Positions::decode(&token, &FP).unwrap(), positions);
        let other = [8; FINGERPRINT_LEN];
        assert!(matches!(
            Positions::decode(&token, &other),
            Err(IndexError::InvalidNextToken)
        ));
    }

    #[test]
    fn malformed_tokens_are_invalid_never_a_panic() {
        let good = {
            let mut p = Positions::default();
            p.before.insert("node-1".into(), 9);
            p.encode(&FP)
        };
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&good)
            .unwrap();
        // Every truncation, and every single-byte change, of a good token.
        for n in 0..raw.len() {
            let cut = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&raw[..n]);
            assert!(Positions::decode(&cut, &FP).is_err(), "cut at {n}");
        }
        for i in 0..raw.len() {
            for bit in 0..8 {
                let mut b = raw.clone();
                b[i] ^= 1 << bit;
                let t = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&b);
                // A flipped position or name byte may still decode; it must not panic.
                let _ = Positions::decode(&t, &FP);
            }
        }
        let mut long = raw.clone();
        long.push(0);
        let long = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&long);
        assert!(Positions::decode(&long, &FP).is_err());
        assert!(Positions::decode("not base64 !", &FP).is_err());
    }

    #[test]
    fn usage_groups_sum_over_nodes() {
        let row = |who: &str, op: &str, count, first, last| UsageRow {
            principal: Some(who.into()),
            access_key_id: None,
            event_name: op.into(),
            count,
            errors: count / 2,
            first_millis: first,
            last_millis: last,
        };
        let merged = merge_usage_rows(vec![
            row("alice", "Encrypt", 3, 10, 50),
            row("bob", "Decrypt", 1, 5, 5),
            row("alice", "Encrypt", 4, 2, 40),
        ]);
        assert_eq!(
            merged,
            vec![
                row("alice", "Encrypt", 7, 2, 50),
                row("bob", "Decrypt", 1, 5, 5)
            ]
            .into_iter()
            .map(|mut r| {
                r.errors = if r.count == 7 { 3 } else { 0 };
                r
            })
            .collect::<Vec<_>>()
        );
    }
}
