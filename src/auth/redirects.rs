//! The one redirect allowlist: where OAuth sign-in, magic links and billing pages may send the
//! browser. An entry allows its host and every sub-domain of it (a port, when the entry names
//! one, must match); only https unless development allows http. Without this check any of those
//! flows would be an open redirect handing a one-time code to whoever names the address.

use url::Url;

/// One allowed host, with an optional port.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Allowed {
    host: String,
    port: Option<u16>,
}

/// Which redirect URLs are accepted.
#[derive(Debug, Clone, Default)]
pub struct RedirectPolicy {
    allowed: Vec<Allowed>,
    allow_http: bool,
}

/// Why a redirect URL was refused (the text is shown to the client).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectRefused {
    #[error("longer than {MAX_URL_LEN} bytes")]
    TooLong,
    #[error("not an absolute URL")]
    NotAUrl,
    #[error("only https redirects are allowed")]
    NotHttps,
    #[error("a redirect URL may not carry credentials")]
    Credentials,
    #[error("the host {0} is not on the redirect allowlist")]
    NotAllowed(String),
}

/// Longest redirect URL taken (it travels in a query or a `Location` header).
pub const MAX_URL_LEN: usize = 2048;

impl RedirectPolicy {
    /// The policy of `entries` (hosts such as `app.example.com`, `localhost:3000`, or origins
    /// such as `https://app.example.com`); an entry that is neither is refused with its text.
    pub fn new(entries: &[String], allow_http: bool) -> Result<Self, String> {
        let allowed = entries
            .iter()
            .map(|entry| {
                let as_url = if entry.contains("://") {
                    entry.clone()
                } else {
                    format!("https://{entry}")
                };
                let url = Url::parse(&as_url).map_err(|e| format!("entry {entry:?}: {e}"))?;
                let host = url
                    .host_str()
                    .filter(|h| !h.is_empty())
                    .ok_or_else(|| format!("entry {entry:?} names no host"))?;
                Ok(Allowed {
                    host: host.trim_start_matches('.').to_ascii_lowercase(),
                    port: url.port(),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(RedirectPolicy {
            allowed,
            allow_http,
        })
    }

    /// The parsed URL when `candidate` may be redirected to.
    pub fn check(&self, candidate: &str) -> Result<Url, RedirectRefused> {
        if candidate.len() > MAX_URL_LEN {
            return Err(RedirectRefused::TooLong);
        }
        let url = Url::parse(candidate).map_err(|_| RedirectRefused::NotAUrl)?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            _ => return Err(RedirectRefused::NotHttps),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(RedirectRefused::Credentials);
        }
        // `Url` has lower-cased the host and turned international names into punycode.
        let host = url.host_str().ok_or(RedirectRefused::NotAUrl)?;
        let allowed = self.allowed.iter().any(|entry| {
            let host_matches = host == entry.host
                || host
                    .strip_suffix(entry.host.as_str())
                    .is_some_and(|rest| rest.ends_with('.'));
            host_matches && entry.port.is_none_or(|port| url.port() == Some(port))
        });
        if allowed {
            Ok(url)
        } else {
            Err(RedirectRefused::NotAllowed(host.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(entries: &[&str], allow_http: bool) -> RedirectPolicy {
        let entries: Vec<String> = entries.iter().map(|e| e.to_string()).collect();
        RedirectPolicy::new(&entries, allow_http).unwrap()
    }

    #[test]
    fn hosts_and_their_sub_domains_are_allowed() {
        let p = policy(&["app.example.com", "https://wattline.eu"], false);
        assert!(p.check("https://app.example.com/done?x=1").is_ok());
        assert!(p.check("https://eu.app.example.com/done").is_ok());
        assert!(p.check("https://WATTLINE.eu/").is_ok());
        assert!(p.check("https://my.wattline.eu:8443/").is_ok());
    }

    #[test]
    fn look_alike_hosts_schemes_and_credentials_are_refused() {
        let p = policy(&["app.example.com"], false);
        for bad in [
            "https://evilapp.example.com/",
            "https://app.example.com.evil.net/",
            "https://example.com/",
            "http://app.example.com/",
            "javascript:alert(1)",
            "//app.example.com/",
            "https://app.example.com@evil.net/",
            "https://user:pw@app.example.com/",
        ] {
            assert!(p.check(bad).is_err(), "{bad} must be refused");
        }
        assert_eq!(
            p.check("http://app.example.com/"),
            Err(RedirectRefused::NotHttps)
        );
        let long = format!("https://app.example.com/{}", "x".repeat(MAX_URL_LEN));
        assert_eq!(p.check(&long), Err(RedirectRefused::TooLong));
    }

    #[test]
    fn development_allows_http_and_ports_must_match_when_named() {
        let p = policy(&["localhost:3000"], true);
        assert!(p.check("http://localhost:3000/callback").is_ok());
        assert!(p.check("http://localhost:4000/callback").is_err());
        assert!(policy(&[], true).check("http://localhost/").is_err());
    }

    #[test]
    fn entries_that_name_no_host_are_refused() {
        assert!(RedirectPolicy::new(&["https://".into()], false).is_err());
        assert!(RedirectPolicy::new(&["exa mple.com".into()], false).is_err());
    }
}
