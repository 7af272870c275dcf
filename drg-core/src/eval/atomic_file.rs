//! Writing an output file so that it is never seen half-written.
//!
//! The content goes to a temporary file in the destination's own folder (so the final rename
//! stays on one file system and is atomic; see [`crate::temp_file`], which also gives it the
//! permissions of `File::create`), which is renamed over the destination only once it is
//! complete. A failure or a crash leaves the old file (or none), never a truncated one.

use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Context;

use crate::temp_file::temp_file_beside;

/// Writes `path` atomically: `fill` writes the content into a buffered writer on a temporary file
/// next to `path`, which then replaces `path`. Errors name the destination file.
pub fn write_atomically(
    path: impl AsRef<Path>,
    fill: impl FnOnce(&mut BufWriter<&mut std::fs::File>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let path = path.as_ref();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp =
        temp_file_beside(path).with_context(|| format!("{}: cannot create a temporary file in {}", path.display(), dir.display()))?;
    {
        let mut w = BufWriter::new(tmp.as_file_mut());
        fill(&mut w).with_context(|| format!("{}: cannot write", path.display()))?;
        w.flush().with_context(|| format!("{}: cannot write", path.display()))?;
    }
    tmp.persist(path).map_err(|e| e.error).with_context(|| format!("{}: cannot replace the file", path.display()))?;
    Ok(())
}

/// [`write_atomically`] for content already in memory.
pub fn write_bytes_atomically(path: impl AsRef<Path>, bytes: &[u8]) -> anyhow::Result<()> {
    write_atomically(path, |w| Ok(w.write_all(bytes)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_whole_and_keeps_it_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        write_bytes_atomically(&path, b"first\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"first\n");
        // Readable as a file made by File::create (not tempfile's private 0600).
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let created = dir.path().join("created.txt");
            std::fs::File::create(&created).unwrap();
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), mode(&created));
            std::fs::remove_file(&created).unwrap();
        }
        let err = write_atomically(&path, |w| {
            w.write_all(b"half")?;
            anyhow::bail!("disk full")
        })
        .unwrap_err();
        assert!(format!("{err:#}").contains("out.txt: cannot write: disk full"), "{err:#}");
        assert_eq!(std::fs::read(&path).unwrap(), b"first\n");
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let err = write_bytes_atomically(dir.path().join("missing/x.txt"), b"x").unwrap_err();
        assert!(format!("{err:#}").contains("missing/x.txt: cannot create a temporary file"), "{err:#}");
    }
}
