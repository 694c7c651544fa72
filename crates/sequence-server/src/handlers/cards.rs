//! `CardsApi`: not implemented by this server. The spec marks every card operation
//! `x-not-implemented: true` (answering `501 not_implemented` until a sandbox card issuer exists),
//! and only such operations get a default trait method giving exactly that answer; every other
//! operation must be implemented or the crate does not compile. The generated router still
//! authenticates, validates and checks `READ_CARDS` (and `listCards`' `account_id` filter) first.

use sequence_api::server::CardsApi;

use crate::state::Server;

impl CardsApi for Server {}
