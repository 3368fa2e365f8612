//! The one integration-test binary: modules by area.

mod demo;
mod exact;
mod generated;
mod never_silent;
mod periods;
mod personio;
mod process;
mod productive;
mod store;
mod support;
mod sync;
