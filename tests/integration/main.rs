//! The one integration-test binary: modules by area.

mod demo;
mod exact;
mod generated;
mod periods;
mod personio;
mod process;
mod productive;
mod server;
mod store;
mod support;
mod sync;
