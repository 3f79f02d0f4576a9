//! dladm overlay support.
