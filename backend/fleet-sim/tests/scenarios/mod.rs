//! Berth-facing behaviour, written once against `kube::Client` and run against the
//! simulator (always) and a real cluster (when `BERTH_TEST_KUBECONFIG` names a kubeconfig;
//! `BERTH_TEST_CONTEXT` picks a context). Any gap between the two shows up here.
//!
//! The scenarios create namespaces named `berth-sim-test-*` and delete them afterwards.

use k8s_openapi::api::core::v1::{LimitRange, Namespace, Node, ResourceQuota};
use kube::{
    api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams},
    Client,
};
use serde_json::json;

pub const MANAGER: &str = "berth";

fn unique(prefix: &str) -> String {
    format!(
        "berth-sim-test-{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

fn namespace_body(name: &str, team: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "Namespace",
           "metadata": {"name": name, "labels": {"team": team, "app.kubernetes.io/managed-by": "berth"}}})
}

async fn cleanup(client: &Client, name: &str) {
    let _ = Api::<Namespace>::all(client.clone())
        .delete(name, &DeleteParams::default())
        .await;
}

/// Apply creates a namespace; applying the same content again changes nothing, not even
/// the resourceVersion.
pub async fn apply_creates_and_repeating_it_is_a_no_op(client: Client) {
    let name = unique("apply");
    let api = Api::<Namespace>::all(client.clone());
    let params = PatchParams::apply(MANAGER);
    let first = api
        .patch(
            &name,
            &params,
            &Patch::Apply(namespace_body(&name, "payments")),
        )
        .await
        .unwrap();
    let second = api
        .patch(
            &name,
            &params,
            &Patch::Apply(namespace_body(&name, "payments")),
        )
        .await
        .unwrap();
    assert_eq!(
        first.metadata.resource_version,
        second.metadata.resource_version
    );
    let managed = second.metadata.managed_fields.unwrap_or_default();
    assert!(managed
        .iter()
        .any(|m| m.manager.as_deref() == Some(MANAGER) && m.operation.as_deref() == Some("Apply")));
    assert_eq!(second.metadata.labels.unwrap()["team"], "payments");
    cleanup(&client, &name).await;
}

/// Another manager that sets a field Berth owns to another value is refused with 409,
/// unless it forces, in which case it takes the field.
pub async fn a_second_manager_conflicts_unless_it_forces(client: Client) {
    let name = unique("conflict");
    let api = Api::<Namespace>::all(client.clone());
    api.patch(
        &name,
        &PatchParams::apply(MANAGER),
        &Patch::Apply(namespace_body(&name, "payments")),
    )
    .await
    .unwrap();
    let other = namespace_body(&name, "search");
    let err = api
        .patch(
            &name,
            &PatchParams::apply("someone-else"),
            &Patch::Apply(other.clone()),
        )
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 409);
            assert!(status.message.contains("conflict"), "{}", status.message);
        }
        other => panic!("expected a 409, got {other:?}"),
    }
    let forced = api
        .patch(
            &name,
            &PatchParams::apply("someone-else").force(),
            &Patch::Apply(other),
        )
        .await
        .unwrap();
    assert_eq!(forced.metadata.labels.unwrap()["team"], "search");
    cleanup(&client, &name).await;
}

/// A field Berth applied before and no longer sends is removed.
pub async fn a_field_dropped_from_the_apply_is_removed(client: Client) {
    let name = unique("drop");
    let api = Api::<Namespace>::all(client.clone());
    let params = PatchParams::apply(MANAGER);
    let mut body = namespace_body(&name, "payments");
    body["metadata"]["labels"]["tier"] = json!("gold");
    api.patch(&name, &params, &Patch::Apply(body))
        .await
        .unwrap();
    let after = api
        .patch(
            &name,
            &params,
            &Patch::Apply(namespace_body(&name, "payments")),
        )
        .await
        .unwrap();
    assert!(!after.metadata.labels.unwrap().contains_key("tier"));
    cleanup(&client, &name).await;
}

/// An update carrying an old resourceVersion is refused with 409.
pub async fn a_stale_update_is_a_conflict(client: Client) {
    let name = unique("stale");
    let api = Api::<Namespace>::all(client.clone());
    let created = api
        .create(
            &PostParams::default(),
            &serde_json::from_value(namespace_body(&name, "a")).unwrap(),
        )
        .await
        .unwrap();
    let mut first = created.clone();
    first
        .metadata
        .labels
        .as_mut()
        .unwrap()
        .insert("step".into(), "one".into());
    api.replace(&name, &PostParams::default(), &first)
        .await
        .unwrap();
    let mut stale = created;
    stale
        .metadata
        .labels
        .as_mut()
        .unwrap()
        .insert("step".into(), "two".into());
    match api.replace(&name, &PostParams::default(), &stale).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 409),
        other => panic!("expected a 409, got {:?}", other.map(|n| n.metadata.name)),
    }
    cleanup(&client, &name).await;
}

/// Quota and LimitRange with their real shapes; the quota's status follows its spec.
pub async fn quota_and_limit_range_apply_in_a_namespace(client: Client) {
    let name = unique("quota");
    Api::<Namespace>::all(client.clone())
        .patch(
            &name,
            &PatchParams::apply(MANAGER),
            &Patch::Apply(namespace_body(&name, "payments")),
        )
        .await
        .unwrap();
    let quotas = Api::<ResourceQuota>::namespaced(client.clone(), &name);
    let quota = json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "berth-quota"},
        "spec": {"hard": {"requests.cpu": "4", "requests.memory": "8Gi", "pods": "20",
                          "gold.storageclass.storage.k8s.io/requests.storage": "0"}}});
    let applied = quotas
        .patch(
            "berth-quota",
            &PatchParams::apply(MANAGER),
            &Patch::Apply(quota),
        )
        .await
        .unwrap();
    assert_eq!(applied.spec.unwrap().hard.unwrap()["requests.cpu"].0, "4");
    let limits = Api::<LimitRange>::namespaced(client.clone(), &name);
    let range = json!({"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "berth-limits"},
        "spec": {"limits": [{"type": "Container", "default": {"cpu": "500m", "memory": "512Mi"},
                             "defaultRequest": {"cpu": "100m", "memory": "128Mi"}, "max": {"cpu": "2"}}]}});
    limits
        .patch(
            "berth-limits",
            &PatchParams::apply(MANAGER),
            &Patch::Apply(range),
        )
        .await
        .unwrap();
    let listed = limits.list(&ListParams::default()).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    cleanup(&client, &name).await;
}

/// Label selectors and limit/continue paging over namespaces.
pub async fn lists_filter_by_label_and_page(client: Client) {
    let team = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let api = Api::<Namespace>::all(client.clone());
    let mut names = Vec::new();
    for i in 0..5 {
        let name = unique(&format!("page{i}"));
        api.patch(
            &name,
            &PatchParams::apply(MANAGER),
            &Patch::Apply(namespace_body(&name, &team)),
        )
        .await
        .unwrap();
        names.push(name);
    }
    let selector = format!("team={team}");
    let mut seen = Vec::new();
    let mut params = ListParams::default().labels(&selector).limit(2);
    loop {
        let page = api.list(&params).await.unwrap();
        seen.extend(page.items.into_iter().filter_map(|n| n.metadata.name));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => break,
        }
    }
    seen.sort();
    names.sort();
    assert_eq!(seen, names);
    let by_name = api
        .list(&ListParams::default().fields(&format!("metadata.name={}", names[0])))
        .await
        .unwrap();
    assert_eq!(by_name.items.len(), 1);
    for name in names {
        cleanup(&client, &name).await;
    }
}

/// Errors come back as `Status` objects with Kubernetes' codes.
pub async fn errors_are_kubernetes_statuses(client: Client) {
    let api = Api::<Namespace>::all(client.clone());
    match api.get("berth-sim-test-does-not-exist").await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 404);
            assert_eq!(status.reason, "NotFound");
        }
        other => panic!("expected 404, got {:?}", other.map(|n| n.metadata.name)),
    }
    let bad = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "Not_A_Label"}});
    match api
        .create(
            &PostParams::default(),
            &serde_json::from_value(bad).unwrap(),
        )
        .await
    {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 422),
        other => panic!("expected 422, got {:?}", other.map(|n| n.metadata.name)),
    }
}

/// Nodes read as k8s-openapi Nodes, with allocatable resources.
pub async fn nodes_have_their_real_shape(client: Client) {
    let nodes = Api::<Node>::all(client)
        .list(&ListParams::default().limit(5))
        .await
        .unwrap();
    for node in nodes.items {
        let status = node.status.expect("nodes have a status");
        assert!(status
            .allocatable
            .as_ref()
            .is_some_and(|a| a.contains_key("cpu") && a.contains_key("memory")));
    }
}

/// An empty map in an apply claims the map, not what is in it: another manager's update
/// adds an annotation, a re-apply of `annotations: {}` keeps it, and another manager then
/// applies its own annotation without a conflict.
pub async fn an_empty_map_in_an_apply_keeps_what_others_put_in_it(client: Client) {
    let name = unique("empty");
    let api = Api::<Namespace>::all(client.clone());
    let mut body = namespace_body(&name, "payments");
    body["metadata"]["annotations"] = json!({});
    api.patch(
        &name,
        &PatchParams::apply(MANAGER),
        &Patch::Apply(body.clone()),
    )
    .await
    .unwrap();
    api.patch(
        &name,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {"note": "kept"}}})),
    )
    .await
    .unwrap();
    let again = api
        .patch(&name, &PatchParams::apply(MANAGER), &Patch::Apply(body))
        .await
        .unwrap();
    assert_eq!(again.metadata.annotations.unwrap()["note"], "kept");
    let applied = api
        .patch(
            &name,
            &PatchParams::apply("other"),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": name, "annotations": {"more": "x"}}})),
        )
        .await
        .expect("the filled map is no longer Berth's alone");
    let annotations = applied.metadata.annotations.unwrap();
    assert_eq!(
        (annotations["note"].as_str(), annotations["more"].as_str()),
        ("kept", "x")
    );
    cleanup(&client, &name).await;
}

/// A dry-run apply answers the object as it would be after the merge, and stores nothing.
pub async fn a_dry_run_apply_returns_the_merged_object(client: Client) {
    let name = unique("dry");
    let api = Api::<Namespace>::all(client.clone());
    api.patch(
        &name,
        &PatchParams::apply("other"),
        &Patch::Apply(namespace_body(&name, "payments")),
    )
    .await
    .unwrap();
    let mut body = json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": name, "labels": {"tier": "gold"}}});
    let dry = api
        .patch(
            &name,
            &PatchParams::apply(MANAGER).dry_run(),
            &Patch::Apply(body.take()),
        )
        .await
        .unwrap();
    let labels = dry.metadata.labels.unwrap();
    assert_eq!(labels["tier"], "gold");
    assert_eq!(
        labels["team"], "payments",
        "the other manager's label is merged in"
    );
    let stored = api.get(&name).await.unwrap().metadata.labels.unwrap();
    assert!(!stored.contains_key("tier"), "a dry run stores nothing");
    cleanup(&client, &name).await;
}

/// Quota keys and LimitRange rules are validated as kube-apiserver validates them.
pub async fn quota_keys_and_limit_ranges_are_validated(client: Client) {
    let name = unique("valid");
    Api::<Namespace>::all(client.clone())
        .patch(
            &name,
            &PatchParams::apply(MANAGER),
            &Patch::Apply(namespace_body(&name, "payments")),
        )
        .await
        .unwrap();
    let quotas = Api::<ResourceQuota>::namespaced(client.clone(), &name);
    let quota = |hard: serde_json::Value| json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"}, "spec": {"hard": hard}});
    let refused = |r: Result<ResourceQuota, kube::Error>| matches!(r, Err(kube::Error::Api(s)) if s.code == 422);
    for bad in [
        json!({"bogus": "1"}),
        json!({"count/deployments.apps": "1.5"}),
        json!({"pods": "2.5"}),
        json!({"requests.cpu": "-1"}),
        json!({"gold.storageclass.storage.k8s.io/requests.storage": "0.5"}),
    ] {
        let r = quotas
            .patch(
                "q",
                &PatchParams::apply(MANAGER),
                &Patch::Apply(quota(bad.clone())),
            )
            .await;
        assert!(refused(r), "{bad} accepted");
    }
    quotas
        .patch(
            "q",
            &PatchParams::apply(MANAGER),
            &Patch::Apply(quota(json!({"requests.nvidia.com/gpu": "2", "count/deployments.apps": "10",
                                       "services.loadbalancers": "1", "requests.ephemeral-storage": "1Gi"}))),
        )
        .await
        .expect("extended resources and object counts are quota keys");

    let limits = Api::<LimitRange>::namespaced(client.clone(), &name);
    let range = |container: serde_json::Value| {
        json!({"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "l"},
               "spec": {"limits": [container]}})
    };
    for bad in [
        json!({"type": "Container", "min": {"cpu": "100m"}, "max": {"cpu": "200m"}, "maxLimitRequestRatio": {"cpu": "5"}}),
        json!({"type": "Container", "default": {"memory": "8Gi"}, "max": {"memory": "4Gi"}}),
        json!({"type": "Container", "defaultRequest": {"cpu": "1"}, "default": {"cpu": "500m"}}),
        json!({"type": "Container", "maxLimitRequestRatio": {"cpu": "0.5"}}),
        json!({"type": "Pod", "default": {"cpu": "1"}}),
    ] {
        let r = limits
            .patch(
                "l",
                &PatchParams::apply(MANAGER),
                &Patch::Apply(range(bad.clone())),
            )
            .await;
        assert!(
            matches!(r, Err(kube::Error::Api(ref s)) if s.code == 422),
            "{bad} accepted: {r:?}"
        );
    }
    cleanup(&client, &name).await;
}
