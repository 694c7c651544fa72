//! API keys: their format, how they are minted and stored, and the authentication hook the
//! generated router calls before every secured operation.
//!
//! A key looks like `seqk_01J9Z…(26-char ULID)_<64 hex chars>`. The ULID part is the key's public
//! id (`key_<ULID>`), used to find the stored record; the hex part is 32 random bytes, of which
//! only the SHA-256 is stored. Presented secrets are hashed and compared in constant time
//! (`subtle`), so neither the database nor response timing gives a key away. A plain SHA-256 is
//! enough (no password hash): the secret has 256 bits of entropy and cannot be guessed.
//!
//! **Caching.** A verified key is cached for [`KEY_CACHE_TTL`] (by key id, with its hash and
//! parsed permissions; at most [`KEY_CACHE_CAPACITY`] keys), so the per-request path checks a
//! hash in memory instead of querying the database. The price is the revocation bound: a key
//! revoked with `sequence-server keys revoke` (another process) stops working on every running
//! server within [`KEY_CACHE_TTL`]. Unknown and revoked keys are never cached, and the presented
//! secret is compared with the cached hash on every request.
//!
//! The same hook also authorizes: the generated router calls [`ApiSecurity::authorize`] with the
//! operation's declared scope (`x-required-scope` in the spec) and, where the declaration names a
//! path parameter, a required query filter or a body field, the id as given — after validation,
//! before the handler and before any lookup, so a 403 never reveals whether the id exists. The
//! decision itself is `sequence_core::permissions`; this module only maps the spec's scope
//! catalogue onto the domain's (an exhaustive match: a scope added to the spec does not compile
//! until it is mapped here).

use std::sync::Arc;
use std::time::Duration;

use axum::http::{Extensions, HeaderValue};
use rand::RngCore;
use sequence_api::runtime::Problem;
use sequence_api::server::{self as api, ApiSecurity, ErrorCode};
use sequence_core::ids::{ApiKeyId, OrgId};
use sequence_core::permissions::{Permissions, ResourceKind, Scope};
use sequence_store::keys::{self, ApiKeyRecord};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{FORBIDDEN_MESSAGE, UNAUTHORIZED_MESSAGE};
use crate::keyed::VerifiedKey;
use crate::state::{AppState, Server};

const KEY_PREFIX: &str = "seqk_";
const ULID_LEN: usize = 26;
const SECRET_HEX_LEN: usize = 64;

/// Who is calling: the organization and the key's permissions.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The organization every resource access is confined to.
    pub org_id: OrgId,
    /// The key used.
    pub key_id: ApiKeyId,
    /// What the key may do (shared with the key cache: cloning a principal is cheap).
    pub permissions: Arc<Permissions>,
}

/// How long a verified key is trusted without looking at the database again: the bound on how
/// long a revoked key keeps working on a running server.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(5);
/// How many verified keys are cached at most.
pub const KEY_CACHE_CAPACITY: u64 = 10_000;

/// A verified key as cached: what the presented secret must hash to, and who it makes the
/// caller.
#[derive(Debug)]
struct CachedKey {
    secret_sha256: String,
    principal: Principal,
}

/// Verified keys by id (see the module docs).
#[derive(Clone)]
pub struct KeyCache {
    entries: moka::sync::Cache<ApiKeyId, Arc<CachedKey>>,
}

impl KeyCache {
    /// A cache trusting a verified key for `ttl` (zero: no caching).
    pub fn new(ttl: Duration) -> KeyCache {
        let capacity = if ttl.is_zero() { 0 } else { KEY_CACHE_CAPACITY };
        KeyCache {
            entries: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl.max(Duration::from_nanos(1)))
                .build(),
        }
    }

    /// Forgets every cached key (the next request of each key reads the database).
    pub fn clear(&self) {
        self.entries.invalidate_all();
    }
}

impl Default for KeyCache {
    fn default() -> KeyCache {
        KeyCache::new(KEY_CACHE_TTL)
    }
}

/// A freshly minted key: the record to store and the plaintext to show once.
pub struct MintedKey {
    /// What the database keeps.
    pub record: ApiKeyRecord,
    /// The full key, shown to the user exactly once.
    pub plaintext: String,
}

/// Mints a key for `org` with `permissions`.
pub fn mint(
    org: &OrgId,
    name: &str,
    permissions: &Permissions,
    now: chrono::DateTime<chrono::Utc>,
) -> MintedKey {
    let ulid = ulid::Ulid::new().to_string();
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let secret_hex = hex::encode(secret);
    let record = ApiKeyRecord {
        id: ApiKeyId::from_raw(format!("{}{ulid}", ApiKeyId::PREFIX)),
        org_id: org.clone(),
        name: name.to_owned(),
        secret_sha256: sha256_hex(&secret_hex),
        permissions_json: permissions.to_json(),
        created_at: now,
        revoked_at: None,
    };
    MintedKey { record, plaintext: format!("{KEY_PREFIX}{ulid}_{secret_hex}") }
}

fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Splits `seqk_<ulid>_<secret>` into the key id and the secret.
fn parse_key(key: &str) -> Option<(ApiKeyId, &str)> {
    let rest = key.strip_prefix(KEY_PREFIX)?;
    let (ulid, secret) = rest.split_once('_')?;
    let well_formed = ulid.len() == ULID_LEN
        && ulid::Ulid::from_string(ulid).is_ok()
        && secret.len() == SECRET_HEX_LEN
        && secret.bytes().all(|b| b.is_ascii_hexdigit());
    well_formed.then(|| (ApiKeyId::from_raw(format!("{}{ulid}", ApiKeyId::PREFIX)), secret))
}

/// Extracts the key from an `Authorization: ApiKey <key>` header value.
fn key_from_header(value: &HeaderValue) -> Option<&str> {
    let value = value.to_str().ok()?.trim();
    let (scheme, key) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("ApiKey").then(|| key.trim())
}

fn unauthorized() -> Problem {
    ErrorCode::Unauthorized.problem(UNAUTHORIZED_MESSAGE)
}

/// The domain's scope for the spec's.
pub fn domain_scope(scope: api::Scope) -> Scope {
    match scope {
        api::Scope::ListAccounts => Scope::ListAccounts,
        api::Scope::ReadAccounts => Scope::ReadAccounts,
        api::Scope::ListRules => Scope::ListRules,
        api::Scope::ReadRules => Scope::ReadRules,
        api::Scope::TriggerRules => Scope::TriggerRules,
        api::Scope::ReadRuleExecutions => Scope::ReadRuleExecutions,
        api::Scope::ReadTransfers => Scope::ReadTransfers,
        api::Scope::ManualTransfer => Scope::ManualTransfer,
        api::Scope::ReadCards => Scope::ReadCards,
        api::Scope::ManageAccounts => Scope::ManageAccounts,
        api::Scope::CreateAndEditRules => Scope::CreateAndEditRules,
        api::Scope::Sandbox => Scope::Sandbox,
        api::Scope::ReadAuditLogs => Scope::ReadAuditLogs,
    }
}

impl ApiSecurity for Server {
    type Principal = Principal;

    fn authorize(
        &self,
        principal: &Principal,
        scope: api::Scope,
        resource: Option<&str>,
    ) -> Result<(), Problem> {
        let scope = domain_scope(scope);
        let permissions = &principal.permissions;
        let decision = match (scope.resource_kind(), resource) {
            (ResourceKind::Ids, Some(id)) => permissions.require_resource(scope, id),
            _ => permissions.require(scope),
        };
        decision.map_err(|denied| {
            tracing::debug!(key = %principal.key_id, %denied, "permission denied");
            ErrorCode::Forbidden.problem(FORBIDDEN_MESSAGE)
        })
    }

    async fn authenticate_api_key_auth(
        &self,
        credential: Option<&HeaderValue>,
        extensions: &Extensions,
    ) -> Result<Principal, Problem> {
        // The route layer (`crate::keyed`) verified this request's key already; the check below
        // is for routers built without it (the generated router alone, in tests).
        if let Some(VerifiedKey(principal)) = extensions.get::<VerifiedKey>() {
            return Ok(principal.clone());
        }
        self.state.verify_key(credential).await.map_err(|refused| refused.problem)
    }
}

/// Why a key was refused, and whose stored key it named, if any.
#[derive(Debug)]
pub struct Refused {
    /// The answer (`401`, or `500` when the database failed).
    pub problem: Problem,
    /// A stored key presented with a wrong secret, or revoked: its id and organization (what
    /// the audit log attributes the `401` to). `None` for a missing, malformed or unknown key.
    pub stored_key: Option<(ApiKeyId, OrgId)>,
}

impl From<Problem> for Refused {
    fn from(problem: Problem) -> Refused {
        Refused { problem, stored_key: None }
    }
}

impl AppState {
    /// Verifies the key an `Authorization` header presents (see the module docs): the
    /// authentication hook of the generated router, and [`crate::keyed`]'s check before it.
    pub async fn verify_key(&self, credential: Option<&HeaderValue>) -> Result<Principal, Refused> {
        let (key_id, secret) =
            credential.and_then(key_from_header).and_then(parse_key).ok_or_else(unauthorized)?;
        let presented = sha256_hex(secret);
        let cache = &self.keys.entries;
        if let Some(cached) = cache.get(&key_id) {
            let matches: bool = presented.as_bytes().ct_eq(cached.secret_sha256.as_bytes()).into();
            return match matches {
                true => Ok(cached.principal.clone()),
                false => Err(Refused {
                    problem: unauthorized(),
                    stored_key: Some((key_id, cached.principal.org_id.clone())),
                }),
            };
        }
        let mut conn = self.store.read().await.map_err(|e| {
            tracing::error!(error = %e, "database unavailable during authentication");
            ErrorCode::InternalError
                .problem("An internal error occurred while authenticating; retry later.")
        })?;
        let record = keys::find(&mut conn, &key_id).await.map_err(|e| {
            tracing::error!(error = %e, "key lookup failed");
            ErrorCode::InternalError
                .problem("An internal error occurred while authenticating; retry later.")
        })?;
        let Some(record) = record else { return Err(unauthorized().into()) };
        let matches: bool = presented.as_bytes().ct_eq(record.secret_sha256.as_bytes()).into();
        if !matches || record.revoked_at.is_some() {
            return Err(Refused {
                problem: unauthorized(),
                stored_key: Some((key_id, record.org_id)),
            });
        }
        let permissions = Permissions::from_json(&record.permissions_json).map_err(|e| {
            tracing::error!(key = %record.id, error = %e, "stored permissions do not parse");
            ErrorCode::InternalError
                .problem("An internal error occurred while authenticating; retry later.")
        })?;
        let principal = Principal {
            org_id: record.org_id,
            key_id: record.id,
            permissions: Arc::new(permissions),
        };
        let cached =
            CachedKey { secret_sha256: record.secret_sha256, principal: principal.clone() };
        cache.insert(key_id, Arc::new(cached));
        Ok(principal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_keys_parse_back_to_their_id_and_hash() {
        let org = OrgId::generate();
        let minted = mint(&org, "test", &Permissions::all_scopes(), chrono::Utc::now());
        let (id, secret) = parse_key(&minted.plaintext).expect("parses");
        assert_eq!(id, minted.record.id);
        assert_eq!(sha256_hex(secret), minted.record.secret_sha256);
        assert!(!minted.record.secret_sha256.contains(secret), "the secret is never stored");
    }

    #[test]
    fn the_spec_scope_catalogue_is_the_domains() {
        let mapped: Vec<Scope> = api::Scope::ALL.iter().map(|s| domain_scope(*s)).collect();
        assert_eq!(mapped, Scope::ALL, "same scopes, same order");
        for scope in api::Scope::ALL {
            let domain = domain_scope(*scope);
            assert_eq!(scope.as_str(), domain.as_str());
            let kind = match scope.resources() {
                sequence_api::runtime::ScopeResources::None => ResourceKind::None,
                sequence_api::runtime::ScopeResources::Ids => ResourceKind::Ids,
                sequence_api::runtime::ScopeResources::Pairs => ResourceKind::TransferPairs,
            };
            assert_eq!(kind, domain.resource_kind(), "{scope}'s resources in x-scopes");
        }
    }

    #[test]
    fn malformed_keys_and_headers_are_rejected() {
        assert!(parse_key("seqk_short_abc").is_none());
        assert!(parse_key("nope").is_none());
        let header = HeaderValue::from_static("Bearer abc");
        assert!(key_from_header(&header).is_none());
        let header = HeaderValue::from_static("apikey   seqk_x");
        assert_eq!(key_from_header(&header), Some("seqk_x"));
    }
}
