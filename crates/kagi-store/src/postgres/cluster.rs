//! What lets several nodes share one database: change notification and the maintenance
//! lease.
//!
//! **Change notification.** Every batch that changes cached state ends, inside its
//! transaction, with `pg_notify('kagi_changes', payload)`: PostgreSQL delivers it to every
//! listening session when (and only if) the batch commits, in commit order. The payload is
//! the writing node's id and one line per [`Change`]:
//!
//! ```text
//! <node id, 16 hex digits>
//! k <region> <key id>          a key (metadata, versions, destruction)
//! a <region> <alias name>      an alias
//! g <region> <key id>          the grants of a key
//! c <access key id>            an access key
//! u <user name>                a user's inline policies
//! r <role name>                a role, its policies and its tags
//! t <user|role> <name>         a principal's tags
//! *                            every key, alias and grant (the dev reset)
//! ```
//!
//! Fields are separated by one space; none of them can contain one (region, key id, alias,
//! access key id and IAM names are validated before they reach the store). A payload too
//! long for `NOTIFY` (8000 bytes) is sent as the single line `!`, which, like a line a
//! reader does not understand, makes it forget everything: only slower, never wrong.
//!
//! A [`ChangeFeed`] is one dedicated connection that `LISTEN`s. [`ChangeFeed::poll`] first
//! makes a round trip to the server, which delivers every notification of a transaction
//! that committed before the round trip started; so when `poll` returns, the caller has
//! seen every change committed before it called (the basis of the cache's staleness
//! bound, see `Kms::mark_synced`).
//!
//! **Node registry.** Each node records its name and the URL its peers reach it at, with
//! the database's time, every few seconds ([`PostgresStore::register_node`]); the nodes
//! seen recently are the live ones ([`PostgresStore::live_nodes`]).
//!
//! **Maintenance lease.** A session-level advisory lock on a dedicated connection: the
//! node holding it runs scheduled deletions and rotations. When the node dies, its session
//! ends and the lock is free for the next node that asks; a holder that loses its
//! connection stops claiming the lease at once.

use super::{backend, PostgresStore};
use kagi_kms::{AliasName, Change, KeyId, PrincipalRef, Region, StoreError};
use postgres::fallible_iterator::FallibleIterator;
use postgres::Client;
use std::time::{Duration, Instant};

/// The notification channel.
pub(crate) const CHANNEL: &str = "kagi_changes";

/// `NOTIFY` payloads must be shorter than 8000 bytes.
const MAX_PAYLOAD: usize = 7_900;

/// The advisory-lock key of the maintenance lease (an arbitrary constant: "kagi" + 2).
const LEASE_LOCK: i64 = 0x6b61_6769_0000_0002;

/// The notification payload of a batch by node `node`; `None` if it changes nothing cached.
pub(crate) fn encode_changes(node: u64, changes: &[Change]) -> Option<String> {
    if changes.is_empty() {
        return None;
    }
    let mut out = format!("{node:016x}");
    for c in changes {
        out.push('\n');
        match c {
            Change::Key { region, key_id } => {
                push(&mut out, &["k", region.as_str(), &key_id.to_string()])
            }
            Change::Alias { region, name } => {
                push(&mut out, &["a", region.as_str(), name.as_str()])
            }
            Change::Grants { region, key_id } => {
                push(&mut out, &["g", region.as_str(), &key_id.to_string()]);
            }
            Change::AccessKey { access_key_id } => push(&mut out, &["c", access_key_id]),
            Change::UserPolicies { user_name } => push(&mut out, &["u", user_name]),
            Change::Role { role_name } => push(&mut out, &["r", role_name]),
            Change::PrincipalTags { principal } => {
                push(&mut out, &["t", principal.kind(), principal.name()]);
            }
            Change::AllKeys => out.push('*'),
        }
    }
    if out.len() > MAX_PAYLOAD {
        out = format!("{node:016x}\n!");
    }
    Some(out)
}

fn push(out: &mut String, fields: &[&str]) {
    out.push_str(&fields.join(" "));
}

/// The writer's node id and the changes of one payload; [`ForgetEverything`] for `!` and
/// for anything that does not decode.
pub(crate) fn decode_changes(payload: &str) -> Result<(u64, Vec<Change>), ForgetEverything> {
    let mut lines = payload.split('\n');
    let node = lines
        .next()
        .and_then(|n| u64::from_str_radix(n, 16).ok())
        .ok_or(ForgetEverything)?;
    let changes = lines.map(decode_line).collect::<Option<Vec<_>>>();
    changes.map(|c| (node, c)).ok_or(ForgetEverything)
}

/// A notification that names too much, or that this build does not understand: the reader
/// must forget every cached entry.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ForgetEverything;

fn decode_line(line: &str) -> Option<Change> {
    let fields: Vec<&str> = line.split(' ').collect();
    let region = |s: &str| Region::parse(s);
    let key = |s: &str| KeyId::parse(s);
    Some(match fields.as_slice() {
        ["k", r, k] => Change::Key {
            region: region(r)?,
            key_id: key(k)?,
        },
        ["a", r, a] => Change::Alias {
            region: region(r)?,
            name: AliasName::parse(a).ok()?,
        },
        ["g", r, k] => Change::Grants {
            region: region(r)?,
            key_id: key(k)?,
        },
        ["c", id] => Change::AccessKey {
            access_key_id: (*id).to_string(),
        },
        ["u", name] => Change::UserPolicies {
            user_name: (*name).to_string(),
        },
        ["r", name] => Change::Role {
            role_name: (*name).to_string(),
        },
        ["t", kind, name] => Change::PrincipalTags {
            principal: PrincipalRef::from_parts(kind, (*name).to_string())?,
        },
        ["*"] => Change::AllKeys,
        _ => return None,
    })
}

/// What one [`ChangeFeed::poll`] brought.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Changes other nodes committed, in commit order.
    pub changes: Vec<Change>,
    /// A notification could not be read: forget every cached entry.
    pub forget_everything: bool,
}

/// A dedicated `LISTEN`ing connection. Not `Sync`: one thread polls it.
pub struct ChangeFeed {
    client: Client,
    /// This node's id: its own notifications are skipped (its caches are already current).
    node: u64,
}

impl std::fmt::Debug for ChangeFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeFeed").finish_non_exhaustive()
    }
}

impl ChangeFeed {
    pub(crate) fn open(store: &PostgresStore) -> Result<Self, StoreError> {
        let mut client = store.open_client()?;
        client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .map_err(backend)?;
        Ok(Self {
            client,
            node: store.node_id(),
        })
    }

    /// Every change committed before this call (and any that arrive within `wait`), once
    /// the server has answered a round trip. An error means the connection is gone: open a
    /// new feed, and forget every cached entry, since changes may have been missed.
    ///
    /// Call it from a thread of its own: it blocks, and the synchronous client must not
    /// run inside an async runtime.
    pub fn poll(&mut self, wait: Duration) -> Result<Changes, StoreError> {
        // The round trip: notifications of transactions committed before it started are
        // delivered before its answer.
        self.client.simple_query("").map_err(backend)?;
        let mut out = Changes::default();
        let deadline = Instant::now() + wait;
        let mut notifications = self.client.notifications();
        let mut received: Vec<_> = notifications.iter().collect().map_err(backend)?;
        if received.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            let first = notifications.timeout_iter(left).next().map_err(backend)?;
            if let Some(first) = first {
                received.push(first);
                // Whatever arrived with it.
                received.extend(notifications.iter().collect::<Vec<_>>().map_err(backend)?);
            }
        }
        for n in received {
            match decode_changes(n.payload()) {
                Ok((node, _)) if node == self.node => {}
                Ok((_, changes)) => out.changes.extend(changes),
                Err(ForgetEverything) => out.forget_everything = true,
            }
        }
        Ok(out)
    }
}

/// A node of the cluster, as registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRecord {
    pub name: String,
    /// Where its peers reach it (`http://host:port`).
    pub url: String,
}

impl PostgresStore {
    /// Records that node `name` is alive and reachable at `url`, as of the database's
    /// clock.
    pub fn register_node(&self, name: &str, url: &str) -> Result<(), StoreError> {
        self.read(|c| {
            c.execute(
                "INSERT INTO nodes (name, url, seen_at) VALUES ($1, $2, now())
                 ON CONFLICT (name) DO UPDATE SET url = EXCLUDED.url, seen_at = now()",
                &[&name, &url],
            )
            .map(drop)
            .map_err(backend)
        })
    }

    /// Removes node `name` from the registry (it is stopping).
    pub fn unregister_node(&self, name: &str) -> Result<(), StoreError> {
        self.read(|c| {
            c.execute("DELETE FROM nodes WHERE name = $1", &[&name])
                .map(drop)
                .map_err(backend)
        })
    }

    /// The nodes that registered within `within` of the database's clock, by name.
    pub fn live_nodes(&self, within: Duration) -> Result<Vec<NodeRecord>, StoreError> {
        let seconds = within.as_secs_f64();
        self.read(|c| {
            let rows = c
                .query(
                    "SELECT name, url FROM nodes
                     WHERE seen_at > now() - make_interval(secs => $1)
                     ORDER BY name",
                    &[&seconds],
                )
                .map_err(backend)?;
            rows.iter()
                .map(|r| {
                    Ok(NodeRecord {
                        name: r.try_get(0).map_err(backend)?,
                        url: r.try_get(1).map_err(backend)?,
                    })
                })
                .collect()
        })
    }
}

/// The maintenance lease's connection, once the lock is held (or being asked for).
pub(crate) struct Lease {
    client: Option<Client>,
    held: bool,
}

impl Lease {
    pub(crate) fn new() -> Self {
        Self {
            client: None,
            held: false,
        }
    }

    /// Whether this node holds the lease now, claiming it if it is free.
    pub(crate) fn check(&mut self, store: &PostgresStore) -> Result<bool, StoreError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = None;
            self.held = false;
        }
        let client = match &mut self.client {
            Some(c) => c,
            None => self.client.insert(store.open_client()?),
        };
        let result = if self.held {
            // Still connected means still holding: a session lock ends only with the session.
            client.simple_query("").map(|_| true)
        } else {
            client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&LEASE_LOCK])
                .and_then(|row| row.try_get::<_, bool>(0))
        };
        match result {
            Ok(held) => {
                self.held = held;
                Ok(held)
            }
            Err(e) => {
                // The session (and with it any lock) is gone or going: claim nothing.
                self.client = None;
                self.held = false;
                Err(backend(e))
            }
        }
    }

    pub(crate) fn take_client(&mut self) -> Option<Client> {
        self.held = false;
        self.client.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_kinds() -> Vec<Change> {
        let region = Region::parse("eu-west-1").unwrap();
        let key_id = KeyId::from_bytes([3; 16]);
        vec![
            Change::Key {
                region: region.clone(),
                key_id,
            },
            Change::Alias {
                region: region.clone(),
                name: AliasName::parse("alias/app-key_1").unwrap(),
            },
            Change::Grants { region, key_id },
            Change::AccessKey {
                access_key_id: "KAGIABCDEF".into(),
            },
            Change::UserPolicies {
                user_name: "alice+ops@example.com".into(),
            },
            Change::Role {
                role_name: "deploy=prod,eu".into(),
            },
            Change::PrincipalTags {
                principal: PrincipalRef::User("alice".into()),
            },
            Change::PrincipalTags {
                principal: PrincipalRef::Role("deploy".into()),
            },
            Change::AllKeys,
        ]
    }

    #[test]
    fn payloads_round_trip() {
        let changes = all_kinds();
        let payload = encode_changes(0xfeed, &changes).unwrap();
        assert_eq!(decode_changes(&payload), Ok((0xfeed, changes)));
    }

    #[test]
    fn nothing_to_say_is_no_notification() {
        assert_eq!(encode_changes(1, &[]), None);
    }

    #[test]
    fn an_oversized_batch_becomes_forget_everything() {
        let many: Vec<Change> = (0..500)
            .map(|n| Change::AccessKey {
                access_key_id: format!("KAGI{n:016}"),
            })
            .collect();
        let payload = encode_changes(7, &many).unwrap();
        assert!(payload.len() <= MAX_PAYLOAD);
        assert_eq!(decode_changes(&payload), Err(ForgetEverything));
    }

    #[test]
    fn unknown_lines_mean_forget_everything() {
        for bad in [
            "",
            "zz\nk us-east-1 x",
            "0000000000000001\nq what",
            "0000000000000001\nk not-a-region 1234",
            "0000000000000001\nt group admins",
            "0000000000000001\nk us-east-1",
        ] {
            assert_eq!(decode_changes(bad), Err(ForgetEverything), "{bad:?}");
        }
    }
}
