//! The one integration-test binary: modules by area.

mod demo;
mod exact;
mod generated;
mod hourly;
mod matching;
mod never_silent;
mod outage;
mod periods;
mod personio;
mod personio_v2;
mod process;
mod productive;
mod proxy;
mod server;
mod store;
mod support;
mod sync;
mod types;
mod v2;
