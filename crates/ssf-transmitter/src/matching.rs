//! Which streams an event goes to ([SSF 1.0 §8.1.3.1](https://openid.net/specs/openid-sharedsignals-framework-1_0.html#section-8.1.3.1)).
//!
//! A stream receives an event when
//! 1. its status is not `disabled` (a `paused` stream gets it too: the store holds it,
//!    SSF-STATUS-12; a `disabled` stream holds nothing, SSF-STATUS-15),
//! 2. its `events_delivered` lists the event type (SSF-STREAM-06; verification and
//!    stream-updated always flow, SSF-STREAM-13), and
//! 3. its subjects cover the event's subject: an added subject matches it, or the stream's
//!    `default_subjects` is `ALL` and no removed subject matches it (D-15). Included wins over
//!    removed, the same rule as [`TransmitterStore::match_streams`].
//!
//! "Matches" is [`SubjectId::matches`]: identical simple subjects (SSF-SUB-40), complex subjects
//! whose common members are identical, absent members being wildcards (SSF-SUB-41, TV-MATCH-01..03),
//! and a simple subject against a complex one through its `user` member (SSF-SUB-43).
//!
//! How it is fast: stream records are cached (reloaded after [`Matcher::invalidate`] and every
//! [`IngestSettings::stream_cache_ttl`](crate::config::IngestSettings)); simple added/removed
//! subjects are found with one indexed [`TransmitterStore::subject_entries`] query per batch,
//! under the canonical key of [`crate::subject_key`]; complex added/removed subjects, which a key
//! lookup cannot find when they are more specific than the event (TV-MATCH-02), are kept in an
//! in-memory index, loaded once, updated by `Matcher::subject_changed`, and fully reloaded every
//! [`IngestSettings::subject_index_reload`](crate::config::IngestSettings).
//!
//! **Contract with stream management**: after every change to a stream (create, update, replace,
//! delete, status) call [`Matcher::invalidate`], and
//! after every Add/Remove Subject call `Matcher::subject_changed`; otherwise the change reaches
//! the matcher only after the cache TTL (streams) or the index reload (complex subjects).
//!
//! **Other nodes**: several transmitter nodes on one PostgreSQL database (DESIGN §4) each have
//! their own matcher. A change made through node A reaches node B's matcher at once: the store
//! announces every committed stream or subject change to the other nodes
//! ([`TransmitterStore::config_changes`], `LISTEN`/`NOTIFY`), and a background task started with
//! the workers ([`crate::workers`]) calls `Matcher::invalidate_all` on each announcement, so
//! B's next route reloads the stream records and the complex-subject index (issue 6: stream
//! management and ingest work on any node). The TTL and the periodic reload remain as a safety
//! net (e.g. a change whose announcement was lost while the listening connection was down is
//! covered by the signal sent on reconnect, and anything else by the TTL).
//!
//! [`TransmitterStore::match_streams`]: ssf_store::TransmitterStore::match_streams
//! [`TransmitterStore::config_changes`]: ssf_store::TransmitterStore::config_changes
//! [`TransmitterStore::subject_entries`]: ssf_store::TransmitterStore::subject_entries

mod target;

use std::{
    collections::{BTreeSet, HashMap},
    fmt,
    sync::{
        Arc, PoisonError, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use ssf_store::{DefaultSubjects, StoreError, StreamStatus, SubjectEntry, TransmitterStore};
use ssf_types::{EventType, ParseMode, StreamId, SubjectId};

pub(crate) use self::target::Target;
use crate::config::IngestSettings;

/// Streams fetched per page when the cache reloads.
const PAGE: u32 = 1000;
/// Canonical keys per `subject_entries` query.
const KEYS_PER_QUERY: usize = 256;

/// One event to route: its type and subject.
#[derive(Debug, Clone, Copy)]
pub struct Routable<'a> {
    /// The event type.
    pub event_type: &'a EventType,
    /// The event's `sub_id`.
    pub subject: &'a SubjectId,
}

struct Streams {
    targets: Vec<Arc<Target>>,
    loaded: Instant,
    generation: u64,
}

#[derive(Default)]
struct ComplexIndex {
    loaded: Option<Instant>,
    /// [`Matcher::complex_generation`] when the load started.
    generation: u64,
    by_stream: HashMap<StreamId, Vec<(SubjectId, bool)>>,
}

/// The cached matcher; one per transmitter. It reads streams and subjects from the store it is
/// given, and knows nothing else of the transmitter.
pub struct Matcher {
    /// [`IngestSettings::stream_cache_ttl`](crate::config::IngestSettings::stream_cache_ttl).
    stream_cache_ttl: Duration,
    /// [`IngestSettings::subject_index_reload`](crate::config::IngestSettings::subject_index_reload).
    subject_index_reload: Duration,
    streams: RwLock<Option<Arc<Streams>>>,
    complex: RwLock<ComplexIndex>,
    generation: AtomicU64,
    /// Bumped by [`Matcher::invalidate_all`] and [`Matcher::subject_changed`]: an index whose
    /// load started before is stale.
    complex_generation: AtomicU64,
    reload: tokio::sync::Mutex<()>,
}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let streams = read(&self.streams).as_ref().map_or(0, |s| s.targets.len());
        f.debug_struct("Matcher")
            .field("cached_streams", &streams)
            .field("generation", &self.generation.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

impl Default for Matcher {
    fn default() -> Self {
        Self::new(&IngestSettings::default())
    }
}

impl Matcher {
    /// An empty matcher with the cache lifetimes of `settings`.
    pub(crate) fn new(settings: &IngestSettings) -> Self {
        Self {
            stream_cache_ttl: settings.stream_cache_ttl,
            subject_index_reload: settings.subject_index_reload,
            streams: RwLock::default(),
            complex: RwLock::default(),
            generation: AtomicU64::default(),
            complex_generation: AtomicU64::default(),
            reload: tokio::sync::Mutex::default(),
        }
    }

    /// A stream was created, updated, deleted or changed status: the next match reloads the
    /// stream records. Stream management calls this after every such change.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Something about streams or subjects changed, nobody here knows what (another node changed
    /// it, see the module doc): the next match reloads the stream records and the whole
    /// complex-subject index. A reload already under way when this is called does not count.
    pub(crate) fn invalidate_all(&self) {
        // Before `generation`: a reload that sees the new `generation` sees this one too.
        self.complex_generation.fetch_add(1, Ordering::SeqCst);
        self.invalidate();
    }

    /// A subject was added (`included`) or removed on `stream_id`. Stream management calls this
    /// after every Add/Remove Subject; only complex subjects are kept in memory.
    pub(crate) fn subject_changed(
        &self,
        stream_id: &StreamId,
        subject: &SubjectId,
        included: bool,
    ) {
        if subject.is_simple() {
            return;
        }
        let mut index = write(&self.complex);
        let list = index.by_stream.entry(stream_id.clone()).or_default();
        match list.iter_mut().find(|(s, _)| s == subject) {
            Some(entry) => entry.1 = included,
            None => list.push((subject.clone(), included)),
        }
        // A reload running now may have read the subjects before this change was stored, and
        // would overwrite the index updated here: bumping the generation makes what it stores
        // stale. The index updated in place stays current if it was.
        let before = self.complex_generation.fetch_add(1, Ordering::SeqCst);
        if index.generation == before {
            index.generation = before + 1;
        }
    }

    /// Loads the caches now, so the first event does not wait for them.
    pub(crate) async fn warm(&self, store: &dyn TransmitterStore) -> Result<(), StoreError> {
        self.streams(store).await.map(|_| ())
    }

    /// For each event, the streams it goes to (see the module doc), in stream-id order.
    pub async fn route(
        &self,
        store: &dyn TransmitterStore,
        events: &[Routable<'_>],
    ) -> Result<Vec<Vec<Arc<Target>>>, StoreError> {
        let streams = self.streams(store).await?;
        let probes: Vec<Vec<String>> = events.iter().map(|e| probe_keys(e.subject)).collect();
        let by_key = if streams
            .targets
            .iter()
            .any(|t| t.status != StreamStatus::Disabled)
        {
            keyed_entries(store, probes.iter().flatten()).await?
        } else {
            HashMap::new()
        };
        let complex = read(&self.complex);
        let routed = events
            .iter()
            .zip(&probes)
            .map(|(event, keys)| {
                let mut hits: HashMap<&StreamId, Hit> = HashMap::new();
                for (stream_id, included) in keys.iter().filter_map(|k| by_key.get(k)).flatten() {
                    hits.entry(stream_id).or_default().mark(*included);
                }
                for (stream_id, subjects) in &complex.by_stream {
                    for (subject, included) in subjects {
                        if subject.matches(event.subject) {
                            hits.entry(stream_id).or_default().mark(*included);
                        }
                    }
                }
                streams
                    .targets
                    .iter()
                    .filter(|t| t.status != StreamStatus::Disabled)
                    .filter(|t| t.delivers(event.event_type))
                    .filter(|t| {
                        hits.get(&t.stream_id)
                            .copied()
                            .unwrap_or_default()
                            .covers(t)
                    })
                    .cloned()
                    .collect()
            })
            .collect();
        Ok(routed)
    }

    /// The cached stream records, reloaded when invalidated or older than the TTL.
    async fn streams(&self, store: &dyn TransmitterStore) -> Result<Arc<Streams>, StoreError> {
        let ttl = self.stream_cache_ttl;
        let fresh = |s: &Arc<Streams>| {
            s.generation == self.generation.load(Ordering::SeqCst) && s.loaded.elapsed() < ttl
        };
        if let Some(s) = read(&self.streams).as_ref().filter(|s| fresh(s)) {
            return Ok(Arc::clone(s));
        }
        let _single_flight = self.reload.lock().await;
        if let Some(s) = read(&self.streams).as_ref().filter(|s| fresh(s)) {
            return Ok(Arc::clone(s));
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let complex_generation = self.complex_generation.load(Ordering::SeqCst);
        let targets = load_targets(store).await?;
        let reload_index = {
            let index = read(&self.complex);
            index.generation != complex_generation
                || index
                    .loaded
                    .is_none_or(|at| at.elapsed() >= self.subject_index_reload)
        };
        if reload_index {
            let by_stream = load_complex(store, &targets).await?;
            *write(&self.complex) = ComplexIndex {
                loaded: Some(Instant::now()),
                generation: complex_generation,
                by_stream,
            };
        }
        let streams = Arc::new(Streams {
            targets,
            loaded: Instant::now(),
            generation,
        });
        *write(&self.streams) = Some(Arc::clone(&streams));
        Ok(streams)
    }
}

/// Whether added (`included`) or removed subjects of a stream matched an event.
#[derive(Debug, Clone, Copy, Default)]
struct Hit {
    included: bool,
    removed: bool,
}

impl Hit {
    fn mark(&mut self, included: bool) {
        if included {
            self.included = true;
        } else {
            self.removed = true;
        }
    }

    fn covers(self, target: &Target) -> bool {
        self.included || (target.default_subjects == DefaultSubjects::All && !self.removed)
    }
}

/// The canonical keys under which a simple added/removed subject matching `subject` is stored:
/// the subject itself, or, for a complex subject, its simple `user` member (SSF-SUB-43).
/// Complex added subjects are matched from the in-memory index instead.
fn probe_keys(subject: &SubjectId) -> Vec<String> {
    match subject.as_complex() {
        None => vec![crate::subject_key::subject_key(subject)],
        Some(complex) => complex
            .user()
            .filter(|u| u.is_simple())
            .map(|u| vec![crate::subject_key::subject_key(u)])
            .unwrap_or_default(),
    }
}

/// `subject_key -> [(stream, included)]` for the simple subjects stored under `keys`.
async fn keyed_entries(
    store: &dyn TransmitterStore,
    keys: impl Iterator<Item = &String>,
) -> Result<HashMap<String, Vec<(StreamId, bool)>>, StoreError> {
    let keys: Vec<String> = keys.cloned().collect::<BTreeSet<_>>().into_iter().collect();
    let mut out: HashMap<String, Vec<(StreamId, bool)>> = HashMap::new();
    for chunk in keys.chunks(KEYS_PER_QUERY) {
        for SubjectEntry {
            stream_id,
            subject_key,
            included,
            ..
        } in store.subject_entries(chunk).await?
        {
            out.entry(subject_key)
                .or_default()
                .push((stream_id, included));
        }
    }
    Ok(out)
}

async fn load_targets(store: &dyn TransmitterStore) -> Result<Vec<Arc<Target>>, StoreError> {
    let mut targets = Vec::new();
    let mut after: Option<StreamId> = None;
    loop {
        let page = store.list_all_streams(after.as_ref(), PAGE).await?;
        let full = page.len() == PAGE as usize;
        after = page.last().map(|r| r.stream_id.clone());
        for record in &page {
            match Target::from_record(record) {
                Ok(target) => targets.push(Arc::new(target)),
                Err(why) => tracing::warn!(
                    stream_id = %record.stream_id,
                    error = %why,
                    "stream configuration is unreadable; no events are routed to it"
                ),
            }
        }
        if !full {
            return Ok(targets);
        }
    }
}

/// Every complex added/removed subject of every stream.
async fn load_complex(
    store: &dyn TransmitterStore,
    targets: &[Arc<Target>],
) -> Result<HashMap<StreamId, Vec<(SubjectId, bool)>>, StoreError> {
    let mut by_stream: HashMap<StreamId, Vec<(SubjectId, bool)>> = HashMap::new();
    for target in targets {
        let mut after: Option<String> = None;
        loop {
            let page = store
                .list_subjects(&target.client_id, &target.stream_id, after.as_deref(), PAGE)
                .await?;
            let full = page.len() == PAGE as usize;
            after = page.last().map(|e| e.subject_key.clone());
            for entry in page {
                let is_complex =
                    entry.subject.get("format").and_then(|f| f.as_str()) == Some("complex");
                if !is_complex {
                    continue;
                }
                match SubjectId::from_json(&entry.subject, ParseMode::Strict) {
                    Ok(subject) => {
                        by_stream
                            .entry(entry.stream_id)
                            .or_default()
                            .push((subject, entry.included));
                    }
                    Err(e) => tracing::warn!(
                        stream_id = %entry.stream_id,
                        error = %e,
                        "stored complex subject is unreadable; ignored for matching"
                    ),
                }
            }
            if !full {
                break;
            }
        }
    }
    Ok(by_stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complex() -> SubjectId {
        SubjectId::from_json(
            &serde_json::json!({"format": "complex",
                "user": {"format": "email", "email": "a@example.com"},
                "device": {"format": "opaque", "id": "d1"}}),
            ParseMode::Strict,
        )
        .unwrap()
    }

    /// A local Add Subject keeps a current index current (no reload on the next route), but
    /// makes an index whose load started before it stale (the load may have missed it).
    #[test]
    fn a_local_subject_change_invalidates_only_a_reload_in_flight() {
        let matcher = Matcher::default();
        let stream = StreamId::new("s1");
        let current = matcher.complex_generation.load(Ordering::SeqCst);
        assert_eq!(read(&matcher.complex).generation, current);
        matcher.subject_changed(&stream, &complex(), true);
        let after = matcher.complex_generation.load(Ordering::SeqCst);
        assert_eq!(read(&matcher.complex).generation, after, "still current");
        assert_eq!(read(&matcher.complex).by_stream[&stream].len(), 1);

        // A reload captured the generation, then the change happened during its load.
        let captured = matcher.complex_generation.load(Ordering::SeqCst);
        matcher.subject_changed(&stream, &complex(), false);
        assert_ne!(
            matcher.complex_generation.load(Ordering::SeqCst),
            captured,
            "what that reload stores is stale"
        );
    }
}
