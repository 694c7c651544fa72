//! Organizations: the tenants. Each one owns its accounts, keys, rules and its sandbox clock.

use chrono::{DateTime, Utc};
use sequence_core::ids::{AccountId, OrgId};
use sequence_core::ledger::SystemAccounts;
use sequence_core::money::Cents;
use sqlx::{AnyConnection, Row};

use crate::{StoreError, StoreResult, from_millis, to_millis};

/// An organization as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    /// Its id (`org_…`).
    pub id: OrgId,
    /// Display name.
    pub name: String,
    /// Seconds the sandbox clock has been advanced past real time.
    pub clock_offset_seconds: i64,
    /// Manual transfers of at least this amount wait for approval.
    pub approval_threshold: Option<Cents>,
    /// The hidden ledger counterparties.
    pub system_accounts: SystemAccounts,
    /// When it was created (real time).
    pub created_at: DateTime<Utc>,
}

impl Organization {
    /// A new organization: fresh id and system accounts, its clock at real time, no approval
    /// threshold.
    pub fn new(name: &str, created_at: DateTime<Utc>) -> Organization {
        Organization {
            id: OrgId::generate(),
            name: name.to_owned(),
            clock_offset_seconds: 0,
            approval_threshold: None,
            system_accounts: SystemAccounts::generate(),
            created_at,
        }
    }
}

/// Inserts a new organization with its two system accounts (the ledger counterparties that make
/// every transfer two-sided; see `sequence_core::ledger::postings_for`).
pub async fn insert(conn: &mut AnyConnection, org: &Organization) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO organizations (id, name, clock_offset_seconds, outside_world_account_id, external_clearing_account_id, approval_threshold_cents, created_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(org.id.as_str())
    .bind(&org.name)
    .bind(org.clock_offset_seconds)
    .bind(org.system_accounts.outside_world.as_str())
    .bind(org.system_accounts.external_clearing.as_str())
    .bind(org.approval_threshold.map(Cents::get))
    .bind(to_millis(org.created_at))
    .execute(&mut *conn)
    .await?;
    let now = to_millis(org.created_at);
    for (id, name) in [
        (&org.system_accounts.outside_world, "Outside world"),
        (&org.system_accounts.external_clearing, "External accounts clearing"),
    ] {
        sqlx::query(
            "INSERT INTO accounts (id, org_id, kind, name, beneficiary_name, balance_updated_at_ms, created_at_ms, updated_at_ms)
             VALUES ($1, $2, 'system', $3, $4, $5, $5, $5)",
        )
        .bind(id.as_str())
        .bind(org.id.as_str())
        .bind(name)
        .bind(&org.name)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Loads an organization.
pub async fn get(conn: &mut AnyConnection, id: &OrgId) -> StoreResult<Organization> {
    let row = sqlx::query(
        "SELECT id, name, clock_offset_seconds, approval_threshold_cents, created_at_ms, outside_world_account_id, external_clearing_account_id \
         FROM organizations WHERE id = $1",
    )
    .bind(id.as_str())
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    Ok(Organization {
        id: OrgId::from_raw(row.try_get::<String, _>(0)?),
        name: row.try_get(1)?,
        clock_offset_seconds: row.try_get(2)?,
        approval_threshold: row.try_get::<Option<i64>, _>(3)?.map(Cents::new),
        created_at: from_millis(row.try_get(4)?),
        system_accounts: SystemAccounts {
            outside_world: AccountId::from_raw(row.try_get::<String, _>(5)?),
            external_clearing: AccountId::from_raw(row.try_get::<String, _>(6)?),
        },
    })
}

/// All organizations' ids (for background processing).
pub async fn list_ids(conn: &mut AnyConnection) -> StoreResult<Vec<OrgId>> {
    let rows =
        sqlx::query("SELECT id FROM organizations ORDER BY id").fetch_all(&mut *conn).await?;
    rows.iter().map(|r| Ok(OrgId::from_raw(r.try_get::<String, _>(0)?))).collect()
}

/// Moves the sandbox clock: sets the offset if it only grows (the clock never goes back, even
/// with concurrent advances on several replicas). Returns the offset now in force.
pub async fn advance_clock(
    conn: &mut AnyConnection,
    id: &OrgId,
    new_offset_seconds: i64,
) -> StoreResult<i64> {
    sqlx::query("UPDATE organizations SET clock_offset_seconds = $1 WHERE id = $2 AND clock_offset_seconds < $1")
        .bind(new_offset_seconds)
        .bind(id.as_str())
        .execute(&mut *conn)
        .await?;
    Ok(get(conn, id).await?.clock_offset_seconds)
}

/// Sets or clears the approval threshold.
pub async fn set_approval_threshold(
    conn: &mut AnyConnection,
    id: &OrgId,
    threshold: Option<Cents>,
) -> StoreResult<()> {
    let result =
        sqlx::query("UPDATE organizations SET approval_threshold_cents = $1 WHERE id = $2")
            .bind(threshold.map(Cents::get))
            .bind(id.as_str())
            .execute(&mut *conn)
            .await?;
    if result.rows_affected() == 0 { Err(StoreError::NotFound) } else { Ok(()) }
}

/// The id of the (oldest) organization with this exact name, if any.
pub async fn find_by_name(conn: &mut AnyConnection, name: &str) -> StoreResult<Option<OrgId>> {
    let row = sqlx::query(
        "SELECT id FROM organizations WHERE name = $1 ORDER BY created_at_ms, id LIMIT 1",
    )
    .bind(name)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| Ok(OrgId::from_raw(r.try_get::<String, _>(0)?))).transpose()
}
