//! Adapters of the domain's system ports: [`SystemClock`], [`RandomIds`], [`Argon2Hasher`]
//! and [`JwtSigner`].

use async_trait::async_trait;
use domain::error::{DomainError, ErrorKind};
use domain::ports::{AccessClaims, Clock, IdGenerator, PasswordCheck, PasswordHasher, TokenSigner};
use domain::time::Timestamp;
use rand::rngs::OsRng;
use rand::{Rng, RngCore};

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_datetime(chrono::Utc::now()).unwrap_or_default()
    }
}

/// Identifiers from the operating system's CSPRNG.
#[derive(Debug, Default, Clone, Copy)]
pub struct RandomIds;

impl IdGenerator for RandomIds {
    fn uuid(&self) -> String {
        uuid::Uuid::new_v4().to_string()
    }

    fn hex(&self, bytes: usize) -> String {
        let mut buf = vec![0u8; bytes];
        OsRng.fill_bytes(&mut buf);
        buf.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn alphanumeric(&self, len: usize) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..len)
            .map(|_| char::from(ALPHABET[OsRng.gen_range(0..ALPHABET.len())]))
            .collect()
    }
}

fn internal(message: &str) -> DomainError {
    DomainError::new(ErrorKind::Internal, "INTERNAL", message)
}

/// argon2id hashing (OWASP parameters m = 19 MiB, t = 2, p = 1); verifies upstream bcrypt
/// hashes too and reports them (and weaker argon2 parameters) as needing a re-hash.
#[derive(Debug, Clone)]
pub struct Argon2Hasher {
    params: argon2::Params,
}

impl Default for Argon2Hasher {
    fn default() -> Self {
        Argon2Hasher {
            params: argon2::Params::new(19_456, 2, 1, None).unwrap_or_default(),
        }
    }
}

impl Argon2Hasher {
    fn argon2(&self) -> argon2::Argon2<'static> {
        argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            self.params.clone(),
        )
    }
}

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &str) -> Result<String, DomainError> {
        use argon2::password_hash::{PasswordHasher as _, SaltString};
        let hasher = self.argon2();
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || {
            let salt = SaltString::generate(&mut OsRng);
            hasher
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|_| internal("password hashing failed"))
        })
        .await
        .map_err(|_| internal("password hashing failed"))?
    }

    async fn verify(&self, password: &str, hash: &str) -> PasswordCheck {
        use argon2::password_hash::{PasswordHash, PasswordVerifier as _};
        let invalid = PasswordCheck {
            valid: false,
            needs_rehash: false,
        };
        let (password, hash, hasher, params) = (
            password.to_owned(),
            hash.to_owned(),
            self.argon2(),
            self.params.clone(),
        );
        tokio::task::spawn_blocking(move || {
            if hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$2y$") {
                let valid = bcrypt::verify(&password, &hash).unwrap_or(false);
                return PasswordCheck {
                    valid,
                    needs_rehash: valid,
                };
            }
            let Ok(parsed) = PasswordHash::new(&hash) else {
                return invalid;
            };
            let valid = hasher.verify_password(password.as_bytes(), &parsed).is_ok();
            let weaker = argon2::Params::try_from(&parsed).map_or(true, |p| {
                p.m_cost() < params.m_cost() || p.t_cost() < params.t_cost()
            }) || parsed.algorithm.as_str() != "argon2id";
            PasswordCheck {
                valid,
                needs_rehash: valid && weaker,
            }
        })
        .await
        .unwrap_or(invalid)
    }
}

/// HS256 access tokens; the algorithm is pinned and `exp` is required.
pub struct JwtSigner {
    encoding: jsonwebtoken::EncodingKey,
    decoding: jsonwebtoken::DecodingKey,
    validation: jsonwebtoken::Validation,
}

impl std::fmt::Debug for JwtSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtSigner(HS256, secret redacted)")
    }
}

/// Minimum length of the JWT secret, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

impl JwtSigner {
    /// A signer over `secret`.
    ///
    /// # Errors
    /// When the secret is shorter than 32 bytes.
    pub fn new(secret: &[u8]) -> Result<Self, String> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(format!(
                "JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes"
            ));
        }
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Ok(JwtSigner {
            encoding: jsonwebtoken::EncodingKey::from_secret(secret),
            decoding: jsonwebtoken::DecodingKey::from_secret(secret),
            validation,
        })
    }
}

impl TokenSigner for JwtSigner {
    fn sign(&self, claims: &AccessClaims) -> Result<String, DomainError> {
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .map_err(|_| internal("token signing failed"))
    }

    fn verify(&self, token: &str) -> Result<AccessClaims, DomainError> {
        jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map(|d| d.claims)
            .map_err(|_| DomainError::unauthenticated("INVALID_TOKEN", "Invalid token"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::ports::Role;

    fn claims(exp: i64) -> AccessClaims {
        AccessClaims {
            sub: "1".into(),
            id: 1,
            email: "a@b.c".into(),
            role: Role::Admin,
            tenant_ids: vec![],
            role_assignments: vec![],
            iat: 0,
            exp,
        }
    }

    #[test]
    fn jwt_round_trip_expiry_and_pinned_algorithm() {
        let signer = JwtSigner::new(&[7u8; 32]).unwrap();
        let now = SystemClock.now().millis() / 1000;
        let token = signer.sign(&claims(now + 60)).unwrap();
        assert_eq!(signer.verify(&token).unwrap().email, "a@b.c");
        let expired = signer.sign(&claims(now - 3600)).unwrap();
        assert_eq!(signer.verify(&expired).unwrap_err().code, "INVALID_TOKEN");
        let other = JwtSigner::new(&[8u8; 32]).unwrap();
        assert!(other.verify(&token).is_err());
        let hs512 = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS512),
            &claims(now + 60),
            &jsonwebtoken::EncodingKey::from_secret(&[7u8; 32]),
        )
        .unwrap();
        assert!(signer.verify(&hs512).is_err());
        assert!(JwtSigner::new(b"short").is_err());
    }

    #[tokio::test]
    async fn argon2_and_upstream_bcrypt() {
        let h = Argon2Hasher::default();
        let hash = h.hash("pw").await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert_eq!(
            h.verify("pw", &hash).await,
            PasswordCheck {
                valid: true,
                needs_rehash: false
            }
        );
        assert!(!h.verify("nope", &hash).await.valid);
        let legacy = bcrypt::hash("admin1@", 4).unwrap();
        assert_eq!(
            h.verify("admin1@", &legacy).await,
            PasswordCheck {
                valid: true,
                needs_rehash: true
            }
        );
        assert!(!h.verify("x", &legacy).await.valid);
        assert!(!h.verify("x", "garbage").await.valid);
    }

    #[test]
    fn ids() {
        assert_eq!(RandomIds.hex(16).len(), 32);
        let p = RandomIds.alphanumeric(16);
        assert!(p.len() == 16 && p.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(RandomIds.uuid(), RandomIds.uuid());
    }
}
