//! Loading the vectors extracted by `tests/vectors/extract.py`.

use std::path::PathBuf;

use serde_json::Value;

pub(crate) fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("vectors")
}

/// The vector `id` (e.g. `TV-CAEP-01`) as JSON.
pub(crate) fn load(id: &str) -> Value {
    let path = dir().join(format!("{id}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{id}: {e}"))
}

/// Every vector id on disk, sorted.
pub(crate) fn ids_on_disk() -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|name| name.strip_suffix(".json").map(str::to_owned))
        .collect();
    ids.sort();
    ids
}
