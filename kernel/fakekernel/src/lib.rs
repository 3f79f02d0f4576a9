//! fkoverlayd library.
