//! Atomic output files: write to a temporary file beside the target, rename when complete.
//! An error or Ctrl-C drops the temporary file, so no partial output is ever left.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Errors writing output.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// Creating, writing or renaming failed.
    #[error("cannot write {path}: {error}")]
    Io {
        /// The target path.
        path: String,
        /// The OS error.
        error: std::io::Error,
    },
}

/// An output file that appears only on [`AtomicFile::commit`].
#[derive(Debug)]
pub struct AtomicFile {
    target: PathBuf,
    tmp: BufWriter<tempfile::NamedTempFile>,
}

impl AtomicFile {
    /// Start writing `target` (the directory must exist).
    pub fn create(target: &Path) -> Result<Self, OutputError> {
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".partial")
            .tempfile_in(&dir)
            .map_err(|source| OutputError::Io {
                path: target.display().to_string(),
                error: source,
            })?;
        Ok(AtomicFile {
            target: target.to_path_buf(),
            tmp: BufWriter::with_capacity(1 << 20, tmp),
        })
    }

    /// Append bytes.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), OutputError> {
        self.tmp.write_all(bytes).map_err(|error| OutputError::Io {
            path: self.target.display().to_string(),
            error,
        })
    }

    /// Flush, sync and rename into place.
    pub fn commit(self) -> Result<(), OutputError> {
        let path = self.target.display().to_string();
        let err = |error| OutputError::Io {
            path: path.clone(),
            error,
        };
        let tmp = self.tmp.into_inner().map_err(|e| err(e.into_error()))?;
        tmp.as_file().sync_all().map_err(err)?;
        #[cfg(unix)]
        {
            // Temporary files are created 0600; give the result the usual 0644.
            use std::os::unix::fs::PermissionsExt;
            let perms = std::fs::Permissions::from_mode(0o644);
            tmp.as_file().set_permissions(perms).map_err(err)?;
        }
        tmp.persist(&self.target).map_err(|e| err(e.error))?;
        Ok(())
    }
}
