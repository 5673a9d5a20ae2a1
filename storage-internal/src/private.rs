//! The embedded SQLite database holds every synced object (Secrets included, when synced): its
//! file and directory are created readable by their owner only (`0600`, `0700`), whatever the
//! umask. SQLite creates the `-wal` and `-shm` files with the permissions of the database file.

use std::io;
use std::path::Path;

/// Creates `dir` (and its missing parents) with mode `0700`; an existing `dir` is set to
/// `0700` too (use it only for a directory this program owns, such as the embedded default).
pub(crate) fn create_private_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

/// Creates the SQLite database `file` empty with mode `0600` when it does not exist yet, so that
/// SQLite (and its `-wal`/`-shm` files, which take the database file's mode) never makes it
/// readable by others. An existing file is left as it is; in-memory databases (`:memory:`, and
/// sqlx's `file:sqlx-in-memory-<n>`, as any `file:` URI) are skipped.
pub(crate) fn create_private_file(file: &Path) -> io::Result<()> {
    let name = file.to_string_lossy();
    if name.is_empty() || name == ":memory:" || name.starts_with("file:") {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    match options.open(file) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(error),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
    }

    #[test]
    fn files_and_directories_are_private() {
        let dir = std::env::temp_dir().join(format!("cp-private-{}", fastrand::u64(..)));
        let nested = dir.join("a").join("b");
        create_private_dir(&nested).expect("dir");
        assert_eq!(mode(&nested), 0o700);
        assert_eq!(mode(&dir.join("a")), 0o700);
        let file = nested.join("x.db");
        create_private_file(&file).expect("file");
        assert_eq!(mode(&file), 0o600);
        // An existing file is left as it is.
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        create_private_file(&file).expect("again");
        assert_eq!(mode(&file), 0o640);
        // In-memory databases are not files.
        create_private_file(Path::new("file:sqlx-in-memory-7")).expect("skipped");
        assert!(!Path::new("file:sqlx-in-memory-7").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
