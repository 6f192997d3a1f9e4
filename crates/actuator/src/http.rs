//! [`HttpActuator`]: the production client of the fleet's HTTP sleep/wake contract.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use hivesched_policy::{ActionKind, AgentId};
use reqwest::{StatusCode, Url};
use tokio::time::Instant;

use crate::breaker::Breakers;
use crate::lock::lock;
use crate::wire::ErrorBody;
use crate::{
    ActuationRequest, Actuator, ActuatorError, AgentStatus, BreakerConfig, CircuitState, Outcome,
    Refusal, RetryPolicy,
};

/// Longest fleet error message kept in an [`ActuatorError`]; fleets may answer with whole pages.
const MAX_MESSAGE_CHARS: usize = 512;

/// Where the fleet is and how patiently to talk to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpActuatorConfig {
    /// Base URL of the fleet API; requests go to `{base_url}/agents/...`. May carry a path prefix.
    pub base_url: String,
    /// Deadline of one attempt, from connecting until the response body is read.
    pub request_timeout: Duration,
    /// Deadline for establishing a connection.
    pub connect_timeout: Duration,
    /// Retries of transient failures (same idempotency key every time).
    pub retry: RetryPolicy,
    /// Per-agent circuit breaker.
    pub breaker: BreakerConfig,
}

impl HttpActuatorConfig {
    /// Defaults suited to a fleet on the same network: 5 s per attempt, 3 attempts, breaker
    /// opening after 5 consecutive failures for 30 s.
    pub fn new(base_url: impl Into<String>) -> Self {
        HttpActuatorConfig {
            base_url: base_url.into(),
            request_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            retry: RetryPolicy::default(),
            breaker: BreakerConfig::default(),
        }
    }
}

/// Calls `POST {base}/agents/{id}/sleep|wake` and `GET {base}/agents` with per-attempt timeouts,
/// jittered exponential backoff on transient failures (never on 404/409), and a circuit breaker
/// per agent. Cheap to share: hold it in an `Arc`.
#[derive(Debug)]
pub struct HttpActuator {
    client: reqwest::Client,
    base: Url,
    request_timeout: Duration,
    retry: RetryPolicy,
    breakers: Mutex<Breakers>,
    rng: Mutex<fastrand::Rng>,
}

impl HttpActuator {
    /// Validates the configuration and builds the client.
    pub fn new(config: HttpActuatorConfig) -> Result<Self, ActuatorError> {
        let invalid = |key, reason: String| ActuatorError::InvalidConfig { key, reason };
        let mut base = Url::parse(&config.base_url)
            .map_err(|e| invalid("actuator.base_url", format!("{}: {e}", config.base_url)))?;
        if !matches!(base.scheme(), "http" | "https") || base.path_segments_mut().is_err() {
            return Err(invalid(
                "actuator.base_url",
                format!("{} is not an http(s) base URL", config.base_url),
            ));
        }
        if config.retry.max_attempts == 0 {
            return Err(invalid(
                "actuator.retry.max_attempts",
                "must be at least 1".into(),
            ));
        }
        if config.breaker.failure_threshold == 0 {
            return Err(invalid(
                "actuator.breaker.failure_threshold",
                "must be at least 1".into(),
            ));
        }
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .build()
            .map_err(ActuatorError::Transport)?;
        Ok(HttpActuator {
            client,
            base,
            request_timeout: config.request_timeout,
            retry: config.retry,
            breakers: Mutex::new(Breakers::new(config.breaker)),
            rng: Mutex::new(fastrand::Rng::new()),
        })
    }

    /// State of `agent`'s circuit breaker now, for metrics and the planner's fail-safe.
    pub fn circuit_state(&self, agent: &AgentId) -> CircuitState {
        lock(&self.breakers).state(agent, Instant::now())
    }

    /// `{base}/a/b/...`, each part percent-encoded as one path segment.
    fn endpoint(&self, parts: &[&str]) -> Url {
        let mut url = self.base.clone();
        // `new` checked that the base URL can take path segments.
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().extend(parts);
        }
        url
    }

    async fn act(
        &self,
        agent: &AgentId,
        kind: ActionKind,
        request: &ActuationRequest,
    ) -> Result<Outcome, ActuatorError> {
        let verb = match kind {
            ActionKind::Sleep => "sleep",
            ActionKind::Wake => "wake",
        };
        let url = self.endpoint(&["agents", &agent.0, verb]);
        lock(&self.breakers)
            .admit(agent, Instant::now())
            .map_err(|retry_in| ActuatorError::CircuitOpen {
                agent: agent.clone(),
                retry_in,
            })?;
        self.with_retries(Some(agent), || self.post_once(url.clone(), request))
            .await
    }

    /// Runs `attempt` until it gives an answer, a permanent error, the attempts run out, or
    /// (for an agent's call) its breaker opens. Every transient failure counts on the breaker.
    async fn with_retries<T, F, Fut>(
        &self,
        agent: Option<&AgentId>,
        mut attempt: F,
    ) -> Result<T, ActuatorError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ActuatorError>>,
    {
        let mut tried = 1;
        loop {
            let result = attempt().await;
            let transient = matches!(&result, Err(e) if e.is_transient());
            let breaker_open = match agent {
                None => false,
                Some(agent) => {
                    let mut breakers = lock(&self.breakers);
                    let now = Instant::now();
                    if transient {
                        breakers.record_failure(agent, now);
                    } else {
                        breakers.record_success(agent);
                    }
                    breakers.state(agent, now) == CircuitState::Open
                }
            };
            if !transient || tried >= self.retry.max_attempts || breaker_open {
                return result;
            }
            let wait = self.retry.backoff(tried, &mut lock(&self.rng));
            tokio::time::sleep(wait).await;
            tried += 1;
        }
    }

    async fn post_once(
        &self,
        url: Url,
        request: &ActuationRequest,
    ) -> Result<Outcome, ActuatorError> {
        let response = self
            .client
            .post(url)
            .timeout(self.request_timeout)
            .json(request)
            .send()
            .await
            .map_err(|e| self.transport_error(e))?;
        let status = response.status();
        match status {
            s if s.is_success() => Ok(Outcome::Accepted),
            StatusCode::NOT_FOUND => Ok(Outcome::NotFound),
            StatusCode::CONFLICT => {
                let body = response
                    .bytes()
                    .await
                    .map_err(|e| self.transport_error(e))?;
                let refusal = serde_json::from_slice::<ErrorBody>(&body)
                    .map(|b| Refusal::from_code(&b.code))
                    .unwrap_or(Refusal::Unspecified);
                Ok(Outcome::Busy(refusal))
            }
            _ => Err(self.status_error(response).await),
        }
    }

    async fn get_agents_once(&self, url: Url) -> Result<Vec<AgentStatus>, ActuatorError> {
        let response = self
            .client
            .get(url)
            .timeout(self.request_timeout)
            .send()
            .await
            .map_err(|e| self.transport_error(e))?;
        if !response.status().is_success() {
            return Err(self.status_error(response).await);
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(e))?;
        serde_json::from_slice(&body)
            .map_err(|e| ActuatorError::Decode(format!("GET /agents: {e}")))
    }

    fn transport_error(&self, error: reqwest::Error) -> ActuatorError {
        if error.is_timeout() {
            ActuatorError::Timeout(self.request_timeout)
        } else {
            ActuatorError::Transport(error)
        }
    }

    /// Turns an answer outside the contract's 2xx/404/409 into an error: 429 and 5xx are
    /// transient (retried), anything else is a rejection of our request (never retried).
    async fn status_error(&self, response: reqwest::Response) -> ActuatorError {
        let status = response.status();
        let message = match response.bytes().await {
            Ok(body) => match serde_json::from_slice::<ErrorBody>(&body) {
                Ok(error) => error.message,
                Err(_) => String::from_utf8_lossy(&body).into_owned(),
            },
            Err(e) => format!("unreadable body: {e}"),
        };
        let message: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
        let status_code = status.as_u16();
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            ActuatorError::Unavailable {
                status: status_code,
                message,
            }
        } else {
            ActuatorError::Rejected {
                status: status_code,
                message,
            }
        }
    }
}

impl Actuator for HttpActuator {
    fn sleep(
        &self,
        agent: &AgentId,
        request: &ActuationRequest,
    ) -> impl Future<Output = Result<Outcome, ActuatorError>> + Send {
        self.act(agent, ActionKind::Sleep, request)
    }

    fn wake(
        &self,
        agent: &AgentId,
        request: &ActuationRequest,
    ) -> impl Future<Output = Result<Outcome, ActuatorError>> + Send {
        self.act(agent, ActionKind::Wake, request)
    }

    fn list_agents(&self) -> impl Future<Output = Result<Vec<AgentStatus>, ActuatorError>> + Send {
        let url = self.endpoint(&["agents"]);
        async move {
            self.with_retries(None, || self.get_agents_once(url.clone()))
                .await
        }
    }
}
