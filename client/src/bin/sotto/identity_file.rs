//! Identity files: the identity's bytes (a version byte, the Ed25519 seed
//! and public key), readable by the owner only.

use std::io::Write;
use std::path::Path;

use sotto_crypto::identity::Identity;

use crate::Exit;

/// Writes `bytes` to `path`, creating it readable and writable by the
/// owner only (and its directory if needed).
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Loads the identity at `path`, or creates one there. Returns it and
/// whether it was created.
pub fn load_or_create(path: &Path) -> Result<(Identity, bool), Exit> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let identity = Identity::from_bytes(&bytes).map_err(|e| {
                Exit::usage(format!("{} is not a sotto identity: {e}", path.display()))
            })?;
            Ok((identity, false))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let identity = Identity::generate().map_err(|e| Exit::internal(anyhow::anyhow!(e)))?;
            write_private(path, identity.to_bytes().as_slice())
                .map_err(|e| Exit::usage(format!("cannot write {}: {e}", path.display())))?;
            Ok((identity, true))
        }
        Err(e) => Err(Exit::usage(format!("cannot read {}: {e}", path.display()))),
    }
}
