//! Who may call what: JWT bearer tokens carrying a role, the per-route role check, and the
//! one-time authorization codes that emergency controls require on top of the admin role.

mod code;
mod extract;
mod role;
mod token;

pub use code::{CODE_PURPOSE_EMERGENCY, generate_code, issue_code};
pub use extract::{Admin, Auth, MinRole, Operator, Viewer, bearer_claims, check_not_revoked};
pub use role::Role;
pub use token::{Claims, MIN_SECRET_BYTES, TokenKeys};
