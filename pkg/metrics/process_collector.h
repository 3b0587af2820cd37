// ProcessCollector: the standard process_* series (CPU seconds, resident and
// virtual memory, open and maximum file descriptors, start time) read from
// /proc/self at scrape time, so they cost nothing between scrapes.
#pragma once

#include <prometheus/collectable.h>

#include <memory>

namespace freshfs::metrics {

std::shared_ptr<prometheus::Collectable> MakeProcessCollector();

}  // namespace freshfs::metrics
