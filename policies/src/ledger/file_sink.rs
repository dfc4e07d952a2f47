//! Single-instance mode: the ledger is a local JSON-lines file.
//!
//! Owns appending a batch to `file_path` as one write followed by an fsync. Never deduplicates
//! (one process writes each record once; after a crash between the write and the spool cleanup a
//! replayed record may appear twice, so readers key on `request_id`) and never spools: the writer
//! does that.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::record::Entry;

/// The ledger file.
#[derive(Clone, Debug)]
pub(crate) struct FileSink {
    path: PathBuf,
}

impl FileSink {
    /// Creates the file's directory if needed; the file itself is created on the first write.
    pub(crate) fn new(path: PathBuf) -> io::Result<FileSink> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        Ok(FileSink { path })
    }

    /// Appends the batch as JSON lines and fsyncs (blocking: run on the blocking pool). On error
    /// the file is cut back to its previous length, so nothing of the batch counts as written.
    pub(crate) fn append(&self, entries: &[Entry]) -> io::Result<()> {
        append_lines(&self.path, entries)
    }
}

fn append_lines(path: &Path, entries: &[Entry]) -> io::Result<()> {
    let mut buf = String::with_capacity(entries.iter().map(|e| e.json.len() + 1).sum());
    for e in entries {
        buf.push_str(&e.json);
        buf.push('\n');
    }
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    let before = file.metadata()?.len();
    if let Err(e) = file.write_all(buf.as_bytes()).and_then(|()| file.sync_data()) {
        let _ = file.set_len(before);
        return Err(e);
    }
    Ok(())
}
