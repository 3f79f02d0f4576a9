//! libvarpd.
