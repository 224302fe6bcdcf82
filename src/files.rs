//! Reading policy files from disk, and the loader that resolves `extends`.

use std::path::{Path, PathBuf};

use settle_lang::Loader;

/// Resolves `extends "path"` relative to the file that says it.
#[derive(Debug, Default)]
pub struct FileLoader;

impl Loader for FileLoader {
    fn load(&mut self, from: &str, path: &str) -> Result<(String, String), String> {
        let full = base_path(from, path);
        let name = full.to_string_lossy().into_owned();
        let bytes = std::fs::read(&full).map_err(|e| format!("cannot read `{name}`: {e}"))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            format!("`{name}` is not UTF-8 text (byte {})", e.utf8_error().valid_up_to())
        })?;
        Ok((name, text))
    }
}

/// Where `extends "path"` written in the file `from` points: relative to that file.
pub fn base_path(from: &str, path: &str) -> PathBuf {
    Path::new(from).parent().unwrap_or_else(|| Path::new("")).join(path)
}

/// Write `contents` to `path` whole or not at all: a temporary file beside it, then a rename.
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or_else(|| Path::new("."));
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.settle-tmp-{}", std::process::id()));
    let result = std::fs::write(&tmp, contents).and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
