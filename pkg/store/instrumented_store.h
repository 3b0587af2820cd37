// InstrumentedStore: a Store decorator counting every request and the bytes
// of file data it moves (freshfs_store_requests_total{op,result},
// freshfs_store_bytes_total{direction}). Thread-safe as the Store it wraps.
#pragma once

#include <memory>

#include "metrics/metrics.h"
#include "store/store.h"

namespace freshfs::store {

std::unique_ptr<Store> Instrument(std::unique_ptr<Store> store, metrics::Metrics* metrics);

}  // namespace freshfs::store
