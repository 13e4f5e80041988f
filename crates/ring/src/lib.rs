//! Ketama ring and shard table (placeholder: the ring issue fills this in).
