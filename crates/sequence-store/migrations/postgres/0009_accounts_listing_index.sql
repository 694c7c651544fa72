-- The order `listAccounts` returns (income sources, then pods, then external accounts, each
-- oldest first) as an index over an organization's listed accounts, so the listing reads one
-- index range in order instead of sorting the rows it read (`accounts::list`, whose ORDER BY
-- repeats this CASE expression exactly; the store's plan test checks that SQLite uses it).
-- Partial: deleted accounts and the two hidden system accounts are never listed. Balance updates
-- do not touch its columns, so postings do not maintain it.
CREATE INDEX accounts_listing
    ON accounts (org_id, (CASE kind WHEN 'income_source' THEN 0 WHEN 'pod' THEN 1 ELSE 2 END), created_at_ms, id)
    WHERE deleted_at_ms IS NULL AND kind <> 'system';
