-- Which API keys `serve --demo` minted (PostgreSQL).
--
-- Every start of `serve --demo` prints a new all-scopes key (only a hash is stored, so an old one
-- cannot be shown again). The start revokes the keys earlier starts minted, found by this mark
-- rather than by their name, which an operator's own key could share; so at most one demo key is
-- live.
ALTER TABLE api_keys ADD COLUMN minted_by_demo INTEGER NOT NULL DEFAULT 0 CHECK (minted_by_demo IN (0, 1));

-- Keys minted before this column existed: the demo's own name, in the demo organization (see
-- `sequence_server::demo`).
UPDATE api_keys SET minted_by_demo = 1
 WHERE name = 'demo (all scopes)'
   AND org_id IN (SELECT id FROM organizations WHERE name = 'John Smith');
