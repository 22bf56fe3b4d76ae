//! Opening the audit trail of a data directory.
//!
//! Two dedicated keys sign what the trail publishes: an Ed25519 key for checkpoints and an
//! RSA-2048 key for the hourly CloudTrail digest files. Both are created on first start,
//! stored in the store's settings wrapped under the root key (bound to their purpose), and
//! never written anywhere in the clear. Their public halves are written next to the trail
//! for offline verification:
//!
//! - `<audit dir>/audit-key.pub`: the checkpoint verifier key (signed-note form);
//! - `<audit dir>/digest-public-key.der`: the digest key (X.509 SubjectPublicKeyInfo).
//!
//! Layout: `<audit dir>` (default `<data-dir>/audit`) holds the log, checkpoints and the
//! lookup index; sealed CloudTrail files go to `<cloudtrail dir>` (default
//! `<data-dir>/cloudtrail`).

use anyhow::{Context, Result};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use kagi_audit::checkpoint::KeyName;
use kagi_audit::seal::SealConfig;
use kagi_audit::trail::{AuditTrail, Now, SealSettings, TrailOptions};
use kagi_crypto::rsa::RsaSigningKey;
use kagi_crypto::sign::Ed25519SigningKey;
use kagi_crypto::{Rng, RootKey, SecretBytes};
use kagi_kms::{AccountId, Clock, Store};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const SETTING_SIGNING_KEY: &str = "audit_signing_key";
const SETTING_DIGEST_KEY: &str = "audit_digest_key";
/// Wrapping contexts: a wrapped key only opens for the purpose it was made for.
const SIGNING_KEY_CONTEXT: &[u8] = b"kagi/audit/checkpoint-signing-key/v1";
const DIGEST_KEY_CONTEXT: &[u8] = b"kagi/audit/digest-signing-key/v1";
pub const VERIFIER_KEY_FILE: &str = "audit-key.pub";
pub const DIGEST_PUBLIC_KEY_FILE: &str = "digest-public-key.der";

/// How the audit trail is set up.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// Log, checkpoints and index; `None` is `<data-dir>/audit`.
    pub dir: Option<PathBuf>,
    /// Sealed CloudTrail log and digest files; `None` is `<data-dir>/cloudtrail`.
    pub cloudtrail_dir: Option<PathBuf>,
    /// How often sealed log files are written.
    pub seal_interval: Duration,
    /// How long events stay in the lookup index.
    pub retention: Duration,
    /// Under concurrent load, how long after a group commit began the log writer may hold
    /// the next one back for events of requests being served (see
    /// `kagi_audit::log::LogOptions::sync_interval`).
    pub sync_interval: Duration,
    /// DANGEROUS, measurement only: record nothing (benchmarks compare against this).
    pub dangerous_discard: bool,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            dir: None,
            cloudtrail_dir: None,
            seal_interval: Duration::from_secs(300),
            retention: Duration::from_secs(90 * 86_400),
            sync_interval: kagi_audit::log::DEFAULT_SYNC_INTERVAL,
            dangerous_discard: false,
        }
    }
}

/// The audit directory a data directory uses under `config`.
pub fn audit_dir(config: &AuditConfig, data_dir: &Path) -> PathBuf {
    config.dir.clone().unwrap_or_else(|| data_dir.join("audit"))
}

/// Loads (or on first start creates) one wrapped key from the store's settings.
pub(crate) fn load_or_create(
    store: &dyn Store,
    root: &RootKey,
    rng: &dyn Rng,
    setting: &str,
    context: &[u8],
    create: impl FnOnce() -> Result<SecretBytes>,
) -> Result<SecretBytes> {
    let unwrap = |stored: String| {
        let wrapped = BASE64
            .decode(stored)
            .with_context(|| format!("setting {setting} is not base64"))?;
        root.unwrap(context, &wrapped)
            .with_context(|| format!("unwrapping {setting} with the root key"))
    };
    if let Some(stored) = store.setting(setting)? {
        return unwrap(stored);
    }
    let secret = create()?;
    let ours = BASE64.encode(root.wrap(rng, context, &secret)?);
    let stored = crate::init_setting(store, setting, &ours)?;
    if stored == ours {
        Ok(secret)
    } else {
        // Another node, starting at the same time, created the key first: use that one.
        unwrap(stored)
    }
}

/// Whose log a trail is: the installation's account, and on a shared store the node.
#[derive(Debug, Clone, Copy)]
pub struct TrailOwner<'a> {
    pub account: &'a AccountId,
    pub node: Option<&'a str>,
}

/// Opens the trail of a data directory (or the measurement-only discarding trail).
pub fn open_trail(
    config: &AuditConfig,
    data_dir: &Path,
    store: &dyn Store,
    root: &RootKey,
    rng: &dyn Rng,
    owner: TrailOwner<'_>,
    clock: Arc<dyn Clock>,
) -> Result<AuditTrail> {
    let TrailOwner { account, node } = owner;
    if config.dangerous_discard {
        tracing::warn!(
            "DANGEROUS: the audit trail is discarding every event (measurement-only mode); \
             nothing this server does is recorded"
        );
        return Ok(AuditTrail::discard());
    }
    let dir = audit_dir(config, data_dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let signing = load_or_create(
        store,
        root,
        rng,
        SETTING_SIGNING_KEY,
        SIGNING_KEY_CONTEXT,
        || Ok(Ed25519SigningKey::generate(rng)?.secret()),
    )?;
    let signer = Ed25519SigningKey::from_secret(&signing)?;
    let digest = load_or_create(
        store,
        root,
        rng,
        SETTING_DIGEST_KEY,
        DIGEST_KEY_CONTEXT,
        || Ok(RsaSigningKey::generate(2048)?.to_pkcs8()),
    )?;
    let digest_key = RsaSigningKey::from_pkcs8(&digest)?;
    std::fs::write(
        dir.join(DIGEST_PUBLIC_KEY_FILE),
        digest_key.public_key_der(),
    )?;
    let key_name = KeyName::new(format!("kagi-audit-{account}"))?;
    let options = TrailOptions {
        // One log per node on a shared store: the node's name tells their checkpoints apart.
        origin: match node {
            Some(node) => format!("kagi/{account}/{node}"),
            None => format!("kagi/{account}"),
        },
        key_name: key_name.clone(),
        checkpoint_interval: Duration::from_secs(1),
        retention: config.retention,
        sync_interval: config.sync_interval,
        seal: Some(SealSettings {
            config: SealConfig {
                out_dir: config
                    .cloudtrail_dir
                    .clone()
                    .unwrap_or_else(|| data_dir.join("cloudtrail")),
                account_id: account.to_string(),
                bucket: "kagi-audit".into(),
                trail_name: "kagi".into(),
                home_region: crate::DEFAULT_REGION.into(),
            },
            interval: config.seal_interval,
            key: digest_key,
        }),
    };
    let now: Now = Arc::new(move || clock.now().millis());
    let trail = AuditTrail::open(&dir, signer, options, now)
        .with_context(|| format!("opening the audit trail in {}", dir.display()))?;
    std::fs::write(
        dir.join(VERIFIER_KEY_FILE),
        format!("{}\n", trail.verifier_key()?),
    )?;
    Ok(trail)
}
