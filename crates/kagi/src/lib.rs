//! Kagi's wiring: turns a [`Config`] into a running service. The binary (`main.rs`) parses
//! flags and environment into a `Config`; tests build one directly and run the service
//! in-process. This is the only crate that reads files, environment or argv.
//!
//! Opening a data directory: create it (0700) → load or create the root key → open the
//! SQLite store (migrations) → check the root key's fingerprint and the account id against
//! the store → on first start, create the bootstrap admin access key and write it to
//! `<data-dir>/credentials` (0600, AWS shared-credentials format) → open the audit trail
//! ([`audit`]).

pub mod admin;
pub mod audit;
pub mod cluster;
pub mod root_key;

use anyhow::{bail, Context, Result};
use kagi_audit::trail::AuditTrail;
use kagi_crypto::digest::hex;
use kagi_crypto::{Rng, RootKey, SystemRng};
use kagi_kms::{AccountId, Clock, Kms, Store, StoreError, SystemClock, Write};
use kagi_server::cluster::Cluster;
use kagi_server::{Server, ServerConfig};
use kagi_store::{PostgresStore, SqliteStore};
use root_key::{FileRootKey, RootKeyProvider};
use std::io::Write as _;
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:7300";
pub const DEFAULT_REGION: &str = "us-east-1";

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// `None` in dev mode means a throw-away directory.
    pub data_dir: Option<PathBuf>,
    /// Where keys live: `None` is the embedded SQLite database in the data directory;
    /// `postgres://…` a PostgreSQL database that any number of nodes may share (each with
    /// its own data directory holding the same root key). The root key, the bootstrap
    /// credentials and the node's audit log stay in the data directory either way.
    pub store_url: Option<String>,
    pub account_id: Option<String>,
    /// The node's name, which names its audit log (`kagi/<account>/<node>`): several nodes
    /// on one store keep one log each. `None` on a shared store means the name kept in
    /// `<data-dir>/node-name` (created at first start); on the embedded store, no name.
    pub node_name: Option<String>,
    /// Where the other nodes of a shared store reach this one (`http://host:port`), for
    /// audit lookups that cover every node. `None`: the address it listens on, which must
    /// then name one interface (not 0.0.0.0 or ::).
    pub advertise_url: Option<String>,
    /// See [`ServerConfig::dangerous_dev_mode`].
    pub dangerous_dev_mode: bool,
    /// How often scheduled deletions and rotations are checked.
    pub maintenance_interval: Duration,
    /// Most client connections served at once.
    pub max_connections: usize,
    pub audit: audit::AuditConfig,
}

impl Config {
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            data_dir: None,
            store_url: None,
            account_id: None,
            node_name: None,
            advertise_url: None,
            dangerous_dev_mode: false,
            maintenance_interval: Duration::from_secs(1),
            max_connections: ServerConfig::default().max_connections,
            audit: audit::AuditConfig::default(),
        }
    }
}

/// Credentials created on first start, shown to the operator once.
#[derive(Debug)]
pub struct Bootstrap {
    pub access_key_id: String,
    pub secret_access_key: kagi_crypto::SecretBytes,
    pub credentials_file: PathBuf,
}

/// An opened data directory, ready to serve.
pub struct App {
    pub kms: Arc<Kms>,
    pub audit: Arc<AuditTrail>,
    server: Arc<Server>,
    pub store: StoreHandle,
    pub config: Config,
    pub data_dir: PathBuf,
    pub bootstrap: Option<Bootstrap>,
    /// Applies other nodes' changes to the caches (a shared store only); stopped on drop.
    _follower: Option<cluster::ChangeFollower>,
    /// This node's place among the nodes of a shared store.
    cluster: Option<Arc<Cluster>>,
    /// Its entry in the store's node registry, from [`App::register`] to the end of
    /// [`App::run`].
    registry: std::sync::Mutex<Option<cluster::NodeRegistry>>,
    /// Keeps a dev-mode throw-away directory alive; deleted on drop.
    _temp_dir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

const SETTING_FINGERPRINT: &str = "root_key_fingerprint";
const SETTING_ACCOUNT: &str = "account_id";

impl App {
    pub fn open(config: Config, clock: Arc<dyn Clock>) -> Result<App> {
        let rng = Arc::new(SystemRng::new());
        // aws-lc seeds its generator on first use (tens of milliseconds of entropy
        // gathering): do it now, so the first request after "listening" is not the one
        // that pays.
        rng.fill(&mut [0u8; 1])
            .context("the system random source failed")?;
        let (data_dir, temp_dir) = match &config.data_dir {
            Some(d) => (d.clone(), None),
            None if config.dangerous_dev_mode => {
                let t = tempfile::Builder::new().prefix("kagi-dev-").tempdir()?;
                (t.path().to_path_buf(), Some(t))
            }
            None => bail!(
                "a data directory is required (--data-dir or KAGI_DATA_DIR) unless --dev is given"
            ),
        };
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&data_dir)
            .with_context(|| format!("creating data directory {}", data_dir.display()))?;

        let provider = FileRootKey {
            path: data_dir.join("root.key"),
        };
        let (secret, _created) = provider.load_or_create(rng.as_ref())?;
        let root = RootKey::from_secret(&secret).context("loading the root key")?;
        drop(secret);

        let handle = match &config.store_url {
            None => StoreHandle::Sqlite(Arc::new(open_sqlite(&data_dir)?)),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                let pg = PostgresStore::connect(url).context("connecting to PostgreSQL")?;
                StoreHandle::Postgres(Arc::new(pg))
            }
            Some(_) => {
                bail!("--store must be a postgres:// URL (or be left out for the embedded store)")
            }
        };
        let store = handle.store();
        let fingerprint = hex(&root.fingerprint());
        let stored = match store.setting(SETTING_FINGERPRINT)? {
            Some(f) => f,
            None => init_setting(store.as_ref(), SETTING_FINGERPRINT, &fingerprint)?,
        };
        if stored != fingerprint {
            bail!(
                "the root key in {} does not belong to this database (fingerprint mismatch); refusing to start",
                data_dir.display()
            );
        }
        let stored = match (store.setting(SETTING_ACCOUNT)?, &config.account_id) {
            (Some(stored), _) => stored,
            (None, asked) => {
                let account = match asked {
                    Some(a) => AccountId::parse(a)
                        .with_context(|| format!("account id {a:?} must be 12 digits"))?,
                    None => AccountId::generate(rng.as_ref())?,
                };
                // Nodes starting at once on a new database agree on the first one written.
                init_setting(store.as_ref(), SETTING_ACCOUNT, &account.to_string())?
            }
        };
        if let Some(asked) = config.account_id.as_ref().filter(|a| **a != stored) {
            bail!("this data directory belongs to account {stored}, not {asked}");
        }
        let account = AccountId::parse(&stored)
            .with_context(|| format!("stored account id {stored:?} is invalid"))?;
        let node = match (&config.node_name, &handle) {
            (Some(name), _) => Some(check_node_name(name)?),
            (None, StoreHandle::Postgres(_)) => Some(node_name(&data_dir, rng.as_ref())?),
            (None, StoreHandle::Sqlite(_)) => None,
        };
        // Event times are wall-clock times (like SigV4's), whatever clock the keys run on.
        let audit = Arc::new(audit::open_trail(
            &config.audit,
            &data_dir,
            store.as_ref(),
            &root,
            rng.as_ref(),
            audit::TrailOwner {
                account: &account,
                node: node.as_deref(),
            },
            Arc::new(SystemClock),
        )?);
        let cluster = match (&handle, &node) {
            (StoreHandle::Postgres(pg), Some(node)) => {
                let secret = cluster::peer_secret(store.as_ref(), &root, rng.as_ref())?;
                Some(Arc::new(
                    Cluster::new(node, secret).with_directory(cluster::directory(pg.clone())),
                ))
            }
            _ => None,
        };
        let kms = Arc::new(Kms::new(
            account,
            root,
            store,
            clock,
            rng,
            Arc::new(kagi_policy::PolicyEngine),
        ));
        let follower = match &handle {
            StoreHandle::Postgres(pg) => Some(
                cluster::ChangeFollower::start(pg.clone(), kms.clone())
                    .context("starting the change-feed thread")?,
            ),
            StoreHandle::Sqlite(_) => None,
        };
        let bootstrap = if config.dangerous_dev_mode || !kms.list_access_keys()?.is_empty() {
            None
        } else {
            Some(create_bootstrap(&kms, &data_dir)?)
        };
        let mut server = Server::new(
            kms.clone(),
            audit.clone(),
            ServerConfig {
                dangerous_dev_mode: config.dangerous_dev_mode,
                max_connections: config.max_connections,
                ..ServerConfig::default()
            },
        );
        if let Some(cluster) = &cluster {
            server = server.with_cluster(cluster.clone());
        }
        let server = Arc::new(server);
        Ok(App {
            kms,
            audit,
            server,
            store: handle,
            config,
            data_dir,
            bootstrap,
            _follower: follower,
            cluster,
            registry: std::sync::Mutex::new(None),
            _temp_dir: temp_dir,
        })
    }

    pub fn server(&self) -> Arc<Server> {
        self.server.clone()
    }

    /// On a shared store, enters this node, listening on `listening`, in the store's node
    /// registry (once; later calls do nothing), so that the other nodes' audit lookups
    /// cover its log. [`App::run`] does it before serving; call it earlier to have it done
    /// before announcing that the node is up.
    pub async fn register(&self, listening: SocketAddr) -> Result<()> {
        let (StoreHandle::Postgres(pg), Some(cluster)) = (&self.store, &self.cluster) else {
            return Ok(());
        };
        if self
            .registry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
        {
            return Ok(());
        }
        let url = advertise_url(&self.config, listening)?;
        let (pg, cluster) = (pg.clone(), cluster.clone());
        let registry =
            tokio::task::spawn_blocking(move || cluster::NodeRegistry::start(pg, cluster, url))
                .await?
                .context("registering this node")?;
        *self.registry.lock().unwrap_or_else(|e| e.into_inner()) = Some(registry);
        Ok(())
    }

    /// Serves on `listener` until `shutdown`, running maintenance in the background.
    pub async fn run(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<()> {
        // Peers find this node (and it them) before it serves its first request.
        self.register(listener.local_addr()?).await?;
        let maintenance = tokio::spawn(maintenance_loop(
            self.server(),
            self.config.maintenance_interval,
        ));
        let result =
            kagi_server::serve(listener, self.server(), shutdown, Duration::from_secs(10)).await;
        maintenance.abort();
        // Peers stop asking this node at once, rather than failing until it times out.
        let registry = self
            .registry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(registry) = registry {
            let _ = tokio::task::spawn_blocking(move || drop(registry)).await;
        }
        // Everything acknowledged was already committed; closing waits for nothing new.
        self.store.close();
        // A last checkpoint and seal: the trail on disk is complete and signed.
        let audit = self.audit.clone();
        let _ = tokio::task::spawn_blocking(move || audit.close()).await;
        result.context("serving HTTP")
    }
}

/// Where peers reach a node listening on `listening`: the configured URL, or the
/// listening address when it names one interface.
fn advertise_url(config: &Config, listening: SocketAddr) -> Result<String> {
    if let Some(url) = &config.advertise_url {
        let ok = url
            .strip_prefix("http://")
            .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'));
        if !ok {
            bail!("--advertise-url {url:?} must be http://host:port");
        }
        return Ok(url.clone());
    }
    if listening.ip().is_unspecified() {
        bail!(
            "this node listens on every interface ({listening}): give --advertise-url \
             (KAGI_ADVERTISE_URL) so the other nodes of the store know where to reach it"
        );
    }
    Ok(format!("http://{listening}"))
}

/// The store an [`App`] runs on.
pub enum StoreHandle {
    Sqlite(Arc<SqliteStore>),
    Postgres(Arc<PostgresStore>),
}

impl StoreHandle {
    pub fn store(&self) -> Arc<dyn Store> {
        match self {
            StoreHandle::Sqlite(s) => s.clone(),
            StoreHandle::Postgres(p) => p.clone(),
        }
    }

    /// Waits for in-flight writes (SQLite's writer thread); PostgreSQL commits are
    /// synchronous, so there is nothing to wait for.
    pub fn close(&self) {
        if let StoreHandle::Sqlite(s) = self {
            s.close();
        }
    }
}

/// Opens `<data_dir>/kagi.db`, creating the file 0600 before SQLite does: its -wal and
/// -shm files inherit the database file's permissions.
fn open_sqlite(data_dir: &Path) -> Result<SqliteStore> {
    let db_path = data_dir.join("kagi.db");
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&db_path)
        .with_context(|| format!("creating {}", db_path.display()))?;
    SqliteStore::open(&db_path).context("opening the database")
}

/// A node name: 1–64 letters, digits, `.`, `_` or `-` (it becomes part of the checkpoint
/// origin line).
fn check_node_name(name: &str) -> Result<String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !ok {
        bail!("node name {name:?} must be 1-64 letters, digits, '.', '_' or '-'");
    }
    Ok(name.to_string())
}

/// The name kept in `<data-dir>/node-name`, created (`node-<8 hex digits>`) on first use.
fn node_name(data_dir: &Path, rng: &dyn Rng) -> Result<String> {
    let path = data_dir.join("node-name");
    match std::fs::read_to_string(&path) {
        Ok(text) => check_node_name(text.trim()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = [0u8; 4];
            rng.fill(&mut bytes).context("generating a node name")?;
            let name = format!("node-{}", hex(&bytes));
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .with_context(|| format!("writing {}", path.display()))?;
            writeln!(f, "{name}")?;
            f.sync_all()?;
            Ok(name)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes a setting that must have one value for every node (`Write::InitSetting`) and
/// returns the value stored: `value`, or the one another node wrote first.
pub(crate) fn init_setting(store: &dyn Store, name: &str, value: &str) -> Result<String> {
    match store.apply(vec![Write::InitSetting {
        name: name.into(),
        value: value.into(),
    }]) {
        Ok(()) => Ok(value.to_string()),
        Err(StoreError::Conflict) => store
            .setting(name)?
            .with_context(|| format!("setting {name} vanished while it was being written")),
        Err(e) => Err(e.into()),
    }
}

fn create_bootstrap(kms: &Kms, data_dir: &Path) -> Result<Bootstrap> {
    let new = kms.create_access_key("admin", true, None)?;
    let path = data_dir.join("credentials");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    let secret = String::from_utf8_lossy(new.secret.expose()).into_owned();
    writeln!(
        f,
        "[default]\naws_access_key_id = {}\naws_secret_access_key = {secret}",
        new.record.access_key_id
    )?;
    f.sync_all()?;
    Ok(Bootstrap {
        access_key_id: new.record.access_key_id,
        secret_access_key: new.secret,
        credentials_file: path,
    })
}

/// Runs scheduled deletions and rotations, and records each as an `AwsServiceEvent`.
///
/// The change is committed before its event is written: a crash between the two loses the
/// service event (the key's state still shows what happened), never the change.
async fn maintenance_loop(server: Arc<Server>, every: Duration) {
    use kagi_server::audit::ServiceAction;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let s = server.clone();
        let pass = move || {
            let report = s.kms().run_maintenance()?;
            for (region, key) in &report.deleted {
                tracing::info!(%region, %key, "deleted key at the end of its waiting period");
                s.record_service_event(ServiceAction::DeleteKey, region, key);
            }
            for (region, key) in &report.rotated {
                tracing::info!(%region, %key, "rotated key on schedule");
                s.record_service_event(ServiceAction::RotateKey, region, key);
            }
            Ok::<_, kagi_kms::KmsError>(())
        };
        match tokio::task::spawn_blocking(pass).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "maintenance pass failed"),
            Err(e) => tracing::error!(error = %e, "maintenance task panicked"),
        }
    }
}
