//! API keys. Only a SHA-256 of each key's secret is stored; the server hashes the presented
//! secret and compares in constant time (see `sequence-server`'s `auth` module).

use chrono::{DateTime, Utc};
use sequence_core::ids::{ApiKeyId, OrgId};
use sqlx::{AnyConnection, Row};

use crate::{StoreError, StoreResult, from_millis, to_millis};

/// An API key as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// Public id (`key_…`), embedded in the key itself.
    pub id: ApiKeyId,
    /// The organization it belongs to.
    pub org_id: OrgId,
    /// Human name.
    pub name: String,
    /// Hex SHA-256 of the secret part.
    pub secret_sha256: String,
    /// Canonical permissions JSON.
    pub permissions_json: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Revocation time, if revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, org_id, name, secret_sha256, permissions, created_at_ms, revoked_at_ms";

fn from_row(row: &sqlx::any::AnyRow) -> StoreResult<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: ApiKeyId::from_raw(row.try_get::<String, _>(0)?),
        org_id: OrgId::from_raw(row.try_get::<String, _>(1)?),
        name: row.try_get(2)?,
        secret_sha256: row.try_get(3)?,
        permissions_json: row.try_get(4)?,
        created_at: from_millis(row.try_get(5)?),
        revoked_at: row.try_get::<Option<i64>, _>(6)?.map(from_millis),
    })
}

/// Inserts a key. Fails with [`StoreError::NotFound`] if the organization does not exist.
pub async fn insert(conn: &mut AnyConnection, key: &ApiKeyRecord) -> StoreResult<()> {
    let exists = sqlx::query("SELECT 1 FROM organizations WHERE id = $1")
        .bind(key.org_id.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    if exists.is_none() {
        return Err(StoreError::NotFound);
    }
    sqlx::query(
        "INSERT INTO api_keys (id, org_id, name, secret_sha256, permissions, created_at_ms, revoked_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(key.id.as_str())
    .bind(key.org_id.as_str())
    .bind(&key.name)
    .bind(&key.secret_sha256)
    .bind(&key.permissions_json)
    .bind(to_millis(key.created_at))
    .bind(key.revoked_at.map(to_millis))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Finds a key by id (revoked ones included; the caller decides).
pub async fn find(conn: &mut AnyConnection, id: &ApiKeyId) -> StoreResult<Option<ApiKeyRecord>> {
    let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE id = $1");
    let row =
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id.as_str()).fetch_optional(&mut *conn).await?;
    row.as_ref().map(from_row).transpose()
}

/// An organization's keys, oldest first.
pub async fn list(conn: &mut AnyConnection, org: &OrgId) -> StoreResult<Vec<ApiKeyRecord>> {
    let sql =
        format!("SELECT {COLUMNS} FROM api_keys WHERE org_id = $1 ORDER BY created_at_ms, id");
    let rows =
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(org.as_str()).fetch_all(&mut *conn).await?;
    rows.iter().map(from_row).collect()
}

/// Revokes a key (idempotent). [`StoreError::NotFound`] if there is no such key.
pub async fn revoke(conn: &mut AnyConnection, id: &ApiKeyId, at: DateTime<Utc>) -> StoreResult<()> {
    let result = sqlx::query(
        "UPDATE api_keys SET revoked_at_ms = COALESCE(revoked_at_ms, $1) WHERE id = $2",
    )
    .bind(to_millis(at))
    .bind(id.as_str())
    .execute(&mut *conn)
    .await?;
    if result.rows_affected() == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

/// Inserts a key minted by `serve --demo`, marked as such (the `minted_by_demo` column) so that
/// [`revoke_demo_keys`] finds it on the next start.
pub async fn insert_demo(conn: &mut AnyConnection, key: &ApiKeyRecord) -> StoreResult<()> {
    insert(&mut *conn, key).await?;
    sqlx::query("UPDATE api_keys SET minted_by_demo = 1 WHERE id = $1")
        .bind(key.id.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Revokes every live key inserted by [`insert_demo`] (keys made any other way are untouched,
/// whatever their name); returns their ids.
pub async fn revoke_demo_keys(
    conn: &mut AnyConnection,
    at: DateTime<Utc>,
) -> StoreResult<Vec<ApiKeyId>> {
    let rows = sqlx::query(
        "UPDATE api_keys SET revoked_at_ms = $1
         WHERE minted_by_demo = 1 AND revoked_at_ms IS NULL
         RETURNING id",
    )
    .bind(to_millis(at))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|row| Ok(ApiKeyId::from_raw(row.try_get::<String, _>(0)?))).collect()
}
