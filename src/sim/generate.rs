//! Generated organisations for both simulators.
