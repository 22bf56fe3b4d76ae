//! Test support: start Kagi in-process on 127.0.0.1:0 and talk to it with the official AWS
//! SDK for Rust. Used by the wire tests in `tests/` (one binary per theme).
//!
//! ```text
//! let server = TestServer::builder().build().await;
//! let kms = server.client("us-east-1");
//! ```

use aws_credential_types::Credentials;
use aws_sdk_kms::config::{BehaviorVersion, Region};
use kagi::{App, Config};
use kagi_kms::{Clock, ManualClock, Timestamp};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Builds a [`TestServer`].
#[derive(Default)]
pub struct TestServerBuilder {
    data_dir: Option<PathBuf>,
    dev: bool,
    manual_clock: Option<Arc<ManualClock>>,
    account_id: Option<String>,
    max_connections: Option<usize>,
    store_url: Option<String>,
    join: Option<(PathBuf, String, String)>,
}

impl TestServerBuilder {
    /// Use (and keep) this data directory instead of a fresh temporary one.
    pub fn data_dir(mut self, dir: &Path) -> Self {
        self.data_dir = Some(dir.to_path_buf());
        self
    }
    /// Dangerous dev mode: any well-formed signature is accepted.
    pub fn dev(mut self) -> Self {
        self.dev = true;
        self
    }
    /// Drive the domain (deletion windows, rotation) with a clock the test moves.
    pub fn manual_clock(mut self, clock: Arc<ManualClock>) -> Self {
        self.manual_clock = Some(clock);
        self
    }
    /// Limit concurrent connections (to test the limit).
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = Some(n);
        self
    }
    pub fn account_id(mut self, id: &str) -> Self {
        self.account_id = Some(id.to_string());
        self
    }
    /// Keep keys in this PostgreSQL database instead of the embedded store.
    pub fn store_url(mut self, url: &str) -> Self {
        self.store_url = Some(url.to_string());
        self
    }
    /// Join `first`'s cluster as another node: the same store and root key (copied into
    /// this node's own data directory) and `first`'s admin credentials.
    pub fn joining(mut self, first: &TestServer) -> Self {
        self.store_url = first.app.config.store_url.clone();
        self.join = Some((
            first.data_dir.join("root.key"),
            first.access_key_id.clone(),
            first.secret.clone(),
        ));
        self
    }

    pub async fn build(self) -> TestServer {
        let temp = tempfile::tempdir().expect("temp dir");
        let data_dir = self
            .data_dir
            .clone()
            .unwrap_or_else(|| temp.path().join("data"));
        let mut config = Config::new("127.0.0.1:0".parse().expect("loopback address"));
        config.data_dir = Some(data_dir.clone());
        config.dangerous_dev_mode = self.dev;
        config.account_id = self.account_id.clone();
        config.maintenance_interval = Duration::from_millis(50);
        config.store_url = self.store_url.clone();
        if let Some((root_key, _, _)) = &self.join {
            std::fs::create_dir_all(&data_dir).expect("node data dir");
            std::fs::copy(root_key, data_dir.join("root.key")).expect("copy the root key");
        }
        if let Some(n) = self.max_connections {
            config.max_connections = n;
        }
        let clock: Arc<dyn Clock> = match &self.manual_clock {
            Some(c) => c.clone(),
            None => Arc::new(kagi_kms::SystemClock),
        };
        let app = Arc::new(App::open(config, clock).expect("open data dir"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = app.clone();
        let task = tokio::spawn(async move {
            running
                .run(listener, async {
                    let _ = stopped.await;
                })
                .await
                .expect("server ran");
        });
        let (access_key_id, secret) = if let Some((_, id, secret)) = &self.join {
            (id.clone(), secret.clone())
        } else if self.dev {
            (
                "AKIDEXAMPLE".to_string(),
                "dev-secret-not-checked".to_string(),
            )
        } else {
            let creds = kagi::admin::credentials_from_file(&data_dir.join("credentials"))
                .expect("bootstrap credentials file");
            (
                creds.access_key_id().to_string(),
                String::from_utf8(creds.secret_access_key().expose().to_vec())
                    .expect("utf-8 secret"),
            )
        };
        TestServer {
            endpoint: format!("http://{addr}"),
            app,
            access_key_id,
            secret,
            stop: Some(stop),
            task: Some(task),
            _temp: temp,
            data_dir,
        }
    }
}

/// A Kagi server running in this process until [`TestServer::stop`] (or drop).
pub struct TestServer {
    pub endpoint: String,
    pub app: Arc<App>,
    /// The bootstrap admin credentials (or arbitrary ones in dev mode).
    pub access_key_id: String,
    pub secret: String,
    pub data_dir: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _temp: tempfile::TempDir,
}

impl TestServer {
    pub fn builder() -> TestServerBuilder {
        TestServerBuilder::default()
    }

    /// An SDK client for `region` with the server's admin credentials.
    pub fn client(&self, region: &str) -> aws_sdk_kms::Client {
        self.client_with(region, &self.access_key_id, &self.secret)
    }

    /// An SDK client with explicit credentials.
    pub fn client_with(
        &self,
        region: &str,
        access_key_id: &str,
        secret: &str,
    ) -> aws_sdk_kms::Client {
        let config = aws_sdk_kms::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new(region.to_string()))
            .credentials_provider(Credentials::new(access_key_id, secret, None, None, "test"))
            .build();
        aws_sdk_kms::Client::from_conf(config)
    }

    /// Kagi's admin API client with the server's admin credentials (`region` us-east-1).
    pub fn admin(&self) -> kagi_server::admin_client::AdminClient {
        kagi_server::admin_client::AdminClient {
            endpoint: self.endpoint.clone(),
            region: "us-east-1".into(),
            credentials: sigv4::Credentials::new(
                self.access_key_id.clone(),
                kagi_crypto::SecretBytes::new(self.secret.clone().into_bytes()),
            ),
        }
    }

    /// A new non-admin user with one access key, and an SDK client (us-east-1) signing
    /// as that user; `policy`, if given, becomes the user's inline identity policy.
    pub async fn user(&self, name: &str, policy: Option<&str>) -> aws_sdk_kms::Client {
        let (id, secret) = self.user_credentials(name, policy).await;
        self.client_with("us-east-1", &id, &secret)
    }

    /// Like [`TestServer::user`], returning the access key id and secret instead.
    pub async fn user_credentials(&self, name: &str, policy: Option<&str>) -> (String, String) {
        let admin = self.admin();
        let created = admin
            .call("CreateAccessKey", serde_json::json!({"UserName": name}))
            .await
            .expect("CreateAccessKey");
        if let Some(document) = policy {
            admin
                .call(
                    "PutUserPolicy",
                    serde_json::json!({
                        "UserName": name, "PolicyName": "test", "PolicyDocument": document,
                    }),
                )
                .await
                .expect("PutUserPolicy");
        }
        let key = &created["AccessKey"];
        (
            key["AccessKeyId"].as_str().expect("access key id").into(),
            key["SecretAccessKey"].as_str().expect("secret").into(),
        )
    }

    /// Stops the server and waits until it has shut down (the store is closed).
    pub async fn stop(mut self) {
        self.shutdown().await;
    }

    async fn shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// A manual clock starting at the current time (so SDK-visible dates look real).
pub fn manual_clock_now() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(kagi_kms::SystemClock.now()))
}

/// Milliseconds since the epoch of a `Timestamp`, for assertions.
pub fn millis(t: Timestamp) -> i64 {
    t.millis()
}

/// Polls `check` every 20 ms until it returns `Some`, for at most `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Creates a symmetric key with default settings and returns its id.
pub async fn new_key(kms: &aws_sdk_kms::Client) -> String {
    kms.create_key()
        .send()
        .await
        .expect("create key")
        .key_metadata
        .expect("metadata")
        .key_id
}

/// The AWS error code of an SDK call's result (`"OK"` for a success).
pub fn error_code<T, E>(r: Result<T, aws_sdk_kms::error::SdkError<E>>) -> String
where
    E: aws_sdk_kms::error::ProvideErrorMetadata + std::fmt::Debug,
{
    match r {
        Ok(_) => "OK".into(),
        Err(e) => e
            .as_service_error()
            .and_then(|s| s.code())
            .unwrap_or("?")
            .to_string(),
    }
}

/// A database of its own on the PostgreSQL server at 127.0.0.1:5432 (trust auth, user
/// `postgres` or `root`), dropped with its connections when this is dropped. A missing
/// server is a loud failure, never a skip.
pub struct PgDatabase {
    pub url: String,
    name: String,
    admin_url: String,
}

const PG_SERVER: &str = "127.0.0.1:5432";

impl PgDatabase {
    pub fn create() -> Self {
        let mut failures = Vec::new();
        for user in ["postgres", "root"] {
            let admin_url = format!("postgres://{user}@{PG_SERVER}/postgres");
            let name = format!("kagi_wire_{}_{:08x}", std::process::id(), rand_suffix());
            match pg_admin(&admin_url, &format!("CREATE DATABASE {name}")) {
                Ok(()) => {
                    return Self {
                        url: format!("postgres://{user}@{PG_SERVER}/{name}"),
                        name,
                        admin_url,
                    }
                }
                Err(e) => failures.push(format!("as {user}: {e}")),
            }
        }
        panic!(
            "PostgreSQL is unreachable on {PG_SERVER} ({}); these tests need a real server and \
             do not skip. Start it with `pg_ctlcluster --skip-systemctl-redirect $(ls \
             /etc/postgresql) main start`",
            failures.join("; ")
        );
    }

    /// Runs `sql` in this database (as the maintenance user).
    pub fn run_sql(&self, sql: &str) {
        pg_admin(&self.url, sql).expect("SQL on the test database");
    }

    /// Ends every session on this database, as a server restart does.
    pub fn terminate_connections(&self) {
        pg_admin(
            &self.admin_url,
            &format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = '{}' AND pid <> pg_backend_pid()",
                self.name
            ),
        )
        .expect("terminate connections");
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if let Err(e) = pg_admin(
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        ) {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}

/// Runs one maintenance statement on a thread of its own (the synchronous client must not
/// run inside the test's async runtime).
fn pg_admin(url: &str, sql: &str) -> Result<(), String> {
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut c =
                postgres::Client::connect(url, postgres::NoTls).map_err(|e| e.to_string())?;
            c.batch_execute(sql).map_err(|e| e.to_string())
        })
        .join()
        .unwrap_or_else(|_| Err("the PostgreSQL client panicked".into()))
    })
}

fn rand_suffix() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.finish() as u32
}
