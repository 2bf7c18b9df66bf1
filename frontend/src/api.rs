//! Request and response types shared by the REST API, the server functions and the browser.
//!
//! They are plain data: every rule about them lives in the backend's service layer.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

#[cfg(feature = "ssr")]
use utoipa::{IntoParams, ToSchema};

/// A kind or state of Berth's state machines: one word each, the same in JSON, in the
/// database (a `text` column with a CHECK constraint) and in the UI. `as_str` is that word;
/// comparing with a `&str` compares the word.
/// What every `words!` enum shares, so the edge can parse any of them with one helper that
/// names the field and the words allowed.
pub trait Word: Copy + 'static {
    const ALL: &'static [Self];

    fn as_str(self) -> &'static str;

    fn parse(raw: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|w| w.as_str() == raw)
    }

    /// "prod, staging or dev": the words, for an error message.
    fn choices() -> String {
        let words: Vec<&str> = Self::ALL.iter().map(|w| w.as_str()).collect();
        match words.split_last() {
            Some((last, [])) => (*last).to_owned(),
            Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
            None => String::new(),
        }
    }
}

macro_rules! words {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $word:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "ssr", derive(ToSchema, sqlx::Type))]
        #[cfg_attr(feature = "ssr", sqlx(type_name = "text"))]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $word)] #[cfg_attr(feature = "ssr", sqlx(rename = $word))] $variant,)+
        }

        impl Word for $name {
            const ALL: &'static [$name] = &[$($name::$variant),+];

            fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word,)+
                }
            }
        }

        impl $name {
            pub const ALL: &'static [$name] = <$name as Word>::ALL;

            pub fn as_str(self) -> &'static str {
                Word::as_str(self)
            }

            pub fn parse(raw: &str) -> Option<$name> {
                <$name as Word>::parse(raw)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl leptos::prelude::IntoRender for $name {
            type Output = &'static str;
            fn into_render(self) -> Self::Output {
                self.as_str()
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

words!(
    /// Where a cluster, and so a namespace, sits: prod, staging or dev.
    Environment {
        Prod = "prod",
        Staging = "staging",
        Dev = "dev",
    }
);

words!(
    /// What a namespace request asks for.
    RequestKind {
        Create = "create",
        QuotaChange = "quota_change",
        Decommission = "decommission",
    }
);

words!(
    /// pending → approved | rejected | cancelled; approved → provisioning → ready | failed
    /// (retrying); provisioning ⇄ held while a freeze holds its cluster.
    RequestState {
        Pending = "pending",
        Approved = "approved",
        Rejected = "rejected",
        Cancelled = "cancelled",
        Provisioning = "provisioning",
        /// Approved, and waiting for a change window (a freeze) on its cluster to end.
        Held = "held",
        Ready = "ready",
        Failed = "failed",
    }
);

words!(
    /// provisioning → ready | failed (retrying); ready → decommissioning → decommissioned.
    NamespaceState {
        Provisioning = "provisioning",
        Ready = "ready",
        Failed = "failed",
        Decommissioning = "decommissioning",
        Decommissioned = "decommissioned",
    }
);

words!(
    /// A restore into a scratch namespace, or a read-only readiness check.
    DrillKind {
        Restore = "restore",
        Readiness = "readiness",
    }
);

words!(
    /// queued → running → passed | failed | cancelled.
    DrillState {
        Queued = "queued",
        Running = "running",
        Passed = "passed",
        Failed = "failed",
        Cancelled = "cancelled",
    }
);

words!(
    /// The steps a drill's job takes, one per run.
    DrillStepName {
        Queued = "queued",
        Backup = "backup",
        WaitBackup = "wait_backup",
        FindBackup = "find_backup",
        Restore = "restore",
        WaitRestore = "wait_restore",
        WaitReady = "wait_ready",
        Check = "check",
        Cleanup = "cleanup",
        Done = "done",
    }
);

words!(
    /// A drill's judgement against its objectives.
    Verdict {
        Pass = "pass",
        Fail = "fail",
    }
);

impl NamespaceState {
    /// Decommissioning or decommissioned: nothing more may change it.
    pub fn is_leaving(self) -> bool {
        match self {
            NamespaceState::Decommissioning | NamespaceState::Decommissioned => true,
            NamespaceState::Provisioning | NamespaceState::Ready | NamespaceState::Failed => false,
        }
    }
}

impl RequestState {
    /// Still on its way: waiting for a decision, or approved and not yet ready.
    pub fn is_open(self) -> bool {
        match self {
            RequestState::Pending
            | RequestState::Approved
            | RequestState::Provisioning
            | RequestState::Held
            | RequestState::Failed => true,
            RequestState::Rejected | RequestState::Cancelled | RequestState::Ready => false,
        }
    }
}

/// The error body of every failed REST call and server function:
/// `{"error": {"code", "message", "fields"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
#[error("{message}")]
pub struct ErrorDetail {
    /// Machine-readable: `unauthenticated`, `forbidden`, `not_found`, `invalid`, `conflict`, ...
    pub code: String,
    pub message: String,
    /// Field name → what is wrong with it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, String>,
}

impl ErrorDetail {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            fields: BTreeMap::new(),
        }
    }

    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TeamRole {
    Member,
    Owner,
}

impl TeamRole {
    pub fn as_str(self) -> &'static str {
        match self {
            TeamRole::Member => "member",
            TeamRole::Owner => "owner",
        }
    }
}

/// What a token may do. `approve` is for platform admins only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Read,
    Request,
    Approve,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Read, Scope::Request, Scope::Approve];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Request => "request",
            Scope::Approve => "approve",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub is_admin: bool,
    pub disabled: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct TeamMembership {
    pub team: String,
    pub display_name: String,
    pub role: TeamRole,
}

/// The caller, as `GET /api/v1/me` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Me {
    pub user: User,
    pub teams: Vec<TeamMembership>,
    /// `session` or `token`.
    pub authenticated_by: String,
    /// Present for browser sessions: send it as `X-CSRF-Token` on every mutation.
    pub csrf_token: Option<String>,
    /// Present for tokens: what the token may do.
    pub scopes: Option<Vec<Scope>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct LoginInput {
    pub email: String,
    pub password: String,
}

/// How people sign in here, for the login page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct SignInOptions {
    /// The identity provider's name when single sign-on is configured.
    pub provider: Option<String>,
    /// Who may sign in with a password: `everyone`, `admins` or `nobody`.
    pub password: String,
}

/// What a provider group gives its members in Berth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum GroupGrant {
    /// Member of the rule's team.
    Member,
    /// Owner of the rule's team.
    Owner,
    /// Platform admin.
    Admin,
}

impl GroupGrant {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupGrant::Member => "member",
            GroupGrant::Owner => "owner",
            GroupGrant::Admin => "admin",
        }
    }
}

/// A rule from a group in the provider's `groups` claim to a team role or to platform admin.
/// Each sign-in brings the user's provider-given memberships in line with the rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct GroupRule {
    pub id: Uuid,
    pub provider_group: String,
    /// The team, for `member` and `owner`; none for `admin`.
    pub team: Option<String>,
    pub grant: GroupGrant,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct NewGroupRule {
    pub provider_group: String,
    /// Required for `member` and `owner`; must be empty for `admin`.
    #[serde(default)]
    pub team: Option<String>,
    pub grant: GroupGrant,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct NewUser {
    pub email: String,
    pub display_name: String,
    #[serde(default)]
    pub is_admin: bool,
}

/// A created user and the one-time password to hand to them. It is never shown again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct CreatedUser {
    pub user: User,
    pub one_time_password: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct UserStatus {
    pub disabled: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Team {
    pub id: Uuid,
    pub name: String,
    pub display_name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub member_count: i64,
    /// The caller's role, when the caller is a member.
    pub my_role: Option<TeamRole>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct TeamDetail {
    pub team: Team,
    pub members: Vec<Member>,
    /// Whether the caller may change membership (an owner or an admin).
    pub can_manage: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Member {
    pub user_id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role: TeamRole,
    #[serde(with = "time::serde::rfc3339")]
    pub added_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct NewTeam {
    /// A DNS label of 2–30 characters; the prefix of the team's namespaces.
    pub name: String,
    pub display_name: String,
    /// Email of a user who becomes the first owner.
    #[serde(default)]
    pub owner_email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct NewMember {
    pub email: String,
    pub role: TeamRole,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct RoleChange {
    pub role: TeamRole,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Token {
    pub id: Uuid,
    pub name: String,
    /// The first characters of the secret.
    pub prefix: String,
    pub scopes: Vec<Scope>,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    pub revoked: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct NewToken {
    pub name: String,
    pub scopes: Vec<Scope>,
    /// Lifetime in days, 1–365.
    pub expires_in_days: i64,
}

/// A created token. `secret` is shown this once and never again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct CreatedToken {
    pub token: Token,
    pub secret: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct AuditEvent {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    pub actor: String,
    pub actor_user_id: Option<Uuid>,
    pub actor_token_id: Option<Uuid>,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub team_id: Option<Uuid>,
    pub team: Option<String>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub request_id: Option<String>,
    pub client_addr: Option<String>,
    pub user_agent: Option<String>,
}

/// Filters for the audit trail. Every field is optional; `cursor` comes from the previous page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema, IntoParams))]
#[cfg_attr(feature = "ssr", into_params(parameter_in = Query))]
pub struct AuditQuery {
    /// Actor email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// Team name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// An action, or a prefix ending in `.` such as `team.`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
    /// A namespace's name: the events about it and its requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// RFC 3339; events at or after this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// RFC 3339; events before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    /// 1–500, default 50.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// One page of a list. `next_cursor` is absent on the last page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema, IntoParams))]
#[cfg_attr(feature = "ssr", into_params(parameter_in = Query))]
pub struct PageQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// A registered cluster with the state of its inventory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Cluster {
    pub id: Uuid,
    pub name: String,
    pub display_name: String,
    pub region: String,
    /// prod | staging | dev
    pub environment: Environment,
    /// shared-infra | online | offline | stateful | secure
    pub layer: String,
    pub dr_pair: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// kubeconfig | in_cluster | token | simulated
    pub connection: String,
    /// A cluster of Berth's built-in simulator (the demo fleet).
    pub simulated: bool,
    pub disabled: bool,
    /// This cluster's own Prometheus, for capacity; without one Berth asks the central
    /// `BERTH_PROMETHEUS_URL` with a cluster label.
    pub prometheus_url: Option<String>,
    pub inventory: Option<InventoryState>,
    pub pools: Vec<NodePool>,
    /// Server-side apply, or commits to Git for Argo CD or Flux.
    #[serde(default)]
    pub delivery: Delivery,
    /// Which admission engine pins namespaces to pools where both are available: the API
    /// server's own policies, or Kyverno's where the cluster runs it.
    #[serde(default)]
    pub policy_engine: PolicyEngine,
}

words!(
    /// The admission engine an admin prefers for a cluster's pool pinning.
    #[derive(Default)]
    PolicyEngine {
        /// The API server's MutatingAdmissionPolicy and ValidatingAdmissionPolicy.
        #[default]
        Kubernetes = "kubernetes",
        /// Kyverno's MutatingPolicy and ValidatingPolicy (`policies.kyverno.io`), where the
        /// cluster serves them; otherwise the API server's own, as for `kubernetes`.
        Kyverno = "kyverno",
    }
);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct InventoryState {
    pub reachable: bool,
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub last_attempt_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_success_at: Option<OffsetDateTime>,
    /// Seconds since the last good sync, when there was one.
    pub data_age_seconds: Option<i64>,
    pub kubernetes_version: Option<String>,
    pub node_count: i32,
    pub ready_node_count: i32,
    pub velero_installed: bool,
    /// The API server serves `admissionregistration.k8s.io/v1` ValidatingAdmissionPolicy
    /// (Kubernetes ≥ 1.30).
    #[serde(default)]
    pub validating_policies: bool,
    /// The version of MutatingAdmissionPolicy it serves (`v1` from 1.36, `v1beta1` where
    /// the beta is switched on), if any.
    #[serde(default)]
    pub mutating_policies: Option<String>,
    /// The version of Kyverno's `policies.kyverno.io` (MutatingPolicy and ValidatingPolicy)
    /// the cluster serves, if it runs Kyverno.
    #[serde(default)]
    pub kyverno_policies: Option<String>,
    /// How Berth pins namespaces to their pools here, from what the server serves and the
    /// cluster's policy engine.
    pub pinning: PinMechanism,
    /// Berth namespaces of this cluster whose last proof found pinning not enforced.
    #[serde(default)]
    pub pinning_not_enforced: i64,
}

words!(
    /// How a cluster keeps a namespace's pods on its node pool, chosen at each sync from what
    /// its API server serves. The namespace annotations of the PodNodeSelector and
    /// PodTolerationRestriction admission plugins are written in every case.
    PinMechanism {
        /// A MutatingAdmissionPolicy adds the pool's nodeSelector and tolerations to pods that
        /// lack them; a ValidatingAdmissionPolicy refuses what still does not fit.
        Mutating = "mutating",
        /// A ValidatingAdmissionPolicy refuses pods that do not select the pool or that carry
        /// tolerations the pool does not need, saying what to add.
        Validating = "validating",
        /// Only the annotations: enforced where the admission plugins run (AKS, self-managed
        /// control planes), not at all elsewhere. The proof tells which.
        Annotations = "annotations",
        /// Kyverno's MutatingPolicy adds the pool's nodeSelector and tolerations and its
        /// ValidatingPolicy refuses what still does not fit (an admin chose Kyverno, and the
        /// cluster runs it).
        Kyverno = "kyverno",
    }
);

words!(
    /// What the proof found for one namespace.
    PinVerdict {
        /// A pod without the pool's selector is mutated onto it or refused, and a foreign
        /// toleration is refused.
        Enforced = "enforced",
        /// The cluster admitted a pod that escapes the pool.
        NotEnforced = "not_enforced",
        /// A probe was refused for another reason (quota, Pod Security) or failed; the
        /// details say which.
        Inconclusive = "inconclusive",
        /// The fallback pool `default` has no node label to pin to.
        NotPinnable = "not_pinnable",
    }
);

words!(
    /// One server-side dry-run of the proof.
    ProbeKind {
        /// A pod with no nodeSelector, affinity or tolerations.
        Unpinned = "unpinned",
        /// A pod on the pool that also tolerates a taint no pool of Berth's has.
        ForeignToleration = "foreign_toleration",
    }
);

words!(
    /// What the API server did with a probe.
    ProbeOutcome {
        /// Admitted with the pool's selector (and tolerations) added.
        Mutated = "mutated",
        /// Refused by a pinning policy or plugin.
        Refused = "refused",
        /// Admitted as it was: nothing keeps such a pod on the pool.
        NotEnforced = "not_enforced",
        /// Refused for another reason, or the call failed.
        Inconclusive = "inconclusive",
    }
);

words!(
    /// A Pod Security Standard, as the PodSecurity admission plugin reads it from the
    /// namespace's `pod-security.kubernetes.io/*` labels.
    PodSecurityLevel {
        Privileged = "privileged",
        Baseline = "baseline",
        Restricted = "restricted",
    }
);

words!(
    /// What a workload standard does with a pod or workload that breaks it: nothing, a
    /// warning to the client, an audit annotation, or a refusal.
    RuleMode {
        Off = "off",
        Warn = "warn",
        Audit = "audit",
        Deny = "deny",
    }
);

/// The guardrails of one environment: Pod Security levels written on its namespaces and the
/// mode of each workload standard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Guardrails {
    pub environment: Environment,
    pub pod_security_enforce: PodSecurityLevel,
    pub pod_security_warn: PodSecurityLevel,
    pub pod_security_audit: PodSecurityLevel,
    /// Every container sets CPU and memory requests and a memory limit.
    pub require_resources: RuleMode,
    /// Every long-running container has readiness and liveness probes.
    pub require_probes: RuleMode,
    /// Every image is pinned by tag (not `latest`) or digest.
    pub forbid_latest: RuleMode,
    /// No container runs privileged.
    pub forbid_privileged: RuleMode,
}

/// An admin's change to one environment's guardrails: each field a level or a mode.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct GuardrailsInput {
    /// privileged | baseline | restricted
    pub pod_security_enforce: String,
    pub pod_security_warn: String,
    pub pod_security_audit: String,
    /// off | warn | audit | deny
    pub require_resources: String,
    pub require_probes: String,
    pub forbid_latest: String,
    pub forbid_privileged: String,
}

/// A cluster layer's guardrails, on top of each environment's: a namespace on a cluster of
/// the layer gets the stricter of its environment's and its layer's level or mode for every
/// rule (`privileged` and `off` add nothing), and the layer's default PriorityClass if set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct LayerGuardrails {
    /// shared-infra | online | offline | stateful | secure
    pub layer: String,
    pub pod_security_enforce: PodSecurityLevel,
    pub pod_security_warn: PodSecurityLevel,
    pub pod_security_audit: PodSecurityLevel,
    pub require_resources: RuleMode,
    pub require_probes: RuleMode,
    pub forbid_latest: RuleMode,
    pub forbid_privileged: RuleMode,
    /// The PriorityClass Berth writes on the layer's clusters and gives to pods that name
    /// none (where the cluster serves MutatingAdmissionPolicy).
    pub priority_class: Option<String>,
    /// Its value; Kubernetes never lets a PriorityClass's value change.
    pub priority_value: Option<i32>,
}

impl LayerGuardrails {
    /// The layer's default PriorityClass and its value, if it has one.
    pub fn priority(&self) -> Option<(&str, i32)> {
        Some((self.priority_class.as_deref()?, self.priority_value?))
    }
}

/// An admin's change to one layer's guardrails: levels and modes as for an environment, and
/// the default PriorityClass (both empty for none).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct LayerGuardrailsInput {
    /// privileged | baseline | restricted (privileged adds nothing to the environment's)
    pub pod_security_enforce: String,
    pub pod_security_warn: String,
    pub pod_security_audit: String,
    /// off | warn | audit | deny (off adds nothing)
    pub require_resources: String,
    pub require_probes: String,
    pub forbid_latest: String,
    pub forbid_privileged: String,
    /// A lowercase DNS label, not `system-…`; empty for none.
    #[serde(default)]
    pub priority_class: String,
    /// An integer up to 1000000000; empty for none.
    #[serde(default)]
    pub priority_value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Probe {
    pub probe: ProbeKind,
    pub outcome: ProbeOutcome,
    /// The server's message, or what the admitted pod looked like.
    pub detail: String,
}

/// Whether a namespace's pods are really held on its pool: server-side dry-runs of probe
/// pods after provisioning and at every drift check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct PinningProof {
    pub verdict: PinVerdict,
    pub mechanism: PinMechanism,
    pub probes: Vec<Probe>,
    #[serde(with = "time::serde::rfc3339")]
    pub checked_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Taint {
    pub key: String,
    pub value: Option<String>,
    pub effect: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct NodePool {
    pub name: String,
    /// The node label that named this pool; empty for the fallback pool `default`.
    pub label_key: String,
    pub node_count: i32,
    pub ready_count: i32,
    pub zones: Vec<String>,
    pub instance_types: Vec<String>,
    pub taints: Vec<Taint>,
    /// Labels every node of the pool carries.
    pub common_labels: BTreeMap<String, String>,
    pub allocatable: Resources,
    /// Quota committed to Berth namespaces pinned to this pool.
    pub committed: Resources,
    /// committed ÷ allocatable for CPU and memory (the larger of the two).
    pub overcommit_ratio: f64,
    /// Extended resources the pool's nodes advertise (`nvidia.com/gpu`), with what Berth
    /// namespaces pinned here may request of them.
    #[serde(default)]
    pub extended: Vec<ExtendedResource>,
}

/// One extended resource of a pool: the nodes' allocatable added up, and the quota
/// (`requests.<name>`) committed to namespaces pinned to the pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ExtendedResource {
    pub name: String,
    pub allocatable: i64,
    pub committed: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Resources {
    pub cpu_millis: i64,
    pub memory_bytes: i64,
    pub pods: i64,
    pub ephemeral_bytes: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct StorageClass {
    pub name: String,
    pub provisioner: String,
    pub parameters: BTreeMap<String, String>,
    pub reclaim_policy: String,
    pub binding_mode: String,
    pub allow_expansion: bool,
    pub is_default: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ClusterDetail {
    pub cluster: Cluster,
    pub storage_classes: Vec<StorageClass>,
}

/// How Berth reaches a cluster. Secrets go in and never come out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Connection {
    /// A context of the kubeconfig file named by `BERTH_KUBECONFIG`.
    Kubeconfig { context: String },
    /// Berth's own service account, when Berth runs in the cluster.
    InCluster,
    /// An API URL, the CA that signs its certificate (PEM, optional for http), a bearer token.
    Token {
        api_url: String,
        #[serde(default)]
        ca_pem: Option<String>,
        token: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct NewCluster {
    pub name: String,
    pub display_name: String,
    pub region: String,
    pub environment: String,
    pub layer: String,
    #[serde(default)]
    pub dr_pair: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub connection: Connection,
}

/// Changes to a cluster; absent fields stay as they are. `dr_pair: ""` clears the pair.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ClusterUpdate {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(default)]
    pub layer: Option<String>,
    #[serde(default)]
    pub dr_pair: Option<String>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub disabled: Option<bool>,
    #[serde(default)]
    pub connection: Option<Connection>,
    /// An http(s) URL; empty clears it.
    #[serde(default)]
    pub prometheus_url: Option<String>,
    /// `kubernetes` or `kyverno`.
    #[serde(default)]
    pub policy_engine: Option<String>,
}

/// The outcome of syncing one cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct SyncOutcome {
    pub cluster: String,
    pub reachable: bool,
    pub error: Option<String>,
    pub node_count: i32,
    pub pool_count: i32,
}

/// Faults injected into a simulated cluster (demo mode).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct SimulatorFaults {
    #[serde(default)]
    pub latency_ms: u64,
    /// 0.0–1.0: the share of requests answered 500.
    #[serde(default)]
    pub error_rate: f64,
    #[serde(default)]
    pub hang: bool,
    #[serde(default)]
    pub down: bool,
}

// ---------------------------------------------------------------------------------------
// Tenancy: namespace specs, presets, requests, namespaces, budgets, policies, webhooks.
// ---------------------------------------------------------------------------------------

/// A ResourceQuota as teams ask for it. Quantities use Kubernetes quantity syntax
/// (`500m`, `2`, `4Gi`, `1.5e3`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct QuotaSpec {
    pub requests_cpu: String,
    pub requests_memory: String,
    pub limits_cpu: String,
    pub limits_memory: String,
    pub pods: i64,
    pub services: i64,
    pub persistentvolumeclaims: i64,
    pub requests_storage: String,
    /// Any other ResourceQuota key: extended resources (`requests.nvidia.com/gpu`: `2`), object
    /// counts (`count/deployments.apps`: `20`, `services.loadbalancers`: `1`) and ephemeral
    /// storage or huge pages (`requests.ephemeral-storage`: `20Gi`). An extended resource a
    /// cluster's nodes advertise and the spec leaves out gets a quota of 0; a count left out
    /// is not limited.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub other: BTreeMap<String, String>,
}

/// `quota.other` from the portal's text box: one `key: value` (or `key=value`, or `key value`)
/// per line; blank lines are skipped. A line without a value keeps an empty one, for the
/// server to name.
pub fn quota_other_from_text(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|line| {
            let at = line
                .find([':', '='])
                .or_else(|| line.find(char::is_whitespace));
            match at {
                Some(i) => (line[..i].trim().to_owned(), line[i + 1..].trim().to_owned()),
                None => (line.to_owned(), String::new()),
            }
        })
        .collect()
}

/// `quota.other` as the portal's text box shows it.
pub fn quota_other_text(other: &BTreeMap<String, String>) -> String {
    other
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The messages of `fields` about `quota.other`, each naming its key.
pub fn quota_other_errors(fields: &BTreeMap<String, String>) -> Vec<String> {
    fields
        .iter()
        .filter_map(|(f, m)| {
            let rest = f.strip_prefix("quota.other")?;
            let key = rest.trim_start_matches('[').trim_end_matches(']');
            Some(if key.is_empty() {
                m.clone()
            } else {
                format!("{key}: {m}")
            })
        })
        .collect()
}

/// The container defaults and bounds of the namespace's LimitRange.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct LimitSpec {
    pub default_request_cpu: String,
    pub default_request_memory: String,
    pub default_limit_cpu: String,
    pub default_limit_memory: String,
    pub min_cpu: String,
    pub min_memory: String,
    pub max_cpu: String,
    pub max_memory: String,
    #[serde(default)]
    pub max_limit_request_ratio_cpu: Option<String>,
    #[serde(default)]
    pub max_limit_request_ratio_memory: Option<String>,
}

/// Storage a namespace may claim from one storage class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ClassQuota {
    pub name: String,
    /// requests.storage for this class, e.g. `100Gi`.
    pub storage: String,
    /// How many claims of this class.
    pub persistentvolumeclaims: i64,
}

/// Everything Berth applies to size a namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct NamespaceSpec {
    pub quota: QuotaSpec,
    pub limits: LimitSpec,
    /// Allowed storage classes; every other class of the cluster gets a quota of 0.
    #[serde(default)]
    pub storage_classes: Vec<ClassQuota>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Preset {
    /// S, M, L or XL.
    pub name: String,
    pub rank: i32,
    pub quota: QuotaSpec,
    pub limits: LimitSpec,
}

/// CPU, memory and storage in base units: what budgets and ledgers add up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Amounts {
    pub cpu_millis: i64,
    pub memory_bytes: i64,
    pub storage_bytes: i64,
}

/// The spec a request, a quota change or an amendment chooses: a `preset`, with its quota,
/// limits or storage classes replaced where given (and, for changes, the namespace's current
/// spec where neither says).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct SpecChoice {
    /// S | M | L | XL (or a preset the platform added).
    #[serde(default)]
    pub preset: Option<String>,
    #[serde(default)]
    pub quota: Option<QuotaSpec>,
    #[serde(default)]
    pub limits: Option<LimitSpec>,
    /// Absent: the preset's (new namespaces: none) or the namespace's current classes.
    #[serde(default)]
    pub storage_classes: Option<Vec<ClassQuota>>,
}

/// A request for a new namespace. Give a `preset`, or `quota` and `limits`, or a preset
/// with either of them replaced.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct NewNamespaceRequest {
    pub team: String,
    pub cluster: String,
    /// A DNS label starting with `<team>-`.
    pub name: String,
    pub node_pool: String,
    /// prod | staging | dev; the cluster's environment when absent.
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(flatten)]
    pub spec: SpecChoice,
    pub purpose: String,
    /// Sandboxes: Berth decommissions the namespace at this time (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

/// What an approver sees of the capacity a request takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct CapacityImpact {
    pub cluster: String,
    pub pool: String,
    /// The pool's allocatable CPU and memory (0 when the pool is unknown to the inventory).
    pub allocatable: Amounts,
    pub committed_before: Amounts,
    pub committed_after: Amounts,
    /// The tightest budget that applies, before and after.
    pub budget: Option<BudgetImpact>,
    /// Per extended resource the request or the pool has (`nvidia.com/gpu`): the pool's,
    /// committed before and after.
    #[serde(default)]
    pub extended: Vec<ExtendedImpact>,
}

/// One extended resource against a limit (a pool's allocatable, or a budget), before and after
/// a request, in whole units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ExtendedImpact {
    /// `nvidia.com/gpu`.
    pub name: String,
    pub limit: i64,
    pub before: i64,
    pub after: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct BudgetImpact {
    /// `fleet` or the cluster's name.
    pub scope: String,
    pub limit: Amounts,
    pub used_before: Amounts,
    pub used_after: Amounts,
    pub over_budget: bool,
    /// What the request takes beyond the budget (0 where within it).
    pub overrun: Amounts,
    /// The budget's extended resources (GPUs), before and after.
    #[serde(default)]
    pub extended: Vec<ExtendedImpact>,
}

/// The outcome of applying one object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ObjectOutcome {
    pub kind: String,
    pub name: String,
    /// applied | failed | deleted
    pub outcome: String,
    pub error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct NamespaceRequest {
    pub id: Uuid,
    /// create | quota_change | decommission
    pub kind: RequestKind,
    pub team: String,
    pub cluster: String,
    pub namespace: String,
    pub node_pool: String,
    pub environment: Environment,
    pub preset: Option<String>,
    pub purpose: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub burst_until: Option<OffsetDateTime>,
    /// What the requester asked for.
    pub requested_spec: NamespaceSpec,
    /// What will be (or was) applied: the request, or an admin's amendment of it.
    pub spec: NamespaceSpec,
    pub amended_by: Option<String>,
    pub amendment_note: Option<String>,
    /// pending | approved | rejected | cancelled | provisioning | ready | failed (retrying)
    pub state: RequestState,
    pub requested_by: Option<String>,
    pub decided_by: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub decided_at: Option<OffsetDateTime>,
    pub decision_reason: Option<String>,
    /// The approval policy that decided, or that sent the request to an admin.
    pub matched_policy: Option<String>,
    pub over_budget: bool,
    pub last_error: Option<String>,
    pub attempts: i32,
    /// GitOps clusters: the commit that carried the change, its branch and merge request.
    #[serde(default)]
    pub git_commit: Option<String>,
    #[serde(default)]
    pub git_branch: Option<String>,
    #[serde(default)]
    pub git_review_url: Option<String>,
    /// While held: the freeze that holds it, and when that ends.
    #[serde(default)]
    pub held_by: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub held_until: Option<OffsetDateTime>,
    /// An admin let it through a freeze: who, and why.
    #[serde(default)]
    pub freeze_released_by: Option<String>,
    #[serde(default)]
    pub freeze_release_reason: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A request with what an approver needs beside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct RequestDetail {
    pub request: NamespaceRequest,
    pub impact: Option<CapacityImpact>,
    /// The objects of the namespace and how their last apply went.
    pub objects: Vec<ObjectOutcome>,
    /// The caller may approve, amend or reject it.
    pub can_decide: bool,
    /// The caller may cancel it.
    pub can_cancel: bool,
    /// While pending: the node pools of the request's cluster, for an amendment.
    pub cluster_pools: Vec<String>,
    /// A right-sizing quota change: the capacity evidence Berth gathered when it was filed.
    pub evidence: Option<QuotaSuggestion>,
    /// A quota change filed while a usage-aware policy was enabled: the namespace's measured
    /// use against its quota.
    pub usage: Option<UsageEvidence>,
    /// Freezes that hold the request's cluster now or within two weeks.
    #[serde(default)]
    pub freezes: Vec<FreezeNotice>,
    /// The caller (an admin) may let this held request through its freeze.
    #[serde(default)]
    pub can_release: bool,
}

/// What a request would do, without storing anything: the wizard's live panel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct RequestPreview {
    /// Field → problem; empty when the request would be accepted.
    pub fields: BTreeMap<String, String>,
    pub impact: Option<CapacityImpact>,
    /// The manifests Berth would apply.
    pub objects: Vec<serde_json::Value>,
    /// The approval policy that would decide, and whether it would approve by itself.
    pub matched_policy: Option<String>,
    pub auto_approve: bool,
    /// Cluster × pool choices ranked by headroom after this quota (the placement advisor).
    #[serde(default)]
    pub placement: Vec<PlacementOption>,
    /// The environment whose clusters `placement` ranks: the one asked for, else the chosen
    /// cluster's; none while neither is known (then every cluster is ranked).
    #[serde(default)]
    pub placement_environment: Option<Environment>,
    /// Freezes that hold the chosen cluster now or within two weeks: an approved request
    /// waits until they end.
    #[serde(default)]
    pub freezes: Vec<FreezeNotice>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Decision {
    /// Required to reject; optional to approve.
    #[serde(default)]
    pub reason: Option<String>,
}

/// An admin's change to a pending request. Absent fields stay as requested.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Amendment {
    #[serde(default)]
    pub node_pool: Option<String>,
    /// prod | staging | dev: the namespace's environment when it is not its cluster's (new
    /// namespaces only).
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(flatten)]
    pub spec: SpecChoice,
    /// Shown to the requester.
    pub note: String,
}

/// Filters for listing requests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema, IntoParams))]
#[cfg_attr(feature = "ssr", into_params(parameter_in = Query))]
pub struct RequestQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// Part of the namespace's, its team's or its cluster's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// A state, or `open` for pending, approved, provisioning and failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The order: `namespace`, `cluster`, `team`, `kind`, `state`, `requested_by` or
    /// `created`, ascending, or after `-` descending; default newest first. A sorted list's
    /// `next_cursor` keeps its order only for the same `sort`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort: Option<String>,
    /// 1–500, default 50.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// ResourceQuota status as last read from the cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct QuotaUsage {
    pub hard: BTreeMap<String, String>,
    pub used: BTreeMap<String, String>,
    /// used.requests.cpu etc. in base units, for bars.
    pub used_amounts: Amounts,
    #[serde(with = "time::serde::rfc3339")]
    pub observed_at: OffsetDateTime,
}

/// One object that differs from what Berth applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct DriftItem {
    pub kind: String,
    pub name: String,
    /// `missing`, or the paths whose live value differs.
    pub differences: Vec<String>,
    /// What differs from what: the cluster from what Berth wants (direct) or from the
    /// repository, or the repository from what Berth wants (GitOps).
    #[serde(default)]
    pub against: DriftSource,
}

words!(
    /// The two places a GitOps namespace can drift.
    #[derive(Default)]
    DriftSource {
        /// The cluster does not have what Berth wants (direct) or what Git has (GitOps).
        #[default]
        Cluster = "cluster",
        /// The repository does not have what Berth wants (edited by hand, or not merged).
        Repository = "repository",
    }
);

/// What the home page's table shows of one of the caller's namespaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceSummary {
    pub name: String,
    pub cluster: String,
    pub team: String,
    pub state: NamespaceState,
    pub quota: Amounts,
}

impl From<Namespace> for NamespaceSummary {
    fn from(n: Namespace) -> Self {
        NamespaceSummary {
            name: n.name,
            cluster: n.cluster,
            team: n.team,
            state: n.state,
            quota: n.quota,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Namespace {
    pub id: Uuid,
    pub name: String,
    pub team: String,
    pub cluster: String,
    pub node_pool: String,
    pub environment: Environment,
    /// provisioning | ready | failed | decommissioning | decommissioned
    pub state: NamespaceState,
    pub purpose: String,
    pub spec: NamespaceSpec,
    pub quota: Amounts,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub burst_until: Option<OffsetDateTime>,
    pub last_error: Option<String>,
    pub usage: Option<QuotaUsage>,
    /// None until the first drift check.
    pub drift: Option<Vec<DriftItem>>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub drift_checked_at: Option<OffsetDateTime>,
    /// None until the first proof (after provisioning).
    #[serde(default)]
    pub pinning: Option<PinningProof>,
    /// GitOps clusters: where the namespace is in Git.
    #[serde(default)]
    pub git: Option<GitState>,
    /// What the delivery waits for (a merge, the cluster's sync).
    #[serde(default)]
    pub delivery_status: Option<String>,
    /// A freeze holds a change to it (a burst's end, an expiry): which, and until when.
    #[serde(default)]
    pub held_by: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub held_until: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct NamespaceDetail {
    pub namespace: Namespace,
    pub objects: Vec<ObjectOutcome>,
    pub requests: Vec<NamespaceRequest>,
    /// The caller may ask for changes (a team member or an admin).
    pub can_request: bool,
    /// The sizes a quota change may pick, for the form (the current one among them, or not).
    #[serde(default)]
    pub presets: Vec<Preset>,
    /// How to reach it with kubectl (none once it is decommissioned).
    #[serde(default)]
    pub connect: Option<ConnectHint>,
}

/// How a developer reaches a namespace with kubectl: a kubeconfig for it, and what they may
/// do there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ConnectHint {
    /// A kubeconfig (YAML) with the cluster, a context on the namespace and, with single
    /// sign-on, a user that signs in through the same provider (kubelogin).
    pub kubeconfig: String,
    /// The group the team's RoleBinding gives `edit` in the namespace.
    pub group: String,
    /// The cluster's API server, when Berth knows an address people can use.
    pub server: Option<String>,
}

/// Filters for listing namespaces.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema, IntoParams))]
#[cfg_attr(feature = "ssr", into_params(parameter_in = Query))]
pub struct NamespaceQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// Part of the namespace's, its team's or its cluster's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The order: `name`, `cluster`, `team`, `pool`, `state`, `cpu` (CPU requested in the
    /// namespace), `drift` (objects drifted) or `pinning`, ascending, or after `-`
    /// descending; default by name. A sorted list's `next_cursor` keeps its order only for
    /// the same `sort`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort: Option<String>,
    /// 1–500, default 50.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// A change to a namespace's quota: a preset, or a quota / limits / classes replaced.
/// With `burst_until` it is a timed increase that Berth reverts by itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct QuotaChange {
    #[serde(flatten)]
    pub spec: SpecChoice,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub burst_until: Option<OffsetDateTime>,
    pub purpose: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Decommission {
    /// The namespace's name, typed again.
    pub confirm: String,
    pub purpose: String,
}

/// A ceiling on the sum of a team's quotas, fleet-wide or on one cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Budget {
    pub team: String,
    /// None: the whole fleet.
    pub cluster: Option<String>,
    pub limit: Amounts,
    /// The sum of the team's quotas in this scope now.
    pub used: Amounts,
    /// Extended resources the budget caps (`nvidia.com/gpu`), with the team's quotas of them
    /// now: `limit` is the budget, `after` what is used (`before` the same).
    #[serde(default)]
    pub extended: Vec<ExtendedImpact>,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct BudgetInput {
    /// Absent or empty: fleet-wide.
    #[serde(default)]
    pub cluster: Option<String>,
    /// Quantities: `64`, `256Gi`, `2Ti`.
    pub cpu: String,
    pub memory: String,
    pub storage: String,
    /// Extended resources the budget caps, by resource: `nvidia.com/gpu` → `16`. Left out, the
    /// budget does not cap it (a namespace's quota still gives it 0 unless it asks).
    #[serde(default)]
    pub extended: BTreeMap<String, String>,
}

/// When a policy applies. Empty lists match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct PolicyConditions {
    /// create | quota_change | decommission
    #[serde(default)]
    pub kinds: Vec<String>,
    /// prod | staging | dev
    #[serde(default)]
    pub environments: Vec<String>,
    /// The quota may not exceed this preset's in any resource.
    #[serde(default)]
    pub max_preset: Option<String>,
    /// The request must fit every budget of the team.
    #[serde(default)]
    pub within_budget: bool,
    /// Only quota changes that lower every resource (and raise none).
    #[serde(default)]
    pub decrease_only: bool,
    /// Only quota changes of a namespace whose CPU or memory use, at p95 over the capacity
    /// history, was at least this percentage (1–100) of its quota's requests. Read from
    /// Prometheus when the change is filed; a new namespace has no usage and never matches.
    #[serde(default)]
    pub min_usage_percent: Option<u32>,
    /// Only quota changes that stay within this many preset steps (1–3) above the smallest
    /// preset that holds the current quota.
    #[serde(default)]
    pub max_preset_steps: Option<u32>,
}

/// A namespace's measured use against its quota, read from Prometheus when a quota change
/// is filed: the evidence a usage-aware policy decided on, shown to the approver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct UsageEvidence {
    /// The history read, in hours.
    pub history_hours: u64,
    /// The namespace's summed CPU use at p95 over the history, in cores.
    pub cpu_p95_cores: Option<f64>,
    /// Its summed memory working set at p95, in bytes.
    pub memory_p95_bytes: Option<f64>,
    /// The quota's requests.cpu and requests.memory when the change was filed.
    pub quota_cpu_millis: i64,
    pub quota_memory_bytes: i64,
    /// Use as a percentage of those.
    pub cpu_percent: Option<f64>,
    pub memory_percent: Option<f64>,
    /// Why there is no figure (no Prometheus, an error, no series).
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Policy {
    pub id: Uuid,
    pub name: String,
    pub position: i32,
    pub enabled: bool,
    pub conditions: PolicyConditions,
    /// approve | manual
    pub action: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct PolicyInput {
    pub name: String,
    pub position: i32,
    #[serde(default = "yes")]
    pub enabled: bool,
    pub conditions: PolicyConditions,
    pub action: String,
}

fn yes() -> bool {
    true
}

/// The quota ledger: per team and cluster, what is allocated, used, and the pool capacity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct LedgerRow {
    pub team: String,
    pub cluster: String,
    pub namespaces: i64,
    pub allocated: Amounts,
    pub used: Amounts,
    /// Allocatable CPU and memory of the pools the team's namespaces are pinned to.
    pub capacity: Amounts,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Webhook {
    pub id: Uuid,
    pub url: String,
    pub events: Vec<String>,
    pub enabled: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct NewWebhook {
    pub url: String,
    /// The HMAC-SHA256 key; stored sealed, never returned.
    pub secret: String,
    /// request.created | request.approved | request.rejected | request.provisioned | request.failed
    pub events: Vec<String>,
}

/// Namespaces on a cluster labelled managed-by=berth that Berth has no record of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct OutOfBand {
    pub cluster: String,
    pub namespace: String,
    pub team_label: Option<String>,
}

/// What an admin decides about a pending request (and what a requester may do: cancel).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    Approve,
    Reject,
    Cancel,
    /// An admin lets a held request through its freeze (the reason is required).
    Release,
}

// ---------------------------------------------------------------------------------------
// Disaster-recovery drills
// ---------------------------------------------------------------------------------------

/// Start a drill on a namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct NewDrill {
    /// `restore` (Velero restore into a scratch namespace) or `readiness` (read-only checks).
    pub kind: String,
    /// `same` (the namespace's cluster) or `dr_pair`; restores only. Default `same`.
    #[serde(default)]
    pub target: Option<String>,
    /// Keep the scratch namespace this many hours (0–168, default 0: delete at once).
    #[serde(default)]
    pub keep_hours: Option<i32>,
    /// How long restored workloads may take to be ready (60–7200 s, default 600).
    #[serde(default)]
    pub ready_timeout_seconds: Option<i32>,
    /// Restore drills: first take a fresh Velero backup of the namespace, and restore that.
    #[serde(default)]
    pub create_backup: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct DrillStep {
    pub step: DrillStepName,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ReadinessCheck {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

/// A drill and its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Drill {
    pub id: Uuid,
    pub namespace: String,
    pub cluster: String,
    pub team: String,
    pub kind: DrillKind,
    pub target_cluster: Option<String>,
    /// queued | running | passed | failed | cancelled
    pub state: DrillState,
    pub step: DrillStepName,
    pub requested_by: Option<String>,
    pub rto_objective_seconds: i32,
    pub rpo_objective_seconds: i32,
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
    pub backup_name: Option<String>,
    pub restore_name: Option<String>,
    pub scratch_namespace: Option<String>,
    /// Drill start → restored workloads ready.
    pub rto_seconds: Option<f64>,
    /// The restore's own duration.
    pub restore_seconds: Option<f64>,
    /// Drill start − backup start.
    pub rpo_seconds: Option<f64>,
    pub items_restored: Option<i32>,
    pub items_total: Option<i32>,
    pub warnings: Option<i32>,
    pub errors: Option<i32>,
    pub verdict: Option<Verdict>,
    pub verdict_reason: Option<String>,
    pub checks: Vec<ReadinessCheck>,
    pub steps: Vec<DrillStep>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// RTO / RPO objectives of a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct DrillObjectives {
    pub rto_seconds: i32,
    pub rpo_seconds: i32,
}

/// A namespace's drill schedule: a cron expression (5 fields, or 6 with seconds) read in an
/// IANA time zone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct DrillScheduleInput {
    /// e.g. `0 3 * * 1` (Mondays at 03:00).
    pub cron: String,
    /// e.g. `Asia/Shanghai`; `UTC` when absent.
    #[serde(default)]
    pub timezone: Option<String>,
    /// restore | readiness
    pub kind: String,
    /// same | dr_pair (default same)
    #[serde(default)]
    pub target: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct DrillSchedule {
    pub cron: String,
    pub timezone: String,
    pub kind: DrillKind,
    pub target: String,
    #[serde(with = "time::serde::rfc3339")]
    pub next_run_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_run_at: Option<OffsetDateTime>,
    pub last_outcome: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Capacity: right-sizing, quota suggestions, planning, headroom and placement.

/// `simple` follows KRR's defaults; `decaying` the VPA recommender's histograms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    #[default]
    Simple,
    Decaying,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Simple => "simple",
            Strategy::Decaying => "decaying",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(IntoParams))]
pub struct RecommendationQuery {
    #[serde(default)]
    pub strategy: Option<Strategy>,
    /// Recommend a resource even when an HPA scales on it (KRR's `--allow-hpa`).
    #[serde(default)]
    pub allow_hpa: Option<bool>,
    /// `simple` only: a container OOMKilled in the history gets at least its memory limit
    /// × 1.25 (KRR's `--use_oomkill_data`, as the VPA bumps after an OOM kill).
    #[serde(default)]
    pub use_oomkill: Option<bool>,
}

/// How one container used CPU (millicores) and memory (bytes) over the history: the
/// highest of its pods at each statistic.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct UsageSummary {
    pub cpu_p50: Option<f64>,
    pub cpu_p95: Option<f64>,
    pub cpu_p99: Option<f64>,
    pub cpu_max: Option<f64>,
    pub memory_p50: Option<f64>,
    pub memory_max: Option<f64>,
    /// Usage points read, over all pods.
    pub cpu_points: u64,
    pub memory_points: u64,
}

/// Requests and limits in millicores and bytes; `None` where unset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ContainerResources {
    pub cpu_request_millis: Option<i64>,
    pub cpu_limit_millis: Option<i64>,
    pub memory_request_bytes: Option<i64>,
    pub memory_limit_bytes: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ContainerRecommendation {
    /// Deployment, StatefulSet, DaemonSet, Job, CronJob or Pod (no owner).
    pub workload_kind: String,
    pub workload: String,
    pub container: String,
    /// Pods of the workload seen over the history, and those still running in its last hour.
    pub pods_seen: u32,
    pub replicas: u32,
    pub current: ContainerResources,
    pub recommended: ContainerResources,
    /// Decaying strategy: the VPA's lower and upper bounds.
    pub cpu_bounds_millis: Option<(i64, i64)>,
    pub memory_bounds_bytes: Option<(i64, i64)>,
    /// Why a resource has no recommendation ("Not enough data", "HPA detected", "No data").
    pub cpu_info: Option<String>,
    pub memory_info: Option<String>,
    /// recommended − current request, per pod.
    pub cpu_delta_millis: Option<i64>,
    pub memory_delta_bytes: Option<i64>,
    pub hpa: Option<String>,
    pub usage: UsageSummary,
}

/// Requests over all running replicas, in cores and GiB, now and as recommended (a resource
/// without a recommendation counts at its current request).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct SizingTotals {
    pub current_cpu_cores: f64,
    pub recommended_cpu_cores: f64,
    pub current_memory_gib: f64,
    pub recommended_memory_gib: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct NamespaceRecommendations {
    pub cluster: String,
    pub namespace: String,
    pub team: String,
    pub strategy: Strategy,
    pub history_hours: u64,
    pub step_seconds: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
    /// Prometheus queries this answer took.
    pub queries: u32,
    pub containers: Vec<ContainerRecommendation>,
    pub totals: SizingTotals,
    /// The namespace's peak usage over the history, summed over its pods.
    pub peak_cpu_cores: Option<f64>,
    pub peak_memory_bytes: Option<f64>,
}

/// One namespace's line in a team roll-up; `error` when its Prometheus did not answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct NamespaceSizing {
    pub cluster: String,
    pub namespace: String,
    pub containers: u32,
    pub totals: SizingTotals,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct TeamSizing {
    pub team: String,
    pub strategy: Strategy,
    pub namespaces: Vec<NamespaceSizing>,
    pub totals: SizingTotals,
}

/// A suggested quota for a namespace and the evidence behind it. It goes to the approver
/// with the quota change it prefills.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct QuotaSuggestion {
    pub cluster: String,
    pub namespace: String,
    pub current: QuotaSpec,
    pub suggested: QuotaSpec,
    /// ResourceQuota `used` as last read.
    pub used: Option<Amounts>,
    pub peak_cpu_cores: Option<f64>,
    pub peak_memory_bytes: Option<f64>,
    pub recommended_cpu_cores: f64,
    pub recommended_memory_gib: f64,
    /// How the figures were reached, line by line.
    pub reasoning: Vec<String>,
    pub strategy: Strategy,
    pub history_hours: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
}

/// A quota change prefilled from a suggestion; Berth attaches its own evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct RightSizeInput {
    pub requests_cpu: String,
    pub requests_memory: String,
    pub limits_cpu: String,
    pub limits_memory: String,
    pub purpose: String,
}

/// The capacity model's inputs: traffic in requests per second (or any unit, used alike).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct PlanInput {
    pub peak_traffic: f64,
    #[serde(default)]
    pub baseline_traffic: f64,
    /// What one pod serves steadily.
    pub pod_capacity: f64,
    /// At least 1.
    pub safety_factor: f64,
    pub pod_startup_seconds: f64,
    pub node_ready_seconds: f64,
    /// Pods of this workload one node holds.
    pub pods_per_node: f64,
    /// How fast traffic climbs at the peak, per second.
    #[serde(default)]
    pub peak_increment: f64,
    /// A known event (a flash sale): the pre-scale plan is timed against it.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub event_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct PreScaleStep {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub min_replicas: u32,
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct PlanOutput {
    pub target_replicas: u32,
    pub hpa_min_replicas: u32,
    pub hpa_max_replicas: u32,
    /// The HPA's utilization target that holds the safety factor (100 / safety factor).
    pub hpa_target_utilization_percent: u32,
    /// Pod start-up plus node ready time.
    pub scale_up_seconds: f64,
    /// Traffic one node serves: pod capacity × pods per node.
    pub node_capacity: f64,
    /// peak_increment × scale_up_time / node_capacity.
    pub reserve_nodes: f64,
    pub reserve_nodes_rounded: u32,
    pub pre_scale: Vec<PreScaleStep>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(IntoParams))]
pub struct ShapeQuery {
    /// The pod's CPU request, a Kubernetes quantity (default `500m`).
    #[serde(default)]
    pub cpu: Option<String>,
    /// The pod's memory request (default `1Gi`).
    #[serde(default)]
    pub memory: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct PoolHeadroom {
    pub pool: String,
    pub nodes: u32,
    pub allocatable: Amounts,
    /// Allocatable minus the requests of the pods running there.
    pub free: Amounts,
    /// More pods of the shape that fit now.
    pub fits: i64,
    /// Free capacity on nodes once no further pod of the shape fits.
    pub stranded: Amounts,
    pub pods_per_node: Vec<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct ClusterHeadroom {
    pub cluster: String,
    pub shape_cpu_millis: i64,
    pub shape_memory_bytes: i64,
    #[serde(with = "time::serde::rfc3339::option")]
    pub observed_at: Option<OffsetDateTime>,
    pub pools: Vec<PoolHeadroom>,
}

/// A cluster and pool a new namespace could go to, ranked by what is left after its quota.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct PlacementOption {
    pub cluster: String,
    pub pool: String,
    pub environment: Environment,
    /// Share of allocatable CPU and memory still uncommitted after this quota (the smaller).
    pub headroom_after: f64,
    pub cpu_left_millis: i64,
    pub memory_left_bytes: i64,
    /// Pods at the LimitRange's default request that fit on the pool's nodes now.
    pub default_pods_fit: i64,
    pub fits: bool,
    pub reason: Option<String>,
}

// ---------------------------------------------------------------------------------------
// Cost: prices per pool, and what a team's namespaces cost per month.
// ---------------------------------------------------------------------------------------

/// What capacity costs per hour: for one pool of one cluster, or the fleet's default (no
/// cluster and no pool), which applies to every pool without a price of its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Price {
    pub cluster: Option<String>,
    pub pool: Option<String>,
    pub cpu_core_hour: f64,
    pub memory_gib_hour: f64,
    /// Per unit-hour of an extended resource: `nvidia.com/gpu` → 2.5.
    #[serde(default)]
    pub extended_hour: BTreeMap<String, f64>,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Sets a price. Amounts are decimal numbers of the currency (`0.0316`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct PriceInput {
    /// Absent with `pool` absent: the fleet's default price.
    #[serde(default)]
    pub cluster: Option<String>,
    #[serde(default)]
    pub pool: Option<String>,
    pub cpu_core_hour: String,
    pub memory_gib_hour: String,
    /// `nvidia.com/gpu` → `2.5`.
    #[serde(default)]
    pub extended_hour: BTreeMap<String, String>,
}

words!(
    /// How a node is bought, as its provider's labels say (`eks.amazonaws.com/capacityType`,
    /// `karpenter.sh/capacity-type`, `cloud.google.com/gke-spot`, …).
    CapacityType {
        OnDemand = "on_demand",
        Spot = "spot",
    }
);

/// The hourly price of one instance type, for pools without a price of their own: Berth
/// splits it between the node's cores and memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct InstancePrice {
    /// As nodes label it: `node.kubernetes.io/instance-type` (`m6i.2xlarge`).
    pub instance_type: String,
    pub capacity: CapacityType,
    /// The cluster region it applies in; None: every region without a row of its own.
    pub region: Option<String>,
    pub hour_price: f64,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Sets an instance type's price.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct InstancePriceInput {
    pub instance_type: String,
    /// `on_demand` (the default) or `spot`.
    #[serde(default)]
    pub capacity: Option<String>,
    /// Empty or absent: any region.
    #[serde(default)]
    pub region: Option<String>,
    pub hour_price: String,
}

/// Which instance price to remove.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(IntoParams))]
pub struct InstancePriceKey {
    pub instance_type: String,
    #[serde(default)]
    pub capacity: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
}

/// Which price to remove: a pool's (cluster and pool) or the default (neither).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(IntoParams))]
pub struct PriceScope {
    #[serde(default)]
    pub cluster: Option<String>,
    #[serde(default)]
    pub pool: Option<String>,
}

/// A team's namespaces priced per month: what their quotas commit, what their pods request,
/// and what those would request after right-sizing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct CostReport {
    pub team: String,
    pub currency: String,
    /// Hours a month is priced at (730: a year's hours ÷ 12).
    pub hours_per_month: f64,
    pub strategy: Strategy,
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
    pub namespaces: Vec<NamespaceCost>,
    pub totals: CostTotals,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct NamespaceCost {
    pub cluster: String,
    pub namespace: String,
    pub pool: String,
    /// `pool` (the pool's own price), `instance` (its nodes' instance type's, split between
    /// cores and memory), `default` (the fleet's), or None: no price applies, and the costs
    /// are None.
    pub price_from: Option<String>,
    /// The unit prices applied, and how an instance price was split.
    #[serde(default)]
    pub cpu_core_hour: Option<f64>,
    #[serde(default)]
    pub memory_gib_hour: Option<f64>,
    #[serde(default)]
    pub price_note: Option<String>,
    /// The quota's requests.
    pub committed_cpu_cores: f64,
    pub committed_memory_gib: f64,
    /// The quota's extended resources (`nvidia.com/gpu` → 2).
    #[serde(default)]
    pub committed_extended: BTreeMap<String, i64>,
    /// What the namespace's pods request now, and would after right-sizing.
    pub requested_cpu_cores: f64,
    pub requested_memory_gib: f64,
    pub recommended_cpu_cores: f64,
    pub recommended_memory_gib: f64,
    /// Per month at the price.
    pub committed_cost: Option<f64>,
    pub requested_cost: Option<f64>,
    pub recommended_cost: Option<f64>,
    /// Requested less recommended, never below 0: what right-sizing would save a month.
    pub savings: Option<f64>,
    /// Why usage could not be read (the committed cost still stands).
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct CostTotals {
    pub committed_cost: f64,
    pub requested_cost: f64,
    pub recommended_cost: f64,
    pub savings: f64,
    /// Namespaces no price applies to (left out of the totals).
    pub unpriced: u32,
}

// ---- GitOps delivery and change windows ----

words!(
    /// How a cluster gets its namespaces.
    DeliveryMode {
        /// Berth applies the objects server-side.
        Direct = "direct",
        /// Berth commits the objects to a Git repository that Argo CD or Flux syncs, and
        /// marks a namespace ready once the cluster has what it committed.
        Gitops = "gitops",
    }
);

words!(
    /// How Berth authenticates to a Git host.
    GitAuth {
        /// A public repository, or one on a host that needs nothing (read-only hosts refuse
        /// the push and say so).
        None = "none",
        /// HTTPS with a user name and a password or access token.
        Basic = "basic",
        /// SSH with a private key (OpenSSH or PEM); the host must be in `known_hosts`.
        SshKey = "ssh_key",
    }
);

words!(
    /// The Git host's API Berth opens merge requests with.
    Forge {
        Github = "github",
        Gitlab = "gitlab",
        Gitea = "gitea",
    }
);

/// A Git repository Berth commits namespaces to. Credentials are never returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct GitRepository {
    pub id: Uuid,
    pub name: String,
    /// https://…, ssh://user@host[:port]/path or user@host:path.
    pub url: String,
    /// The branch Argo CD or Flux follows.
    pub branch: String,
    pub auth: GitAuth,
    pub username: Option<String>,
    /// A password, token or key is stored (sealed).
    pub has_secret: bool,
    /// The CA of an HTTPS host with a private CA (PEM).
    pub ca_pem: Option<String>,
    /// The SSH host keys accepted, one `host keytype base64` line each.
    pub known_hosts: Option<String>,
    pub forge: Option<Forge>,
    pub forge_api_url: Option<String>,
    /// `owner/repo` (GitHub, Gitea) or the project's path or id (GitLab).
    pub forge_project: Option<String>,
    /// The clusters that deliver through this repository.
    pub clusters: Vec<String>,
}

/// A repository to register, or (every field optional) a change to one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct NewGitRepository {
    pub name: String,
    pub url: String,
    /// Default `main`.
    #[serde(default)]
    pub branch: Option<String>,
    /// none | basic | ssh_key
    pub auth: String,
    #[serde(default)]
    pub username: Option<String>,
    /// The password or token (basic), or the private key (ssh_key). Never returned.
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub ca_pem: Option<String>,
    #[serde(default)]
    pub known_hosts: Option<String>,
    /// github | gitlab | gitea; with the three fields below, review branches get a merge
    /// request.
    #[serde(default)]
    pub forge: Option<String>,
    #[serde(default)]
    pub forge_api_url: Option<String>,
    #[serde(default)]
    pub forge_project: Option<String>,
    /// The API token. Never returned.
    #[serde(default)]
    pub forge_token: Option<String>,
}

/// What reaching a repository found: the branch's head, or why it cannot be read or
/// written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct GitCheck {
    pub repository: String,
    pub reachable: bool,
    /// The branch's head commit, when the branch exists.
    pub head: Option<String>,
    pub error: Option<String>,
}

/// How a cluster gets its namespaces, as an admin sets it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct DeliveryInput {
    /// direct | gitops
    pub mode: String,
    /// The repository (gitops).
    #[serde(default)]
    pub repository: Option<String>,
    /// The namespaces' folder: a relative path with {namespace} and optionally {cluster},
    /// {team} and {environment}. Default `clusters/{cluster}/namespaces/{namespace}`.
    #[serde(default)]
    pub path: Option<String>,
    /// The folder of the cluster's shared policies; may use {cluster}. Default
    /// `clusters/{cluster}/berth-shared`.
    #[serde(default)]
    pub shared_path: Option<String>,
    /// Each change is a branch for review (and a merge request where the repository has
    /// its host's API) instead of a commit to the branch.
    #[serde(default)]
    pub review: bool,
}

/// How a cluster gets its namespaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct Delivery {
    pub mode: DeliveryMode,
    pub repository: Option<String>,
    pub path: Option<String>,
    pub shared_path: Option<String>,
    pub review: bool,
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery {
            mode: DeliveryMode::Direct,
            repository: None,
            path: None,
            shared_path: None,
            review: false,
        }
    }
}

/// Where a namespace's objects are in Git (GitOps clusters).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct GitState {
    pub repository: String,
    /// The namespace's folder in the repository.
    pub path: String,
    /// The commit that carries the namespace's current objects.
    pub commit: Option<String>,
    /// The branch it is on: the repository's branch, or a review branch.
    pub branch: Option<String>,
    /// The merge request of a review branch.
    pub review_url: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub committed_at: Option<OffsetDateTime>,
}

/// A change window: while it holds a cluster, approved changes to it wait.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct FreezeWindow {
    pub id: Uuid,
    pub name: String,
    pub reason: String,
    /// The environments whose clusters it holds.
    pub environments: Vec<Environment>,
    /// The clusters it holds by name. With no environment and no cluster: the whole fleet.
    pub clusters: Vec<String>,
    /// A dated window.
    #[serde(with = "time::serde::rfc3339::option")]
    pub starts_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub ends_at: Option<OffsetDateTime>,
    /// A recurring window: a cron expression (minute hour day month weekday) in `timezone`,
    /// each occurrence lasting `duration_minutes`.
    pub schedule: Option<String>,
    pub duration_minutes: Option<i32>,
    pub timezone: Option<String>,
    /// The current or next occurrence, if any.
    pub next: Option<FreezeSpan>,
    pub created_by: Option<String>,
}

/// One occurrence of a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct FreezeSpan {
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub ends_at: OffsetDateTime,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct NewFreezeWindow {
    pub name: String,
    pub reason: String,
    #[serde(default)]
    pub environments: Vec<String>,
    #[serde(default)]
    pub clusters: Vec<String>,
    /// RFC 3339; a dated window needs both.
    #[serde(default)]
    pub starts_at: Option<String>,
    #[serde(default)]
    pub ends_at: Option<String>,
    /// A recurring window: cron, duration and time zone (IANA, default UTC).
    #[serde(default)]
    pub schedule: Option<String>,
    #[serde(default)]
    pub duration_minutes: Option<i32>,
    #[serde(default)]
    pub timezone: Option<String>,
}

/// A window as it touches one cluster: holding it now, or about to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct FreezeNotice {
    pub freeze: String,
    pub reason: String,
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub ends_at: OffsetDateTime,
    /// It holds the cluster now.
    pub active: bool,
}

/// One cluster's windows over a period: the calendar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct FreezeCalendar {
    #[serde(with = "time::serde::rfc3339")]
    pub from: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
    pub entries: Vec<FreezeOccurrence>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct FreezeOccurrence {
    pub freeze: String,
    pub reason: String,
    /// The clusters it holds (every cluster of its environments, and those it names).
    pub clusters: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub starts_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub ends_at: OffsetDateTime,
}

/// Filters for the calendar: from (RFC 3339, default now) and days (1–366, default 28).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema, IntoParams))]
#[cfg_attr(feature = "ssr", into_params(parameter_in = Query))]
pub struct FreezeCalendarQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<i64>,
}

/// An admin lets one held request through a freeze.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(ToSchema))]
pub struct FreezeRelease {
    pub reason: String,
}
