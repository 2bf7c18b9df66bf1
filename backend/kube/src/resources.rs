//! Resource names as kube-apiserver validates them in ResourceQuotas and LimitRanges
//! (`ValidateResourceQuotaResourceName`, `validateContainerResourceName` and the helpers in
//! pkg/apis/core/helper): `requests.cpu`, `count/deployments.apps`, `requests.nvidia.com/gpu`,
//! `gp3.storageclass.storage.k8s.io/requests.storage`, and which of them count in whole units.

/// Names a quota may hold without a `/`.
const STANDARD_QUOTA: &[&str] = &[
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.storage",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
    "resourcequotas",
    "services",
    "replicationcontrollers",
    "secrets",
    "persistentvolumeclaims",
    "configmaps",
    "services.nodeports",
    "services.loadbalancers",
];

/// Names of resources the server knows without a `/` (`IsStandardResourceName`).
const STANDARD: &[&str] = &[
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
    "resourcequotas",
    "services",
    "replicationcontrollers",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "storage",
    "requests.storage",
    "services.nodeports",
    "services.loadbalancers",
];

/// Counted in whole units.
const INTEGER: &[&str] = &[
    "pods",
    "resourcequotas",
    "services",
    "replicationcontrollers",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "services.nodeports",
    "services.loadbalancers",
];

fn hugepages(name: &str) -> bool {
    name.starts_with("hugepages-") || name.starts_with("requests.hugepages-")
}

fn dns_label_part(part: &str) -> bool {
    !part.is_empty()
        && part.len() <= 63
        && part
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && part.as_bytes()[0].is_ascii_alphanumeric()
        && part.as_bytes()[part.len() - 1].is_ascii_alphanumeric()
}

/// A DNS-1123 subdomain: dot-separated labels, 253 characters at most.
pub fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(dns_label_part)
}

/// `IsQualifiedName`: an optional DNS-subdomain prefix and `/`, then a name of at most 63
/// characters — letters, digits, `-`, `_`, `.`, starting and ending with a letter or digit.
pub fn qualified_name(value: &str) -> Result<(), String> {
    let (prefix, name) =
        match value.split('/').collect::<Vec<_>>()[..] {
            [name] => (None, name),
            [prefix, name] => (Some(prefix), name),
            _ => return Err(
                "must be a qualified name: an optional DNS subdomain prefix and '/', then a name"
                    .into(),
            ),
        };
    if let Some(prefix) = prefix {
        if !is_dns_subdomain(prefix) {
            return Err(format!(
                "prefix {prefix:?} must be a DNS subdomain (e.g. example.com)"
            ));
        }
    }
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric();
    if !ok {
        return Err(format!(
            "name part {name:?} must be 1–63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        ));
    }
    Ok(())
}

/// A name without a `/`, or one under `kubernetes.io/` (`IsNativeResource`).
pub fn is_native(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

/// `IsExtendedResourceName`: `nvidia.com/gpu`, `count/deployments.apps`,
/// `gp3.storageclass.storage.k8s.io/requests.storage` — not native, not `requests.`-prefixed,
/// and a qualified name once prefixed with `requests.`.
pub fn is_extended(name: &str) -> bool {
    !is_native(name)
        && !name.starts_with("requests.")
        && qualified_name(&format!("requests.{name}")).is_ok()
}

/// Whether a quota counts `name` in whole units (`IsIntegerResourceName`).
pub fn is_integer(name: &str) -> bool {
    INTEGER.contains(&name) || is_extended(name)
}

/// What the server says of `name` as a key of `spec.hard` (None: it takes it).
pub fn quota_key(name: &str) -> Result<(), String> {
    qualified_name(name)?;
    if !name.contains('/') {
        if !(STANDARD.contains(&name) || hugepages(name)) {
            return Err("must be a standard resource type or fully qualified".into());
        }
        if !(STANDARD_QUOTA.contains(&name) || hugepages(name)) {
            return Err("must be a standard resource for quota".into());
        }
    }
    Ok(())
}

/// What the server says of `name` as a resource of a Container or Pod LimitRange.
pub fn container_resource(name: &str) -> Result<(), String> {
    qualified_name(name)?;
    if !name.contains('/') {
        if !(STANDARD.contains(&name) || hugepages(name)) {
            return Err("must be a standard resource type or fully qualified".into());
        }
        if !matches!(name, "cpu" | "memory" | "ephemeral-storage")
            && !name.starts_with("hugepages-")
        {
            return Err("must be a standard resource for containers".into());
        }
    } else if !is_native(name) && !is_extended(name) {
        return Err("doesn't follow extended resource name standard".into());
    }
    Ok(())
}

/// Whether limits of `name` may exceed requests (`IsOvercommitAllowed`): GPUs and huge
/// pages may not.
pub fn overcommit_allowed(name: &str) -> bool {
    is_native(name) && !name.starts_with("hugepages-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_keys_as_the_server_takes_them() {
        for ok in [
            "requests.cpu",
            "pods",
            "services.loadbalancers",
            "count/deployments.apps",
            "requests.nvidia.com/gpu",
            "limits.nvidia.com/gpu",
            "nvidia.com/gpu",
            "gp3.storageclass.storage.k8s.io/requests.storage",
            "requests.hugepages-2Mi",
        ] {
            assert_eq!(quota_key(ok), Ok(()), "{ok}");
        }
        for bad in [
            "bogus",
            "requests.gpu",
            "a/b/c",
            "/gpu",
            "Example.com/gpu",
            "x/-gpu",
            "",
        ] {
            assert!(quota_key(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn which_quota_keys_count_whole_units() {
        for whole in [
            "pods",
            "count/deployments.apps",
            "gp3.storageclass.storage.k8s.io/requests.storage",
            "nvidia.com/gpu",
        ] {
            assert!(is_integer(whole), "{whole}");
        }
        for fractional in [
            "requests.cpu",
            "requests.nvidia.com/gpu",
            "requests.storage",
        ] {
            assert!(!is_integer(fractional), "{fractional}");
        }
    }

    #[test]
    fn container_resources() {
        assert!(container_resource("cpu").is_ok());
        assert!(container_resource("nvidia.com/gpu").is_ok());
        assert!(container_resource("pods").is_err());
        assert!(container_resource("requests.cpu").is_err());
        assert!(!overcommit_allowed("nvidia.com/gpu"));
        assert!(overcommit_allowed("cpu"));
    }
}
