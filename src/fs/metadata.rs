//! `Metadata`: what `statx` says about a file.

use std::time::{Duration, SystemTime};

/// Size, type, permissions and times of a file.
#[derive(Debug, Clone, Copy)]
pub struct Metadata {
    size: u64,
    mode: u32,
    modified: (i64, u32),
    accessed: (i64, u32),
    inode: u64,
    nlink: u32,
}

fn to_system_time((secs, nanos): (i64, u32)) -> SystemTime {
    if secs >= 0 {
        SystemTime::UNIX_EPOCH + Duration::new(secs as u64, nanos)
    } else {
        SystemTime::UNIX_EPOCH - Duration::new(secs.unsigned_abs(), 0)
            + Duration::from_nanos(nanos as u64)
    }
}

impl Metadata {
    pub(crate) fn from_statx(st: libc::statx) -> Self {
        Self {
            size: st.stx_size,
            mode: st.stx_mode as u32,
            modified: (st.stx_mtime.tv_sec, st.stx_mtime.tv_nsec),
            accessed: (st.stx_atime.tv_sec, st.stx_atime.tv_nsec),
            inode: st.stx_ino,
            nlink: st.stx_nlink,
        }
    }

    /// Size in bytes.
    pub fn len(&self) -> u64 {
        self.size
    }

    /// Whether the size is zero.
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// A regular file.
    pub fn is_file(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFREG
    }

    /// A directory.
    pub fn is_dir(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFDIR
    }

    /// Type and permission bits (`st_mode`).
    pub fn mode(&self) -> u32 {
        self.mode
    }

    /// Last modification time.
    pub fn modified(&self) -> SystemTime {
        to_system_time(self.modified)
    }

    /// Last access time.
    pub fn accessed(&self) -> SystemTime {
        to_system_time(self.accessed)
    }

    /// Inode number.
    pub fn ino(&self) -> u64 {
        self.inode
    }

    /// Number of hard links.
    pub fn nlink(&self) -> u32 {
        self.nlink
    }
}
