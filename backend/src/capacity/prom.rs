//! A small client for Prometheus's HTTP query API: instant queries answering vectors or
//! matrices. Every failure — unreachable, slow, an error status, a body that is not what the
//! API promises — becomes one message that names the Prometheus and says what went wrong.

use std::{
    collections::BTreeMap,
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

pub type Labels = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Labels,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: Labels,
    /// (unix seconds, value), oldest first.
    pub points: Vec<(f64, f64)>,
}

/// Where one cluster's series are: a Prometheus and, for a central one, the label matcher
/// that picks the cluster.
pub struct Source {
    http: reqwest::Client,
    url: reqwest::Url,
    authorization: Option<SecretString>,
    pub cluster_matcher: Option<(String, String)>,
    queries: AtomicU32,
}

#[derive(Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
#[allow(dead_code)] // scalars and strings are read only to say they were not expected
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum Data {
    Vector(Vec<RawSample>),
    Matrix(Vec<RawSeries>),
    Scalar(serde_json::Value),
    String(serde_json::Value),
}

#[derive(Deserialize)]
struct RawSample {
    metric: Labels,
    value: (f64, String),
}

#[derive(Deserialize)]
struct RawSeries {
    metric: Labels,
    values: Vec<(f64, String)>,
}

/// Prometheus writes values as strings, including `NaN` and `±Inf`; those are dropped by the
/// callers, which only use finite values.
fn number(s: &str) -> Result<f64, String> {
    s.parse::<f64>()
        .map_err(|_| format!("a sample value is not a number: {s:?}"))
}

/// Escapes a label value for a PromQL string literal.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Source {
    pub fn new(
        url: &str,
        timeout: Duration,
        authorization: Option<SecretString>,
        cluster_matcher: Option<(String, String)>,
    ) -> Result<Self, String> {
        let mut url =
            reqwest::Url::parse(url).map_err(|e| format!("Prometheus URL {url:?}: {e}"))?;
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| format!("Prometheus client: {e}"))?;
        Ok(Source {
            http,
            url,
            authorization,
            cluster_matcher,
            queries: AtomicU32::new(0),
        })
    }

    /// The label matchers every query of this cluster carries (without braces).
    pub fn matchers(&self, namespace: &str) -> String {
        let mut m = format!("namespace={}", quote(namespace));
        if let Some((label, value)) = &self.cluster_matcher {
            m.push_str(&format!(",{label}={}", quote(value)));
        }
        m
    }

    /// Queries sent so far.
    pub fn queries(&self) -> u32 {
        self.queries.load(Ordering::Relaxed)
    }

    fn host(&self) -> String {
        format!("Prometheus at {}", self.url.origin().ascii_serialization())
    }

    async fn query(&self, promql: &str, at: f64) -> Result<Data, String> {
        self.queries.fetch_add(1, Ordering::Relaxed);
        let endpoint = self.url.join("api/v1/query").map_err(|e| e.to_string())?;
        let mut req = self
            .http
            .post(endpoint)
            .form(&[("query", promql), ("time", &format!("{at:.3}"))]);
        if let Some(auth) = &self.authorization {
            req = req.header(reqwest::header::AUTHORIZATION, auth.expose_secret());
        }
        let response = req.send().await.map_err(|e| {
            if e.is_timeout() {
                format!("{} did not answer in time", self.host())
            } else {
                format!("{} cannot be reached: {}", self.host(), e.without_url())
            }
        })?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("{} broke off its answer: {}", self.host(), e.without_url()))?;
        let envelope: Envelope = serde_json::from_slice(&body).map_err(|_| {
            format!(
                "{} answered {status} with something that is not its query API's JSON",
                self.host()
            )
        })?;
        if envelope.status != "success" {
            return Err(format!(
                "{} refused a query ({status}): {}",
                self.host(),
                envelope.error.unwrap_or_default()
            ));
        }
        envelope
            .data
            .ok_or_else(|| format!("{} answered without data", self.host()))
    }

    pub async fn vector(&self, promql: &str, at: f64) -> Result<Vec<Sample>, String> {
        match self.query(promql, at).await? {
            Data::Vector(v) => v
                .into_iter()
                .map(|s| {
                    Ok(Sample {
                        labels: s.metric,
                        value: number(&s.value.1)?,
                    })
                })
                .collect::<Result<_, String>>()
                .map_err(|e| format!("{}: {e}", self.host())),
            _ => Err(format!(
                "{} answered a different result type than a vector",
                self.host()
            )),
        }
    }

    pub async fn matrix(&self, promql: &str, at: f64) -> Result<Vec<Series>, String> {
        match self.query(promql, at).await? {
            Data::Matrix(m) => m
                .into_iter()
                .map(|s| {
                    let points = s
                        .values
                        .into_iter()
                        .map(|(t, v)| Ok((t, number(&v)?)))
                        .collect::<Result<_, String>>()?;
                    Ok(Series {
                        labels: s.metric,
                        points,
                    })
                })
                .collect::<Result<_, String>>()
                .map_err(|e| format!("{}: {e}", self.host())),
            _ => Err(format!(
                "{} answered a different result type than a matrix",
                self.host()
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_label_values() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    #[test]
    fn parses_prometheus_numbers() {
        assert!(number("NaN").unwrap().is_nan());
        assert_eq!(number("+Inf").unwrap(), f64::INFINITY);
        assert!(number("x").is_err());
    }
}
