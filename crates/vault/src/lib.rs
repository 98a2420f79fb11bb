//! Key vault (being written).
