//! The `kagi` command: `kagi serve` runs the service, `kagi admin` manages access keys,
//! `kagi audit` asks a running server for proofs and key usage, and verifies a copied
//! audit trail offline.

mod audit_cli;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use kagi::admin::credentials_from_file;
use kagi::{App, Config, DEFAULT_LISTEN, DEFAULT_REGION};
use kagi_kms::SystemClock;
use kagi_server::admin_client::AdminClient;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

const DEFAULT_AUDIT_SYNC_INTERVAL_US: u64 =
    kagi_audit::log::DEFAULT_SYNC_INTERVAL.as_micros() as u64;

#[derive(Parser)]
#[command(
    name = "kagi",
    version,
    about = "An AWS-KMS-compatible key management service"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service.
    Serve(ServeArgs),
    /// Manage access keys through a running server.
    Admin(AdminArgs),
    /// Checkpoints, proofs and key usage from a running server; offline verification.
    Audit(audit_cli::AuditArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on (use port 0 for any free port).
    #[arg(long, env = "KAGI_LISTEN", default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Directory holding the database, the root key and the bootstrap credentials.
    #[arg(long, env = "KAGI_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Where keys are stored: leave out for the embedded SQLite database in the data
    /// directory, or give a postgres:// URL that several nodes may share.
    #[arg(long = "store", env = "KAGI_STORE")]
    store_url: Option<String>,
    /// This node's name in its audit checkpoints (`kagi/<account>/<name>`). Default on a
    /// PostgreSQL store: generated at first start and kept in <data-dir>/node-name.
    #[arg(long, env = "KAGI_NODE_NAME")]
    node_name: Option<String>,
    /// Where the other nodes of a shared store reach this one (http://host:port), for
    /// audit lookups over every node. Default: the --listen address, which must then
    /// name one interface.
    #[arg(long, env = "KAGI_ADVERTISE_URL")]
    advertise_url: Option<String>,
    /// The 12-digit AWS account id this installation answers as (first start only).
    #[arg(long, env = "KAGI_ACCOUNT_ID")]
    account_id: Option<String>,
    /// DANGEROUS, for CI and local development only: accept any well-formed SigV4
    /// signature without checking the secret, use a throw-away data directory unless
    /// --data-dir is given, and expose POST /_kagi/dev/reset, which wipes all keys.
    #[arg(long = "dev", env = "KAGI_DEV")]
    dangerous_dev: bool,
    /// Most client connections served at once; further clients wait.
    #[arg(long, env = "KAGI_MAX_CONNECTIONS", default_value_t = 4096)]
    max_connections: usize,
    /// Audit log, checkpoints and lookup index (default: <data-dir>/audit).
    #[arg(long, env = "KAGI_AUDIT_DIR")]
    audit_dir: Option<PathBuf>,
    /// Where sealed CloudTrail log and digest files are written (default:
    /// <data-dir>/cloudtrail).
    #[arg(long, env = "KAGI_CLOUDTRAIL_DIR")]
    cloudtrail_dir: Option<PathBuf>,
    /// Seconds between sealed CloudTrail log files.
    #[arg(long, env = "KAGI_AUDIT_SEAL_INTERVAL", default_value_t = 300)]
    audit_seal_interval: u64,
    /// Days events stay searchable with LookupEvents (sealed files are kept).
    #[arg(long, env = "KAGI_AUDIT_RETENTION_DAYS", default_value_t = 90)]
    audit_retention_days: u64,
    /// Under concurrent load, how long after a group commit of the audit log began the
    /// next one may wait for events of requests being served, so that they share one
    /// fdatasync, in microseconds. A lone client is never held back; 0 syncs every group at
    /// once.
    #[arg(long, env = "KAGI_AUDIT_SYNC_INTERVAL_US", default_value_t = DEFAULT_AUDIT_SYNC_INTERVAL_US)]
    audit_sync_interval_us: u64,
    /// DANGEROUS, for benchmarks only: record no audit events at all.
    #[arg(long, env = "KAGI_DANGEROUS_AUDIT_DISCARD", hide = true)]
    dangerous_audit_discard: bool,
}

#[derive(clap::Args)]
struct AdminArgs {
    /// The server's URL.
    #[arg(long, env = "KAGI_ENDPOINT", default_value = "http://127.0.0.1:7300")]
    endpoint: String,
    /// Read admin credentials from <DIR>/credentials (otherwise AWS_ACCESS_KEY_ID and
    /// AWS_SECRET_ACCESS_KEY are used).
    #[arg(long, env = "KAGI_DATA_DIR")]
    data_dir: Option<PathBuf>,
    #[arg(long, env = "AWS_DEFAULT_REGION", default_value = DEFAULT_REGION)]
    region: String,
    #[command(subcommand)]
    action: AdminAction,
}

#[derive(Subcommand)]
enum AdminAction {
    /// Create an access key for a user; prints the secret once.
    CreateAccessKey {
        #[arg(long)]
        user: String,
        /// Allow this key to use `kagi admin`.
        #[arg(long)]
        admin: bool,
        /// The user's account, when it is not the installation's: a principal of a second
        /// account, which may use this installation's keys cross-account.
        #[arg(long)]
        account: Option<String>,
    },
    /// List access keys (never their secrets).
    ListAccessKeys,
    /// Stop an access key from authenticating.
    DisableAccessKey { access_key_id: String },
    /// Let a disabled access key authenticate again.
    EnableAccessKey { access_key_id: String },
    /// Delete an access key for good.
    DeleteAccessKey { access_key_id: String },
    /// Create or replace an inline identity policy of a user (IAM's PutUserPolicy). Users
    /// that are not administrators may do only what their policies and the key policies
    /// allow.
    PutUserPolicy {
        #[arg(long)]
        user: String,
        #[arg(long)]
        policy_name: String,
        /// The policy JSON, or `file://<path>` to read it from a file.
        #[arg(long)]
        policy_document: String,
    },
    /// Show a user's inline identity policies.
    ListUserPolicies {
        #[arg(long)]
        user: String,
    },
    /// Delete an inline identity policy of a user.
    DeleteUserPolicy {
        #[arg(long)]
        user: String,
        #[arg(long)]
        policy_name: String,
    },
    /// Create a role (or replace its trust policy): who may assume it with STS AssumeRole.
    PutRole {
        #[arg(long)]
        role: String,
        /// The trust policy JSON, or `file://<path>`.
        #[arg(long)]
        trust_policy: String,
        /// Longest session AssumeRole may grant, seconds (3600–43200; default 3600).
        #[arg(long)]
        max_session_duration: Option<u32>,
    },
    /// List roles.
    ListRoles,
    /// Delete a role and its policies; its sessions stop working.
    DeleteRole {
        #[arg(long)]
        role: String,
    },
    /// Create or replace an inline identity policy of a role (applies to its sessions).
    PutRolePolicy {
        #[arg(long)]
        role: String,
        #[arg(long)]
        policy_name: String,
        /// The policy JSON, or `file://<path>`.
        #[arg(long)]
        policy_document: String,
    },
    /// Show a role's inline identity policies.
    ListRolePolicies {
        #[arg(long)]
        role: String,
    },
    /// Delete an inline identity policy of a role.
    DeleteRolePolicy {
        #[arg(long)]
        role: String,
        #[arg(long)]
        policy_name: String,
    },
    /// Tag a user (`aws:PrincipalTag/<key>` in policies): `--tag key=value`, repeatable.
    TagUser {
        #[arg(long)]
        user: String,
        #[arg(long = "tag", required = true)]
        tags: Vec<String>,
    },
    /// Remove tags from a user: `--tag-key key`, repeatable.
    UntagUser {
        #[arg(long)]
        user: String,
        #[arg(long = "tag-key", required = true)]
        keys: Vec<String>,
    },
    /// Show a user's tags.
    ListUserTags {
        #[arg(long)]
        user: String,
    },
    /// Tag a role (its sessions carry the tags): `--tag key=value`, repeatable.
    TagRole {
        #[arg(long)]
        role: String,
        #[arg(long = "tag", required = true)]
        tags: Vec<String>,
    },
    /// Remove tags from a role: `--tag-key key`, repeatable.
    UntagRole {
        #[arg(long)]
        role: String,
        #[arg(long = "tag-key", required = true)]
        keys: Vec<String>,
    },
    /// Show a role's tags.
    ListRoleTags {
        #[arg(long)]
        role: String,
    },
}

/// `key=value` arguments as IAM's `[{"Key", "Value"}]`.
fn tag_arguments(tags: &[String]) -> Result<serde_json::Value> {
    tags.iter()
        .map(|t| {
            let (k, v) = t
                .split_once('=')
                .with_context(|| format!("--tag {t:?}: expected key=value"))?;
            Ok(serde_json::json!({"Key": k, "Value": v}))
        })
        .collect::<Result<Vec<_>>>()
        .map(serde_json::Value::Array)
}

/// A document argument: inline JSON, or `file://<path>` as the AWS CLI reads it.
fn document_argument(arg: &str) -> Result<String> {
    match arg.strip_prefix("file://") {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {path}")),
        None => Ok(arg.to_string()),
    }
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KAGI_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match cli.command {
        Command::Serve(args) => runtime.block_on(serve(args)),
        Command::Admin(args) => runtime.block_on(admin(args)),
        Command::Audit(args) => runtime.block_on(audit_cli::run(args)),
    }
}

async fn serve(args: ServeArgs) -> Result<()> {
    let mut config = Config::new(args.listen);
    config.data_dir = args.data_dir;
    config.store_url = args.store_url;
    config.node_name = args.node_name;
    config.advertise_url = args.advertise_url;
    config.account_id = args.account_id;
    config.dangerous_dev_mode = args.dangerous_dev;
    config.max_connections = args.max_connections.max(1);
    config.audit = kagi::audit::AuditConfig {
        dir: args.audit_dir,
        cloudtrail_dir: args.cloudtrail_dir,
        seal_interval: std::time::Duration::from_secs(args.audit_seal_interval.max(1)),
        retention: std::time::Duration::from_secs(args.audit_retention_days.max(1) * 86_400),
        sync_interval: std::time::Duration::from_micros(args.audit_sync_interval_us),
        dangerous_discard: args.dangerous_audit_discard,
    };
    if config.dangerous_dev_mode {
        tracing::warn!(
            "DEV MODE: SigV4 secrets are NOT checked and POST /_kagi/dev/reset wipes all keys. Never use --dev for real data."
        );
    }
    let app = App::open(config, Arc::new(SystemClock))?;
    let listener = tokio::net::TcpListener::bind(app.config.listen)
        .await
        .with_context(|| format!("binding {}", app.config.listen))?;
    let addr = listener.local_addr()?;
    // Registered before the ready line: once it is printed, every node's lookups cover
    // this one's log.
    app.register(addr).await?;
    let shutdown = shutdown_signal()?;
    let mut out = std::io::stdout().lock();
    if let Some(b) = &app.bootstrap {
        writeln!(
            out,
            "# Kagi initialised {}: account {}.",
            app.data_dir.display(),
            app.kms.account()
        )?;
        writeln!(
            out,
            "# Bootstrap admin credentials (shown once; also in {}):",
            b.credentials_file.display()
        )?;
        writeln!(out, "export AWS_ENDPOINT_URL_KMS=http://{addr}")?;
        writeln!(out, "export AWS_ACCESS_KEY_ID={}", b.access_key_id)?;
        writeln!(
            out,
            "export AWS_SECRET_ACCESS_KEY={}",
            String::from_utf8_lossy(b.secret_access_key.expose())
        )?;
        writeln!(out, "export AWS_DEFAULT_REGION={DEFAULT_REGION}")?;
    }
    writeln!(out, "kagi listening on http://{addr}")?;
    out.flush()?;
    drop(out);
    tracing::info!(%addr, data_dir = %app.data_dir.display(), account = %app.kms.account(), "serving");
    app.run(listener, shutdown).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Registers SIGTERM and SIGINT handlers now (before the ready line is printed, so a
/// signal sent right after it is never missed) and resolves when either arrives.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = int.recv() => tracing::info!("SIGINT: shutting down"),
        }
    })
}

/// An admin client from `<data-dir>/credentials` or the AWS_* environment variables.
pub(crate) fn admin_client(
    endpoint: String,
    region: String,
    data_dir: Option<&std::path::Path>,
) -> Result<AdminClient> {
    let credentials = match data_dir {
        Some(dir) => credentials_from_file(&dir.join("credentials"))?,
        None => {
            let id = std::env::var("AWS_ACCESS_KEY_ID")
                .context("set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or --data-dir")?;
            let secret = std::env::var("AWS_SECRET_ACCESS_KEY")
                .context("AWS_SECRET_ACCESS_KEY is not set")?;
            sigv4::Credentials::new(id, kagi_crypto::SecretBytes::new(secret.into_bytes()))
        }
    };
    Ok(AdminClient {
        endpoint,
        region,
        credentials,
    })
}

async fn admin(args: AdminArgs) -> Result<()> {
    let client = admin_client(args.endpoint, args.region, args.data_dir.as_deref())?;
    let (op, body) = match &args.action {
        AdminAction::CreateAccessKey {
            user,
            admin,
            account,
        } => (
            "CreateAccessKey",
            serde_json::json!({"UserName": user, "Admin": admin, "AccountId": account}),
        ),
        AdminAction::ListAccessKeys => ("ListAccessKeys", serde_json::json!({})),
        AdminAction::DisableAccessKey { access_key_id } => (
            "UpdateAccessKey",
            serde_json::json!({"AccessKeyId": access_key_id, "Status": "Inactive"}),
        ),
        AdminAction::EnableAccessKey { access_key_id } => (
            "UpdateAccessKey",
            serde_json::json!({"AccessKeyId": access_key_id, "Status": "Active"}),
        ),
        AdminAction::DeleteAccessKey { access_key_id } => (
            "DeleteAccessKey",
            serde_json::json!({"AccessKeyId": access_key_id}),
        ),
        AdminAction::PutUserPolicy {
            user,
            policy_name,
            policy_document,
        } => (
            "PutUserPolicy",
            serde_json::json!({
                "UserName": user,
                "PolicyName": policy_name,
                "PolicyDocument": document_argument(policy_document)?,
            }),
        ),
        AdminAction::ListUserPolicies { user } => {
            ("ListUserPolicies", serde_json::json!({"UserName": user}))
        }
        AdminAction::DeleteUserPolicy { user, policy_name } => (
            "DeleteUserPolicy",
            serde_json::json!({"UserName": user, "PolicyName": policy_name}),
        ),
        AdminAction::PutRole {
            role,
            trust_policy,
            max_session_duration,
        } => (
            "PutRole",
            serde_json::json!({
                "RoleName": role,
                "AssumeRolePolicyDocument": document_argument(trust_policy)?,
                "MaxSessionDuration": max_session_duration,
            }),
        ),
        AdminAction::ListRoles => ("ListRoles", serde_json::json!({})),
        AdminAction::DeleteRole { role } => ("DeleteRole", serde_json::json!({"RoleName": role})),
        AdminAction::PutRolePolicy {
            role,
            policy_name,
            policy_document,
        } => (
            "PutRolePolicy",
            serde_json::json!({
                "RoleName": role,
                "PolicyName": policy_name,
                "PolicyDocument": document_argument(policy_document)?,
            }),
        ),
        AdminAction::ListRolePolicies { role } => {
            ("ListRolePolicies", serde_json::json!({"RoleName": role}))
        }
        AdminAction::DeleteRolePolicy { role, policy_name } => (
            "DeleteRolePolicy",
            serde_json::json!({"RoleName": role, "PolicyName": policy_name}),
        ),
        AdminAction::TagUser { user, tags } => (
            "TagUser",
            serde_json::json!({"UserName": user, "Tags": tag_arguments(tags)?}),
        ),
        AdminAction::UntagUser { user, keys } => (
            "UntagUser",
            serde_json::json!({"UserName": user, "TagKeys": keys}),
        ),
        AdminAction::ListUserTags { user } => {
            ("ListUserTags", serde_json::json!({"UserName": user}))
        }
        AdminAction::TagRole { role, tags } => (
            "TagRole",
            serde_json::json!({"RoleName": role, "Tags": tag_arguments(tags)?}),
        ),
        AdminAction::UntagRole { role, keys } => (
            "UntagRole",
            serde_json::json!({"RoleName": role, "TagKeys": keys}),
        ),
        AdminAction::ListRoleTags { role } => {
            ("ListRoleTags", serde_json::json!({"RoleName": role}))
        }
    };
    let answer = client.call(op, body).await?;
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(())
}
