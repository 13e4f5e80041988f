//! Criterion benches of the ketama ring: lookup and build on 100 nodes, shard lookup.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use svrkit_ring::{key_hash, Ring, ShardEntry, ShardTable};

fn nodes(n: usize) -> Vec<(String, u32)> {
    (0..n).map(|i| (format!("10.0.{}.{}:11211", i / 256, i % 256), 1 + (i % 4) as u32)).collect()
}

fn bench_ring(c: &mut Criterion) {
    let list = nodes(100);
    let keys: Vec<String> = (0..1024).map(|i| format!("user:{i}")).collect();
    let hashes: Vec<u32> = keys.iter().map(key_hash).collect();

    c.bench_function("build 100 nodes", |b| b.iter(|| Ring::new(black_box(list.clone())).unwrap()));

    let mut ring = Ring::new(list.clone()).unwrap();
    let mut i = 0;
    c.bench_function("lookup 100 nodes (md5 + search)", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            ring.lookup(black_box(&keys[i]))
        })
    });
    c.bench_function("lookup_hash 100 nodes (search only)", |b| {
        b.iter(|| {
            i = (i + 1) % hashes.len();
            ring.lookup_hash(black_box(hashes[i]))
        })
    });
    for index in (0..100).step_by(10) {
        ring.eject(index);
    }
    c.bench_function("lookup_hash 100 nodes, 10 ejected", |b| {
        b.iter(|| {
            i = (i + 1) % hashes.len();
            ring.lookup_hash(black_box(hashes[i]))
        })
    });
    c.bench_function("successors 100 nodes, first 3", |b| {
        b.iter(|| {
            i = (i + 1) % hashes.len();
            ring.successors_hash(black_box(hashes[i])).take(3).sum::<usize>()
        })
    });
}

fn bench_shard(c: &mut Criterion) {
    let entries = (0..100)
        .map(|i| ShardEntry {
            section: format!("server{i}"),
            begin: i * 10,
            end: i * 10 + 9,
            primary: i,
            backup: None,
        })
        .collect();
    let table = ShardTable::new(1000, entries).unwrap();
    let mut id = 0u64;
    c.bench_function("shard lookup 100 ranges", |b| {
        b.iter(|| {
            id = id.wrapping_add(7919);
            table.lookup(black_box(id)).primary
        })
    });
}

criterion_group!(benches, bench_ring, bench_shard);
criterion_main!(benches);
