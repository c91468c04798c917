"""Counts the statuses in an NDJSON log on several processes: each worker reads a byte range of
the file cut at line ends, and the counts are added up. Run it where statuses.ndjson is."""

import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor

from iqm_runstatus import StatusBatch


def count_shard(path, start, end):
    with open(path, "rb") as log:
        log.seek(start)
        return Counter(StatusBatch.from_ndjson(log.read(end - start)).counts())


def shard_bounds(path, shards):
    size, bounds = os.path.getsize(path), [0]
    with open(path, "rb") as log:
        for i in range(1, shards):
            log.seek(max(size * i // shards, bounds[-1]))
            log.readline()  # move on to the next line start
            bounds.append(log.tell())
    return list(zip(bounds, [*bounds[1:], size]))


if __name__ == "__main__":  # workers started by spawn or forkserver import this module
    with ProcessPoolExecutor() as pool:
        bounds = shard_bounds("statuses.ndjson", 8)
        shards = [("statuses.ndjson", start, end) for start, end in bounds]
        total = sum(pool.map(count_shard, *zip(*shards)), Counter())
    print(total)
