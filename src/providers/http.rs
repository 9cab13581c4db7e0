//! The HTTP side every provider client shares: one reqwest client (rustls with ring), a request
//! timeout, and retries with jittered backoff for the failures that retrying can fix (transport
//! errors, timeouts, 5xx, and 429 within a bounded Retry-After). Errors never carry the URL,
//! which for some providers holds the API key.

use std::sync::Once;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use wattline_actors::ports::SourceError;
use wattline_actors::rng::SplitMix64;

/// Installs ring as rustls' crypto provider; reqwest is built without one.
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// How a provider call is retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Tries in all (1 = no retry).
    pub attempts: u32,
    /// First backoff; doubles per retry, with ±50 % jitter.
    pub backoff: Duration,
    /// A 429 asking to wait longer than this is not retried here.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            backoff: Duration::from_millis(500),
            max_retry_after: Duration::from_secs(10),
        }
    }
}

/// A response the caller interprets (success, or a client error with a documented body).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub body: String,
}

/// The shared HTTP client of the providers.
#[derive(Debug, Clone)]
pub struct ProviderHttp {
    client: reqwest::Client,
    retry: RetryPolicy,
    timeout: Duration,
}

impl ProviderHttp {
    /// A client whose requests time out after `timeout`.
    pub fn new(timeout: Duration, retry: RetryPolicy) -> Result<Self, SourceError> {
        install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("wattline/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SourceError::Transport(e.without_url().to_string()))?;
        Ok(ProviderHttp {
            client,
            retry,
            timeout,
        })
    }

    /// GETs `url` with `query` and `headers`, retrying what can be retried. Returns the final
    /// answer for 2xx and 4xx (callers parse documented error bodies); 401/403 and exhausted
    /// 429/5xx become errors.
    pub async fn get(
        &self,
        url: &str,
        query: &[(&str, String)],
        headers: &[(&str, String)],
    ) -> Result<Answer, SourceError> {
        let mut jitter = SplitMix64::new(u64::from(
            jiff::Timestamp::now().subsec_nanosecond().unsigned_abs(),
        ));
        let mut last_error = SourceError::Transport("no attempt made".into());
        for attempt in 0..self.retry.attempts.max(1) {
            if attempt > 0 {
                let factor = 2u32.saturating_pow(attempt - 1);
                let delay = self
                    .retry
                    .backoff
                    .saturating_mul(factor)
                    .mul_f64(0.5 + jitter.unit());
                tokio::time::sleep(delay).await;
            }
            let mut request = self.client.get(url).query(query);
            for (name, value) in headers {
                request = request.header(*name, value);
            }
            let response = match request.send().await {
                Ok(response) => response,
                Err(error) if error.is_timeout() => {
                    last_error = SourceError::Timeout(self.timeout);
                    continue;
                }
                Err(error) => {
                    last_error = SourceError::Transport(error.without_url().to_string());
                    continue;
                }
            };
            let status = response.status();
            let retry_after = retry_after(response.headers());
            match status.as_u16() {
                401 | 403 => {
                    return Err(SourceError::Unauthorized {
                        status: status.as_u16(),
                    });
                }
                429 => {
                    last_error = SourceError::RateLimited { retry_after };
                    if let Some(wait) = retry_after {
                        if wait > self.retry.max_retry_after {
                            return Err(last_error);
                        }
                        tokio::time::sleep(wait).await;
                    }
                    continue;
                }
                500..=599 => {
                    last_error = SourceError::Http {
                        status: status.as_u16(),
                    };
                    continue;
                }
                _ => {}
            }
            let body = match response.text().await {
                Ok(body) => body,
                Err(error) if error.is_timeout() => {
                    last_error = SourceError::Timeout(self.timeout);
                    continue;
                }
                Err(error) => {
                    last_error = SourceError::Transport(error.without_url().to_string());
                    continue;
                }
            };
            return Ok(Answer { status, body });
        }
        Err(last_error)
    }
}

/// `Retry-After` in seconds (the HTTP-date form is rare for APIs and ignored).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// The error for an unexpected non-success answer.
pub fn unexpected(answer: &Answer) -> SourceError {
    SourceError::Http {
        status: answer.status.as_u16(),
    }
}
