//! Productive client against its simulator, fixtures and wiremock failure paths.
