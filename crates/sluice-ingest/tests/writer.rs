//! The store's writer, whose fsyncs and transactions run on a thread of its own: every
//! file is recorded once all its chunks are, across many packs and many batches; a
//! `commit` returns only once what came before it is in the catalog; a file naming a
//! chunk that never came is left out and named.

use sluice_ingest::hash::ChunkHash;
use sluice_ingest::store::Store;
use sluice_ingest::store::catalog::FileRow;
use sluice_ingest::store::writer::StoreWriter;
use sluice_ingest::walk::{Kind, Stat};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn file(path: &str, chunks: Vec<ChunkHash>) -> FileRow {
    FileRow {
        path: path.into(),
        kind: Kind::File,
        stat: Stat {
            size: 8,
            mtime_ns: 0,
            mode: 0o644,
            inode: 1,
        },
        target: None,
        chunks,
    }
}

#[test]
fn every_file_is_recorded_after_its_chunks_across_packs_and_batches() -> TestResult {
    let dir = std::env::temp_dir().join(format!("sluice-writer-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::open(&dir)?;
    let snapshot = store
        .catalog()?
        .begin_snapshot(Path::new("/tree"), None, "{}", 0)?;
    // Packs of about 512 bytes (ten chunks): some three hundred, each handed over full.
    let mut writer = StoreWriter::new(
        &store,
        store.lock()?,
        store.catalog()?,
        snapshot,
        HashSet::new(),
        512,
    )?;
    let files = 3000;
    let hashes: Vec<ChunkHash> = (0..files)
        .map(|i| ChunkHash::of(format!("chunk {i}").as_bytes()))
        .collect();
    for (i, hash) in hashes.iter().enumerate() {
        let data = format!("chunk {i}");
        writer.add_chunk(*hash, data.as_bytes(), 0, data.len() as u32)?;
        // Each file names its own chunk and the one before: often in another pack.
        let named = vec![hashes[i.saturating_sub(1)], *hash];
        writer.add_file(file(&format!("f{i:05}"), named))?;
        if i == 1500 {
            writer.commit()?;
            let recorded = store.catalog()?.files(snapshot, Path::new(""))?;
            assert_eq!(recorded.len(), 1501, "commit returns once all is recorded");
        }
    }
    let never = ChunkHash::of(b"never sent");
    writer.add_file(file("lost", vec![hashes[0], never]))?;
    let (stats, lost) = writer.finish(true, 0)?;
    assert_eq!(lost, [PathBuf::from("lost")]);
    assert_eq!(stats.files_recorded, files as u64);
    assert_eq!(stats.chunks_stored, files as u64);
    assert!(stats.packs > 100, "{} packs", stats.packs);

    let catalog = store.catalog()?;
    let chunks: HashMap<ChunkHash, u64> = catalog
        .chunks()?
        .into_iter()
        .map(|row| (row.hash, row.at.pack))
        .collect();
    let recorded = catalog.files(snapshot, Path::new(""))?;
    assert_eq!(recorded.len(), files);
    for row in &recorded {
        assert!(row.chunks.iter().all(|hash| chunks.contains_key(hash)));
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

#[test]
fn files_waiting_on_the_open_pack_are_recorded_before_it_fills() -> TestResult {
    let dir = std::env::temp_dir().join(format!("sluice-writer-waiting-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::open(&dir)?;
    let snapshot = store
        .catalog()?
        .begin_snapshot(Path::new("/tree"), None, "{}", 0)?;
    // One pack for everything, far from full and from the bytes that make a commit
    // due: as a tree of small sources looks for thousands of files.
    let mut writer = StoreWriter::new(
        &store,
        store.lock()?,
        store.catalog()?,
        snapshot,
        HashSet::new(),
        1 << 30,
    )?;
    let files = 5000;
    for i in 0..files {
        let data = format!("small file {i}");
        let hash = ChunkHash::of(data.as_bytes());
        writer.add_chunk(hash, data.as_bytes(), 0, data.len() as u32)?;
        writer.add_file(file(&format!("f{i:05}"), vec![hash]))?;
    }
    // No commit asked for: the first thousands are recorded all the same, by the
    // writer's own thread, so the run's last transaction is not all of them.
    let reader = store.catalog()?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut recorded = reader.files(snapshot, Path::new(""))?.len();
    while recorded < 4096 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
        recorded = reader.files(snapshot, Path::new(""))?.len();
    }
    assert!((4096..files).contains(&recorded), "{recorded} recorded");
    let (stats, lost) = writer.finish(true, 0)?;
    assert!(lost.is_empty());
    assert_eq!((stats.files_recorded, stats.packs), (files as u64, 1));
    assert_eq!(reader.files(snapshot, Path::new(""))?.len(), files);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
