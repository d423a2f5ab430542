//! Starts the emulator once per test binary on a free loopback port and talks to its control
//! endpoints. A missing Python or moto fails loudly with the fix; nothing is ever skipped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

use aws_sdk_dynamodb::config::Credentials;
use halfhour::aws::{AppName, AwsEnv, Region, SdkConfig, SharedCredentialsProvider};
use serde::Deserialize;
use serde_json::Value;

/// One request the emulator served, as its request log records it.
#[derive(Debug, Clone, Deserialize)]
pub struct LoggedRequest {
    pub seq: u64,
    pub service: String,
    pub action: String,
    pub mutating: bool,
    pub params: Value,
    pub app: String,
    /// 0 when the connection was dropped before an answer.
    pub status: u16,
    /// The fault injected into this request, if any (see [`Emulator::inject_faults`]).
    #[serde(default)]
    pub fault: Option<String>,
}

impl LoggedRequest {
    /// Whether AWS applied this request's effect (the caller may not have seen the answer).
    pub fn took_effect(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Faults for one caller's requests, drawn from a seeded generator.
pub struct FaultPlan<'a> {
    pub rate: f64,
    pub seed: u64,
    /// Any of "throttle", "500", "503", "slow", "drop", "drop_after".
    pub kinds: &'a [&'a str],
}

pub struct Emulator {
    pub endpoint: String,
    port: u16,
    /// The emulator process when this test binary started it (none when a zygote forked it:
    /// it stops when this process does).
    _child: Option<Mutex<Child>>,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository")
        .to_path_buf()
}

fn python() -> PathBuf {
    if let Some(explicit) = std::env::var_os("HALFHOUR_PYTHON") {
        return PathBuf::from(explicit);
    }
    let venv = repo_root().join(".venv/bin/python");
    assert!(
        venv.exists(),
        "the AWS emulator needs moto server in {}: run `make test` (or `scripts/emulator-venv.sh`), \
         or point HALFHOUR_PYTHON at a python with moto[server]==5.2.1",
        venv.display()
    );
    venv
}

impl Emulator {
    /// The emulator shared by every test of this binary, started on first use.
    pub fn shared() -> &'static Emulator {
        static SHARED: OnceLock<Emulator> = OnceLock::new();
        SHARED.get_or_init(Emulator::start)
    }

    fn start() -> Emulator {
        // `make test` starts one warmed emulator process that forks a fresh one per test
        // process: a start in milliseconds instead of seconds of Python imports per test.
        if let Some(zygote) = std::env::var_os("HALFHOUR_EMULATOR_ZYGOTE") {
            return Emulator::forked(Path::new(&zygote));
        }
        let script = repo_root().join("tests/emulator/halfhour_emulator.py");
        let python = python();
        let mut child = Command::new(&python)
            .arg(&script)
            .args(["--host", "127.0.0.1", "--port", "0", "--exit-with-parent"])
            // Instances with a profile are managed nodes at once: tests decide in event time,
            // not the emulator's wall clock (the demo keeps the registration delay).
            .args(["--ssm-registration-seconds", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} {}: {e}",
                    python.display(),
                    script.display()
                )
            });
        let stdout = child.stdout.take().expect("piped stdout");
        let mut first_line = String::new();
        BufReader::new(stdout)
            .read_line(&mut first_line)
            .expect("emulator prints its address");
        Emulator::listening(&first_line, Some(child), &python)
    }

    /// A fresh emulator forked for this process by the zygote listening on `socket`.
    fn forked(socket: &Path) -> Emulator {
        let mut stream = std::os::unix::net::UnixStream::connect(socket).unwrap_or_else(|e| {
            panic!(
                "no emulator zygote on {} (HALFHOUR_EMULATOR_ZYGOTE): {e}",
                socket.display()
            )
        });
        let request = serde_json::json!({
            "watch_pid": std::process::id(),
            // As a started emulator's: tests decide in event time (see `start`).
            "ssm_registration_seconds": 0,
            // The test this process runs (nextest runs one per process, named first), for the
            // request log, and the grants a mutation run takes away (a started emulator
            // inherits both from this process's environment).
            "test": std::env::args().skip(1).find(|a| !a.starts_with('-')),
            "iam_without": std::env::var("HALFHOUR_IAM_WITHOUT").ok(),
        });
        writeln!(stream, "{request}").expect("zygote request sent");
        let mut first_line = String::new();
        BufReader::new(stream)
            .read_line(&mut first_line)
            .expect("the zygote answers the forked emulator's address");
        Emulator::listening(&first_line, None, Path::new("the zygote"))
    }

    /// The emulator that announced itself with `first_line` ("... listening on http://...").
    fn listening(first_line: &str, child: Option<Child>, python: &Path) -> Emulator {
        let endpoint = first_line
            .trim()
            .rsplit(' ')
            .next()
            .filter(|url| url.starts_with("http://"))
            .unwrap_or_else(|| {
                panic!(
                    "the emulator did not start (is moto[server] installed for {}?); it said: {first_line:?}",
                    python.display()
                )
            })
            .to_owned();
        let port = endpoint
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("endpoint has a port");
        Emulator {
            endpoint,
            port,
            _child: child.map(Mutex::new),
        }
    }

    /// An SDK configuration pointed at the emulator. `app` tags every request in the log, so a
    /// test counts only its own calls while other tests run beside it.
    pub async fn sdk_config(&self, app: &str) -> SdkConfig {
        halfhour::aws::sdk_config(AwsEnv {
            region: Some(Region::new("us-east-1")),
            endpoint_url: Some(self.endpoint.clone()),
            credentials: SharedCredentialsProvider::new(Credentials::new(
                "testing", "testing", None, None, "emulator",
            )),
            app_name: Some(AppName::new(app.to_owned()).expect("valid app name")),
        })
    }

    /// The SDK configuration of a function under test in `cluster`'s stack, and the app name its
    /// calls are logged under: `<function crate>.<test>`. That prefix is how the IAM proof
    /// (`scripts/iam_proof.py`) tells a function's calls from the test's own seeding and
    /// checking; and every call under it is held to the role `cluster`'s stack gives the
    /// function (`POST /_halfhour/role`, tests/emulator/halfhour_emu/iam.py).
    pub async fn function_sdk_config(
        &self,
        function: &str,
        test: &str,
        cluster: &str,
    ) -> (SdkConfig, String) {
        let app = format!("{function}.{test}");
        self.bind_role(&app, function, cluster, &[]);
        (self.sdk_config(&app).await, app)
    }

    /// Hold `app`'s calls to the role `cluster`'s stack gives `function`, less the actions in
    /// `without` (a policy missing those grants): the statements it is now held to.
    pub fn bind_role(&self, app: &str, function: &str, cluster: &str, without: &[&str]) -> Value {
        let request = serde_json::json!({
            "app": app, "function": function, "cluster": cluster, "without": without,
        });
        self.control("POST", "role", Some(&request))
    }

    fn control(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let payload = body.map(Value::to_string).unwrap_or_default();
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("emulator is up");
        write!(
            stream,
            "{method} /_halfhour/{path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{payload}",
            payload.len()
        )
        .expect("control request sent");
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .expect("control response");
        let (head, body) = response.split_once("\r\n\r\n").expect("HTTP response");
        assert!(
            head.contains(" 200 "),
            "control {method} {path} failed: {response}"
        );
        serde_json::from_str(body).expect("control endpoints answer JSON")
    }

    /// Seed a cluster of `shape` (the emulator's seeder, `POST /_halfhour/seed`): its
    /// environment and ids.
    pub fn seed(&self, shape: &Value) -> Value {
        self.control("POST", "seed", Some(shape))
    }

    /// A bare state table (`{"table": name}`) as the template defines it.
    pub fn seed_table(&self, table: &Value) -> Value {
        self.control("POST", "seed-table", Some(table))
    }

    /// Every request the emulator served for `app`, oldest first.
    pub fn requests(&self, app: &str) -> Vec<LoggedRequest> {
        let value = self.control("GET", &format!("requests?app={app}"), None);
        serde_json::from_value(value).expect("request log entries")
    }

    /// A mark in `app`'s request log: what `requests_after` counts from.
    pub fn request_mark(&self, app: &str) -> u64 {
        self.requests(app).last().map_or(0, |r| r.seq)
    }

    /// The requests `app` made after `mark`, oldest first: one handler call's own.
    pub fn requests_after(&self, app: &str, mark: u64) -> Vec<LoggedRequest> {
        self.requests(app)
            .into_iter()
            .filter(|r| r.seq > mark)
            .collect()
    }

    /// The mutating requests `app` sent (anything but Describe/Get/List/...).
    pub fn mutating_requests(&self, app: &str) -> Vec<LoggedRequest> {
        self.requests(app)
            .into_iter()
            .filter(|r| r.mutating)
            .collect()
    }

    /// The Auto Scaling lifecycle state `instance_id` was in at each of its reboots.
    pub fn reboot_states(&self, instance_id: &str) -> Vec<String> {
        match self.control("GET", "reboot-log", None) {
            Value::Array(log) => log
                .into_iter()
                .filter(|r| r["instance_id"] == instance_id)
                .map(|r| r["lifecycle_state"].as_str().unwrap_or("none").to_owned())
                .collect(),
            other => panic!("reboot log: {other}"),
        }
    }

    /// What functions PUT to `{endpoint}/_halfhour/cfn-response/<key>`, a stand-in for a
    /// custom resource's pre-signed ResponseURL: the documents sent under `key`.
    pub fn cfn_responses(&self, key: &str) -> Vec<Value> {
        match self.control("GET", "cfn-responses", None) {
            Value::Array(all) => all
                .into_iter()
                .filter(|r| r["key"] == key)
                .map(|r| r["body"].clone())
                .collect(),
            other => panic!("cfn responses: {other}"),
        }
    }

    pub fn reboots(&self, instance_id: &str) -> u64 {
        self.control("GET", "reboots", None)[instance_id]
            .as_u64()
            .unwrap_or(0)
    }

    /// Inject faults into `app`'s requests: before they reach AWS (throttling in each protocol's
    /// shape, 500, 503, slow answers, dropped connections) or after they took effect (the answer
    /// is lost: `drop_after`).
    pub fn inject_faults(&self, app: &str, plan: &FaultPlan<'_>) {
        self.control(
            "POST",
            "faults",
            Some(&serde_json::json!({"app": app, "rate": plan.rate, "seed": plan.seed, "kinds": plan.kinds})),
        );
    }

    /// `app`'s `n`th mutating request takes effect, its answer is lost, and every request after
    /// it is cut off: what AWS sees of a handler killed at that point.
    pub fn crash_after(&self, app: &str, n: usize) {
        self.control(
            "POST",
            "faults",
            Some(&serde_json::json!({"app": app, "crash_after": n})),
        );
    }

    pub fn clear_faults(&self, app: &str) {
        self.control("POST", "faults", Some(&serde_json::json!({"app": app})));
    }

    /// Faults injected so far, per kind, for `app`.
    pub fn fault_counts(&self, app: &str) -> std::collections::BTreeMap<String, u64> {
        serde_json::from_value(self.control("GET", "faults", None)[app].clone()).unwrap_or_default()
    }

    pub fn set_health_check_status(&self, health_check_id: &str, healthy: bool) {
        self.control(
            "POST",
            "health-check-status",
            Some(&serde_json::json!({"health_check_id": health_check_id, "healthy": healthy})),
        );
    }

    /// What the endpoint `host:port` answers on `path` from now on: Route53's checks (and the
    /// site's visitors) see this status and body.
    pub fn set_endpoint(&self, host: &str, port: u16, path: &str, status: u16, body: &str) {
        self.control(
            "POST",
            "endpoint",
            Some(&serde_json::json!({"host": host, "port": port, "path": path, "status": status, "body": body})),
        );
    }

    /// The URL a visitor's browser uses for `host` (a website endpoint, a distribution, a
    /// record), answered by the emulator's model of what that browser gets.
    pub fn site_url(&self, host: &str) -> String {
        format!("{}/_halfhour/site/{host}/", self.endpoint)
    }

    /// A CloudFront distribution in front of `bucket` as the template's CloudFront mode makes
    /// it (origin access control, `alias` as alternate name, 403/404 answered 503 with the page,
    /// `Retry-After`): its `id`, `arn` and `domain_name`.
    pub fn static_distribution(&self, bucket: &str, alias: &str) -> Value {
        self.control(
            "POST",
            "static-distribution",
            Some(&serde_json::json!({"bucket": bucket, "alias": alias})),
        )
    }

    pub fn set_instance_probe(&self, instance_id: &str, healthy: bool) {
        self.set_probe_outcome(instance_id, if healthy { "healthy" } else { "failing" });
    }

    /// What `instance_id`'s probe commands answer: "healthy", "failing", or "running" (the
    /// command has not finished).
    pub fn set_probe_outcome(&self, instance_id: &str, outcome: &str) {
        self.control(
            "POST",
            "instance-probe",
            Some(&serde_json::json!({"instance_id": instance_id, "outcome": outcome})),
        );
    }

    /// Which failover record a DNS query for `name` would get now: `PRIMARY` or `SECONDARY`.
    pub fn resolve(&self, zone_id: &str, name: &str) -> String {
        let answer = self.resolve_full(zone_id, name);
        answer["answer"].as_str().expect("an answer").to_owned()
    }

    /// What a query for `name` answers: `answer` (PRIMARY, SECONDARY or SIMPLE), `target`.
    pub fn resolve_full(&self, zone_id: &str, name: &str) -> Value {
        self.resolve_kind(zone_id, name, "A")
    }

    /// The same for a query of `kind` (`A` or `AAAA`).
    pub fn resolve_kind(&self, zone_id: &str, name: &str, kind: &str) -> Value {
        self.control(
            "GET",
            &format!("resolve?zone={zone_id}&name={name}&type={kind}"),
            None,
        )
    }

    /// The lifecycle actions waiting now, as EventBridge would deliver them (with their tokens).
    pub fn lifecycle_actions(&self) -> Vec<Value> {
        match self.control("GET", "lifecycle-actions", None) {
            Value::Array(actions) => actions,
            other => panic!("lifecycle actions: {other}"),
        }
    }

    /// Make every instance of `group` without its own probe outcome answer `healthy` or not
    /// (scoped to the group, so tests running beside it are not affected).
    pub fn set_group_probe(&self, group: &str, healthy: bool) {
        let outcome = if healthy { "healthy" } else { "failing" };
        self.control(
            "POST",
            "instance-probe",
            Some(&serde_json::json!({"group": group, "outcome": outcome})),
        );
    }

    /// What the launch probe answers on every instance that runs `image` (a broken image fails it
    /// wherever it runs); an instance's own outcome wins over it, it wins over its group's.
    pub fn set_image_probe(&self, image: &str, healthy: bool) {
        let outcome = if healthy { "healthy" } else { "failing" };
        self.control(
            "POST",
            "instance-probe",
            Some(&serde_json::json!({"image": image, "outcome": outcome})),
        );
    }

    /// Settle a `pending` image now: `available` or `failed`.
    pub fn set_image_state(&self, image_id: &str, state: &str) {
        self.control(
            "POST",
            "image-state",
            Some(&serde_json::json!({"image_id": image_id, "state": state})),
        );
    }

    /// Declare a Lambda function, so asynchronous invokes of it are accepted.
    pub fn declare_function(&self, name: &str) {
        self.control(
            "POST",
            "functions",
            Some(&serde_json::json!({"name": name})),
        );
    }

    /// Move the emulator's clock forward (lifecycle timeouts), instead of sleeping.
    pub fn advance_clock(&self, seconds: u64) {
        self.control(
            "POST",
            "clock",
            Some(&serde_json::json!({"advance_seconds": seconds})),
        );
    }
}

/// A shipped event fixture, `events/<path>` at the repository root.
pub fn event(path: &str) -> Value {
    let file = repo_root().join("events").join(path);
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// A name no other test of this run uses: `<prefix><n>p<pid>`, short enough for ALB names.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}{}p{}",
        NEXT.fetch_add(1, Ordering::SeqCst),
        std::process::id() % 100_000
    )
}
