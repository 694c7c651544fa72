//! API-key permissions: scopes, resource constraints and the checks every endpoint runs.
