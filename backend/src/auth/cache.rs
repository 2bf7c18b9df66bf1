//! Callers answered from memory. Every page and API call begins by checking its session or
//! token; a query for each was the largest part of a request's cost (GET /api/v1/me could not
//! pass about 0.4 × `pgbench -S` with any query in it). A session or token read from Postgres
//! is kept for `BERTH_CREDENTIAL_CACHE_SECONDS` (30 s), and Postgres says when it is wrong:
//! triggers on users, sessions, tokens, teams and memberships notify `berth_credentials` at
//! commit (`user:<id>` or `all`), and every replica listens and drops what a notice names.
//!
//! Three rules keep what memory answers no older than what Postgres says:
//!
//! 1. **Memory is used only while notices are heard.** Each replica notifies itself every
//!    second on a channel of its own, with the time it sent. Postgres delivers notifications
//!    in commit order, so hearing a beat sent at `t` means every change committed before `t`
//!    has been heard. Memory answers only within [`TRUST`] of the last beat's sending; after
//!    a lost connection or a stalled listener every request reads Postgres, and memory starts
//!    empty when beats are heard again.
//! 2. **A read that started before a notice does not fill memory** (the epoch), so a slow
//!    read cannot put back what a notice just dropped.
//! 3. **A replica sees its own writes.** After a write, the HTTP layer waits until this
//!    replica has heard a beat sent after it ([`CredentialCache::settle`]), so the next
//!    request, here, is answered with the change. Other replicas drop it when Postgres
//!    delivers the notice: normally within milliseconds, at most [`TRUST`] if their listener
//!    stalls.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering::SeqCst},
        Arc, OnceLock,
    },
    time::{Duration, Instant},
};

use moka::sync::Cache;
use sqlx::PgPool;
use time::OffsetDateTime;
use tokio::sync::watch;
use uuid::Uuid;

use super::Actor;

pub const CHANNEL: &str = "berth_credentials";
/// How often a replica notifies itself.
const BEAT_EVERY: Duration = Duration::from_secs(1);
/// How long after a heard beat was sent memory may still answer.
pub const TRUST: Duration = Duration::from_secs(3);
/// How long a write waits for its notices before this replica stops trusting memory.
const SETTLE_WAIT: Duration = Duration::from_secs(2);
/// Credentials kept per replica; the least used go first.
const CAPACITY: u64 = 50_000;

/// This replica's memory of sessions and tokens; cheap to clone. Off when
/// `BERTH_CREDENTIAL_CACHE_SECONDS` is 0.
#[derive(Clone)]
pub struct CredentialCache(Option<Arc<Inner>>);

/// What a cached credential is; with its SHA-256, the key.
#[derive(Clone, Copy)]
pub enum Kind {
    Session = 1,
    Token = 2,
}

fn key(kind: Kind, hash: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(hash.len() + 1);
    key.push(kind as u8);
    key.extend_from_slice(hash);
    key
}

struct Inner {
    entries: Cache<Vec<u8>, Arc<Entry>>,
    keep: Duration,
    /// Bumped before anything is dropped.
    epoch: AtomicU64,
    /// Milliseconds on [`Inner::origin`]'s clock until which memory may answer (0: not now).
    trusted_until: AtomicU64,
    origin: Instant,
    /// This replica's beat channel.
    beats: String,
    /// The sending time of the last beat heard.
    heard: watch::Sender<u64>,
    started: OnceLock<()>,
}

struct Entry {
    actor: Actor,
    valid_until: Instant,
}

/// What a read that may fill memory saw before it asked Postgres.
#[derive(Clone, Copy)]
pub struct Reading(u64);

impl CredentialCache {
    pub fn new(keep: Duration) -> CredentialCache {
        if keep.is_zero() {
            return CredentialCache(None);
        }
        CredentialCache(Some(Arc::new(Inner {
            entries: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(keep)
                .support_invalidation_closures()
                .build(),
            keep,
            epoch: AtomicU64::new(0),
            trusted_until: AtomicU64::new(0),
            origin: Instant::now(),
            beats: format!("{CHANNEL}_{}", Uuid::new_v4().simple()),
            heard: watch::channel(0).0,
            started: OnceLock::new(),
        })))
    }

    /// Starts listening to Postgres (a server does at start; otherwise the first check does).
    pub fn start(&self, db: &PgPool) {
        if let Some(inner) = &self.0 {
            inner.start(db);
        }
    }

    /// Whether memory may answer now; `None` when it is turned off.
    pub fn trusted(&self) -> Option<bool> {
        self.0.as_ref().map(|inner| inner.trusted())
    }

    /// The caller whose session or token hashes to `hash`, if memory may answer for it.
    /// Counted in `berth_credential_checks_total{answered_by}`.
    pub fn get(&self, db: &PgPool, kind: Kind, hash: &[u8]) -> Option<Actor> {
        let found = self.0.as_ref().and_then(|inner| {
            inner.start(db);
            if !inner.trusted() {
                return None;
            }
            let entry = inner.entries.get(&key(kind, hash))?;
            (Instant::now() < entry.valid_until).then(|| entry.actor.clone())
        });
        let answered_by = if found.is_some() {
            "memory"
        } else {
            "postgres"
        };
        metrics::counter!("berth_credential_checks_total", "answered_by" => answered_by)
            .increment(1);
        found
    }

    /// Whether memory would answer for this credential now (for tests and diagnostics).
    pub fn remembers(&self, kind: Kind, hash: &[u8]) -> bool {
        self.0.as_ref().is_some_and(|inner| {
            inner.trusted()
                && inner
                    .entries
                    .get(&key(kind, hash))
                    .is_some_and(|e| Instant::now() < e.valid_until)
        })
    }

    /// Taken before asking Postgres for a credential, to [`fill`](Self::fill) with its answer.
    pub fn reading(&self) -> Reading {
        Reading(self.0.as_ref().map_or(0, |i| i.epoch.load(SeqCst)))
    }

    /// Keeps a caller read from Postgres for up to the configured time, and never past `until`
    /// (its credential's expiry). Nothing is kept when a notice came in since `reading`.
    pub fn fill(
        &self,
        reading: Reading,
        kind: Kind,
        hash: &[u8],
        actor: &Actor,
        until: OffsetDateTime,
    ) {
        let Some(inner) = self.0.as_ref() else { return };
        let valid_for = Duration::try_from(until - OffsetDateTime::now_utc()).unwrap_or_default();
        if valid_for.is_zero() || !inner.trusted() || inner.epoch.load(SeqCst) != reading.0 {
            return;
        }
        let entry = Entry {
            actor: actor.clone(),
            valid_until: Instant::now() + valid_for.min(inner.keep),
        };
        let key = key(kind, hash);
        inner.entries.insert(key.clone(), Arc::new(entry));
        // A notice handled between the check above and the insert has bumped the epoch first:
        // take the entry back out. One handled after the insert drops it itself.
        if inner.epoch.load(SeqCst) != reading.0 {
            inner.entries.invalidate(&key);
        }
    }

    /// Returns once this replica has heard every notice committed before the call, so its
    /// next request is answered with them. Gives up after [`SETTLE_WAIT`] and stops trusting
    /// memory until beats are heard again.
    pub async fn settle(&self, db: &PgPool) {
        let Some(inner) = self.0.as_ref() else { return };
        // Memory that is not trusted answers nothing; when beats are heard again it starts
        // empty, and what is read after that is read after this write.
        if !inner.trusted() {
            return;
        }
        let mut heard = inner.heard.subscribe();
        let sent = match inner.beat(db).await {
            Ok(sent) => sent,
            Err(e) => {
                tracing::warn!(error = %e, "credential memory: cannot notify Postgres; reading callers from Postgres");
                inner.distrust();
                return;
            }
        };
        if tokio::time::timeout(SETTLE_WAIT, heard.wait_for(|h| *h >= sent))
            .await
            .is_err()
        {
            tracing::warn!("credential memory: a write's notices were not heard in time; reading callers from Postgres");
            inner.distrust();
        }
    }
}

impl Inner {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn trusted(&self) -> bool {
        self.now_ms() < self.trusted_until.load(SeqCst)
    }

    fn distrust(&self) {
        self.trusted_until.store(0, SeqCst);
    }

    fn forget_all(&self) {
        self.epoch.fetch_add(1, SeqCst);
        self.entries.invalidate_all();
    }

    fn forget_user(&self, user: Uuid) {
        self.epoch.fetch_add(1, SeqCst);
        if self
            .entries
            .invalidate_entries_if(move |_, e| e.actor.user_id == user)
            .is_err()
        {
            self.entries.invalidate_all();
        }
    }

    /// One notification from Postgres.
    fn hear(&self, channel: &str, payload: &str) {
        if channel == self.beats {
            let Ok(sent) = payload.parse::<u64>() else {
                return;
            };
            // Coming back after a gap: notices may have been missed in it.
            if !self.trusted() {
                self.forget_all();
            }
            self.trusted_until
                .fetch_max(sent + TRUST.as_millis() as u64, SeqCst);
            self.heard.send_if_modified(|h| {
                let newer = sent > *h;
                *h = (*h).max(sent);
                newer
            });
            return;
        }
        match payload.strip_prefix("user:").map(Uuid::parse_str) {
            Some(Ok(user)) => self.forget_user(user),
            // `all`, or anything this version does not know: drop everything.
            _ => self.forget_all(),
        }
    }

    /// Notifies this replica's beat channel with the time now; returns that time.
    async fn beat(&self, db: &PgPool) -> sqlx::Result<u64> {
        let sent = self.now_ms();
        sqlx::query!("SELECT pg_notify($1, $2)", self.beats, sent.to_string())
            .execute(db)
            .await?;
        Ok(sent)
    }

    /// Listens from the first session check on: one task hears notices, one sends beats.
    fn start(self: &Arc<Self>, db: &PgPool) {
        if self.started.set(()).is_err() {
            return;
        }
        tokio::spawn(listen(self.clone(), db.clone()));
        tokio::spawn(beat(self.clone(), db.clone()));
    }
}

async fn listen(inner: Arc<Inner>, db: PgPool) {
    while !db.is_closed() {
        if let Err(e) = hear_until_lost(&inner, &db).await {
            tracing::warn!(error = %e, "credential memory: not listening to Postgres; reading callers from Postgres");
        }
        inner.distrust();
        tokio::time::sleep(BEAT_EVERY).await;
    }
}

/// Hears notices until the connection fails for good (a lost one that comes back at once
/// only ends trust: what was said meanwhile is gone).
async fn hear_until_lost(inner: &Inner, db: &PgPool) -> sqlx::Result<()> {
    let mut listener = sqlx::postgres::PgListener::connect_with(db).await?;
    listener.listen_all([CHANNEL, inner.beats.as_str()]).await?;
    loop {
        match listener.try_recv().await? {
            Some(n) => inner.hear(n.channel(), n.payload()),
            None => inner.distrust(),
        }
    }
}

async fn beat(inner: Arc<Inner>, db: PgPool) {
    let mut every = tokio::time::interval(BEAT_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !db.is_closed() {
        every.tick().await;
        if let Err(e) = inner.beat(&db).await {
            tracing::debug!(error = %e, "credential memory: beat not sent");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(user_id: Uuid) -> Actor {
        Actor {
            user_id,
            email: "a@example.com".into(),
            display_name: "A".into(),
            is_admin: false,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
            teams: vec![],
            credential: super::super::Credential::Session {
                id_hash: vec![1],
                csrf_token: "c".into(),
            },
        }
    }

    fn cache() -> (CredentialCache, Arc<Inner>) {
        let cache = CredentialCache::new(Duration::from_secs(30));
        let inner = cache.0.clone().unwrap();
        // No task runs: the tests play Postgres.
        inner.started.set(()).unwrap();
        (cache, inner)
    }

    /// Fills memory with `actor` for `hash`, its credential valid for a minute.
    fn remember(cache: &CredentialCache, reading: Reading, kind: Kind, hash: &[u8], actor: &Actor) {
        let until = OffsetDateTime::now_utc() + time::Duration::minutes(1);
        cache.fill(reading, kind, hash, actor, until);
    }

    fn db() -> PgPool {
        sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://unused")
            .unwrap()
    }

    fn hear_beat(inner: &Inner) {
        inner.hear(&inner.beats, &inner.now_ms().to_string());
    }

    #[tokio::test]
    async fn memory_answers_only_after_a_beat_is_heard() {
        let (cache, inner) = cache();
        let user = Uuid::new_v4();
        remember(&cache, cache.reading(), Kind::Session, b"s", &actor(user));
        assert!(
            cache.get(&db(), Kind::Session, b"s").is_none(),
            "nothing kept before a beat"
        );
        hear_beat(&inner);
        remember(&cache, cache.reading(), Kind::Session, b"s", &actor(user));
        assert_eq!(cache.get(&db(), Kind::Session, b"s").unwrap().user_id, user);
        // A beat from another replica's channel or garbage proves nothing.
        inner.distrust();
        inner.hear(CHANNEL, "beat");
        inner.hear("berth_credentials_other", &inner.now_ms().to_string());
        assert!(cache.get(&db(), Kind::Session, b"s").is_none());
    }

    #[tokio::test]
    async fn a_notice_drops_that_users_sessions_and_all_drops_everyone() {
        let (cache, inner) = cache();
        hear_beat(&inner);
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        remember(&cache, cache.reading(), Kind::Session, b"a", &actor(a));
        remember(&cache, cache.reading(), Kind::Session, b"b", &actor(b));
        inner.hear(CHANNEL, &format!("user:{a}"));
        assert!(cache.get(&db(), Kind::Session, b"a").is_none());
        assert!(cache.get(&db(), Kind::Session, b"b").is_some());
        inner.hear(CHANNEL, "all");
        assert!(cache.get(&db(), Kind::Session, b"b").is_none());
        // Anything unknown is taken as `all`.
        remember(&cache, cache.reading(), Kind::Session, b"b", &actor(b));
        inner.hear(CHANNEL, "team:x");
        assert!(cache.get(&db(), Kind::Session, b"b").is_none());
    }

    #[tokio::test]
    async fn a_read_that_started_before_a_notice_does_not_fill() {
        let (cache, inner) = cache();
        hear_beat(&inner);
        let user = Uuid::new_v4();
        let reading = cache.reading();
        inner.hear(CHANNEL, &format!("user:{user}"));
        remember(&cache, reading, Kind::Session, b"s", &actor(user));
        assert!(cache.get(&db(), Kind::Session, b"s").is_none());
    }

    #[tokio::test]
    async fn after_a_gap_memory_starts_empty() {
        let (cache, inner) = cache();
        hear_beat(&inner);
        let user = Uuid::new_v4();
        remember(&cache, cache.reading(), Kind::Session, b"s", &actor(user));
        // The connection is lost: notices sent meanwhile are gone.
        inner.distrust();
        assert!(cache.get(&db(), Kind::Session, b"s").is_none());
        hear_beat(&inner);
        assert!(
            cache.get(&db(), Kind::Session, b"s").is_none(),
            "kept across the gap"
        );
        remember(&cache, cache.reading(), Kind::Session, b"s", &actor(user));
        assert!(cache.get(&db(), Kind::Session, b"s").is_some());
    }

    #[tokio::test]
    async fn an_entry_ends_at_its_credentials_expiry() {
        let (cache, inner) = cache();
        hear_beat(&inner);
        cache.fill(
            cache.reading(),
            Kind::Session,
            b"s",
            &actor(Uuid::new_v4()),
            OffsetDateTime::now_utc(),
        );
        assert!(cache.get(&db(), Kind::Session, b"s").is_none());
    }

    #[tokio::test]
    async fn a_session_and_a_token_never_share_an_entry() {
        let (cache, inner) = cache();
        hear_beat(&inner);
        remember(
            &cache,
            cache.reading(),
            Kind::Token,
            b"h",
            &actor(Uuid::new_v4()),
        );
        assert!(cache.get(&db(), Kind::Session, b"h").is_none());
        assert!(cache.get(&db(), Kind::Token, b"h").is_some());
    }

    #[test]
    fn zero_seconds_turns_it_off() {
        let cache = CredentialCache::new(Duration::ZERO);
        remember(
            &cache,
            cache.reading(),
            Kind::Session,
            b"s",
            &actor(Uuid::new_v4()),
        );
        assert!(cache.0.is_none());
    }
}
