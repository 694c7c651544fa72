//! `TransfersApi`. Transfers are not implemented yet: every operation answers the generated
//! default, `501 not_implemented` (the README lists what is implemented).

use sequence_api::server::TransfersApi;

use crate::state::Server;

impl TransfersApi for Server {}
