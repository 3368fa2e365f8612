//! The one integration-test binary: modules by area.

mod demo;
mod generated;
mod never_silent;
mod personio;
mod process;
mod productive;
mod store;
mod support;
mod sync;
