//! Writing files so that a reader never sees half of one: write a temporary file in the target's
//! folder ([`crate::temp_file`]: with the permissions `File::create` gives), flush it to disk, then
//! rename it over the target (rename is atomic on one filesystem).

use std::io::Write;
use std::path::Path;

use super::error::{DataError, DataResult};
use crate::temp_file::temp_file_beside;

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
    let mut tmp = temp_file_beside(path).map_err(|e| DataError::io(path, "create temporary file", e))?;
    {
        let mut w = std::io::BufWriter::new(tmp.as_file_mut());
        fill(&mut w).map_err(|e| DataError::io(path, "write", e))?;
        w.flush().map_err(|e| DataError::io(path, "write", e))?;
    }
    tmp.as_file().sync_all().map_err(|e| DataError::io(path, "write", e))?;
    tmp.persist(path).map_err(|e| DataError::io(path, "rename temporary file onto", e.error))?;
    Ok(())
}
