//! The temporary file behind every atomic write of drg-rs (`eval::atomic_file`, `data::atomic`,
//! the weights of `train::outputs`, `StateDict::write_npz`): created in the destination's own
//! folder (so the final rename stays on one file system and is atomic), and with the permissions
//! that `File::create` gives a new file.
//!
//! Why the permissions: tempfile creates its files private (0600), and a rename keeps the mode,
//! so every output (weights, loss files, plots, correlation files) came out unreadable for the
//! user's collaborators on a shared cluster. Asking for 0666 at creation lets the kernel apply
//! the user's umask exactly as for `File::create` (0644 under the usual umask 022; a user with
//! umask 077 still gets 0600).

use std::path::Path;

/// A new temporary file next to `path` (hidden: `.drg-tmp-…`), mode `0666 & !umask` on Unix.
/// Persist it over `path` once it is complete; dropped unpersisted, it is removed.
pub fn temp_file_beside(path: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".drg-tmp-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(dir)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// The process's umask as Linux reports it (`Umask:` of /proc/self/status); elsewhere, the
    /// mode of a file made by `File::create` stands in for it.
    fn umask_mode_of_create(created: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        match status.lines().find_map(|l| l.strip_prefix("Umask:")) {
            Some(mask) => 0o666 & !u32::from_str_radix(mask.trim(), 8).unwrap(),
            None => std::fs::metadata(created).unwrap().permissions().mode() & 0o777,
        }
    }

    #[test]
    fn a_persisted_file_has_the_mode_file_create_gives() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let created = dir.path().join("created.txt");
        std::fs::File::create(&created).unwrap();
        let tmp = temp_file_beside(&dir.path().join("out.txt")).unwrap();
        assert!(tmp.path().file_name().unwrap().to_string_lossy().starts_with(".drg-tmp-"));
        tmp.persist(dir.path().join("out.txt")).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("out.txt")), mode(&created));
        assert_eq!(mode(&created), umask_mode_of_create(&created));
    }
}
