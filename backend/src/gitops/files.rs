//! What Berth writes into a repository: the folder of a namespace (one YAML file per object
//! and a `kustomization.yaml` listing them, so Flux's kustomize-controller and an Argo CD
//! ApplicationSet over the folders both build it) and the folder of a cluster's shared
//! policies. Pure: paths and bytes, no Git.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::{Error, Result};

/// A repository path with placeholders, parsed once: relative, no `..`, no empty or hidden
/// segments, and only the placeholders its use allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate(String);

pub const DEFAULT_PATH: &str = "clusters/{cluster}/namespaces/{namespace}";
pub const DEFAULT_SHARED_PATH: &str = "clusters/{cluster}/berth-shared";

/// The values a template's placeholders take.
pub struct Place<'a> {
    pub cluster: &'a str,
    pub namespace: &'a str,
    pub team: &'a str,
    pub environment: &'a str,
}

impl PathTemplate {
    /// A namespace folder's template: must name `{namespace}`, so no two namespaces share a
    /// folder.
    pub fn namespace(field: &str, raw: &str) -> Result<Self> {
        let t = Self::parse(
            field,
            raw,
            &["{cluster}", "{namespace}", "{team}", "{environment}"],
        )?;
        if !t.0.contains("{namespace}") {
            return Err(Error::invalid(
                field,
                "must contain {namespace}, or two namespaces would share a folder",
            ));
        }
        Ok(t)
    }

    /// The shared policies' folder: may name `{cluster}` only (it holds every namespace's).
    pub fn shared(field: &str, raw: &str) -> Result<Self> {
        Self::parse(field, raw, &["{cluster}"])
    }

    fn parse(field: &str, raw: &str, allowed: &[&str]) -> Result<Self> {
        let path = raw.trim().trim_end_matches('/');
        if path.is_empty() {
            return Err(Error::invalid(field, "is required"));
        }
        if path.len() > 200 {
            return Err(Error::invalid(field, "must be at most 200 characters"));
        }
        if path.starts_with('/') || path.contains('\\') {
            return Err(Error::invalid(
                field,
                "must be a relative path inside the repository (no leading / or \\)",
            ));
        }
        for segment in path.split('/') {
            if segment.is_empty() || segment == "." || segment == ".." {
                return Err(Error::invalid(
                    field,
                    "must stay inside the repository: no empty, `.` or `..` segments",
                ));
            }
            if segment.starts_with('.') {
                return Err(Error::invalid(
                    field,
                    "must not name hidden folders (.git and the like)",
                ));
            }
        }
        // Every `{…}` must be an allowed placeholder; the rest is plain path characters.
        let mut rest = path;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}') else {
                return Err(Error::invalid(field, "has a { without }"));
            };
            let placeholder = &rest[open..open + close + 1];
            if !allowed.contains(&placeholder) {
                return Err(Error::invalid(
                    field,
                    format!(
                        "{placeholder} is not a placeholder here; use {}",
                        allowed.join(", ")
                    ),
                ));
            }
            rest = &rest[open + close + 1..];
        }
        let plain = allowed
            .iter()
            .fold(path.to_owned(), |p, a| p.replace(a, "x"));
        if let Some(c) = plain
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "-_./".contains(*c)))
        {
            return Err(Error::invalid(
                field,
                format!("must use letters, digits, - _ . / and placeholders only, not {c:?}"),
            ));
        }
        Ok(PathTemplate(path.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path for one place. The values are DNS labels, so the result stays inside the
    /// repository.
    pub fn render(&self, place: &Place) -> String {
        self.0
            .replace("{cluster}", place.cluster)
            .replace("{namespace}", place.namespace)
            .replace("{team}", place.team)
            .replace("{environment}", place.environment)
    }

    /// A stored template (validated when it was set).
    pub fn stored(raw: &str) -> Self {
        PathTemplate(raw.to_owned())
    }
}

/// How every file Berth writes begins: what tells Berth's files from anyone else's.
pub const HEADER: &str = "# Written by Berth";

/// A file's name for an object: `<kind>-<name>.yaml`, lower case.
pub fn file_name(kind: &str, name: &str) -> String {
    format!("{}-{}.yaml", kind.to_ascii_lowercase(), name)
}

/// One object as YAML, with a header that says who writes it.
pub fn yaml(manifest: &Value) -> Result<String> {
    let body = serde_yaml_ng::to_string(manifest).map_err(anyhow::Error::from)?;
    Ok(format!(
        "{HEADER}; change it through Berth, or the next change overwrites it.\n{body}"
    ))
}

/// A folder's files: name → content, with a kustomization.yaml listing the objects.
pub fn folder<'a>(
    objects: impl IntoIterator<Item = (&'a str, &'a str, &'a Value)>,
) -> Result<BTreeMap<String, String>> {
    let mut files = BTreeMap::new();
    for (kind, name, manifest) in objects {
        files.insert(file_name(kind, name), yaml(manifest)?);
    }
    let resources: Vec<&String> = files.keys().collect();
    let kustomization = serde_json::json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
    });
    let body = serde_yaml_ng::to_string(&kustomization).map_err(anyhow::Error::from)?;
    files.insert(
        "kustomization.yaml".into(),
        format!("{HEADER}: the objects of this folder.\n{body}"),
    );
    Ok(files)
}

/// The digest of a set of files (path → content), the same for the same files.
pub fn digest(files: &BTreeMap<String, String>) -> String {
    use sha2::Digest;
    let mut hash = sha2::Sha256::new();
    for (path, content) in files {
        hash.update(path.as_bytes());
        hash.update([0]);
        hash.update(content.as_bytes());
        hash.update([0]);
    }
    format!("{:x}", hash.finalize())
}

/// Reads the objects back from a folder's files (the drift check's view of the repository):
/// file name → manifest; files that are not objects (the kustomization) are left out.
pub fn objects(files: &BTreeMap<String, String>) -> BTreeMap<String, Value> {
    files
        .iter()
        .filter(|(name, _)| name.as_str() != "kustomization.yaml")
        .filter_map(|(name, content)| {
            serde_yaml_ng::from_str::<Value>(content)
                .ok()
                .map(|v| (name.clone(), v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_template_stays_inside_the_repository_and_names_its_namespace() {
        let ok =
            PathTemplate::namespace("path", " clusters/{cluster}/{team}/{namespace}/ ").unwrap();
        assert_eq!(
            ok.render(&Place {
                cluster: "east",
                namespace: "payments-api",
                team: "payments",
                environment: "prod"
            }),
            "clusters/east/payments/payments-api"
        );
        for bad in [
            "../{namespace}",
            "clusters/../../{namespace}",
            "/etc/{namespace}",
            "a//{namespace}",
            ".git/{namespace}",
            "clusters/{cluster}",
            "x/{name}/{namespace}",
            "x/{namespace",
            "x y/{namespace}",
            "x\\{namespace}",
            "",
        ] {
            assert!(
                PathTemplate::namespace("path", bad).is_err(),
                "{bad:?} was accepted"
            );
        }
        assert!(PathTemplate::shared("shared_path", "clusters/{cluster}/berth-shared").is_ok());
        assert!(PathTemplate::shared("shared_path", "shared/{namespace}").is_err());
    }

    #[test]
    fn a_folder_lists_its_objects_and_its_digest_follows_the_content() {
        let quota = json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "berth-quota"}});
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}});
        let files = folder([
            ("Namespace", "a", &ns),
            ("ResourceQuota", "berth-quota", &quota),
        ])
        .unwrap();
        assert_eq!(
            files.keys().collect::<Vec<_>>(),
            [
                "kustomization.yaml",
                "namespace-a.yaml",
                "resourcequota-berth-quota.yaml"
            ]
        );
        assert!(files["kustomization.yaml"].contains("- namespace-a.yaml"));
        let back = objects(&files);
        assert_eq!(back["namespace-a.yaml"], ns);
        let same = folder([
            ("ResourceQuota", "berth-quota", &quota),
            ("Namespace", "a", &ns),
        ])
        .unwrap();
        assert_eq!(digest(&files), digest(&same));
        let other = folder([("Namespace", "a", &ns)]).unwrap();
        assert_ne!(digest(&files), digest(&other));
    }
}
