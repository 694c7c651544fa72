//! The webhook deliverer: a background task (started by `serve`, one per server replica) that
//! POSTs recorded events to their endpoints, signs them, retries failures and records every
//! attempt.
//!
//! **One attempt, one replica.** The deliverer reads due deliveries (`webhook_deliveries_due`,
//! oldest due first) and claims each attempt with a *conditional update* from the attempt count
//! it read (`sequence_store::webhooks::claim_delivery`; no `FOR UPDATE SKIP LOCKED`, so SQLite
//! and PostgreSQL behave the same). Under PostgreSQL's READ COMMITTED a second replica's update of
//! the same row waits for the first to commit, re-reads it, no longer matches, and claims
//! nothing: each attempt number is won by exactly one replica (and `UNIQUE (delivery_id,
//! attempt)` on the attempts table would refuse a second record). The claim moves the delivery's
//! next attempt time past a lease ([`Config::lease`], longer than the request timeout), so it is
//! not due while the attempt is under way, and is due again (as the next attempt) if the replica
//! died before recording the result. No database lock or transaction is held during the HTTP
//! request.
//!
//! **At least once.** A result is recorded only after the request; a replica that dies in
//! between leaves the delivery to be retried after the lease, so an endpoint may see an event
//! twice (the event id lets it deduplicate), but a recorded event is never dropped.
//!
//! **Isolation.** Attempts run concurrently: at most [`Config::concurrency`] in all and at most
//! [`Config::per_endpoint`] to one endpoint, each with its own timeout. Endpoints that already
//! have their share in flight are left out of the next look-up, so a slow or dead endpoint (of
//! any organization) holds at most its share of the slots and never delays another endpoint's
//! deliveries; a failing one's retries move into the future by exponential back-off.
//!
//! **Timing.** Retries follow `sequence_core::webhooks::after_failure` (about 30 s, doubling up to
//! an hour, jittered, for at least 24 hours after the first attempt; then `failed`), in real time
//! as the application's clock tells it (a test's manual clock, or the system clock): advancing a
//! sandbox clock never expires retries. The signature's `t` is that real time too; the attempts'
//! `created_at` and `next_attempt_at` are shown on the organization clock, like every timestamp
//! the API shows.
//!
//! **Order.** When a delivery finishes (delivered or failed for good), the next delivery waiting
//! behind it (a later event about the same subject to the same endpoint) is made due in the same
//! transaction.
//!
//! Secrets and bodies are never logged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use sequence_core::ids::{WebhookAttemptId, WebhookEndpointId};
use sequence_core::webhooks::{
    ATTEMPT_HEADER, AfterFailure, AttemptOutcome, DELIVERY_ID_HEADER, DeliveryStatus,
    EVENT_ID_HEADER, EVENT_TYPE_HEADER, SIGNATURE_HEADER, after_failure, signature_header,
};
use sequence_store::orgs;
use sequence_store::webhooks::{self, AttemptRecord, AttemptWork};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::events::organization_time;
use crate::{App, AppError, unit_of_work};

/// Metric: delivery attempts, by outcome (`delivered`, `retrying`, `failed`).
pub const ATTEMPTS_METRIC: &str = "sequence_webhook_attempts_total";
/// Metric: how long attempts took (seconds), by outcome.
pub const ATTEMPT_SECONDS_METRIC: &str = "sequence_webhook_attempt_seconds";
/// Metric: attempts under way in this replica.
pub const IN_FLIGHT_METRIC: &str = "sequence_webhook_attempts_in_flight";

/// How the deliverer behaves.
#[derive(Debug, Clone)]
pub struct Config {
    /// Attempts under way at once, in all.
    pub concurrency: usize,
    /// Attempts under way at once to one endpoint.
    pub per_endpoint: usize,
    /// How long an endpoint has to answer (connecting included).
    pub timeout: Duration,
    /// How long a claimed attempt is not due again: longer than `timeout` plus the time to
    /// record the result, so only a replica that died lets it expire.
    pub lease: Duration,
    /// How often [`Deliverer::run`] looks for due work when nothing finished meanwhile.
    pub poll_interval: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            concurrency: 32,
            per_endpoint: 4,
            timeout: Duration::from_secs(10),
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// What a [`Deliverer::run_once`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pass {
    /// Attempts made.
    pub attempts: u32,
    /// Of which delivered.
    pub delivered: u32,
    /// Of which failed and will be retried.
    pub retrying: u32,
    /// Of which failed for good (or whose endpoint was deleted meanwhile).
    pub failed: u32,
}

/// The deliverer (see the module docs). Cheap to clone.
#[derive(Clone)]
pub struct Deliverer {
    inner: Arc<Inner>,
}

struct Inner {
    app: App,
    config: Config,
    http: reqwest::Client,
    /// Attempts under way in this replica, by endpoint.
    in_flight: Mutex<HashMap<WebhookEndpointId, usize>>,
    slots: Arc<Semaphore>,
    finished: Notify,
}

/// Marks an attempt done when dropped (even if its task panicked): frees its endpoint's share and
/// wakes the dispatcher.
struct InFlight {
    inner: Arc<Inner>,
    endpoint: WebhookEndpointId,
    _slot: Option<OwnedSemaphorePermit>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut in_flight = self.inner.in_flight.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = in_flight.get_mut(&self.endpoint) {
            *count -= 1;
            if *count == 0 {
                in_flight.remove(&self.endpoint);
            }
        }
        let total: usize = in_flight.values().sum();
        metrics::gauge!(IN_FLIGHT_METRIC).set(total as f64);
        drop(in_flight);
        self.inner.finished.notify_one();
    }
}

/// How an attempt's request ended.
struct Response {
    status: Option<u16>,
    error: Option<String>,
    duration: Duration,
}

impl Deliverer {
    /// A deliverer for `app`'s store and clock.
    pub fn new(app: App, config: Config) -> Result<Deliverer, AppError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            // A redirect is a failed attempt: the registered URL is where events go.
            .redirect(reqwest::redirect::Policy::none())
            // Endpoints are reached directly (a sandbox endpoint is usually on localhost).
            .no_proxy()
            .user_agent(concat!("sequence-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| AppError::internal(format!("building the webhook HTTP client: {e}")))?;
        let slots = Arc::new(Semaphore::new(config.concurrency.max(1)));
        Ok(Deliverer {
            inner: Arc::new(Inner {
                app,
                config,
                http,
                in_flight: Mutex::new(HashMap::new()),
                slots,
                finished: Notify::new(),
            }),
        })
    }

    /// Sends due deliveries forever: starts what is due whenever a slot frees up or every
    /// [`Config::poll_interval`]. Errors (the database unreachable) are logged and retried.
    pub async fn run(self) {
        loop {
            let mut tasks = JoinSet::new();
            if let Err(error) = self.start_due(&mut tasks).await {
                tracing::warn!(%error, "the webhook deliverer could not look for due deliveries; retrying");
            }
            // Attempts run on their own; the set only owns them.
            tasks.detach_all();
            tokio::select! {
                () = tokio::time::sleep(self.inner.config.poll_interval) => {}
                () = self.inner.finished.notified() => {}
            }
        }
    }

    /// Sends everything due now and waits for those attempts, then for the deliveries they made
    /// due (the next event about the same subject), until nothing is due: for tests and tools
    /// that drive the deliverer step by step (with a manual clock, failed attempts are due again
    /// only after the clock moves).
    pub async fn run_once(&self) -> Result<Pass, AppError> {
        let mut pass = Pass::default();
        loop {
            let mut tasks = JoinSet::new();
            self.start_due(&mut tasks).await?;
            if tasks.is_empty() {
                return Ok(pass);
            }
            while let Some(done) = tasks.join_next().await {
                let outcome =
                    done.map_err(|e| AppError::internal(format!("an attempt panicked: {e}")))?;
                pass.attempts += 1;
                match outcome {
                    Some(AttemptOutcome::Delivered) => pass.delivered += 1,
                    Some(AttemptOutcome::Retrying) => pass.retrying += 1,
                    Some(AttemptOutcome::Failed) | None => pass.failed += 1,
                }
            }
        }
    }

    /// Claims due attempts while there are free slots and endpoints with room, and starts each in
    /// `tasks`. Returns how many started.
    async fn start_due(
        &self,
        tasks: &mut JoinSet<Option<AttemptOutcome>>,
    ) -> Result<usize, AppError> {
        let mut started = 0;
        loop {
            let room = self.inner.slots.available_permits();
            if room == 0 {
                return Ok(started);
            }
            let claimed = self.claim(room).await?;
            if claimed.is_empty() {
                return Ok(started);
            }
            for work in claimed {
                let slot = self.inner.slots.clone().try_acquire_owned().ok();
                let guard = InFlight {
                    inner: self.inner.clone(),
                    endpoint: work.endpoint_id.clone(),
                    _slot: slot,
                };
                if guard._slot.is_none() {
                    // Cannot happen (one dispatcher, `room` checked); the lease lets it retry.
                    tracing::error!(delivery = %work.delivery_id, "no free slot for a claimed attempt");
                    continue;
                }
                let this = self.clone();
                tasks.spawn(async move {
                    let outcome = this.attempt(work).await;
                    drop(guard);
                    outcome
                });
                started += 1;
            }
        }
    }

    /// Claims up to `room` due attempts, at most [`Config::per_endpoint`] in flight per endpoint,
    /// in one transaction; returns what each needs to be sent.
    async fn claim(&self, room: usize) -> Result<Vec<AttemptWork>, AppError> {
        let inner = &self.inner;
        let now = inner.app.now();
        let per_endpoint = inner.config.per_endpoint.max(1);
        let counts = inner.in_flight.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let busy: Vec<WebhookEndpointId> =
            counts.iter().filter(|(_, n)| **n >= per_endpoint).map(|(id, _)| id.clone()).collect();
        let limit = u32::try_from(room.saturating_mul(2)).unwrap_or(u32::MAX);
        let candidates = {
            let mut conn = inner.app.store.read().await?;
            webhooks::due(&mut conn, now, &busy, limit).await?
        };
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let lease = TimeDelta::from_std(inner.config.lease).unwrap_or(TimeDelta::minutes(1));
        let (candidates, counts) = (&candidates, &counts);
        let won = unit_of_work::run(&inner.app.store, |mut tx| async move {
            let result = async {
                let mut counts = counts.clone();
                let mut won = Vec::new();
                for due in candidates {
                    if won.len() >= room {
                        break;
                    }
                    let count = counts.entry(due.endpoint_id.clone()).or_insert(0);
                    if *count >= per_endpoint {
                        continue;
                    }
                    if webhooks::claim_delivery(&mut tx, &due.id, due.attempts, now, now + lease)
                        .await?
                    {
                        *count += 1;
                        won.push(due.id.clone());
                    }
                }
                Ok::<_, AppError>(won)
            }
            .await;
            (tx, result)
        })
        .await?;
        let mut work = Vec::with_capacity(won.len());
        let mut conn = inner.app.store.read().await?;
        for id in won {
            match webhooks::attempt_work(&mut conn, &id).await? {
                Some(item) => work.push(item),
                None => tracing::error!(delivery = %id, "a claimed delivery vanished"),
            }
        }
        let mut in_flight = inner.in_flight.lock().unwrap_or_else(PoisonError::into_inner);
        for item in &work {
            *in_flight.entry(item.endpoint_id.clone()).or_insert(0) += 1;
        }
        let total: usize = in_flight.values().sum();
        metrics::gauge!(IN_FLIGHT_METRIC).set(total as f64);
        Ok(work)
    }

    /// Makes one attempt and records it. Returns its outcome (`None`: it could not be recorded,
    /// and is retried after the lease).
    async fn attempt(&self, work: AttemptWork) -> Option<AttemptOutcome> {
        if work.endpoint_deleted {
            return self.cancel(&work).await;
        }
        let started_at = self.inner.app.now();
        let response = self.send(&work, started_at).await;
        match self.record(&work, started_at, &response).await {
            Ok(outcome) => {
                metrics::counter!(ATTEMPTS_METRIC, "outcome" => outcome.as_str()).increment(1);
                metrics::histogram!(ATTEMPT_SECONDS_METRIC, "outcome" => outcome.as_str())
                    .record(response.duration);
                match outcome {
                    AttemptOutcome::Delivered => {
                        tracing::debug!(delivery = %work.delivery_id, event = %work.event_id, attempt = work.attempt, "webhook delivered")
                    }
                    _ => {
                        tracing::info!(delivery = %work.delivery_id, endpoint = %work.endpoint_id, event = %work.event_id, attempt = work.attempt, error = response.error.as_deref().unwrap_or(""), outcome = outcome.as_str(), "webhook attempt failed")
                    }
                }
                Some(outcome)
            }
            Err(error) => {
                tracing::error!(delivery = %work.delivery_id, attempt = work.attempt, %error, "could not record a webhook attempt; it is retried after its lease");
                None
            }
        }
    }

    /// Cancels, without sending it, a delivery whose endpoint was deleted after the delivery was
    /// made (its fan-out read the endpoint just before the deletion committed, so the deletion's
    /// cancellation did not see it).
    async fn cancel(&self, work: &AttemptWork) -> Option<AttemptOutcome> {
        let app = &self.inner.app;
        let cancelled = unit_of_work::run(&app.store, |mut tx| async move {
            let result = webhooks::finish_attempt(
                &mut tx,
                &work.delivery_id,
                work.attempt,
                DeliveryStatus::Cancelled,
                None,
                app.now(),
            )
            .await
            .map_err(AppError::from);
            (tx, result)
        })
        .await;
        if let Err(error) = cancelled {
            tracing::error!(delivery = %work.delivery_id, %error, "could not cancel a delivery to a deleted endpoint; retried after its lease");
        }
        None
    }

    /// POSTs the event, signed at `at`.
    async fn send(&self, work: &AttemptWork, at: DateTime<Utc>) -> Response {
        let signature = signature_header(&work.secret, at.timestamp(), work.payload.as_bytes());
        let started = Instant::now();
        let result = self
            .inner
            .http
            .post(&work.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .header(EVENT_ID_HEADER, work.event_id.as_str())
            .header(EVENT_TYPE_HEADER, work.event_type.as_str())
            .header(DELIVERY_ID_HEADER, work.delivery_id.as_str())
            .header(ATTEMPT_HEADER, work.attempt.to_string())
            .body(work.payload.clone())
            .send()
            .await;
        let (status, error) = match result {
            Ok(response) => {
                let status = response.status();
                let error = (!status.is_success()).then(|| format!("HTTP {}", status.as_u16()));
                (Some(status.as_u16()), error)
            }
            Err(error) => (None, Some(describe(&error, self.inner.config.timeout))),
        };
        Response { status, error, duration: started.elapsed() }
    }

    /// Records an attempt and moves its delivery on, in one transaction.
    async fn record(
        &self,
        work: &AttemptWork,
        started_at: DateTime<Utc>,
        response: &Response,
    ) -> Result<AttemptOutcome, AppError> {
        let app = &self.inner.app;
        let delivered = response.error.is_none();
        unit_of_work::run(&app.store, |mut tx| async move {
            let result = async {
                let now = app.now();
                let org = orgs::get(&mut tx, &work.org_id).await?;
                let (status, next) = if delivered {
                    (DeliveryStatus::Delivered, None)
                } else {
                    let jitter: f64 = rand::random();
                    match after_failure(work.first_attempt_at, now, work.attempt, jitter) {
                        AfterFailure::RetryAt(next) => (DeliveryStatus::Pending, Some(next)),
                        AfterFailure::GiveUp => (DeliveryStatus::Failed, None),
                    }
                };
                let won = webhooks::finish_attempt(
                    &mut tx,
                    &work.delivery_id,
                    work.attempt,
                    status,
                    next,
                    now,
                )
                .await?;
                let (outcome, next) = if won {
                    if status.is_final() {
                        // The next event about the same subject may go now.
                        webhooks::promote_next(&mut tx, &work.endpoint_id, &work.subject_id, now)
                            .await?;
                    }
                    let outcome = match status {
                        DeliveryStatus::Delivered => AttemptOutcome::Delivered,
                        DeliveryStatus::Pending => AttemptOutcome::Retrying,
                        _ => AttemptOutcome::Failed,
                    };
                    (outcome, next)
                } else {
                    // The endpoint was deleted meanwhile (the delivery is cancelled), or the
                    // lease ran out and a later attempt was claimed.
                    let current = webhooks::delivery_status(&mut tx, &work.delivery_id).await?;
                    let outcome = match current {
                        _ if delivered => AttemptOutcome::Delivered,
                        Some((DeliveryStatus::Pending, attempts)) if attempts > work.attempt => {
                            AttemptOutcome::Retrying
                        }
                        _ => AttemptOutcome::Failed,
                    };
                    (outcome, None)
                };
                let record = AttemptRecord {
                    id: WebhookAttemptId::generate(),
                    org_id: work.org_id.clone(),
                    endpoint_id: work.endpoint_id.clone(),
                    delivery_id: work.delivery_id.clone(),
                    event_id: work.event_id.clone(),
                    event_type: work.event_type,
                    attempt: work.attempt,
                    response_status: response.status,
                    error: response.error.clone(),
                    duration_ms: u64::try_from(response.duration.as_millis()).unwrap_or(u64::MAX),
                    outcome,
                    next_attempt_at: next.map(|at| organization_time(&org, at)),
                    created_at: organization_time(&org, started_at),
                };
                webhooks::insert_attempt(&mut tx, &record).await?;
                Ok::<_, AppError>(outcome)
            }
            .await;
            (tx, result)
        })
        .await
    }
}

/// Why a request got no answer, for the attempt's `error`: the kind of failure and its causes,
/// never the URL (reqwest's own message quotes it, and it may carry a token).
fn describe(error: &reqwest::Error, timeout: Duration) -> String {
    if error.is_timeout() {
        return format!("timed out after {} s", timeout.as_secs_f64());
    }
    let kind = if error.is_connect() {
        "could not connect"
    } else if error.is_redirect() {
        "redirected (redirects are not followed)"
    } else {
        "the request failed"
    };
    let mut text = kind.to_owned();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.chars().take(500).collect()
}
