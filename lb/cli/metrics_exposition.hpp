// The metric families of `sctplb metrics`: one scrape of a segment, in
// prometheus-cpp's data model (the library writes the text exposition format).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

namespace sctplb::cli {

// Opens the segment `shm` afresh (so a deleted and recreated segment, or a
// restarted daemon, is simply read again), reads it as `stats --json` does and
// returns every family. A missing or unreadable segment: only sctplb_up 0.
[[nodiscard]] std::vector<prometheus::MetricFamily> collect_metrics(const std::string& shm);

// collect_metrics on every scrape of the exposer's /metrics.
class SegmentCollector final : public prometheus::Collectable {
public:
    explicit SegmentCollector(std::string shm) : shm_(std::move(shm)) {}
    [[nodiscard]] std::vector<prometheus::MetricFamily> Collect() const override { return collect_metrics(shm_); }

private:
    std::string shm_;
};

}  // namespace sctplb::cli
