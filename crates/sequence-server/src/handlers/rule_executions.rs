//! `RuleExecutionsApi`. Rule executions are not implemented yet: every operation answers the generated
//! default, `501 not_implemented` (the README lists what is implemented).

use sequence_api::server::RuleExecutionsApi;

use crate::state::Server;

impl RuleExecutionsApi for Server {}
