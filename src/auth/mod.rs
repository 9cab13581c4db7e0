//! Accounts' cryptography and rules outside HTTP: password hashing (argon2id), access tokens
//! (JWT), refresh tokens (random, stored as SHA-256) and the signing key.

pub mod passwords;
pub mod tokens;
