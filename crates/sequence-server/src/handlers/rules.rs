//! `RulesApi`. Rules are not implemented yet: every operation answers the generated
//! default, `501 not_implemented` (the README lists what is implemented).

use sequence_api::server::RulesApi;

use crate::state::Server;

impl RulesApi for Server {}
