//! Reading and writing files: the policy loader that resolves `extends`, and atomic writes.

pub use settle_runtime::io::{FileLoader, base_path, write_atomic};
