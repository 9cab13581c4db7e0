//! The [`WebhookSender`] port over reqwest: each delivery is POSTed with
//! `X-Wattline-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` (the receiver
//! recomputes it with the rule's secret and refuses stale timestamps) and
//! `X-Wattline-Delivery: <id>` (the same on every retry, so receivers can drop repeats).
//! Redirects are not followed; errors never carry the URL.

use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use wattline_actors::ports::{SharedClock, WebhookDelivery, WebhookError, WebhookSender};

/// Header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-wattline-signature";
/// Header carrying the delivery id.
pub const DELIVERY_HEADER: &str = "x-wattline-delivery";

/// Sends webhook deliveries over HTTP(S).
pub struct HttpWebhookSender {
    client: reqwest::Client,
    clock: SharedClock,
    allow_http: bool,
}

impl HttpWebhookSender {
    pub fn new(timeout: Duration, allow_http: bool, clock: SharedClock) -> reqwest::Result<Self> {
        crate::providers::http::install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("wattline-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(HttpWebhookSender {
            client,
            clock,
            allow_http,
        })
    }
}

/// The signature header value of `body` sent at unix second `t`.
pub fn signature(secret: &str, t: i64, body: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={t},v1={hex}")
}

/// Whether `url` is one a rule may name: http(s) with a host, https unless `allow_http`.
pub fn check_url(url: &str, allow_http: bool) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    match parsed.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => return Err("webhook URLs must use https".into()),
        other => return Err(format!("unsupported scheme {other}")),
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("the URL has no host".into());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("credentials in the URL are not allowed".into());
    }
    Ok(())
}

#[async_trait]
impl WebhookSender for HttpWebhookSender {
    async fn deliver(&self, delivery: &WebhookDelivery) -> Result<(), WebhookError> {
        check_url(&delivery.url, self.allow_http).map_err(WebhookError::Refused)?;
        let t = self.clock.now().as_second();
        let answer = self
            .client
            .post(&delivery.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(
                SIGNATURE_HEADER,
                signature(&delivery.secret, t, &delivery.body),
            )
            .header(DELIVERY_HEADER, &delivery.delivery_id)
            .body(delivery.body.clone())
            .send()
            .await
            .map_err(|e| WebhookError::Unavailable(e.without_url().to_string()))?;
        let status = answer.status();
        if status.is_success() {
            Ok(())
        } else if status.is_server_error()
            || status == reqwest::StatusCode::REQUEST_TIMEOUT
            || status == reqwest::StatusCode::TOO_MANY_REQUESTS
        {
            Err(WebhookError::Unavailable(format!("answered {status}")))
        } else {
            Err(WebhookError::Refused(format!("answered {status}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently: printf '1700000000.{}' | openssl dgst -sha256 -hmac secret
        assert_eq!(
            signature("secret", 1_700_000_000, "{}"),
            "t=1700000000,v1=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
        );
        assert_ne!(
            signature("secret", 1, "{}"),
            signature("secret", 2, "{}"),
            "the timestamp is signed"
        );
        assert_ne!(signature("a", 1, "{}"), signature("b", 1, "{}"));
    }

    #[test]
    fn urls_must_be_https_with_a_host_and_no_credentials() {
        assert!(check_url("https://hooks.example.com/x", false).is_ok());
        assert!(check_url("http://127.0.0.1:9/x", false).is_err());
        assert!(check_url("http://127.0.0.1:9/x", true).is_ok());
        assert!(check_url("https://user:pw@example.com/", false).is_err());
        assert!(check_url("ftp://example.com/", true).is_err());
        assert!(check_url("not a url", true).is_err());
    }
}
