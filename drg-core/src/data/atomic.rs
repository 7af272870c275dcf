//! Writing files so that a reader never sees half of one: write a temporary file in the target's
//! folder, flush it to disk, then rename it over the target (rename is atomic on one filesystem).

use std::io::Write;
use std::path::Path;

use super::error::{DataError, DataResult};

/// Writes `path` atomically with whatever `fill` writes into the buffered temporary file.
pub fn write_atomically(
    path: &Path,
    fill: impl FnOnce(&mut std::io::BufWriter<&mut std::fs::File>) -> std::io::Result<()>,
) -> DataResult<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, "create folder", e))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| DataError::io(path, "create temporary file", e))?;
    {
        let mut w = std::io::BufWriter::new(tmp.as_file_mut());
        fill(&mut w).map_err(|e| DataError::io(path, "write", e))?;
        w.flush().map_err(|e| DataError::io(path, "write", e))?;
    }
    // Temporary files are created private (0600); a dataset file should be readable like any
    // other file the user writes.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644)).map_err(|e| DataError::io(path, "set permissions of", e))?;
    }
    tmp.as_file().sync_all().map_err(|e| DataError::io(path, "write", e))?;
    tmp.persist(path).map_err(|e| DataError::io(path, "rename temporary file onto", e.error))?;
    Ok(())
}
