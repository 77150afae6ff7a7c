//! Schema structs.
