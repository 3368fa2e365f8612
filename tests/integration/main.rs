//! The one integration-test binary: modules by area.

mod demo;
mod personio;
mod productive;
mod store;
mod support;
mod sync;
