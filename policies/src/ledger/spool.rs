//! The local append-only spool: where records wait, in order, while the ledger is unavailable.
//!
//! Owns the spool files and their crash-safe life cycle: `append` adds JSON lines to `<spool>` and
//! fsyncs; `start_replay` renames `<spool>` to `<spool>.replaying` (or resumes a `.replaying` left
//! by an earlier run or a failed attempt) so new appends never mix with a replay in progress;
//! `finish_replay` deletes `.replaying` only once every line in it has been delivered. A line that
//! is not a record (a torn write after a crash) is moved to `<spool>.rejected`, never silently
//! dropped. Never talks to Redis and never decides when to replay: the writer does. Every method
//! does blocking file I/O, so async callers run it on the blocking pool.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};

use super::record::Entry;
use super::stats::{now_ms, Counters};

/// The spool files of one ledger instance.
#[derive(Debug)]
pub(crate) struct Spool {
    path: PathBuf,
    replaying: PathBuf,
    rejected: PathBuf,
    counters: Arc<Counters>,
    /// Serialises appends (from the writer and from `publish` when the queue is full) with the
    /// rename that starts a replay.
    lock: Mutex<()>,
}

/// A replay in progress: a reader over `<spool>.replaying`.
#[derive(Debug)]
pub(crate) struct Replay {
    reader: BufReader<File>,
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn len_of(path: &Path) -> io::Result<u64> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(m.len()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e),
    }
}

impl Spool {
    /// Opens the spool at `path`, creating its directory; counts any records left by an earlier
    /// run so the writer replays them.
    pub(crate) fn open(path: PathBuf, counters: Arc<Counters>) -> io::Result<Spool> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let spool = Spool {
            replaying: with_suffix(&path, ".replaying"),
            rejected: with_suffix(&path, ".rejected"),
            path,
            counters,
            lock: Mutex::new(()),
        };
        let leftover = len_of(&spool.path)? + len_of(&spool.replaying)?;
        spool.counters.spool_bytes.store(leftover, Ordering::Relaxed);
        if leftover > 0 {
            spool.counters.spool_since_ms.store(now_ms(), Ordering::Relaxed);
            tracing::warn!(spool = %spool.path.display(), bytes = leftover, "ledger spool holds records from an earlier run; replaying them");
        }
        Ok(spool)
    }

    /// The spool file's path (for logs).
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn guard(&self) -> MutexGuard<'_, ()> {
        // The guarded data is `()`: a panic elsewhere cannot leave it inconsistent.
        self.lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends records as JSON lines and fsyncs, as one write. On error the file is cut back to its
    /// previous length so a torn batch cannot corrupt the next line.
    pub(crate) fn append(&self, entries: &[Entry]) -> io::Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut buf = String::with_capacity(entries.iter().map(|e| e.json.len() + 1).sum());
        for e in entries {
            buf.push_str(&e.json);
            buf.push('\n');
        }
        let _guard = self.guard();
        let mut file = OpenOptions::new().create(true).append(true).open(&self.path)?;
        let before = file.metadata()?.len();
        if let Err(e) = file.write_all(buf.as_bytes()).and_then(|()| file.sync_data()) {
            let _ = file.set_len(before);
            return Err(e);
        }
        let n = u64::try_from(entries.len()).unwrap_or(u64::MAX);
        Counters::add(&self.counters.spooled, n);
        Counters::add(&self.counters.spool_bytes, u64::try_from(buf.len()).unwrap_or(u64::MAX));
        let _ = self.counters.spool_since_ms.compare_exchange(0, now_ms(), Ordering::Relaxed, Ordering::Relaxed);
        Ok(())
    }

    /// Starts (or resumes) a replay; `None` when the spool is empty.
    pub(crate) fn start_replay(&self) -> io::Result<Option<Replay>> {
        let _guard = self.guard();
        if len_of(&self.replaying)? == 0 {
            if len_of(&self.path)? == 0 {
                // Nothing to replay: resynchronise the gauges with the disk.
                self.counters.spool_bytes.store(0, Ordering::Relaxed);
                self.counters.spool_since_ms.store(0, Ordering::Relaxed);
                return Ok(None);
            }
            std::fs::rename(&self.path, &self.replaying)?;
        }
        let file = File::open(&self.replaying)?;
        Ok(Some(Replay { reader: BufReader::new(file) }))
    }

    /// Deletes the fully delivered `.replaying` file.
    pub(crate) fn finish_replay(&self, replay: Replay) -> io::Result<()> {
        drop(replay);
        let _guard = self.guard();
        match std::fs::remove_file(&self.replaying) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let left = len_of(&self.path)?;
        self.counters.spool_bytes.store(left, Ordering::Relaxed);
        if left == 0 {
            self.counters.spool_since_ms.store(0, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Reads up to `max` records from the replay; fewer (or none) at the end of the file. Lines
    /// that are not records go to `<spool>.rejected`, loudly. Returns the records and the bytes
    /// they took in the file.
    pub(crate) fn next_chunk(&self, replay: &mut Replay, max: usize) -> io::Result<(Vec<Entry>, u64)> {
        let mut out = Vec::new();
        let mut bytes = 0u64;
        let mut line = String::new();
        while out.len() < max {
            line.clear();
            let n = replay.reader.read_line(&mut line)?;
            if n == 0 {
                break;
            }
            bytes += u64::try_from(n).unwrap_or(u64::MAX);
            let text = line.trim_end_matches(['\n', '\r']);
            if text.is_empty() {
                continue;
            }
            match Entry::decode_line(text) {
                Ok(entry) => out.push(entry),
                Err(e) => self.reject(text, &e)?,
            }
        }
        Ok((out, bytes))
    }

    fn reject(&self, line: &str, why: &serde_json::Error) -> io::Result<()> {
        tracing::error!(spool = %self.path.display(), rejected = %self.rejected.display(), error = %why, "ledger spool line is not a usage record; moved aside for inspection");
        let mut file = OpenOptions::new().create(true).append(true).open(&self.rejected)?;
        file.write_all(line.as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str) -> Entry {
        Entry { request_id: id.into(), json: format!("{{\"request_id\":\"{id}\"}}") }
    }

    #[test]
    fn append_replay_finish_round_trip_and_torn_lines_are_set_aside() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let counters = Arc::new(Counters::default());
        let spool = Spool::open(dir.join("s.spool"), counters.clone()).unwrap();
        assert!(spool.start_replay().unwrap().is_none());
        spool.append(&[entry("a"), entry("b")]).unwrap();
        std::fs::OpenOptions::new().append(true).open(dir.join("s.spool")).unwrap().write_all(b"{\"requ").unwrap();
        let mut replay = spool.start_replay().unwrap().unwrap();
        spool.append(&[entry("c")]).unwrap(); // goes to a fresh spool, not the replay
        let (chunk, _) = spool.next_chunk(&mut replay, 10).unwrap();
        assert_eq!(chunk, vec![entry("a"), entry("b")]);
        assert_eq!(String::from_utf8(std::fs::read(dir.join("s.spool.rejected")).unwrap()).unwrap(), "{\"requ\n");
        spool.finish_replay(replay).unwrap();
        assert!(!dir.join("s.spool.replaying").exists());
        let mut replay = spool.start_replay().unwrap().unwrap();
        assert_eq!(spool.next_chunk(&mut replay, 10).unwrap().0, vec![entry("c")]);
        spool.finish_replay(replay).unwrap();
        assert_eq!(counters.snapshot().spool_bytes, 0);
        assert_eq!(counters.snapshot().spooled, 3);
    }
}
