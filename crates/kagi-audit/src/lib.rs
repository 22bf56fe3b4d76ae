//! The audit trail: every call to Kagi becomes one CloudTrail-format
//! event, appended to a log that nobody can silently edit, truncate or reorder.
//!
//! - [`event`]: the CloudTrail record (eventVersion 1.11) and its canonical bytes;
//! - [`merkle`]: RFC 6962 Merkle tree hashing, inclusion and consistency proofs;
//! - [`checkpoint`]: signed checkpoints (tree size + root hash) in signed-note form;
//! - [`durable`]: whole files (index segments, sealed files, checkpoints) replaced durably, in synced steps;
//! - [`log`]: the append-only event log on disk, with group commit and crash recovery;
//! - [`federation`]: lookups and usage answers over the logs of several nodes;
//! - [`index`]: the lookup index (rebuildable segments of postings) of where events are in the log;
//! - [`verify`]: the offline verifier of a copied log directory against a pinned checkpoint;
//! - [`pace`]: slices background work (sealing) and rests between slices, so requests keep the CPUs;
//! - [`seal`]: sealed CloudTrail log files and signed hourly digest files, in CloudTrail's layout;
//! - [`verify_sealed`]: the offline verifier of sealed log and digest files.
//!
//! This crate knows nothing about HTTP or KMS keys; the server turns requests into
//! events, this crate makes them durable and provable.

pub mod checkpoint;
pub mod durable;
pub mod event;
pub mod federation;
pub mod index;
pub mod log;
pub mod merkle;
pub mod pace;
pub mod seal;
pub mod trail;
pub mod verify;
pub mod verify_sealed;
