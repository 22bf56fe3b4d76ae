//! `kagi audit`: proofs and key usage from a running server (checked locally before they
//! are printed), and `kagi audit verify`, which needs no server at all.

use anyhow::{bail, Context, Result};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use clap::{Args, Subcommand};
use kagi_audit::checkpoint::Checkpoint;
use kagi_audit::event::EventTime;
use kagi_audit::merkle::{verify_consistency, verify_inclusion, Hash};
use kagi_audit::verify::{verify_log_dir_with, Options, Pinned};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct AuditArgs {
    /// The server's URL (not used by `verify`).
    #[arg(long, env = "KAGI_ENDPOINT", default_value = "http://127.0.0.1:7300")]
    endpoint: String,
    /// Read admin credentials from <DIR>/credentials (otherwise AWS_ACCESS_KEY_ID and
    /// AWS_SECRET_ACCESS_KEY are used).
    #[arg(long, env = "KAGI_DATA_DIR")]
    data_dir: Option<PathBuf>,
    #[arg(long, env = "AWS_DEFAULT_REGION", default_value = crate::DEFAULT_REGION)]
    region: String,
    /// The audit verifier key to check signatures with (`<name>+<id>+<key>`, as in
    /// <audit dir>/audit-key.pub). Without it, the server's own claim is used for proofs.
    #[arg(long, env = "KAGI_AUDIT_VERIFIER_KEY", global = true)]
    verifier_key: Option<String>,
    #[command(subcommand)]
    action: AuditAction,
}

#[derive(Subcommand)]
enum AuditAction {
    /// Print the latest signed checkpoint (tree size and root hash).
    Checkpoint,
    /// Prove that one event is in the log: by its event id or its log index.
    Proof {
        #[arg(
            long,
            conflicts_with = "log_index",
            required_unless_present = "log_index"
        )]
        event_id: Option<String>,
        #[arg(long)]
        log_index: Option<u64>,
        /// Prove against this tree size (default: the latest checkpoint).
        #[arg(long)]
        tree_size: Option<u64>,
    },
    /// Prove that the log of size FIRST is a prefix of the log of size SECOND.
    Consistency {
        #[arg(long)]
        first: u64,
        /// Default: the latest checkpoint.
        #[arg(long)]
        second: Option<u64>,
    },
    /// Who used a key, with which operations, over a time range.
    Usage {
        /// Key id, key ARN, alias name or alias ARN.
        key: String,
        /// Only events at or after this time (YYYY-MM-DDTHH:MM:SSZ).
        #[arg(long)]
        start: Option<String>,
        /// Only events at or before this time (YYYY-MM-DDTHH:MM:SSZ).
        #[arg(long)]
        end: Option<String>,
    },
    /// Verify copied audit trails offline (no server needed): one directory, or one per
    /// node of a cluster, each checked on its own and all required to pass.
    Verify {
        /// The audit directories (each the one holding `log/`; default <data-dir>/audit).
        #[arg(required = true)]
        audit_dirs: Vec<PathBuf>,
        /// A signed checkpoint note to pin: the log must reach its size and match its
        /// root (this is what detects truncation of the newest events). Default: the
        /// directory's own checkpoint.note, checked with the verifier key. With several
        /// directories, give one per directory, in the same order.
        #[arg(long)]
        checkpoint: Vec<PathBuf>,
        /// The sealed CloudTrail files to check too (the directory holding AWSLogs/). With
        /// several audit directories, give one per directory, in the same order.
        #[arg(long)]
        cloudtrail_dir: Vec<PathBuf>,
        /// The digest files' public key (DER; default <audit dir>/digest-public-key.der).
        #[arg(long)]
        digest_public_key: Option<PathBuf>,
        /// Accept records after the pinned checkpoint (a copy of a running server's trail
        /// may end in up to a second of events no checkpoint covers yet). Without it they
        /// fail verification: nothing vouches for them, so they could be forged.
        #[arg(long)]
        allow_uncovered_tail: bool,
    },
}

fn hash_of(v: &Value, what: &str) -> Result<Hash> {
    let text = v.as_str().with_context(|| format!("{what} is missing"))?;
    let bytes = BASE64
        .decode(text)
        .with_context(|| format!("{what} is not base64"))?;
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("{what} is not 32 bytes"))
}

fn hashes_of(v: &Value, what: &str) -> Result<Vec<Hash>> {
    v.as_array()
        .with_context(|| format!("{what} is missing"))?
        .iter()
        .map(|h| hash_of(h, what))
        .collect()
}

fn time_arg(value: &Option<String>) -> Result<Option<i64>> {
    value
        .as_deref()
        .map(|t| {
            EventTime::parse(t)
                .map(EventTime::epoch_seconds)
                .with_context(|| format!("{t:?} is not a time of the form 2026-11-23T10:00:00Z"))
        })
        .transpose()
}

/// Checks a note with the pinned verifier key, or the one the server names.
fn open_checkpoint(note: &str, pinned: Option<&str>, claimed: &str) -> Result<Checkpoint> {
    let key = pinned.unwrap_or(claimed);
    Checkpoint::parse_and_verify(note, key)
        .map_err(|e| anyhow::anyhow!("the checkpoint's signature does not verify: {e}"))
}

pub async fn run(args: AuditArgs) -> Result<()> {
    if let AuditAction::Verify {
        audit_dirs,
        checkpoint,
        cloudtrail_dir,
        digest_public_key,
        allow_uncovered_tail,
    } = &args.action
    {
        let per_dir = |list: &[PathBuf], flag: &str| -> Result<Vec<Option<PathBuf>>> {
            match list.len() {
                0 => Ok(vec![None; audit_dirs.len()]),
                n if n == audit_dirs.len() => Ok(list.iter().cloned().map(Some).collect()),
                n => bail!(
                    "{flag} was given {n} time(s) for {} audit directories: give it once per directory, or not at all",
                    audit_dirs.len()
                ),
            }
        };
        let checkpoints = per_dir(checkpoint, "--checkpoint")?;
        let cloudtrail_dirs = per_dir(cloudtrail_dir, "--cloudtrail-dir")?;
        let mut failed = Vec::new();
        for ((audit_dir, checkpoint), cloudtrail_dir) in
            audit_dirs.iter().zip(&checkpoints).zip(&cloudtrail_dirs)
        {
            let result = verify(&VerifyArgs {
                audit_dir,
                verifier_key: args.verifier_key.as_deref(),
                checkpoint: checkpoint.as_deref(),
                cloudtrail_dir: cloudtrail_dir.as_deref(),
                digest_public_key: digest_public_key.as_deref(),
                allow_uncovered_tail: *allow_uncovered_tail,
            });
            if let Err(e) = result {
                println!("{}: {e:#}", audit_dir.display());
                failed.push(audit_dir.display().to_string());
            }
        }
        if !failed.is_empty() {
            bail!("verification FAILED for {}", failed.join(", "));
        }
        if audit_dirs.len() > 1 {
            println!("all {} audit logs verified", audit_dirs.len());
        }
        return Ok(());
    }
    let client = crate::admin_client(args.endpoint, args.region, args.data_dir.as_deref())?;
    let latest = client.call_audit("GetCheckpoint", json!({})).await?;
    let claimed = latest["VerifierKey"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let pinned = args.verifier_key.as_deref();
    if pinned.is_none() {
        eprintln!(
            "note: no --verifier-key given; signatures are checked with the key the server names"
        );
    }
    match &args.action {
        AuditAction::Checkpoint => {
            let note = latest["Checkpoint"].as_str().unwrap_or_default();
            let cp = open_checkpoint(note, pinned, &claimed)?;
            println!("{note}");
            eprintln!(
                "verified: {} events, signed by {}",
                cp.size(),
                pinned.unwrap_or(&claimed)
            );
        }
        AuditAction::Proof {
            event_id,
            log_index,
            tree_size,
        } => {
            let mut body = json!({});
            if let Some(id) = event_id {
                body["EventId"] = json!(id);
            }
            if let Some(i) = log_index {
                body["LogIndex"] = json!(i);
            }
            if let Some(s) = tree_size {
                body["TreeSize"] = json!(s);
            }
            let proof = client.call_audit("GetInclusionProof", body).await?;
            let cp = open_checkpoint(
                proof["Checkpoint"].as_str().unwrap_or_default(),
                pinned,
                &claimed,
            )?;
            let index = proof["LogIndex"].as_u64().context("LogIndex is missing")?;
            let leaf = hash_of(&proof["LeafHash"], "LeafHash")?;
            let path = hashes_of(&proof["AuditPath"], "AuditPath")?;
            if !verify_inclusion(&leaf, index, cp.size(), &path, cp.root()) {
                bail!("the inclusion proof does NOT verify against the signed checkpoint");
            }
            println!("{}", serde_json::to_string_pretty(&proof)?);
            eprintln!(
                "verified: event {index} is in the signed log of {} events",
                cp.size()
            );
        }
        AuditAction::Consistency { first, second } => {
            let mut body = json!({ "FirstTreeSize": first });
            if let Some(s) = second {
                body["SecondTreeSize"] = json!(s);
            }
            let proof = client.call_audit("GetConsistencyProof", body).await?;
            let old = open_checkpoint(
                proof["FirstCheckpoint"].as_str().unwrap_or_default(),
                pinned,
                &claimed,
            )?;
            let new = open_checkpoint(
                proof["SecondCheckpoint"].as_str().unwrap_or_default(),
                pinned,
                &claimed,
            )?;
            let hashes = hashes_of(&proof["Proof"], "Proof")?;
            if !verify_consistency(old.size(), new.size(), old.root(), new.root(), &hashes) {
                bail!("the consistency proof does NOT verify");
            }
            println!("{}", serde_json::to_string_pretty(&proof)?);
            eprintln!(
                "verified: the log of {} events is a prefix of the log of {} events",
                old.size(),
                new.size()
            );
        }
        AuditAction::Usage { key, start, end } => {
            let mut body = json!({ "KeyId": key });
            if let Some(s) = time_arg(start)? {
                body["StartTime"] = json!(s);
            }
            if let Some(e) = time_arg(end)? {
                body["EndTime"] = json!(e);
            }
            let usage = client.call_audit("GetKeyUsage", body).await?;
            print_usage(&usage);
        }
        AuditAction::Verify { .. } => unreachable!("handled above"),
    }
    Ok(())
}

fn print_usage(usage: &Value) {
    let rows = usage["Usage"].as_array().cloned().unwrap_or_default();
    println!("key {}", usage["KeyId"].as_str().unwrap_or_default());
    if rows.is_empty() {
        println!("no recorded use in the time range");
        return;
    }
    println!(
        "{:<45} {:<22} {:<32} {:>8} {:>7}  {:<20}  {:<20}",
        "principal", "access key", "operation", "calls", "errors", "first", "last"
    );
    let time =
        |v: &Value| EventTime::from_epoch_seconds(v.as_f64().unwrap_or(0.0) as i64).to_string();
    for r in rows {
        println!(
            "{:<45} {:<22} {:<32} {:>8} {:>7}  {:<20}  {:<20}",
            r["Principal"].as_str().unwrap_or("-"),
            r["AccessKeyId"].as_str().unwrap_or("-"),
            r["Operation"].as_str().unwrap_or("-"),
            r["Count"].as_u64().unwrap_or(0),
            r["Errors"].as_u64().unwrap_or(0),
            time(&r["FirstTime"]),
            time(&r["LastTime"]),
        );
    }
}

/// The newest segment file of a log directory (where records after a checkpoint are).
fn newest_segment(log_dir: &Path) -> String {
    std::fs::read_dir(log_dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .max()
        .map_or_else(
            || log_dir.display().to_string(),
            |p| p.display().to_string(),
        )
}

struct VerifyArgs<'a> {
    audit_dir: &'a Path,
    verifier_key: Option<&'a str>,
    checkpoint: Option<&'a Path>,
    cloudtrail_dir: Option<&'a Path>,
    digest_public_key: Option<&'a Path>,
    allow_uncovered_tail: bool,
}

fn verify(args: &VerifyArgs<'_>) -> Result<()> {
    let VerifyArgs {
        audit_dir,
        verifier_key,
        checkpoint,
        cloudtrail_dir,
        digest_public_key,
        allow_uncovered_tail,
    } = *args;
    let log_dir = kagi_audit::trail::log_dir(audit_dir);
    let key = match verifier_key {
        Some(k) => Some(k.to_string()),
        None => std::fs::read_to_string(audit_dir.join(kagi::audit::VERIFIER_KEY_FILE))
            .ok()
            .map(|k| k.trim().to_string()),
    };
    let note_path = checkpoint
        .map(Path::to_path_buf)
        .unwrap_or_else(|| kagi_audit::trail::latest_checkpoint_path(audit_dir));
    let note = std::fs::read_to_string(&note_path).ok();
    let pinned = match (&note, &key) {
        (Some(note), Some(key)) => Pinned::Checkpoint {
            note,
            verifier_key: key,
        },
        _ => {
            eprintln!(
                "warning: no checkpoint and verifier key to pin: only the log's structure is checked"
            );
            Pinned::Nothing
        }
    };
    let started = std::time::Instant::now();
    let report = verify_log_dir_with(&log_dir, &pinned, Options { parse_events: true });
    let secs = started.elapsed().as_secs_f64();
    print!("log {}: {report}", log_dir.display());
    println!(
        "  read {:.1} MB in {:.2} s ({:.0} MB/s)",
        report.bytes as f64 / 1e6,
        secs,
        report.bytes as f64 / 1e6 / secs.max(1e-9)
    );
    let mut ok = report.is_ok();
    if let (Pinned::Checkpoint { note, verifier_key }, true) = (&pinned, report.checkpoint_verified)
    {
        if let Ok(cp) = Checkpoint::parse_and_verify(note, verifier_key) {
            let uncovered = report.records.saturating_sub(cp.size());
            if uncovered > 0 {
                let newest = newest_segment(&log_dir);
                println!(
                    "- {uncovered} record(s) from index {} on, in {newest}, come after the pinned \
                     checkpoint and are covered by no signature: they may be forged{}",
                    cp.size(),
                    if allow_uncovered_tail {
                        " (allowed by --allow-uncovered-tail)"
                    } else {
                        ""
                    }
                );
                ok &= allow_uncovered_tail;
            }
        }
    }
    if let Some(ct) = cloudtrail_dir {
        let der_path = digest_public_key
            .map(Path::to_path_buf)
            .unwrap_or_else(|| audit_dir.join(kagi::audit::DIGEST_PUBLIC_KEY_FILE));
        let der = std::fs::read(&der_path)
            .with_context(|| format!("reading the digest public key {}", der_path.display()))?;
        let sealed = kagi_audit::verify_sealed::verify_sealed(ct, None, &der, Some(&log_dir));
        print!("cloudtrail {}: {sealed}", ct.display());
        ok &= sealed.is_ok();
    }
    if !ok {
        bail!("verification FAILED");
    }
    println!("verification OK");
    Ok(())
}
