//! The simulator as `kube::Client` sees it: the shared scenarios against a simulated cluster
//! (and a real one when `BERTH_TEST_KUBECONFIG` is set), then what only a simulator can be
//! asked to do — faults, RBAC, held namespace deletion, status set by a test.

mod scenarios;

use std::time::Duration;

use berth_fleet_sim::{FaultSettings, Fleet, FleetSpec, SimCluster};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, ResourceQuota};
use kube::{
    api::{Api, DeleteParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams},
    config::{KubeConfigOptions, Kubeconfig},
    Client, Config,
};
use serde_json::json;

async fn client_for(cluster: &SimCluster) -> Client {
    let kubeconfig = Kubeconfig::from_yaml(&cluster.kubeconfig()).unwrap();
    let options = KubeConfigOptions {
        context: Some(cluster.name().to_owned()),
        ..Default::default()
    };
    let config = Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .unwrap();
    Client::try_from(config).unwrap()
}

async fn demo() -> Fleet {
    Fleet::start(FleetSpec::demo()).await.unwrap()
}

/// The real cluster named by `BERTH_TEST_KUBECONFIG`, when there is one.
async fn real_cluster() -> Option<Client> {
    let path = std::env::var("BERTH_TEST_KUBECONFIG").ok()?;
    let kubeconfig = Kubeconfig::read_from(path).expect("BERTH_TEST_KUBECONFIG is a kubeconfig");
    let options = KubeConfigOptions {
        context: std::env::var("BERTH_TEST_CONTEXT").ok(),
        ..Default::default()
    };
    let config = Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .expect("its context resolves");
    Some(Client::try_from(config).expect("a client for the real cluster"))
}

macro_rules! scenario {
    ($name:ident) => {
        mod $name {
            use super::*;

            #[tokio::test]
            async fn on_the_simulator() {
                let fleet = demo().await;
                let client = client_for(fleet.cluster("prod-shanghai-1").unwrap()).await;
                scenarios::$name(client).await;
            }

            #[tokio::test]
            async fn on_a_real_cluster_when_one_is_configured() {
                match real_cluster().await {
                    Some(client) => scenarios::$name(client).await,
                    None => {
                        eprintln!("BERTH_TEST_KUBECONFIG is not set: nothing to compare against")
                    }
                }
            }
        }
    };
}

scenario!(apply_creates_and_repeating_it_is_a_no_op);
scenario!(a_second_manager_conflicts_unless_it_forces);
scenario!(a_field_dropped_from_the_apply_is_removed);
scenario!(a_stale_update_is_a_conflict);
scenario!(quota_and_limit_range_apply_in_a_namespace);
scenario!(lists_filter_by_label_and_page);
scenario!(errors_are_kubernetes_statuses);
scenario!(nodes_have_their_real_shape);
scenario!(an_empty_map_in_an_apply_keeps_what_others_put_in_it);
scenario!(a_dry_run_apply_returns_the_merged_object);
scenario!(quota_keys_and_limit_ranges_are_validated);

#[tokio::test]
async fn the_demo_fleet_follows_the_layered_model() {
    let fleet = demo().await;
    let layers: Vec<&str> = fleet.clusters().map(|c| c.spec().layer.as_str()).collect();
    for layer in ["shared-infra", "online", "offline", "stateful", "secure"] {
        assert!(layers.contains(&layer), "no {layer} cluster");
    }
    let beijing = fleet.cluster("prod-beijing-1").unwrap();
    let spot = beijing.get("nodes", None, "prod-beijing-1-spot-0").unwrap();
    assert_eq!(spot["spec"]["taints"][0]["key"], "workload");
    let singapore = fleet.cluster("prod-singapore-1").unwrap();
    assert!(singapore
        .get("storageclasses", None, "high-iops-ssd")
        .is_some());
}

#[tokio::test]
async fn discovery_and_version_tell_which_apis_a_cluster_serves() {
    let fleet = demo().await;
    let with_velero = client_for(fleet.cluster("prod-shanghai-1").unwrap()).await;
    let without = client_for(fleet.cluster("prod-beijing-1").unwrap()).await;
    let groups = with_velero.list_api_groups().await.unwrap();
    assert!(groups.groups.iter().any(|g| g.name == "velero.io"));
    let groups = without.list_api_groups().await.unwrap();
    assert!(!groups.groups.iter().any(|g| g.name == "velero.io"));
    let version = without.apiserver_version().await.unwrap();
    assert_eq!(version.git_version, "v1.30.8");
    let core = with_velero.list_core_api_resources("v1").await.unwrap();
    assert!(core
        .resources
        .iter()
        .any(|r| r.name == "resourcequotas" && r.namespaced));
}

#[tokio::test]
async fn a_cluster_with_a_token_refuses_requests_without_it() {
    let fleet = demo().await;
    let secure = fleet.cluster("secure-1").unwrap();
    let client = client_for(secure).await;
    assert!(Api::<Namespace>::all(client).get("default").await.is_ok());
    let anonymous = Client::try_from(Config::new(secure.url().parse().unwrap())).unwrap();
    match Api::<Namespace>::all(anonymous).get("default").await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 401),
        other => panic!("expected 401, got {:?}", other.map(|n| n.metadata.name)),
    }
}

#[tokio::test]
async fn namespace_deletion_is_terminating_then_empties_then_gone() {
    let fleet = demo().await;
    let cluster = fleet.cluster("prod-shanghai-1").unwrap();
    let client = client_for(cluster).await;
    let namespaces = Api::<Namespace>::all(client.clone());
    let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "doomed"}});
    namespaces
        .patch("doomed", &PatchParams::apply("berth"), &Patch::Apply(body))
        .await
        .unwrap();
    let maps = Api::<ConfigMap>::namespaced(client.clone(), "doomed");
    let map = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"a": "1"}});
    maps.patch(
        "settings",
        &PatchParams::apply("berth"),
        &Patch::Apply(map.clone()),
    )
    .await
    .unwrap();

    cluster.hold_namespace_deletion();
    namespaces
        .delete("doomed", &DeleteParams::default())
        .await
        .unwrap();
    let terminating = namespaces.get("doomed").await.unwrap();
    assert_eq!(
        terminating.status.unwrap().phase.as_deref(),
        Some("Terminating")
    );
    let mut late = map.clone();
    late["metadata"]["name"] = json!("late");
    match maps
        .patch("late", &PatchParams::apply("berth"), &Patch::Apply(late))
        .await
    {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 403);
            assert!(status.message.contains("being terminated"));
        }
        other => panic!("expected 403, got {:?}", other.map(|m| m.metadata.name)),
    }
    cluster.release_namespace_deletion();
    assert!(maps.get_opt("settings").await.unwrap().is_none());
    assert!(namespaces.get_opt("doomed").await.unwrap().is_none());
    match maps
        .patch("settings", &PatchParams::apply("berth"), &Patch::Apply(map))
        .await
    {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 404),
        other => panic!(
            "expected 404 for a namespace that is gone, got {:?}",
            other.map(|m| m.metadata.name)
        ),
    }
}

#[tokio::test]
async fn a_watch_sees_additions_changes_and_deletions_in_order() {
    let fleet = demo().await;
    let client = client_for(fleet.cluster("prod-shanghai-1").unwrap()).await;
    let namespaces = Api::<Namespace>::all(client.clone());
    let start = namespaces
        .list(&Default::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut events = namespaces
        .watch(
            &WatchParams::default().labels("watched=yes").timeout(30),
            &start,
        )
        .await
        .unwrap()
        .boxed();
    let body = |v: &str| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "watched", "labels": {"watched": "yes", "v": v}}});
    namespaces
        .patch(
            "watched",
            &PatchParams::apply("berth"),
            &Patch::Apply(body("1")),
        )
        .await
        .unwrap();
    namespaces
        .patch(
            "watched",
            &PatchParams::apply("berth"),
            &Patch::Apply(body("2")),
        )
        .await
        .unwrap();
    namespaces
        .delete("watched", &DeleteParams::default())
        .await
        .unwrap();
    let mut kinds = Vec::new();
    while kinds.len() < 4 {
        match events
            .try_next()
            .await
            .unwrap()
            .expect("the watch stays open")
        {
            WatchEvent::Added(_) => kinds.push("ADDED"),
            WatchEvent::Modified(_) => kinds.push("MODIFIED"),
            WatchEvent::Deleted(_) => kinds.push("DELETED"),
            WatchEvent::Bookmark(_) => {}
            WatchEvent::Error(e) => panic!("watch error {e:?}"),
        }
    }
    // Added, the label change, Terminating, then (after finalisation) deleted.
    assert_eq!(kinds, ["ADDED", "MODIFIED", "MODIFIED", "DELETED"]);
}

#[tokio::test]
async fn a_watch_from_a_version_the_log_no_longer_holds_is_gone() {
    let fleet = demo().await;
    let client = client_for(fleet.cluster("dev-shanghai-1").unwrap()).await;
    let namespaces = Api::<Namespace>::all(client);
    // Seeded objects carry no events, so version 1 is older than anything a watch can replay.
    let mut events = namespaces
        .watch(&WatchParams::default().timeout(5), "1")
        .await
        .unwrap()
        .boxed();
    match events.try_next().await.unwrap() {
        Some(WatchEvent::Error(e)) => assert_eq!(e.code, 410),
        other => panic!("expected a 410 error event, got {other:?}"),
    }
}

#[tokio::test]
async fn quota_usage_set_by_a_test_reads_back_through_the_api() {
    let fleet = demo().await;
    let cluster = fleet.cluster("prod-shanghai-1").unwrap();
    let client = client_for(cluster).await;
    let namespaces = Api::<Namespace>::all(client.clone());
    namespaces
        .patch(
            "usage",
            &PatchParams::apply("berth"),
            &Patch::Apply(
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "usage"}}),
            ),
        )
        .await
        .unwrap();
    let quotas = Api::<ResourceQuota>::namespaced(client, "usage");
    let quota = json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"}, "spec": {"hard": {"requests.cpu": "4"}}});
    quotas
        .patch("q", &PatchParams::apply("berth"), &Patch::Apply(quota))
        .await
        .unwrap();
    assert_eq!(
        quotas.get("q").await.unwrap().status.unwrap().used.unwrap()["requests.cpu"].0,
        "0"
    );
    assert!(cluster.set_status(
        "resourcequotas",
        Some("usage"),
        "q",
        json!({"hard": {"requests.cpu": "4"}, "used": {"requests.cpu": "1500m"}})
    ));
    assert_eq!(
        quotas.get("q").await.unwrap().status.unwrap().used.unwrap()["requests.cpu"].0,
        "1500m"
    );
}

#[tokio::test]
async fn bad_bodies_get_the_answers_a_real_api_server_gives() {
    let fleet = demo().await;
    let client = client_for(fleet.cluster("prod-shanghai-1").unwrap()).await;
    let send = |method: &str, path: &str, content_type: &str, body: &str| {
        http::Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", content_type)
            .body(body.as_bytes().to_vec())
            .unwrap()
    };
    let cases = [
        (
            send(
                "POST",
                "/api/v1/namespaces",
                "application/json",
                "{not json",
            ),
            400,
        ),
        (
            send(
                "POST",
                "/api/v1/namespaces",
                "application/json",
                r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}"#,
            ),
            400,
        ),
        (
            send(
                "POST",
                "/api/v1/namespaces",
                "application/json",
                r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"UPPER"}}"#,
            ),
            422,
        ),
        (
            send(
                "PATCH",
                "/api/v1/namespaces/x",
                "application/apply-patch+yaml",
                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n",
            ),
            400,
        ),
        (send("GET", "/api/v1/widgets", "application/json", ""), 404),
        (
            send("GET", "/apis/example.com/v1/things", "application/json", ""),
            404,
        ),
        (
            send(
                "POST",
                "/api/v1/namespaces/default/resourcequotas",
                "application/json",
                r#"{"apiVersion":"v1","kind":"ResourceQuota","metadata":{"name":"q"},"spec":{"hard":{"cpu":"lots"}}}"#,
            ),
            422,
        ),
    ];
    for (request, expected) in cases {
        let description = format!("{} {}", request.method(), request.uri());
        match client.request::<serde_json::Value>(request).await {
            Err(kube::Error::Api(status)) => {
                assert_eq!(status.code, expected, "{description}: {}", status.message)
            }
            other => panic!("{description}: expected {expected}, got {other:?}"),
        }
    }
    // YAML applies work, with a field manager.
    let yaml = send(
        "PATCH",
        "/api/v1/namespaces/from-yaml?fieldManager=berth",
        "application/apply-patch+yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: from-yaml\n  labels:\n    team: payments\n",
    );
    let created: serde_json::Value = client.request(yaml).await.unwrap();
    assert_eq!(created["metadata"]["labels"]["team"], "payments");
}

#[tokio::test]
async fn simulated_rbac_refuses_with_403_until_allowed() {
    let fleet = demo().await;
    let cluster = fleet.cluster("prod-shanghai-1").unwrap();
    let client = client_for(cluster).await;
    let api = Api::<Namespace>::all(client);
    cluster.forbid("list", "namespaces");
    match api.list(&Default::default()).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 403);
            assert!(status
                .message
                .contains("cannot list resource \"namespaces\""));
        }
        other => panic!("expected 403, got {:?}", other.map(|l| l.items.len())),
    }
    cluster.allow("list", "namespaces");
    assert!(api.list(&Default::default()).await.is_ok());
}

#[tokio::test]
async fn injected_faults_fail_hang_and_take_a_cluster_down_then_recover() {
    let fleet = demo().await;
    let cluster = fleet.cluster("prod-shanghai-1").unwrap();
    let other = fleet.cluster("prod-singapore-1").unwrap();
    let client = client_for(cluster).await;
    let healthy = Api::<Namespace>::all(client_for(other).await);
    let api = Api::<Namespace>::all(client.clone());

    cluster
        .set_faults(&FaultSettings {
            error_rate: 1.0,
            ..Default::default()
        })
        .await
        .unwrap();
    match api.get("default").await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 500),
        other => panic!("expected 500, got {:?}", other.map(|n| n.metadata.name)),
    }
    assert!(
        healthy.get("default").await.is_ok(),
        "other clusters are unaffected"
    );

    cluster
        .set_faults(&FaultSettings {
            hang: true,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut config = Config::new(cluster.url().parse().unwrap());
    config.read_timeout = Some(Duration::from_millis(300));
    let impatient = Api::<Namespace>::all(Client::try_from(config).unwrap());
    assert!(
        impatient.get("default").await.is_err(),
        "a hanging cluster times the client out"
    );

    cluster
        .set_faults(&FaultSettings {
            down: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(cluster.faults().down);
    match api.get("default").await {
        Err(kube::Error::Api(status)) => panic!("a down cluster answered {status:?}"),
        Err(_) => {}
        Ok(_) => panic!("a down cluster answered"),
    }
    assert!(healthy.get("default").await.is_ok());

    cluster.recover().await.unwrap();
    assert_eq!(cluster.faults(), FaultSettings::default());
    let fresh = Api::<Namespace>::all(client_for(cluster).await);
    assert!(fresh.get("default").await.is_ok());
}

#[tokio::test]
async fn the_status_subresource_changes_only_status() {
    let fleet = demo().await;
    let cluster = fleet.cluster("prod-shanghai-1").unwrap();
    let client = client_for(cluster).await;
    Api::<Namespace>::all(client.clone())
        .patch(
            "st",
            &PatchParams::apply("berth"),
            &Patch::Apply(
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "st"}}),
            ),
        )
        .await
        .unwrap();
    let quotas = Api::<ResourceQuota>::namespaced(client, "st");
    let quota: ResourceQuota =
        serde_json::from_value(json!({"apiVersion": "v1", "kind": "ResourceQuota",
        "metadata": {"name": "q"}, "spec": {"hard": {"pods": "10"}}}))
        .unwrap();
    quotas.create(&PostParams::default(), &quota).await.unwrap();
    let patch = json!({"spec": {"hard": {"pods": "99"}}, "status": {"used": {"pods": "3"}}});
    let patched = quotas
        .patch_status("q", &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap();
    assert_eq!(patched.spec.unwrap().hard.unwrap()["pods"].0, "10");
    assert_eq!(patched.status.unwrap().used.unwrap()["pods"].0, "3");
}

#[tokio::test]
async fn a_quiet_watch_receives_bookmarks_at_the_current_version() {
    let settings = berth_fleet_sim::Settings {
        bookmark_interval: Duration::from_millis(50),
        ..Default::default()
    };
    let fleet = Fleet::start_with(FleetSpec::demo(), settings)
        .await
        .unwrap();
    let client = client_for(fleet.cluster("prod-shanghai-1").unwrap()).await;
    let namespaces = Api::<Namespace>::all(client);
    let current = namespaces
        .list(&Default::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut events = namespaces
        .watch(&WatchParams::default().timeout(30), &current)
        .await
        .unwrap()
        .boxed();
    match events.try_next().await.unwrap() {
        Some(WatchEvent::Bookmark(b)) => assert_eq!(b.metadata.resource_version, current),
        other => panic!("expected a bookmark, got {other:?}"),
    }
}

/// Real kubectl (`BERTH_TEST_KUBECTL`, the one `bash scripts/test` builds with the control
/// plane) against `kubeconfig`'s `context`: server-side apply with validation on, short
/// names, and the unknown-field and quota-key refusals a real server gives.
fn kubectl_session(kubectl: &str, kubeconfig: &std::path::Path, context: &str) {
    let run = |args: &[&str], stdin: Option<&str>| {
        use std::io::Write;
        let mut child = std::process::Command::new(kubectl)
            .arg(format!("--kubeconfig={}", kubeconfig.display()))
            .arg(format!("--context={context}"))
            .arg(format!(
                "--cache-dir={}/cache",
                kubeconfig.parent().unwrap().display()
            ))
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("kubectl runs");
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let name = format!(
        "berth-kubectl-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let ns = format!(r#"{{"apiVersion":"v1","kind":"Namespace","metadata":{{"name":"{name}"}}}}"#);
    let (ok, out) = run(&["apply", "--server-side", "-f", "-"], Some(&ns));
    assert!(ok && out.contains("serverside-applied"), "{out}");
    let (ok, out) = run(&["get", "ns", &name, "-o", "name"], None);
    assert!(ok && out.trim() == format!("namespace/{name}"), "{out}");
    let bogus = format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"c","namespace":"{name}","bogus":1}}}}"#
    );
    let (ok, out) = run(&["create", "-f", "-"], Some(&bogus));
    assert!(
        !ok && out.contains(r#"unknown field "metadata.bogus""#),
        "{out}"
    );
    let quota = format!(
        r#"{{"apiVersion":"v1","kind":"ResourceQuota","metadata":{{"name":"q","namespace":"{name}"}},"spec":{{"hard":{{"bogus":"1"}}}}}}"#
    );
    let (ok, out) = run(&["apply", "--server-side", "-f", "-"], Some(&quota));
    assert!(!ok && out.contains("spec.hard[bogus]"), "{out}");
    let (ok, out) = run(&["delete", "ns", &name, "--wait=false"], None);
    assert!(ok, "{out}");
}

fn kubectl() -> Option<String> {
    let found = std::env::var("BERTH_TEST_KUBECTL").ok();
    if found.is_none() {
        assert!(
            std::env::var_os("BERTH_REQUIRE_CLUSTERS").is_none(),
            "BERTH_REQUIRE_CLUSTERS is set but BERTH_TEST_KUBECTL is not"
        );
        eprintln!("BERTH_TEST_KUBECTL is not set: no kubectl to drive");
    }
    found
}

#[tokio::test]
async fn kubectl_works_against_the_simulator_with_validation_on() {
    let Some(kubectl) = kubectl() else { return };
    let fleet = demo().await;
    let dir = std::env::temp_dir().join(format!("berth-kubectl-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("kubeconfig");
    std::fs::write(&path, fleet.kubeconfig()).unwrap();
    tokio::task::spawn_blocking(move || kubectl_session(&kubectl, &path, "prod-shanghai-1"))
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn kubectl_works_against_a_real_cluster_the_same_way() {
    let (Some(kubectl), Ok(path)) = (kubectl(), std::env::var("BERTH_TEST_KUBECONFIG")) else {
        return;
    };
    let context = std::env::var("BERTH_TEST_CONTEXT").unwrap_or_default();
    tokio::task::spawn_blocking(move || {
        kubectl_session(&kubectl, std::path::Path::new(&path), &context)
    })
    .await
    .unwrap();
}
