//! OAuth sign-in (authorization code + PKCE + `state`) through the `oauth2` crate, with
//! providers from config: GitHub, Google, and any OpenID Connect issuer by its endpoints.
//!
//! A sign-in starts by storing what the callback needs (provider, PKCE verifier, the client's
//! redirect URL) under the hash of a random `state`, single-use and expiring, in the key-value
//! store, so any node of a cluster can finish it. The callback takes that entry (a replayed or
//! forged `state` finds nothing), exchanges the code with the verifier, reads the account's
//! identity, and the user is found or created by the provider account or by its *verified*
//! email. The client then gets a one-time code, not tokens in a URL.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::http::header;
use jiff::Timestamp;
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};

use super::tokens::{random_hex, secret_hash};
use crate::cache::kv::{KeyValue, KvError};
use crate::config::{OAuthSettings, ProviderEndpoints, ProviderKind};
use crate::storage::users::{OAuthIdentityRow, UserRow};
use crate::storage::{Storage, StorageError};

type ConfiguredClient =
    BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// One configured provider.
struct Provider {
    client: ConfiguredClient,
    endpoints: ProviderEndpoints,
}

/// The configured providers and the HTTP client that talks to them.
pub struct OAuthProviders {
    providers: BTreeMap<String, Provider>,
    http: reqwest::Client,
    state_ttl: Duration,
    code_ttl: Duration,
}

/// What the callback needs from the start of a sign-in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingSignIn {
    pub provider: String,
    /// Where the client wants the browser back (checked against the allowlist at the start).
    pub redirect_url: String,
    verifier: String,
}

/// The provider account behind a finished authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub subject: String,
    /// Lower case.
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
}

/// Why a sign-in could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("unknown OAuth provider {0:?}")]
    UnknownProvider(String),
    #[error("the sign-in state is unknown, expired or already used")]
    InvalidState,
    /// The provider refused the code (wrong, expired, or not issued for this verifier).
    #[error("the provider refused the authorization code: {0}")]
    Exchange(String),
    /// The provider's account endpoints could not be read.
    #[error("reading the account from the provider failed: {0}")]
    Identity(String),
    #[error("the provider account has no verified email address")]
    EmailNotVerified,
    #[error(transparent)]
    Store(#[from] KvError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl OAuthError {
    /// The short code sent back to the client's redirect URL as `error`.
    pub fn code(&self) -> &'static str {
        match self {
            OAuthError::UnknownProvider(_) => "unknown_provider",
            OAuthError::InvalidState => "invalid_state",
            OAuthError::Exchange(_) => "access_denied",
            OAuthError::Identity(_) => "provider_unavailable",
            OAuthError::EmailNotVerified => "email_not_verified",
            OAuthError::Store(_) | OAuthError::Storage(_) => "server_error",
        }
    }
}

fn state_key(state: &str) -> String {
    format!("oauth-state:{}", secret_hash(state))
}

fn code_key(code: &str) -> String {
    format!("oauth-code:{}", secret_hash(code))
}

impl OAuthProviders {
    /// The providers of `settings` (already validated when the settings were loaded).
    pub fn new(settings: &OAuthSettings) -> Result<Self, String> {
        crate::providers::http::install_crypto_provider();
        let http = reqwest::Client::builder()
            // The token endpoint must not redirect the code elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .user_agent(concat!("wattline/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        let callback = RedirectUrl::new(settings.callback_url.clone())
            .map_err(|e| format!("oauth.callback_url: {e}"))?;
        let mut providers = BTreeMap::new();
        for (name, config) in &settings.providers {
            let endpoints = config.endpoints(name)?;
            let mut client = BasicClient::new(ClientId::new(config.client_id.clone()))
                .set_auth_uri(
                    AuthUrl::new(endpoints.authorize_url.clone()).map_err(|e| e.to_string())?,
                )
                .set_token_uri(
                    TokenUrl::new(endpoints.token_url.clone()).map_err(|e| e.to_string())?,
                )
                .set_redirect_uri(callback.clone());
            if let Some(secret) = &config.client_secret {
                client = client.set_client_secret(ClientSecret::new(secret.expose().to_string()));
            }
            providers.insert(name.clone(), Provider { client, endpoints });
        }
        Ok(OAuthProviders {
            providers,
            http,
            state_ttl: settings.state_ttl,
            code_ttl: settings.code_ttl,
        })
    }

    /// The configured provider names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.providers.keys().map(String::as_str)
    }

    /// Starts a sign-in: the provider's authorize URL, with its `state` and PKCE challenge kept
    /// until the callback. `redirect_url` must have passed the allowlist.
    pub async fn begin(
        &self,
        kv: &dyn KeyValue,
        provider: &str,
        redirect_url: &str,
        extra_scopes: &[String],
    ) -> Result<String, OAuthError> {
        let found = self
            .providers
            .get(provider)
            .ok_or_else(|| OAuthError::UnknownProvider(provider.to_string()))?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let scopes = found
            .endpoints
            .scopes
            .iter()
            .chain(extra_scopes)
            .map(|s| Scope::new(s.clone()));
        let (url, state) = found
            .client
            .authorize_url(|| CsrfToken::new(random_hex()))
            .add_scopes(scopes)
            .set_pkce_challenge(challenge)
            .url();
        let pending = PendingSignIn {
            provider: provider.to_string(),
            redirect_url: redirect_url.to_string(),
            verifier: verifier.secret().clone(),
        };
        let value = serde_json::to_string(&pending).expect("a pending sign-in serialises");
        kv.put(&state_key(state.secret()), &value, self.state_ttl)
            .await?;
        Ok(url.to_string())
    }

    /// Takes the pending sign-in of `state`: it works once, and only until it expires.
    pub async fn take_state(
        &self,
        kv: &dyn KeyValue,
        state: &str,
    ) -> Result<PendingSignIn, OAuthError> {
        let value = kv
            .take(&state_key(state))
            .await?
            .ok_or(OAuthError::InvalidState)?;
        serde_json::from_str(&value).map_err(|_| OAuthError::InvalidState)
    }

    /// Exchanges `code` (with the sign-in's PKCE verifier) and reads the account behind it.
    pub async fn identify(
        &self,
        pending: &PendingSignIn,
        code: &str,
    ) -> Result<Identity, OAuthError> {
        let provider = self
            .providers
            .get(&pending.provider)
            .ok_or_else(|| OAuthError::UnknownProvider(pending.provider.clone()))?;
        // The futures own their client handle: borrowing `self` here would make the handler's
        // future not provably `Send` (a higher-ranked lifetime the compiler cannot see through).
        let http = self.http.clone();
        let send = move |request: oauth2::HttpRequest| send_through(http.clone(), request);
        let token = provider
            .client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()))
            .request_async(&send)
            .await
            .map_err(|e| OAuthError::Exchange(describe_token_error(&e)))?;
        let access = token.access_token().secret();
        match provider.endpoints.kind {
            ProviderKind::Github => self.github_identity(&provider.endpoints, access).await,
            ProviderKind::Google | ProviderKind::Oidc => {
                self.oidc_identity(&provider.endpoints, access).await
            }
        }
    }

    /// The user of a verified identity: the linked one, else the one with its email (now
    /// linked, and the email marked verified), else a new one.
    pub async fn user_for(
        &self,
        storage: &Storage,
        provider: &str,
        identity: Identity,
        now: Timestamp,
    ) -> Result<UserRow, OAuthError> {
        let Identity {
            subject,
            email,
            email_verified,
            name,
        } = identity;
        let email = match email {
            Some(email) if email_verified => email,
            _ => return Err(OAuthError::EmailNotVerified),
        };
        // The row to link, once the user's id is known.
        let template = OAuthIdentityRow {
            provider: provider.to_string(),
            subject: subject.clone(),
            user_id: String::new(),
            email: email.clone(),
            created_at: now,
        };
        let link = move |user_id: String| OAuthIdentityRow {
            user_id,
            ..template.clone()
        };
        // Twice at most: a concurrent first sign-in of the same person may win the insert.
        for _ in 0..2 {
            if let Some(user) = storage.user_by_identity(provider, &subject).await? {
                storage.record_login(&user.id, now).await?;
                return Ok(user);
            }
            if let Some(user) = storage.user_by_email(&email).await? {
                match storage.link_identity(&link(user.id.clone()), now).await {
                    Ok(()) => {
                        return Ok(UserRow {
                            email_verified: true,
                            ..user
                        });
                    }
                    Err(StorageError::Conflict(_)) => continue,
                    Err(other) => return Err(other.into()),
                }
            }
            let user = UserRow {
                id: uuid::Uuid::now_v7().to_string(),
                email: email.clone(),
                password_hash: None,
                name: name.clone(),
                email_verified: true,
                tier: "free".into(),
                created_at: now,
                last_login_at: Some(now),
            };
            match storage
                .create_user_with_identity(&user, &link(user.id.clone()))
                .await
            {
                Ok(()) => return Ok(user),
                Err(StorageError::Conflict(_)) => continue,
                Err(other) => return Err(other.into()),
            }
        }
        Err(OAuthError::Storage(StorageError::Conflict(
            "the provider account was linked concurrently".into(),
        )))
    }

    /// A one-time code for `user_id`, which the client exchanges for tokens.
    pub async fn issue_code(&self, kv: &dyn KeyValue, user_id: &str) -> Result<String, KvError> {
        let code = random_hex();
        kv.put(&code_key(&code), user_id, self.code_ttl).await?;
        Ok(code)
    }

    /// The user of a one-time code, once.
    pub async fn redeem_code(
        &self,
        kv: &dyn KeyValue,
        code: &str,
    ) -> Result<Option<String>, KvError> {
        kv.take(&code_key(code)).await
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        access_token: &str,
    ) -> Result<T, OAuthError> {
        let response = self
            .http
            .get(url)
            .bearer_auth(access_token)
            .header(header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| OAuthError::Identity(e.without_url().to_string()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(OAuthError::Identity(format!("{url} answered {status}")));
        }
        response
            .json()
            .await
            .map_err(|e| OAuthError::Identity(format!("{url}: {}", e.without_url())))
    }

    /// GitHub: `/user` for the id and name, `/user/emails` for the verified addresses (the
    /// profile's `email` is only the public one and carries no verified flag).
    async fn github_identity(
        &self,
        endpoints: &ProviderEndpoints,
        access_token: &str,
    ) -> Result<Identity, OAuthError> {
        #[derive(Deserialize)]
        struct User {
            id: u64,
            name: Option<String>,
        }
        #[derive(Deserialize)]
        struct Email {
            email: String,
            primary: bool,
            verified: bool,
        }
        let user: User = self.get_json(&endpoints.userinfo_url, access_token).await?;
        let emails: Vec<Email> = match &endpoints.emails_url {
            Some(url) => self.get_json(url, access_token).await?,
            None => Vec::new(),
        };
        let verified = emails
            .iter()
            .filter(|e| e.verified)
            .max_by_key(|e| e.primary);
        let chosen = verified.or_else(|| emails.iter().find(|e| e.primary));
        Ok(Identity {
            subject: user.id.to_string(),
            email: chosen.map(|e| e.email.trim().to_lowercase()),
            email_verified: verified.is_some(),
            name: user.name.filter(|n| !n.trim().is_empty()),
        })
    }

    /// OpenID Connect userinfo (Google and any issuer): `sub`, `email`, `email_verified`.
    async fn oidc_identity(
        &self,
        endpoints: &ProviderEndpoints,
        access_token: &str,
    ) -> Result<Identity, OAuthError> {
        #[derive(Deserialize)]
        struct UserInfo {
            sub: String,
            email: Option<String>,
            /// A boolean per the spec; some issuers send the string "true".
            #[serde(default)]
            email_verified: Option<serde_json::Value>,
            name: Option<String>,
        }
        let info: UserInfo = self.get_json(&endpoints.userinfo_url, access_token).await?;
        let verified = matches!(info.email_verified, Some(serde_json::Value::Bool(true)))
            || matches!(&info.email_verified, Some(serde_json::Value::String(s)) if s == "true");
        Ok(Identity {
            subject: info.sub,
            email: info.email.map(|e| e.trim().to_lowercase()),
            email_verified: verified,
            name: info.name.filter(|n| !n.trim().is_empty()),
        })
    }
}

/// `oauth2`'s HTTP requests through our client.
async fn send_through(
    http: reqwest::Client,
    request: oauth2::HttpRequest,
) -> Result<oauth2::HttpResponse, reqwest::Error> {
    let request = reqwest::Request::try_from(request)?;
    let response = http.execute(request).await?;
    let mut answer = axum::http::Response::builder().status(response.status());
    if let Some(headers) = answer.headers_mut() {
        *headers = response.headers().clone();
    }
    let body = response.bytes().await?.to_vec();
    Ok(answer
        .body(body)
        .expect("status and headers came from a response"))
}

/// The provider's error code and description, without echoing any token.
fn describe_token_error<E: std::error::Error>(
    error: &oauth2::RequestTokenError<E, oauth2::basic::BasicErrorResponse>,
) -> String {
    match error {
        oauth2::RequestTokenError::ServerResponse(response) => {
            format!(
                "{} {}",
                response.error(),
                response
                    .error_description()
                    .map(String::as_str)
                    .unwrap_or("")
            )
        }
        oauth2::RequestTokenError::Request(e) => format!("request failed: {e}"),
        oauth2::RequestTokenError::Parse(e, _) => format!("unreadable answer: {e}"),
        oauth2::RequestTokenError::Other(e) => e.clone(),
    }
}
