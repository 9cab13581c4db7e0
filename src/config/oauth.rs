//! OAuth sign-in: this engine's callback address, how long a sign-in may take, and the providers
//! (GitHub and Google by name, any OpenID Connect issuer by its endpoints). Client secrets are
//! secrets: `WATTLINE_OAUTH__PROVIDERS__<NAME>__CLIENT_SECRET`, environment only.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::Secret;
use super::human;

/// `[oauth]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthSettings {
    /// Where providers send the browser back: this engine's `/api/v1/auth/oauth/callback` as the
    /// outside world reaches it, registered with every provider.
    pub callback_url: String,
    /// How long a started sign-in (its `state`) stays valid (default 10m).
    #[serde(deserialize_with = "human::positive_duration")]
    pub state_ttl: Duration,
    /// How long the one-time code handed to the client after the callback stays valid (1m).
    #[serde(deserialize_with = "human::positive_duration")]
    pub code_ttl: Duration,
    /// Providers by the name clients use (`provider` of `POST /auth/signin/oauth`).
    #[serde(default)]
    pub providers: BTreeMap<String, OAuthProviderSettings>,
}

/// Which protocol a provider speaks for the user's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// GitHub's OAuth apps: `/user` and `/user/emails` (verified flag per address).
    Github,
    /// Google's OpenID Connect endpoints.
    Google,
    /// Any OpenID Connect issuer, by its endpoints (userinfo with `email_verified`).
    Oidc,
}

/// `[oauth.providers.<name>]`. Endpoints default to the provider's published ones for `github`
/// and `google`; an `oidc` provider names all three.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthProviderSettings {
    /// Defaults to the provider's name when that is `github` or `google`.
    #[serde(default)]
    pub kind: Option<ProviderKind>,
    pub client_id: String,
    /// Environment only.
    #[serde(default)]
    pub client_secret: Option<Secret>,
    #[serde(default)]
    pub authorize_url: Option<String>,
    #[serde(default)]
    pub token_url: Option<String>,
    #[serde(default)]
    pub userinfo_url: Option<String>,
    /// GitHub only: the addresses endpoint (default `https://api.github.com/user/emails`).
    #[serde(default)]
    pub emails_url: Option<String>,
    /// Scopes always asked for (default: what the kind needs to read a verified email).
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
}

/// A provider's endpoints and scopes, defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderEndpoints {
    pub kind: ProviderKind,
    pub authorize_url: String,
    pub token_url: String,
    pub userinfo_url: String,
    pub emails_url: Option<String>,
    pub scopes: Vec<String>,
}

impl OAuthProviderSettings {
    /// The endpoints of provider `name`, or which key is missing.
    pub fn endpoints(&self, name: &str) -> Result<ProviderEndpoints, String> {
        let kind = match (self.kind, name) {
            (Some(kind), _) => kind,
            (None, "github") => ProviderKind::Github,
            (None, "google") => ProviderKind::Google,
            (None, _) => return Err("kind (github, google or oidc) is required".into()),
        };
        let known = |github: &str, google: &str| match kind {
            ProviderKind::Github => Some(github.to_string()),
            ProviderKind::Google => Some(google.to_string()),
            ProviderKind::Oidc => None,
        };
        let pick = |given: &Option<String>, default: Option<String>, key: &str| {
            given
                .clone()
                .or(default)
                .ok_or_else(|| format!("{key} is required for an oidc provider"))
        };
        let authorize_url = pick(
            &self.authorize_url,
            known(
                "https://github.com/login/oauth/authorize",
                "https://accounts.google.com/o/oauth2/v2/auth",
            ),
            "authorize_url",
        )?;
        let token_url = pick(
            &self.token_url,
            known(
                "https://github.com/login/oauth/access_token",
                "https://oauth2.googleapis.com/token",
            ),
            "token_url",
        )?;
        let userinfo_url = pick(
            &self.userinfo_url,
            known(
                "https://api.github.com/user",
                "https://openidconnect.googleapis.com/v1/userinfo",
            ),
            "userinfo_url",
        )?;
        let emails_url = (kind == ProviderKind::Github).then(|| {
            self.emails_url
                .clone()
                .unwrap_or_else(|| "https://api.github.com/user/emails".into())
        });
        let scopes = self.scopes.clone().unwrap_or_else(|| match kind {
            ProviderKind::Github => vec!["read:user".into(), "user:email".into()],
            _ => vec!["openid".into(), "email".into(), "profile".into()],
        });
        for url in [&authorize_url, &token_url, &userinfo_url]
            .into_iter()
            .chain(emails_url.as_ref())
        {
            url::Url::parse(url).map_err(|e| format!("{url} is not a URL: {e}"))?;
        }
        Ok(ProviderEndpoints {
            kind,
            authorize_url,
            token_url,
            userinfo_url,
            emails_url,
            scopes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(kind: Option<ProviderKind>) -> OAuthProviderSettings {
        OAuthProviderSettings {
            kind,
            client_id: "id".into(),
            client_secret: None,
            authorize_url: None,
            token_url: None,
            userinfo_url: None,
            emails_url: None,
            scopes: None,
        }
    }

    #[test]
    fn known_providers_get_their_published_endpoints() {
        let github = provider(None).endpoints("github").unwrap();
        assert_eq!(github.kind, ProviderKind::Github);
        assert_eq!(
            github.token_url,
            "https://github.com/login/oauth/access_token"
        );
        assert_eq!(
            github.emails_url.as_deref(),
            Some("https://api.github.com/user/emails")
        );
        let google = provider(None).endpoints("google").unwrap();
        assert_eq!(google.scopes, ["openid", "email", "profile"]);
        assert_eq!(google.emails_url, None);
    }

    #[test]
    fn an_oidc_provider_must_name_its_endpoints() {
        let error = provider(Some(ProviderKind::Oidc))
            .endpoints("acme")
            .unwrap_err();
        assert!(error.contains("authorize_url"), "{error}");
        assert!(
            provider(None)
                .endpoints("acme")
                .unwrap_err()
                .contains("kind")
        );
        let mut full = provider(Some(ProviderKind::Oidc));
        full.authorize_url = Some("https://id.acme.test/authorize".into());
        full.token_url = Some("https://id.acme.test/token".into());
        full.userinfo_url = Some("not a url".into());
        assert!(full.endpoints("acme").unwrap_err().contains("not a URL"));
    }
}
