//! One simulated cluster: its state, its faults, and the loopback server that can be taken
//! down (connections refused, open connections cut) and brought back on the same port.

use std::{
    collections::BTreeSet,
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering},
        Arc, Mutex, RwLock,
    },
    time::Duration,
};

use axum::Router;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::{net::TcpListener, task::JoinHandle};
use tower::Service;

use crate::{
    api,
    resources::{Resource, BUILT_IN, KYVERNO, MUTATING_POLICIES, VALIDATING_POLICIES, VELERO},
    spec::ClusterSpec,
    store::{Key, Store},
};

/// Faults a test (or an admin in demo mode) injects into one cluster.
#[derive(Debug, Default)]
pub struct Faults {
    latency_ms: AtomicU64,
    /// Share of requests answered 500, in thousandths.
    error_per_mille: AtomicU32,
    hang: AtomicBool,
}

/// A snapshot of a cluster's faults, as the admin endpoint shows and sets them.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FaultSettings {
    pub latency_ms: u64,
    /// 0.0–1.0
    pub error_rate: f64,
    pub hang: bool,
    pub down: bool,
}

impl Faults {
    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms.load(Ordering::Relaxed))
    }

    pub fn hanging(&self) -> bool {
        self.hang.load(Ordering::Relaxed)
    }

    pub fn should_fail(&self) -> bool {
        let per_mille = self.error_per_mille.load(Ordering::Relaxed);
        per_mille >= 1000 || (per_mille > 0 && rand::random::<u32>() % 1000 < per_mille)
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// How long a deleted namespace stays Terminating before its contents go.
    pub namespace_finalize_after: Duration,
    pub bookmark_interval: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            namespace_finalize_after: Duration::from_millis(200),
            bookmark_interval: Duration::from_secs(5),
        }
    }
}

pub struct ClusterState {
    pub spec: ClusterSpec,
    pub resources: Vec<Resource>,
    pub store: Store,
    pub faults: Faults,
    pub settings: Settings,
    forbidden: RwLock<BTreeSet<(String, String)>>,
    /// Every (API group, resource, verb) a client has asked for, as RBAC would check it.
    requested: Mutex<BTreeSet<(String, String, String)>>,
    hold_namespace_deletion: AtomicBool,
    pending_namespaces: Mutex<Vec<String>>,
}

impl ClusterState {
    pub fn resource(&self, plural: &str) -> Resource {
        *self
            .resources
            .iter()
            .find(|r| r.plural == plural)
            .expect("a registered resource")
    }

    pub fn record_request(&self, group: &str, plural: &str, verb: &str) {
        self.requested.lock().expect("request log lock").insert((
            group.to_owned(),
            plural.to_owned(),
            verb.to_owned(),
        ));
    }

    pub fn is_forbidden(&self, verb: &str, plural: &str) -> bool {
        let forbidden = self.forbidden.read().expect("rbac lock");
        forbidden.contains(&(verb.to_owned(), plural.to_owned()))
            || forbidden.contains(&("*".to_owned(), plural.to_owned()))
    }

    pub fn schedule_namespace_finalization(self: &Arc<Self>, namespace: String) {
        if self.hold_namespace_deletion.load(Ordering::Relaxed) {
            self.pending_namespaces
                .lock()
                .expect("pending lock")
                .push(namespace);
            return;
        }
        let state = self.clone();
        let delay = self.settings.namespace_finalize_after;
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            state.store.finalize_namespace(&namespace);
        });
    }
}

pub struct SimCluster {
    state: Arc<ClusterState>,
    addr: SocketAddr,
    serving: Mutex<Option<JoinHandle<()>>>,
}

impl SimCluster {
    /// Seeds the cluster from its spec and starts serving on loopback (`port` 0: any).
    pub async fn start(
        spec: ClusterSpec,
        port: u16,
        settings: Settings,
    ) -> anyhow::Result<SimCluster> {
        let mut resources = BUILT_IN.to_vec();
        if spec.velero {
            resources.extend_from_slice(VELERO);
        }
        if spec.kyverno {
            resources.extend_from_slice(KYVERNO);
        }
        let group = "admissionregistration.k8s.io/v1";
        let version = spec.minor_version();
        if version >= (1, 30) && spec.serves(group, "validatingadmissionpolicies") {
            resources.extend_from_slice(VALIDATING_POLICIES);
        }
        if version >= (1, 36) && spec.serves(group, "mutatingadmissionpolicies") {
            resources.extend_from_slice(MUTATING_POLICIES);
        }
        let initial = spec.initial_objects();
        let state = Arc::new(ClusterState {
            spec,
            resources,
            store: Store::default(),
            faults: Faults::default(),
            settings,
            forbidden: RwLock::default(),
            requested: Mutex::default(),
            hold_namespace_deletion: AtomicBool::new(false),
            pending_namespaces: Mutex::default(),
        });
        for (plural, object) in initial {
            let resource = state.resource(plural);
            state.store.seed(&resource, object);
        }
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let router = api::router(state.clone());
        let serving = tokio::spawn(serve(listener, router));
        Ok(SimCluster {
            state,
            addr,
            serving: Mutex::new(Some(serving)),
        })
    }

    pub fn name(&self) -> &str {
        &self.state.spec.name
    }

    pub fn spec(&self) -> &ClusterSpec {
        &self.state.spec
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API server's URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig with one context named after the cluster.
    pub fn kubeconfig(&self) -> String {
        crate::fleet::kubeconfig(std::iter::once(self))
    }

    pub fn state(&self) -> &Arc<ClusterState> {
        &self.state
    }

    pub fn store(&self) -> &Store {
        &self.state.store
    }

    pub fn faults(&self) -> FaultSettings {
        let f = &self.state.faults;
        FaultSettings {
            latency_ms: f.latency_ms.load(Ordering::Relaxed),
            error_rate: f64::from(f.error_per_mille.load(Ordering::Relaxed)) / 1000.0,
            hang: f.hang.load(Ordering::Relaxed),
            down: self.serving.lock().expect("serving lock").is_none(),
        }
    }

    /// Applies fault settings; `down` stops or restarts the listener.
    pub async fn set_faults(&self, faults: &FaultSettings) -> anyhow::Result<()> {
        let f = &self.state.faults;
        f.latency_ms.store(faults.latency_ms, Ordering::Relaxed);
        f.error_per_mille.store(
            (faults.error_rate.clamp(0.0, 1.0) * 1000.0).round() as u32,
            Ordering::Relaxed,
        );
        f.hang.store(faults.hang, Ordering::Relaxed);
        if faults.down {
            self.go_down();
        } else {
            self.come_up().await?;
        }
        Ok(())
    }

    /// All faults off and the listener up.
    pub async fn recover(&self) -> anyhow::Result<()> {
        self.set_faults(&FaultSettings::default()).await
    }

    /// Stops listening and cuts every open connection: clients see connection refused.
    pub fn go_down(&self) {
        if let Some(task) = self.serving.lock().expect("serving lock").take() {
            task.abort();
        }
    }

    /// Listens again on the same address.
    pub async fn come_up(&self) -> anyhow::Result<()> {
        if self.serving.lock().expect("serving lock").is_some() {
            return Ok(());
        }
        let mut last_error = None;
        for _ in 0..50 {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => {
                    let task = tokio::spawn(serve(listener, api::router(self.state.clone())));
                    *self.serving.lock().expect("serving lock") = Some(task);
                    return Ok(());
                }
                Err(e) => {
                    last_error = Some(e);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        Err(anyhow::anyhow!(
            "cannot listen on {} again: {:?}",
            self.addr,
            last_error
        ))
    }

    /// Simulated RBAC: refuse `verb` (or `*`) on `plural` with 403 until allowed again.
    /// Every (API group, resource, verb) clients have used on this cluster: what a
    /// least-privilege role must allow.
    pub fn requests_seen(&self) -> BTreeSet<(String, String, String)> {
        self.state
            .requested
            .lock()
            .expect("request log lock")
            .clone()
    }

    pub fn forbid(&self, verb: &str, plural: &str) {
        self.state
            .forbidden
            .write()
            .expect("rbac lock")
            .insert((verb.to_owned(), plural.to_owned()));
    }

    pub fn allow(&self, verb: &str, plural: &str) {
        self.state
            .forbidden
            .write()
            .expect("rbac lock")
            .remove(&(verb.to_owned(), plural.to_owned()));
    }

    /// Keeps deleted namespaces Terminating until [`SimCluster::release_namespace_deletion`].
    pub fn hold_namespace_deletion(&self) {
        self.state
            .hold_namespace_deletion
            .store(true, Ordering::Relaxed);
    }

    pub fn release_namespace_deletion(&self) {
        self.state
            .hold_namespace_deletion
            .store(false, Ordering::Relaxed);
        let pending =
            std::mem::take(&mut *self.state.pending_namespaces.lock().expect("pending lock"));
        for ns in pending {
            self.state.store.finalize_namespace(&ns);
        }
    }

    /// Plays a controller: sets an object's `.status` directly (quota usage, Velero phases,
    /// workload readiness). Answers false when the object does not exist.
    pub fn set_status(
        &self,
        plural: &str,
        namespace: Option<&str>,
        name: &str,
        status: Value,
    ) -> bool {
        let resource = self.state.resource(plural);
        let key = Key::new(&resource, namespace, name);
        match self.state.store.get(&key) {
            None => false,
            Some(mut obj) => {
                obj["status"] = status;
                self.state
                    .store
                    .replace(&resource, &key, obj, "sim-controller", true)
                    .is_ok()
            }
        }
    }

    /// Creates an object directly, as another client of the cluster would.
    pub fn create(&self, plural: &str, object: Value) -> Result<Value, crate::status::ApiError> {
        let resource = self.state.resource(plural);
        self.state.store.create(&resource, object, "sim-controller")
    }

    pub fn get(&self, plural: &str, namespace: Option<&str>, name: &str) -> Option<Value> {
        let resource = self.state.resource(plural);
        self.state.store.get(&Key::new(&resource, namespace, name))
    }
}

impl Drop for SimCluster {
    fn drop(&mut self) {
        self.go_down();
    }
}

/// Accepts connections until aborted; aborting drops every connection task with it.
async fn serve(listener: TcpListener, router: Router) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let router = router.clone();
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                        router.clone().call(request)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}
