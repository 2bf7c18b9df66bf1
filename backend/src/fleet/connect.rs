//! Turning a registered cluster into a `kube::Client`: a kubeconfig context, the in-cluster
//! service account, an API URL with CA and token, or a cluster of the built-in simulator.
//! Every client gets the sync timeout on connect and read.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use kube::{
    config::{KubeConfigOptions, Kubeconfig},
    Client, Config,
};
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use crate::{App, Error, Result};

/// A connection as stored, credentials still sealed.
pub struct Stored {
    pub name: String,
    pub connection: String,
    pub kubeconfig_context: Option<String>,
    pub api_url: Option<String>,
    pub ca_sealed: Option<Vec<u8>>,
    pub token_sealed: Option<Vec<u8>>,
    pub updated_at: time::OffsetDateTime,
}

/// Clients built from a cluster's connection, reused (with their open connections) until
/// the connection is edited or five minutes pass (kubeconfig files and tokens change).
#[derive(Clone, Default)]
pub struct ClientCache(Arc<Mutex<HashMap<Uuid, Cached>>>);

struct Cached {
    version: time::OffsetDateTime,
    built: Instant,
    client: Client,
}

const CLIENT_TTL: Duration = Duration::from_secs(300);

pub async fn client(app: &App, cluster_id: Uuid) -> Result<Client> {
    let stored = sqlx::query_as!(
        Stored,
        "SELECT name, connection, kubeconfig_context, api_url, ca_sealed, token_sealed, updated_at FROM clusters WHERE id = $1",
        cluster_id
    )
    .fetch_optional(&app.db)
    .await?
    .ok_or(Error::NotFound("cluster"))?;
    if let Some(hit) = app
        .clients
        .0
        .lock()
        .expect("client cache lock")
        .get(&cluster_id)
    {
        if hit.version == stored.updated_at && hit.built.elapsed() < CLIENT_TTL {
            return Ok(hit.client.clone());
        }
    }
    let mut config = config_for(app, &stored).await?;
    config.connect_timeout = Some(app.config.sync_timeout());
    config.read_timeout = Some(app.config.sync_timeout());
    let client = Client::try_from(config)
        .map_err(|e| Error::Internal(anyhow::anyhow!("client for {}: {e}", stored.name)))?;
    app.clients.0.lock().expect("client cache lock").insert(
        cluster_id,
        Cached {
            version: stored.updated_at,
            built: Instant::now(),
            client: client.clone(),
        },
    );
    Ok(client)
}

/// PEM certificates as DER, each checked to be a certificate rustls accepts.
pub fn parse_ca(pem_text: &str) -> std::result::Result<Vec<Vec<u8>>, String> {
    let blocks = pem::parse_many(pem_text).map_err(|e| format!("is not PEM: {e}"))?;
    let certs: Vec<Vec<u8>> = blocks
        .into_iter()
        .filter(|b| b.tag() == "CERTIFICATE")
        .map(|b| b.into_contents())
        .collect();
    if certs.is_empty() {
        return Err("holds no CERTIFICATE block".into());
    }
    let mut roots = rustls::RootCertStore::empty();
    for der in &certs {
        roots
            .add(rustls::pki_types::CertificateDer::from(der.clone()))
            .map_err(|e| format!("is not a usable certificate: {e}"))?;
    }
    Ok(certs)
}

fn token_config(
    url: &str,
    ca: Option<Vec<Vec<u8>>>,
    token: Option<SecretString>,
) -> Result<Config> {
    let uri = url
        .parse()
        .map_err(|_| Error::Internal(anyhow::anyhow!("stored API URL does not parse")))?;
    let mut config = Config::new(uri);
    config.root_cert = ca;
    config.auth_info.token = token.map(|t| t.expose_secret().to_owned().into());
    Ok(config)
}

async fn config_for(app: &App, stored: &Stored) -> Result<Config> {
    match stored.connection.as_str() {
        "kubeconfig" => {
            let context = stored.kubeconfig_context.clone().unwrap_or_default();
            kubeconfig_config(app, &context)
                .await
                .map_err(|e| Error::Internal(anyhow::anyhow!("{e}")))
        }
        "in_cluster" => Config::incluster()
            .map_err(|e| Error::Internal(anyhow::anyhow!("in-cluster configuration: {e}"))),
        "token" => {
            let ca = match &stored.ca_sealed {
                Some(sealed) => Some(
                    parse_ca(app.sealer.open(sealed)?.expose_secret())
                        .map_err(|e| Error::Internal(anyhow::anyhow!("stored CA {e}")))?,
                ),
                None => None,
            };
            let token = stored
                .token_sealed
                .as_deref()
                .map(|t| app.sealer.open(t))
                .transpose()?;
            token_config(stored.api_url.as_deref().unwrap_or_default(), ca, token)
        }
        "simulated" => {
            let simulator = app.simulator.as_ref().ok_or_else(|| {
                Error::Internal(anyhow::anyhow!(
                    "the fleet simulator is not running in this process"
                ))
            })?;
            let cluster = simulator.cluster(&stored.name).ok_or_else(|| {
                Error::Internal(anyhow::anyhow!(
                    "the simulator has no cluster {}",
                    stored.name
                ))
            })?;
            let token = stored
                .token_sealed
                .as_deref()
                .map(|t| app.sealer.open(t))
                .transpose()?;
            token_config(&cluster.url(), None, token)
        }
        other => Err(Error::Internal(anyhow::anyhow!(
            "unknown connection kind {other}"
        ))),
    }
}

/// The cluster's API server address and its CA (PEM), as Berth reaches it: what a kubeconfig
/// for people names. None when Berth cannot say (an in-cluster connection, an unreadable
/// kubeconfig).
pub async fn server(app: &App, cluster_id: Uuid) -> Option<(String, Option<String>)> {
    let stored = sqlx::query_as!(
        Stored,
        "SELECT name, connection, kubeconfig_context, api_url, ca_sealed, token_sealed, updated_at FROM clusters WHERE id = $1",
        cluster_id
    )
    .fetch_optional(&app.db)
    .await
    .ok()??;
    if stored.connection == "in_cluster" {
        return None;
    }
    let config = config_for(app, &stored).await.ok()?;
    let ca = config.root_cert.as_ref().map(|certs| {
        certs
            .iter()
            .map(|der| pem::encode(&pem::Pem::new("CERTIFICATE", der.clone())))
            .collect::<String>()
    });
    Some((
        config
            .cluster_url
            .to_string()
            .trim_end_matches('/')
            .to_owned(),
        ca,
    ))
}

/// The named context of `BERTH_KUBECONFIG`, with errors a person can act on.
pub async fn kubeconfig_config(app: &App, context: &str) -> std::result::Result<Config, String> {
    let path = app
        .config
        .kubeconfig
        .as_ref()
        .ok_or("BERTH_KUBECONFIG is not set, so no kubeconfig context can be used")?;
    let kubeconfig =
        Kubeconfig::read_from(path).map_err(|e| format!("BERTH_KUBECONFIG does not parse: {e}"))?;
    if !kubeconfig.contexts.iter().any(|c| c.name == context) {
        return Err(format!("BERTH_KUBECONFIG has no context named {context:?}"));
    }
    let options = KubeConfigOptions {
        context: Some(context.to_owned()),
        ..Default::default()
    };
    Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|e| format!("context {context:?}: {e}"))
}

/// Checks that a new connection answers `/version` before anything is stored.
pub async fn probe(app: &App, config: Config) -> std::result::Result<String, String> {
    let mut config = config;
    config.connect_timeout = Some(app.config.sync_timeout());
    config.read_timeout = Some(app.config.sync_timeout());
    let url = config.cluster_url.to_string();
    let client =
        Client::try_from(config).map_err(|e| format!("cannot build a client for {url}: {e}"))?;
    match tokio::time::timeout(app.config.sync_timeout(), client.apiserver_version()).await {
        Ok(Ok(info)) => Ok(info.git_version),
        Ok(Err(kube::Error::Api(status))) => Err(format!(
            "{url} answered {}: {}",
            status.code, status.message
        )),
        Ok(Err(e)) => Err(format!("cannot reach {url}: {e}")),
        Err(_) => Err(format!(
            "{url} did not answer within {} s",
            app.config.sync_timeout().as_secs()
        )),
    }
}

/// A token connection as a client config, for the probe at registration.
pub fn token_probe_config(url: &str, ca: Option<Vec<Vec<u8>>>, token: &str) -> Result<Config> {
    token_config(url, ca, Some(SecretString::from(token.to_owned())))
}
