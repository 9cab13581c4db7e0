//! Access tokens (JWT, HS256 only) and refresh tokens (opaque, random, stored hashed).
//!
//! An access token carries `sub, email, scopes, typ:"access", iat, exp, jti, iss` (and `aud`
//! when configured). Verification accepts only HS256 with our key, our issuer (and audience),
//! `typ` access and a `sub`; expiry is checked against the engine clock, not the wall clock, so
//! tests and replays with a moved clock see the same rules.

use std::time::Duration;

use jiff::Timestamp;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What an access token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub email: String,
    pub scopes: Vec<String>,
    pub typ: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub iss: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// The refresh session (family) the token was issued in: sign-out revokes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// Why a token was refused. Every case answers 401 alike; the variant is for logs and tests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed or wrongly signed token: {0}")]
    Invalid(String),
    #[error("token expired")]
    Expired,
    #[error("not an access token")]
    WrongType,
}

/// Issues and verifies access tokens with one key.
pub struct TokenIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// Built once: the rules every token is checked against.
    validation: Validation,
    issuer: String,
    audience: Option<String>,
    access_ttl: Duration,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl TokenIssuer {
    /// An issuer signing with `key` (HS256).
    pub fn new(key: &[u8], issuer: &str, audience: Option<&str>, access_ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry against the engine clock, in `verify`.
        validation.validate_exp = false;
        validation.required_spec_claims = ["exp", "sub", "iss"]
            .into_iter()
            .map(String::from)
            .collect();
        validation.set_issuer(&[issuer]);
        match audience {
            Some(audience) => validation.set_audience(&[audience]),
            None => validation.validate_aud = false,
        }
        TokenIssuer {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            validation,
            issuer: issuer.to_string(),
            audience: audience.map(str::to_string),
            access_ttl,
        }
    }

    /// How long an access token lives.
    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }

    /// A signed access token for the user in session `sid`, issued at `now`.
    pub fn issue(
        &self,
        sub: &str,
        email: &str,
        scopes: &[&str],
        sid: Option<&str>,
        now: Timestamp,
    ) -> String {
        let iat = now.as_second();
        let claims = Claims {
            sub: sub.to_string(),
            email: email.to_string(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            typ: "access".into(),
            iat,
            exp: iat + self.access_ttl.as_secs() as i64,
            jti: uuid::Uuid::new_v4().simple().to_string(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sid: sid.map(str::to_string),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing of plain claims cannot fail")
    }

    /// The claims of a valid access token at `now`.
    pub fn verify(&self, token: &str, now: Timestamp) -> Result<Claims, TokenError> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| TokenError::Invalid(e.to_string()))?
            .claims;
        if claims.typ != "access" {
            return Err(TokenError::WrongType);
        }
        if claims.sub.is_empty() {
            return Err(TokenError::Invalid("no subject".into()));
        }
        if claims.exp <= now.as_second() {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

/// 256 random bits from the operating system, hex.
pub fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new refresh token (256 random bits, hex) and the hash it is stored under.
pub fn new_refresh_token() -> (String, String) {
    let token = random_hex();
    let hash = secret_hash(&token);
    (token, hash)
}

/// The stored form of a high-entropy secret (a refresh token, an API key): SHA-256, hex. These
/// secrets are random, so a fast hash is enough; passwords use argon2id.
pub fn secret_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn issuer() -> TokenIssuer {
        TokenIssuer::new(
            b"k1-k1-k1-k1-k1-k1-k1-k1-k1-k1-k1",
            "wattline",
            None,
            Duration::from_secs(900),
        )
    }

    fn now() -> Timestamp {
        "2026-01-15T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn an_issued_token_verifies_until_it_expires() {
        let issuer = issuer();
        let token = issuer.issue("u1", "ada@example.com", &["read"], None, now());
        let claims = issuer.verify(&token, now()).unwrap();
        assert_eq!((claims.sub.as_str(), claims.typ.as_str()), ("u1", "access"));
        let later = now() + jiff::SignedDuration::from_secs(900);
        assert_eq!(issuer.verify(&token, later), Err(TokenError::Expired));
    }

    #[test]
    fn tampered_foreign_and_unsigned_tokens_are_refused() {
        let issuer = issuer();
        let token = issuer.issue("u1", "ada@example.com", &[], None, now());
        // Another key.
        let other = TokenIssuer::new(
            b"k2-k2-k2-k2-k2-k2-k2-k2-k2-k2-k2",
            "wattline",
            None,
            Duration::from_secs(900),
        );
        assert!(matches!(
            issuer.verify(&other.issue("u1", "a@b.c", &[], None, now()), now()),
            Err(TokenError::Invalid(_))
        ));
        // An edited payload with the old signature.
        let parts: Vec<&str> = token.split('.').collect();
        let mut claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        claims["sub"] = "u2".into();
        let edited = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            parts[2]
        );
        assert!(matches!(
            issuer.verify(&edited, now()),
            Err(TokenError::Invalid(_))
        ));
        // alg:none.
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
            parts[1]
        );
        assert!(matches!(
            issuer.verify(&none, now()),
            Err(TokenError::Invalid(_))
        ));
        for junk in ["", "Bearer", "a.b.c", "....", "x"] {
            assert!(issuer.verify(junk, now()).is_err(), "{junk}");
        }
    }

    proptest::proptest! {
        /// Whatever a client sends as a token, the parser answers (never panics) and accepts
        /// nothing it did not sign.
        #[test]
        fn arbitrary_tokens_are_refused(token in "\\PC{0,300}") {
            proptest::prop_assert!(issuer().verify(&token, now()).is_err());
        }

        /// A signed token with any byte changed is refused.
        #[test]
        fn a_changed_byte_breaks_the_signature(position in 0usize..400, byte in 33u8..127) {
            let issuer = issuer();
            let token = issuer.issue("u1", "ada@example.com", &["read"], Some("f"), now());
            let mut bytes = token.clone().into_bytes();
            let i = position % bytes.len();
            proptest::prop_assume!(bytes[i] != byte);
            bytes[i] = byte;
            let changed = String::from_utf8(bytes).unwrap();
            // Base64url padding bits can make two encodings decode alike; anything accepted
            // must then be exactly the original claims.
            if let Ok(claims) = issuer.verify(&changed, now()) {
                proptest::prop_assert_eq!(claims, issuer.verify(&token, now()).unwrap());
            }
        }
    }

    #[test]
    fn refresh_tokens_are_random_and_stored_hashed() {
        let (a, hash_a) = new_refresh_token();
        let (b, _) = new_refresh_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(secret_hash(&a), hash_a);
        assert_ne!(hash_a, a);
    }
}
