//! Wire shapes that more than one surface shows: the API's lists and the live stream send the
//! same JSON for a decision or an alert.

mod alert;
mod decision;

pub use alert::{AlertView, alert};
pub use decision::{ActionView, BlockedView, DecisionView, decision};
