//! `CardsApi`: not implemented by this server. The spec documents every card operation as
//! answering `501 not_implemented` until a sandbox card issuer exists; the generated trait's
//! default methods give exactly that answer.

use sequence_api::server::CardsApi;

use crate::state::Server;

impl CardsApi for Server {}
