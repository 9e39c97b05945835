//! Two writers on one store at once, as two workers of a queue are: their packs never
//! collide, a chunk both wrote is recorded once (the later copy is counted as dead
//! space), and a writer does not append a chunk another has recorded.

use sluice_ingest::hash::ChunkHash;
use sluice_ingest::store::Store;
use sluice_ingest::store::catalog::FileRow;
use sluice_ingest::store::writer::StoreWriter;
use sluice_ingest::walk::{Kind, Stat};
use std::collections::HashSet;
use std::path::Path;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn writer(store: &Store, snapshot: i64) -> Result<StoreWriter, Box<dyn std::error::Error>> {
    Ok(StoreWriter::shared(
        store,
        store.lock_shared()?,
        store.catalog()?,
        snapshot,
        HashSet::new(),
        1 << 20,
    )?)
}

fn file(path: &str, chunks: Vec<ChunkHash>) -> FileRow {
    FileRow {
        path: path.into(),
        kind: Kind::File,
        stat: Stat {
            size: 5,
            mtime_ns: 0,
            mode: 0o644,
            inode: 1,
        },
        target: None,
        chunks,
    }
}

#[test]
fn two_writers_share_a_store_without_colliding() -> TestResult {
    let dir = std::env::temp_dir().join(format!("sluice-shared-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::open(&dir)?;
    let snapshot = store
        .catalog()?
        .begin_snapshot(Path::new("/tree"), None, "{}", 0)?;
    // A single-process run is refused while a shared writer holds the store.
    let mut first = writer(&store, snapshot)?;
    assert!(store.lock().is_err());
    let mut second = writer(&store, snapshot)?;

    let (same, other) = (ChunkHash::of(b"same"), ChunkHash::of(b"other"));
    // Both append `same` before either commits; both open a pack.
    first.add_chunk(same, b"same", 0, 4)?;
    second.add_chunk(same, b"same", 0, 4)?;
    second.add_chunk(other, b"other", 0, 5)?;
    first.add_file(file("a", vec![same]))?;
    second.add_file(file("b", vec![same, other]))?;
    let (one, lost_one) = first.close()?;
    let (two, lost_two) = second.close()?;
    assert!(lost_one.is_empty() && lost_two.is_empty());
    assert_eq!((one.packs, two.packs), (1, 1));
    assert_eq!(
        (one.dead_chunks, two.dead_chunks, two.dead_bytes),
        (0, 1, 4)
    );

    let catalog = store.catalog()?;
    let chunks = catalog.chunks()?;
    assert_eq!(chunks.len(), 2);
    let packs: HashSet<u64> = chunks.iter().map(|c| c.at.pack).collect();
    assert_eq!(packs.len(), 2, "each writer's chunk is in its own pack");
    assert_eq!(catalog.files(snapshot, Path::new(""))?.len(), 2);

    // A third writer finds `same` recorded and appends nothing.
    let mut third = writer(&store, snapshot)?;
    third.add_chunk(same, b"same", 0, 4)?;
    third.add_file(file("c", vec![same]))?;
    let (three, _) = third.close()?;
    assert_eq!(
        (three.chunks_stored, three.packs, three.files_recorded),
        (0, 0, 1)
    );
    assert!(sluice_ingest::commands::verify::verify(&store)?.ok());
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
