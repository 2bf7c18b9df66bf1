//! Configuration, read once at start from the environment (or flags) and validated there.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::Args;
use secrecy::SecretString;

/// Who may sign in with a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PasswordLogin {
    Everyone,
    Admins,
    Nobody,
}

#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Postgres connection string.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/berth",
        hide_env_values = true
    )]
    pub database_url: SecretString,

    /// Postgres connection string of the schema's owner, for migrations (`berth migrate`, and
    /// `berth serve` at start). Berth then runs as DATABASE_URL's role, which should be
    /// `berth_app`: it may only INSERT and SELECT the audit trail. Unset: migrations use
    /// DATABASE_URL too (one role for everything, as in development).
    #[arg(long, env = "BERTH_MIGRATE_DATABASE_URL", hide_env_values = true)]
    pub migrate_database_url: Option<SecretString>,

    /// Signs audit checkpoints (ed25519; 32 bytes, base64). Never stored in the database.
    #[arg(long, env = "BERTH_AUDIT_SIGNING_KEY", hide_env_values = true)]
    pub audit_signing_key: Option<SecretString>,

    /// File signed audit checkpoints are appended to (a JSON object per line).
    #[arg(long, env = "BERTH_AUDIT_CHECKPOINT_FILE")]
    pub audit_checkpoint_file: Option<PathBuf>,

    /// URL each signed audit checkpoint is POSTed to, as JSON.
    #[arg(long, env = "BERTH_AUDIT_CHECKPOINT_URL")]
    pub audit_checkpoint_url: Option<String>,

    /// Seconds between audit checkpoints (taken only when the trail grew; 0: on demand only).
    #[arg(
        long,
        env = "BERTH_AUDIT_CHECKPOINT_INTERVAL_SECONDS",
        default_value_t = 300
    )]
    pub audit_checkpoint_interval_seconds: u64,

    /// Address the HTTP server listens on.
    #[arg(long, env = "BERTH_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,

    /// Folder holding the built site (`pkg/berth.js`, `pkg/berth.wasm`, `pkg/berth.css`).
    #[arg(long, env = "BERTH_SITE_ROOT", default_value = "target/site")]
    pub site_root: PathBuf,

    /// Minutes a session may sit unused before it expires.
    #[arg(long, env = "BERTH_SESSION_IDLE_MINUTES", default_value_t = 60)]
    pub session_idle_minutes: u32,

    /// Hours after login when a session expires whatever its use.
    #[arg(long, env = "BERTH_SESSION_ABSOLUTE_HOURS", default_value_t = 12)]
    pub session_absolute_hours: u32,

    /// Seconds a session or token checked against Postgres is answered from memory (0 turns
    /// this off). Changes to users, sessions, tokens and teams reach every replica's memory
    /// through Postgres notifications; see the README's "Callers answered from memory".
    #[arg(long, env = "BERTH_CREDENTIAL_CACHE_SECONDS", default_value_t = 30)]
    pub credential_cache_seconds: u32,

    /// Mark cookies `Secure` (set this when Berth is served over TLS).
    #[arg(long, env = "BERTH_SECURE_COOKIES", default_value_t = false)]
    pub secure_cookies: bool,

    /// Failed logins per account in the throttle window before 429.
    #[arg(
        long,
        env = "BERTH_LOGIN_MAX_FAILURES_PER_ACCOUNT",
        default_value_t = 5
    )]
    pub login_max_failures_per_account: u32,

    /// Failed logins per client address in the throttle window before 429.
    #[arg(
        long,
        env = "BERTH_LOGIN_MAX_FAILURES_PER_ADDRESS",
        default_value_t = 20
    )]
    pub login_max_failures_per_address: u32,

    /// Length of the login throttle window in minutes.
    #[arg(long, env = "BERTH_LOGIN_WINDOW_MINUTES", default_value_t = 15)]
    pub login_window_minutes: u32,

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "BERTH_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Connections in the Postgres pool.
    #[arg(long, env = "BERTH_DB_POOL_SIZE", default_value_t = 32)]
    pub db_pool_size: u32,

    /// Key that seals cluster credentials at rest: 32 bytes, base64. Without it Berth
    /// cannot store tokens or CAs (the run command generates one in .berth/secret.key).
    #[arg(long, env = "BERTH_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<SecretString>,

    /// A kubeconfig file whose contexts clusters may name as their connection.
    #[arg(long, env = "BERTH_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,

    /// Node labels that name a node's pool, in order of preference (comma-separated).
    #[arg(
        long,
        env = "BERTH_POOL_LABEL_KEYS",
        value_delimiter = ',',
        default_value = "cloud.google.com/gke-nodepool,eks.amazonaws.com/nodegroup,agentpool,karpenter.sh/nodepool,node-pool"
    )]
    pub pool_label_keys: Vec<String>,

    /// Seconds between inventory syncs of the whole fleet (0: only on demand).
    #[arg(long, env = "BERTH_SYNC_INTERVAL_SECONDS", default_value_t = 60)]
    pub sync_interval_seconds: u64,

    /// Seconds one cluster's sync may take before it counts as unreachable.
    #[arg(long, env = "BERTH_SYNC_TIMEOUT_SECONDS", default_value_t = 10)]
    pub sync_timeout_seconds: u64,

    /// Clusters synced at once.
    #[arg(long, env = "BERTH_SYNC_CONCURRENCY", default_value_t = 16)]
    pub sync_concurrency: usize,

    /// The group bound to `edit` in each namespace; `{team}` becomes the team's name.
    #[arg(long, env = "BERTH_TEAM_GROUP_PATTERN", default_value = "berth:{team}")]
    pub team_group_pattern: String,

    /// Job workers in this process (provisioning, reverts, decommissions, webhooks).
    #[arg(long, env = "BERTH_JOB_WORKERS", default_value_t = 16)]
    pub job_workers: usize,

    /// Jobs running at once on one cluster: a slow or dead cluster holds at most this many
    /// workers, and jobs of one namespace always run one after another.
    #[arg(long, env = "BERTH_JOBS_PER_CLUSTER", default_value_t = 4)]
    pub jobs_per_cluster: usize,

    /// Seconds a worker holds a job before another process may take it over.
    #[arg(long, env = "BERTH_JOB_LEASE_SECONDS", default_value_t = 120)]
    pub job_lease_seconds: u64,

    /// Restore drills running at once on one target cluster; more wait, queued.
    #[arg(long, env = "BERTH_DRILL_CONCURRENCY", default_value_t = 2)]
    pub drill_concurrency: usize,

    /// Seconds between usage and drift checks of every namespace (0: only on demand).
    #[arg(long, env = "BERTH_DRIFT_INTERVAL_SECONDS", default_value_t = 120)]
    pub drift_interval_seconds: u64,

    /// Central Prometheus for capacity recommendations; series are told apart by
    /// `BERTH_PROMETHEUS_CLUSTER_LABEL`. A cluster's own `prometheus_url` wins over it.
    #[arg(long, env = "BERTH_PROMETHEUS_URL")]
    pub prometheus_url: Option<String>,

    /// The label naming the cluster on series of the central Prometheus.
    #[arg(
        long,
        env = "BERTH_PROMETHEUS_CLUSTER_LABEL",
        default_value = "cluster"
    )]
    pub prometheus_cluster_label: String,

    /// Seconds Berth waits for one Prometheus query.
    #[arg(long, env = "BERTH_PROMETHEUS_TIMEOUT_SECONDS", default_value_t = 10)]
    pub prometheus_timeout_seconds: u64,

    /// Sent as the `Authorization` header to Prometheus (for example `Bearer …`); never logged.
    #[arg(long, env = "BERTH_PROMETHEUS_AUTHORIZATION", hide_env_values = true)]
    pub prometheus_authorization: Option<SecretString>,

    /// Hours of usage history recommendations read (KRR's default: 14 days).
    #[arg(long, env = "BERTH_CAPACITY_HISTORY_HOURS", default_value_t = 336)]
    pub capacity_history_hours: u64,

    /// Seconds between the usage points recommendations read (KRR's default: 75 s); CPU rates
    /// are taken over the same window, as KRR does.
    #[arg(long, env = "BERTH_CAPACITY_STEP_SECONDS", default_value_t = 75)]
    pub capacity_step_seconds: u64,

    /// Where Berth keeps its bare clones of GitOps repositories (a cache: deleting it costs
    /// one fetch). Default: `berth-git` in the system's temporary directory.
    #[arg(long, env = "BERTH_GIT_CACHE_DIR")]
    pub git_cache_dir: Option<PathBuf>,

    /// The e-mail of Berth's commits (the author's name is "Berth").
    #[arg(
        long,
        env = "BERTH_GIT_AUTHOR_EMAIL",
        default_value = "berth@localhost"
    )]
    pub git_author_email: String,

    /// Seconds one Git operation (fetch, commit and push) may take before the job tries again.
    #[arg(long, env = "BERTH_GIT_TIMEOUT_SECONDS", default_value_t = 60)]
    pub git_timeout_seconds: u64,

    /// The currency prices are set and cost reports are shown in (ISO 4217 code or any
    /// short label).
    #[arg(long, env = "BERTH_COST_CURRENCY", default_value = "USD")]
    pub cost_currency: String,

    /// The OpenID Connect provider people sign in with (its issuer URL, as in its discovery
    /// document). Unset: local accounts only.
    #[arg(long, env = "BERTH_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,

    /// Berth's client id at the provider.
    #[arg(long, env = "BERTH_OIDC_CLIENT_ID")]
    pub oidc_client_id: Option<String>,

    /// Berth's client secret at the provider; never logged or returned.
    #[arg(long, env = "BERTH_OIDC_CLIENT_SECRET", hide_env_values = true)]
    pub oidc_client_secret: Option<SecretString>,

    /// Where the provider sends people back: Berth's address followed by
    /// `/auth/oidc/callback`, registered at the provider as the client's redirect URI.
    #[arg(long, env = "BERTH_OIDC_REDIRECT_URL")]
    pub oidc_redirect_url: Option<String>,

    /// Scopes asked for at sign-in (comma-separated; must include `openid`).
    #[arg(
        long,
        env = "BERTH_OIDC_SCOPES",
        value_delimiter = ',',
        default_value = "openid,email,profile,groups"
    )]
    pub oidc_scopes: Vec<String>,

    /// The ID token claim that lists the user's groups.
    #[arg(long, env = "BERTH_OIDC_GROUPS_CLAIM", default_value = "groups")]
    pub oidc_groups_claim: String,

    /// PEM file of the CA that signed the provider's certificate, when the system's roots
    /// do not.
    #[arg(long, env = "BERTH_OIDC_CA_FILE")]
    pub oidc_ca_file: Option<PathBuf>,

    /// The provider's name on the login page ("Sign in with …").
    #[arg(
        long,
        env = "BERTH_OIDC_PROVIDER_NAME",
        default_value = "single sign-on"
    )]
    pub oidc_provider_name: String,

    /// Who may sign in with a password: `everyone`, `admins` (break-glass accounts beside
    /// single sign-on) or `nobody`.
    #[arg(long, env = "BERTH_PASSWORD_LOGIN", value_enum, default_value_t = PasswordLogin::Everyone)]
    pub password_login: PasswordLogin,

    /// Log as JSON lines (for log shippers) instead of text.
    #[arg(long, env = "BERTH_LOG_JSON", default_value_t = false)]
    pub log_json: bool,
}

impl Config {
    pub fn session_idle(&self) -> Duration {
        Duration::from_secs(u64::from(self.session_idle_minutes) * 60)
    }

    pub fn session_absolute(&self) -> Duration {
        Duration::from_secs(u64::from(self.session_absolute_hours) * 3600)
    }

    /// Where the bare clones of GitOps repositories live.
    pub fn git_cache(&self) -> PathBuf {
        self.git_cache_dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("berth-git"))
    }

    pub fn sync_timeout(&self) -> Duration {
        Duration::from_secs(self.sync_timeout_seconds)
    }

    pub fn login_window(&self) -> Duration {
        Duration::from_secs(u64::from(self.login_window_minutes) * 60)
    }

    /// Settings that cannot work are refused at start, each with the setting's name.
    pub fn validate(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        if self.session_idle_minutes == 0 {
            problems.push("BERTH_SESSION_IDLE_MINUTES must be at least 1");
        }
        if self.session_absolute_hours == 0 {
            problems.push("BERTH_SESSION_ABSOLUTE_HOURS must be at least 1");
        }
        if self.credential_cache_seconds > 60 {
            problems.push("BERTH_CREDENTIAL_CACHE_SECONDS must be at most 60");
        }
        if self.login_max_failures_per_account == 0 || self.login_max_failures_per_address == 0 {
            problems.push("BERTH_LOGIN_MAX_FAILURES_PER_* must be at least 1");
        }
        if self.login_window_minutes == 0 {
            problems.push("BERTH_LOGIN_WINDOW_MINUTES must be at least 1");
        }
        if self.max_body_bytes < 1024 {
            problems.push("BERTH_MAX_BODY_BYTES must be at least 1024");
        }
        if self.sync_timeout_seconds == 0 {
            problems.push("BERTH_SYNC_TIMEOUT_SECONDS must be at least 1");
        }
        if self.sync_concurrency == 0 {
            problems.push("BERTH_SYNC_CONCURRENCY must be at least 1");
        }
        if self.git_timeout_seconds == 0 {
            problems.push("BERTH_GIT_TIMEOUT_SECONDS must be at least 1");
        }
        if self.git_author_email.trim().is_empty()
            || self.git_author_email.contains(['<', '>', '\n'])
        {
            problems.push("BERTH_GIT_AUTHOR_EMAIL must be an e-mail address");
        }
        if self.pool_label_keys.iter().any(|k| k.trim().is_empty()) {
            problems.push("BERTH_POOL_LABEL_KEYS must not contain empty keys");
        }
        if let Some(key) = &self.secret_key {
            use base64::Engine;
            use secrecy::ExposeSecret;
            let decoded =
                base64::engine::general_purpose::STANDARD.decode(key.expose_secret().trim());
            if decoded.map(|k| k.len()) != Ok(32) {
                problems.push(
                    "BERTH_SECRET_KEY must be 32 bytes, base64-encoded (openssl rand -base64 32)",
                );
            }
        }
        if let Some(key) = &self.audit_signing_key {
            if crate::audit::checkpoint::signing_key(key).is_err() {
                problems.push("BERTH_AUDIT_SIGNING_KEY must be 32 bytes, base64-encoded (openssl rand -base64 32)");
            }
        }
        if let Some(url) = &self.audit_checkpoint_url {
            if reqwest::Url::parse(url)
                .map(|u| !matches!(u.scheme(), "http" | "https"))
                .unwrap_or(true)
            {
                problems.push("BERTH_AUDIT_CHECKPOINT_URL must be an http(s) URL");
            }
        }
        if (self.audit_checkpoint_file.is_some() || self.audit_checkpoint_url.is_some())
            && self.audit_signing_key.is_none()
        {
            problems.push("audit checkpoints need BERTH_AUDIT_SIGNING_KEY to sign them");
        }
        if !self.team_group_pattern.contains("{team}") {
            problems.push("BERTH_TEAM_GROUP_PATTERN must contain {team}");
        }
        // A process without workers (an API-only replica) claims nothing, so only the lower
        // bound matters to it.
        if self.jobs_per_cluster == 0
            || (self.job_workers > 0 && self.jobs_per_cluster > self.job_workers)
        {
            problems.push("BERTH_JOBS_PER_CLUSTER must be between 1 and BERTH_JOB_WORKERS");
        }
        if self.job_lease_seconds < 30 {
            problems.push("BERTH_JOB_LEASE_SECONDS must be at least 30");
        }
        if let Some(url) = &self.prometheus_url {
            if reqwest::Url::parse(url)
                .map(|u| !matches!(u.scheme(), "http" | "https"))
                .unwrap_or(true)
            {
                problems.push("BERTH_PROMETHEUS_URL must be an http(s) URL");
            }
        }
        if self.prometheus_timeout_seconds == 0 {
            problems.push("BERTH_PROMETHEUS_TIMEOUT_SECONDS must be at least 1");
        }
        if self.capacity_history_hours == 0 || self.capacity_step_seconds < 15 {
            problems.push("BERTH_CAPACITY_HISTORY_HOURS must be at least 1 and BERTH_CAPACITY_STEP_SECONDS at least 15");
        }
        problems.extend(self.sso_problems());
        if self.db_pool_size == 0 {
            problems.push("BERTH_DB_POOL_SIZE must be at least 1");
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    /// Whether single sign-on is configured (any of its settings is).
    pub fn sso_configured(&self) -> bool {
        self.oidc_issuer.is_some()
            || self.oidc_client_id.is_some()
            || self.oidc_client_secret.is_some()
            || self.oidc_redirect_url.is_some()
    }

    fn sso_problems(&self) -> Vec<&'static str> {
        let mut problems = Vec::new();
        if !self.sso_configured() {
            if self.password_login != PasswordLogin::Everyone {
                problems.push("BERTH_PASSWORD_LOGIN other than `everyone` needs single sign-on (BERTH_OIDC_ISSUER …): nobody could sign in");
            }
            return problems;
        }
        let loopback =
            |u: &reqwest::Url| matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        match self.oidc_issuer.as_deref().map(reqwest::Url::parse) {
            None => problems.push("BERTH_OIDC_ISSUER is required for single sign-on"),
            Some(Ok(u)) if u.scheme() == "https" || (u.scheme() == "http" && loopback(&u)) => {}
            Some(_) => {
                problems.push("BERTH_OIDC_ISSUER must be an https URL (http only on loopback)")
            }
        }
        if self
            .oidc_client_id
            .as_deref()
            .is_none_or(|id| id.trim().is_empty())
        {
            problems.push("BERTH_OIDC_CLIENT_ID is required for single sign-on");
        }
        if self.oidc_client_secret.is_none() {
            problems.push("BERTH_OIDC_CLIENT_SECRET is required for single sign-on");
        }
        match self.oidc_redirect_url.as_deref().map(reqwest::Url::parse) {
            None => problems.push("BERTH_OIDC_REDIRECT_URL is required for single sign-on"),
            Some(Ok(u))
                if matches!(u.scheme(), "http" | "https")
                    && u.path() == "/auth/oidc/callback"
                    && u.query().is_none() => {}
            Some(_) => problems.push(
                "BERTH_OIDC_REDIRECT_URL must be Berth's http(s) address followed by /auth/oidc/callback",
            ),
        }
        if !self.oidc_scopes.iter().any(|s| s == "openid") {
            problems.push("BERTH_OIDC_SCOPES must include openid");
        }
        if self
            .oidc_scopes
            .iter()
            .any(|s| s.is_empty() || s.contains(char::is_whitespace))
        {
            problems.push("BERTH_OIDC_SCOPES must not contain empty scopes or spaces");
        }
        if self.oidc_groups_claim.trim().is_empty() {
            problems.push("BERTH_OIDC_GROUPS_CLAIM must not be empty");
        }
        if self.oidc_provider_name.trim().is_empty() || self.oidc_provider_name.chars().count() > 60
        {
            problems.push("BERTH_OIDC_PROVIDER_NAME must be 1 to 60 characters");
        }
        problems
    }

    /// A configuration for tests: everything default but the database.
    pub fn for_tests(database_url: &str) -> Self {
        use clap::Parser;
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            config: Config,
        }
        let mut config = Wrapper::parse_from(["berth"]).config;
        config.database_url = SecretString::from(database_url.to_owned());
        config.listen = "127.0.0.1:0".parse().expect("loopback address");
        config.secret_key = Some(SecretString::from(crate::fleet::seal::generate_key()));
        config.sync_interval_seconds = 0;
        config.sync_timeout_seconds = 2;
        config.drift_interval_seconds = 0;
        config.job_workers = 0;
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replica_without_job_workers_starts_with_the_default_per_cluster_limit() {
        let mut config = Config::for_tests("postgres://unused");
        config.job_workers = 0;
        assert_eq!(config.validate(), Ok(()));
        config.jobs_per_cluster = 0;
        assert!(config.validate().is_err());
        config.job_workers = 2;
        config.jobs_per_cluster = 3;
        assert!(config
            .validate()
            .unwrap_err()
            .contains("BERTH_JOBS_PER_CLUSTER"));
    }

    #[test]
    fn single_sign_on_is_all_or_nothing_and_each_bad_setting_is_named() {
        let mut config = Config::for_tests("postgres://unused");
        config.password_login = PasswordLogin::Admins;
        assert!(config
            .validate()
            .unwrap_err()
            .contains("BERTH_PASSWORD_LOGIN"));
        config.oidc_issuer = Some("http://idp.example.com".into());
        let problems = config.validate().unwrap_err();
        for name in [
            "BERTH_OIDC_ISSUER must be an https URL",
            "BERTH_OIDC_CLIENT_ID",
            "BERTH_OIDC_CLIENT_SECRET",
            "BERTH_OIDC_REDIRECT_URL",
        ] {
            assert!(problems.contains(name), "{name} in {problems}");
        }
        config.oidc_issuer = Some("https://idp.example.com".into());
        config.oidc_client_id = Some("berth".into());
        config.oidc_client_secret = Some(SecretString::from("s".to_owned()));
        config.oidc_redirect_url = Some("https://berth.example.com/callback".into());
        assert!(config
            .validate()
            .unwrap_err()
            .contains("/auth/oidc/callback"));
        config.oidc_redirect_url = Some("https://berth.example.com/auth/oidc/callback".into());
        assert_eq!(config.validate(), Ok(()));
        config.oidc_scopes = vec!["email".into()];
        assert!(config
            .validate()
            .unwrap_err()
            .contains("must include openid"));
        config.oidc_scopes = vec!["openid".into()];
        config.oidc_issuer = Some("http://127.0.0.1:5556".into());
        assert_eq!(config.validate(), Ok(()), "http is fine on loopback");
    }
}
