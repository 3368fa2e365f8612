//! The one integration-test binary: modules by area.

mod personio;
mod productive;
mod store;
mod support;
mod sync;
