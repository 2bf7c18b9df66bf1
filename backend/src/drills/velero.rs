//! Velero's `velero.io/v1` Backups and Restores as the drills use them: where they live, and
//! the newest completed backup that covers a namespace.

use kube::{
    api::{Api, DynamicObject, ListParams},
    discovery::ApiResource,
    Client,
};
use serde_json::Value;
use time::OffsetDateTime;

pub const VELERO_NAMESPACE: &str = "velero";

pub(super) fn resource(kind: &str) -> ApiResource {
    let plural = if kind == "Backup" {
        "backups"
    } else {
        "restores"
    };
    ApiResource {
        group: "velero.io".into(),
        version: "v1".into(),
        api_version: "velero.io/v1".into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

pub(super) fn velero(client: &Client, kind: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), VELERO_NAMESPACE, &resource(kind))
}

/// The newest Completed Velero backup that covers `namespace`: (start time, name).
pub(super) async fn newest_backup(
    client: &Client,
    namespace: &str,
) -> std::result::Result<Option<(OffsetDateTime, String)>, kube::Error> {
    let backups = velero(client, "Backup")
        .list(&ListParams::default())
        .await?;
    Ok(backups
        .items
        .iter()
        .filter(|b| b.data.pointer("/status/phase").and_then(Value::as_str) == Some("Completed"))
        .filter(|b| {
            let included = b
                .data
                .pointer("/spec/includedNamespaces")
                .and_then(Value::as_array);
            included.is_none_or(|list| {
                list.is_empty()
                    || list
                        .iter()
                        .any(|n| n.as_str() == Some(namespace) || n.as_str() == Some("*"))
            })
        })
        .filter_map(|b| {
            let start = b
                .data
                .pointer("/status/startTimestamp")
                .and_then(Value::as_str)?;
            let at = OffsetDateTime::parse(start, &time::format_description::well_known::Rfc3339)
                .ok()?;
            Some((at, b.metadata.name.clone()?))
        })
        .max())
}
