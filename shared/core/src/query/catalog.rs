//! Dataset views cached across requests (and warm Lambda invocations): a
//! view is rebuilt only when the dataset's branch moved, and the branch tip is
//! looked up at most once per `ttl`. Every query service starts here.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use super::error::QueryError;
use super::view::{DatasetView, ProjectorFactory};
use crate::model::DatasetId;
use crate::ports::{DatasetReader, RepoError, Repository, Version};

/// An open snapshot and its view.
#[derive(Clone)]
pub struct Opened {
    /// The reader of the snapshot.
    pub reader: Arc<dyn DatasetReader>,
    /// What the snapshot offers to queries.
    pub view: Arc<DatasetView>,
}

struct Entry {
    opened: Opened,
    checked: Instant,
}

/// Views of the hub's datasets.
pub struct Catalog {
    repo: Arc<dyn Repository>,
    projections: Arc<dyn ProjectorFactory>,
    ttl: Duration,
    entries: Mutex<HashMap<DatasetId, Entry>>,
    list: Mutex<Option<(Vec<DatasetId>, Instant)>>,
}

impl Catalog {
    /// A catalog over a repository; views are re-checked after `ttl`.
    pub fn new(repo: Arc<dyn Repository>, projections: Arc<dyn ProjectorFactory>, ttl: Duration) -> Self {
        Self { repo, projections, ttl, entries: Mutex::new(HashMap::new()), list: Mutex::new(None) }
    }

    /// The datasets, sorted by id.
    pub async fn datasets(&self) -> Result<Vec<DatasetId>, QueryError> {
        let mut list = self.list.lock().await;
        if let Some((ids, at)) = list.as_ref()
            && at.elapsed() < self.ttl
        {
            return Ok(ids.clone());
        }
        let mut ids = self.repo.datasets().await?;
        ids.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        *list = Some((ids.clone(), Instant::now()));
        Ok(ids)
    }

    /// The current snapshot of a collection.
    pub async fn open(&self, id: &str) -> Result<Opened, QueryError> {
        // An id that cannot name a dataset names no collection: a 404, like any unknown one.
        let id = DatasetId::new(id).map_err(|_| QueryError::NotFound(format!("no collection {id:?}")))?;
        let mut entries = self.entries.lock().await;
        if let Some(e) = entries.get(&id)
            && e.checked.elapsed() < self.ttl
        {
            return Ok(e.opened.clone());
        }
        let reader: Arc<dyn DatasetReader> = match self.repo.open(&id, &Version::Latest).await {
            Ok(r) => Arc::from(r),
            Err(RepoError::NotFound(_)) => {
                return Err(QueryError::NotFound(format!("no collection {:?}", id.as_str())));
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(e) = entries.get_mut(&id)
            && e.opened.view.snapshot == reader.snapshot_id()
        {
            e.checked = Instant::now();
            return Ok(e.opened.clone());
        }
        let view = Arc::new(DatasetView::load(id.clone(), reader.as_ref(), self.projections.as_ref()).await?);
        let opened = Opened { reader, view };
        entries.insert(id, Entry { opened: opened.clone(), checked: Instant::now() });
        Ok(opened)
    }
}
