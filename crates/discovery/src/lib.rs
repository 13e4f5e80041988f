//! ZooKeeper registry and watcher (placeholder: the discovery issue fills this in).
