//! Images cross the bus as sealed memfds (DESIGN §3): the receiver can read and map them but
//! neither the sender nor anyone else can change them afterwards.

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::OwnedFd;

/// Copy `bytes` into a new memfd named `name` and seal it against every change.
pub fn sealed_memfd(name: &str, bytes: &[u8]) -> std::io::Result<OwnedFd> {
    let opts = memfd::MemfdOptions::default()
        .allow_sealing(true)
        .close_on_exec(true);
    let mfd = opts.create(name).map_err(to_io)?;
    mfd.as_file().write_all(bytes)?;
    mfd.add_seals(&[
        memfd::FileSeal::SealShrink,
        memfd::FileSeal::SealGrow,
        memfd::FileSeal::SealWrite,
    ])
    .map_err(to_io)?;
    mfd.add_seal(memfd::FileSeal::SealSeal).map_err(to_io)?;
    Ok(mfd.into_file().into())
}

/// Read the whole content of an image fd received from the bus, from its start, refusing
/// anything larger than `limit` bytes.
pub fn read_all(fd: &std::os::fd::BorrowedFd<'_>, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut file = std::fs::File::from(fd.try_clone_to_owned()?);
    let len = file.metadata()?.len();
    if len > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("image of {len} bytes is over the {limit}-byte limit"),
        ));
    }
    file.seek(SeekFrom::Start(0))?;
    let mut out = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(limit).read_to_end(&mut out)?;
    Ok(out)
}

/// Whether the fd carries the write seal (so the image it holds can no longer change).
pub fn is_write_sealed(fd: &std::os::fd::BorrowedFd<'_>) -> bool {
    let Ok(owned) = fd.try_clone_to_owned() else {
        return false;
    };
    let file = std::fs::File::from(owned);
    match memfd::Memfd::try_from_file(file) {
        Ok(m) => m
            .seals()
            .map(|s| s.contains(&memfd::FileSeal::SealWrite))
            .unwrap_or(false),
        Err(_) => false,
    }
}

fn to_io(e: memfd::Error) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn sealed_memfd_reads_back_and_refuses_writes() {
        let fd = sealed_memfd("t", b"hello").unwrap();
        assert_eq!(read_all(&fd.as_fd(), 100).unwrap(), b"hello");
        assert!(is_write_sealed(&fd.as_fd()));
        let mut f = std::fs::File::from(fd);
        assert!(f.write_all(b"x").is_err());
    }

    #[test]
    fn read_all_enforces_its_limit() {
        let fd = sealed_memfd("t", &[0u8; 64]).unwrap();
        assert!(read_all(&fd.as_fd(), 10).is_err());
    }
}
