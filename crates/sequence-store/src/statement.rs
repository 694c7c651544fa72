//! SQL built at run time from the filters a caller actually gave, and the newest-first keyset
//! listing every history list uses.
//!
//! A list over an organization's history (an account's transfers, a rule's executions) must cost
//! the same at its 1,000th row as at its 1,000,000th: one index range scan, in the order returned,
//! that starts at the cursor and stops after the page. Two habits defeat that and are avoided here:
//!
//! - **Catch-all predicates** (`CAST($3 AS TEXT) IS NULL OR direction = $3`): a prepared statement
//!   must serve both the NULL and the non-NULL case, so neither planner can use such a term to
//!   bound an index range; a cursor written that way is not a range start, so page 50 reads the
//!   49 pages before it. [`Params`] instead numbers only the values present, and each query
//!   writes only the terms it needs.
//! - **`OR` across index columns** (`source_account_id = $2 OR destination_account_id = $2`):
//!   no single index is in `created_at` order for both sides, so the planners read every row of
//!   the account (or the organization) and sort. [`newest_first`] instead takes one *branch* per
//!   index range (one per account side, one per live/simulated value) and merges the branches,
//!   each read in index order.
//!
//! How the branches are merged depends on the planner, because each recognises a different shape
//! (both checked by the store's plan test, `tests/store/plans.rs`):
//! - SQLite merges a compound `SELECT … UNION ALL SELECT … ORDER BY … LIMIT n` row by row
//!   (`MERGE (UNION ALL)`), pulling from each branch's index scan only as many rows as the
//!   limit needs. (Giving each branch its own `ORDER BY … LIMIT` would make each a co-routine
//!   whose order SQLite no longer knows, and it would sort each again.)
//! - PostgreSQL plans a bare `UNION ALL` of flattened branches as an `Append` of bitmap scans
//!   followed by a `Sort` of every matching row. Each branch is therefore a subquery with its own
//!   `ORDER BY … LIMIT n`, which PostgreSQL keeps as an ordered `Limit` over a backward index
//!   scan and merges with a `Merge Append`, reading at most `n` rows per branch.
//!
//! The cursor is written as a row-value comparison, `(created_at_ms, id) < ($c, $id)`, which
//! both planners use as the start of the index range on `(…, created_at_ms, id)` (SQLite since
//! 3.15). A `to` bound and a cursor are folded into the one that is tighter, so the range start
//! is never left to the planner's choice between two upper bounds.

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AnyConnection};

use crate::Backend;

/// One bound value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Param {
    /// A `TEXT` value.
    Text(String),
    /// A `BIGINT` value.
    Int(i64),
    /// A `NULL` of type `TEXT`.
    NullText,
    /// A `NULL` of type `BIGINT`.
    NullInt,
}

/// The values of a statement, numbered in the order they are added.
#[derive(Debug, Clone, Default)]
pub struct Params(Vec<Param>);

impl Params {
    /// Adds a text value; returns its placeholder (`$n`).
    pub fn text(&mut self, value: impl Into<String>) -> String {
        self.push(Param::Text(value.into()))
    }

    /// Adds an integer value; returns its placeholder (`$n`).
    pub fn int(&mut self, value: i64) -> String {
        self.push(Param::Int(value))
    }

    /// Adds a text value or a `NULL` of type `TEXT`; returns its placeholder (`$n`).
    pub fn optional_text(&mut self, value: Option<&str>) -> String {
        match value {
            Some(value) => self.text(value),
            None => self.push(Param::NullText),
        }
    }

    fn push(&mut self, value: Param) -> String {
        self.0.push(value);
        format!("${}", self.0.len())
    }
}

/// SQL text and the values it refers to: what a store function runs, exposed so that the plan
/// test explains exactly the statement the function would execute.
#[derive(Debug, Clone)]
pub struct Statement {
    sql: String,
    params: Vec<Param>,
}

impl Statement {
    /// A statement over `params` (each of which `sql` refers to at least once: PostgreSQL refuses
    /// a value that its statement does not use).
    pub fn new(sql: String, params: Params) -> Statement {
        Statement { sql, params: params.0 }
    }

    /// A statement from SQL text and its values, for a query this crate does not build (a plan
    /// test's, a tool's).
    pub fn from_parts(sql: String, params: Vec<Param>) -> Statement {
        Statement { sql, params }
    }

    /// The SQL text.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// The values, `$1` first.
    pub fn params(&self) -> &[Param] {
        &self.params
    }

    /// The same values under another SQL text (e.g. the statement prefixed with `EXPLAIN`).
    pub fn with_sql(&self, sql: String) -> Statement {
        Statement { sql, params: self.params.clone() }
    }

    /// The query with every value bound, ready to run. The SQL is assembled by this crate from
    /// fixed fragments and domain identifiers only; every caller-supplied value is a parameter.
    pub fn query(&self) -> Query<'_, Any, AnyArguments> {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(self.sql.clone()));
        for param in &self.params {
            query = match param {
                Param::Text(text) => query.bind(text.as_str()),
                Param::Int(int) => query.bind(*int),
                Param::NullText => query.bind(None::<&str>),
                Param::NullInt => query.bind(None::<i64>),
            };
        }
        query
    }
}

/// Which backend `conn` talks to.
pub fn backend_of(conn: &AnyConnection) -> Backend {
    if conn.backend_name() == "PostgreSQL" { Backend::Postgres } else { Backend::Sqlite }
}

/// A position in a newest-first listing: strictly after (older than) this row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// `created_at` of the last row seen.
    pub created_at_ms: i64,
    /// Its id (tie-breaker).
    pub id: String,
}

/// The upper end of a newest-first range: the tighter of "created at or before `to`" and
/// "strictly after `cursor`" (rows with `created_at_ms <= to` all come after a cursor later than
/// `to`; rows after a cursor at or before `to` are all at or before `to`). `None`: unbounded.
pub fn upper_bound(
    params: &mut Params,
    to_ms: Option<i64>,
    cursor: Option<&Cursor>,
) -> Option<String> {
    match (to_ms, cursor) {
        (Some(to), Some(cursor)) if cursor.created_at_ms > to => {
            Some(format!("created_at_ms <= {}", params.int(to)))
        }
        (_, Some(cursor)) => Some(format!(
            "(created_at_ms, id) < ({}, {})",
            params.int(cursor.created_at_ms),
            params.text(cursor.id.as_str())
        )),
        (Some(to), None) => Some(format!("created_at_ms <= {}", params.int(to))),
        (None, None) => None,
    }
}

/// `SELECT columns FROM table` for each branch (its terms AND-ed with `common`), merged newest
/// first (`created_at_ms DESC, id DESC`) and cut at `limit` (a placeholder), in the shape
/// `backend`'s planner serves from one ordered index range per branch (see the module docs).
/// Each branch's terms must fix every index column before `(created_at_ms, id)`.
pub fn newest_first(
    backend: Backend,
    table: &str,
    columns: &str,
    branches: &[Vec<String>],
    common: &[String],
    limit: &str,
) -> String {
    const ORDER: &str = "ORDER BY created_at_ms DESC, id DESC";
    assert!(!branches.is_empty(), "a listing needs at least one branch");
    let select = |branch: &Vec<String>| {
        let terms: Vec<&str> = branch.iter().chain(common).map(String::as_str).collect();
        format!("SELECT {columns} FROM {table} WHERE {}", terms.join(" AND "))
    };
    if let [branch] = branches {
        return format!("{} {ORDER} LIMIT {limit}", select(branch));
    }
    let arms: Vec<String> = branches
        .iter()
        .enumerate()
        .map(|(i, branch)| match backend {
            Backend::Sqlite => select(branch),
            Backend::Postgres => {
                format!("SELECT * FROM ({} {ORDER} LIMIT {limit}) AS branch{i}", select(branch))
            }
        })
        .collect();
    format!("SELECT * FROM ({}) AS merged {ORDER} LIMIT {limit}", arms.join(" UNION ALL "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_the_values_in_order() {
        let mut params = Params::default();
        assert_eq!(params.text("org"), "$1");
        assert_eq!(params.int(7), "$2");
        let statement = Statement::new("SELECT $1, $2".to_owned(), params);
        assert_eq!(statement.params(), [Param::Text("org".to_owned()), Param::Int(7)]);
    }

    #[test]
    fn the_tighter_of_to_and_the_cursor_bounds_the_range() {
        let cursor = |ms| Cursor { created_at_ms: ms, id: "txr_9".to_owned() };
        let bound = |to, cursor: Option<Cursor>| {
            let mut params = Params::default();
            let sql = upper_bound(&mut params, to, cursor.as_ref());
            (sql, Statement::new(String::new(), params).params().to_vec())
        };
        assert_eq!(bound(None, None), (None, vec![]));
        assert_eq!(
            bound(Some(50), None),
            (Some("created_at_ms <= $1".to_owned()), vec![Param::Int(50)])
        );
        // A cursor later than `to`: every row up to `to` is after it.
        assert_eq!(
            bound(Some(50), Some(cursor(80))),
            (Some("created_at_ms <= $1".to_owned()), vec![Param::Int(50)])
        );
        // A cursor at or before `to`: every row after it is at or before `to`.
        for at in [50, 20] {
            assert_eq!(
                bound(Some(50), Some(cursor(at))),
                (
                    Some("(created_at_ms, id) < ($1, $2)".to_owned()),
                    vec![Param::Int(at), Param::Text("txr_9".to_owned())]
                )
            );
        }
    }

    #[test]
    fn branches_merge_in_the_shape_each_planner_orders() {
        let branches = vec![vec!["a = $1".to_owned()], vec!["b = $1".to_owned()]];
        let common = vec!["c = $2".to_owned()];
        assert_eq!(
            newest_first(Backend::Sqlite, "t", "x", &branches[..1], &common, "$3"),
            "SELECT x FROM t WHERE a = $1 AND c = $2 ORDER BY created_at_ms DESC, id DESC LIMIT $3"
        );
        assert_eq!(
            newest_first(Backend::Sqlite, "t", "x", &branches, &common, "$3"),
            "SELECT * FROM (SELECT x FROM t WHERE a = $1 AND c = $2 UNION ALL \
             SELECT x FROM t WHERE b = $1 AND c = $2) AS merged \
             ORDER BY created_at_ms DESC, id DESC LIMIT $3"
        );
        assert_eq!(
            newest_first(Backend::Postgres, "t", "x", &branches, &common, "$3"),
            "SELECT * FROM (\
             SELECT * FROM (SELECT x FROM t WHERE a = $1 AND c = $2 ORDER BY created_at_ms DESC, id DESC LIMIT $3) AS branch0 \
             UNION ALL \
             SELECT * FROM (SELECT x FROM t WHERE b = $1 AND c = $2 ORDER BY created_at_ms DESC, id DESC LIMIT $3) AS branch1) \
             AS merged ORDER BY created_at_ms DESC, id DESC LIMIT $3"
        );
    }
}
