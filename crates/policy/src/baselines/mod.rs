//! Baseline policies with the semantics of the systems we compare against.

mod always_on;
mod kpa;
mod reactive;
mod seasonal;

pub use always_on::AlwaysOn;
pub use kpa::Kpa;
pub use reactive::Reactive;
pub use seasonal::SeasonalReactive;
