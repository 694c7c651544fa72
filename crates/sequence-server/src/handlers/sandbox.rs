//! `SandboxApi`. Sandbox controls are not implemented yet: every operation answers the generated
//! default, `501 not_implemented` (the README lists what is implemented).

use sequence_api::server::SandboxApi;

use crate::state::Server;

impl SandboxApi for Server {}
