// One scrape of a segment as Prometheus metric families (metrics_exposition.hpp).
// Names follow the Prometheus conventions: sctplb_ prefix, _total on counters,
// base units (seconds, bytes) in the name, one family per quantity, the varying
// part (reason, event, target, peer, queue) in labels.
#include "cli/metrics_exposition.hpp"

#include <algorithm>
#include <utility>

#include <nlohmann/json.hpp>

#include "cli/control_common.hpp"
#include "cli/kernel_queues.hpp"
#include "io/shared_state.hpp"
#include "cli/stats_json.hpp"
#include "cli/stats_readers.hpp"
#include "core/sync_engine.hpp"
#include "core/verdict.hpp"

namespace sctplb::cli {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;
using nlohmann::ordered_json;

// The families of one scrape, in the order they are added.
class Families {
public:
    MetricFamily& family(std::string name, std::string help, MetricType type) {
        families_.push_back(MetricFamily{std::move(name), std::move(help), type, {}});
        return families_.back();
    }
    // A family with one sample and no labels.
    void single(std::string name, std::string help, MetricType type, double value) {
        add(family(std::move(name), std::move(help), type), value);
    }
    static void add(MetricFamily& family, double value, Labels labels = {}) {
        ClientMetric metric;
        metric.label = std::move(labels);
        if (family.type == MetricType::Counter)
            metric.counter.value = value;
        else
            metric.gauge.value = value;
        family.metric.push_back(std::move(metric));
    }
    std::vector<MetricFamily> take() { return std::move(families_); }

private:
    std::vector<MetricFamily> families_;
};

constexpr auto kCounter = MetricType::Counter;
constexpr auto kGauge = MetricType::Gauge;

double number(const ordered_json& value) { return value.is_number() ? value.get<double>() : 0.0; }

void add_counters(Families& out, const Totals& totals) {
    auto& reasons = out.family("sctplb_packets_total", "Packets decided by the data path, by the reason of the verdict", kCounter);
    for (std::size_t i = 0; i < kReasonCount; ++i)
        Families::add(reasons, static_cast<double>(totals.reasons[i]),
                      {{"reason", std::string(reason_name(static_cast<Reason>(i)))}});
    auto& events = out.family("sctplb_events_total", "Events of the association table, the hold queue, the sync and the fast path", kCounter);
    for (std::size_t i = 0; i < kEventCount; ++i)
        Families::add(events, static_cast<double>(totals.events[i]),
                      {{"event", std::string(event_name(static_cast<Event>(i)))}});
    out.single("sctplb_nfqueue_packets_total", "Packets read from the NFQUEUE sockets", kCounter, static_cast<double>(totals.packets));
    out.single("sctplb_nfqueue_batches_total", "Batches of packets read from the NFQUEUE sockets", kCounter, static_cast<double>(totals.batches));
    out.single("sctplb_nfqueue_enobufs_total", "ENOBUFS on an NFQUEUE socket (the kernel dropped messages)", kCounter,
               static_cast<double>(totals.enobufs));
}

void add_targets(Families& out, SharedHeader& h, const Totals& totals) {
    const TargetSnapshot all = read_targets(h);  // consistent, without the config lock
    const std::uint32_t count = std::min<std::uint32_t>(h.max_targets, kMaxTargetSlots);
    auto& packets = out.family("sctplb_target_packets_total", "Packets the data path sent to a target (its fwmark)", kCounter);
    // A state set: one series per state, 1 for the slot's state, 0 for the others.
    auto& states = out.family("sctplb_target_state", "Target state: 1 for the state the slot is in", kGauge);
    auto& weights = out.family("sctplb_target_weight", "Maglev weight of a target (activate --weight)", kGauge);
    // Health checks (`sctplb health`): a state set like the target state, for probed targets.
    auto& health = out.family("sctplb_target_health", "Target health from sctplb health: 1 for the current one", kGauge);
    auto& probes = out.family("sctplb_target_probes_total", "Health probes of a target, by result", kCounter);
    constexpr TargetState kStates[] = {TargetState::Active, TargetState::Draining, TargetState::Down};
    constexpr HealthState kHealthStates[] = {HealthState::Unknown, HealthState::Up, HealthState::Down};
    const HealthReport report = read_health(h);
    for (std::uint32_t i = 0; i < count; ++i) {
        const TargetSlot& t = all[i];
        if (t.state == TargetState::Unused && totals.per_target[i] == 0) continue;
        const Labels labels{{"slot", std::to_string(i)}, {"fwmark", std::to_string(t.fwmark)}};
        Families::add(packets, static_cast<double>(totals.per_target[i]), labels);
        if (t.state == TargetState::Unused) continue;
        Families::add(weights, static_cast<double>(t.weight), labels);
        for (const TargetState s : kStates) {
            Labels with_state = labels;
            with_state.push_back({"state", std::string(target_state_name(s))});
            Families::add(states, t.state == s ? 1.0 : 0.0, std::move(with_state));
        }
        const auto probed = std::find_if(report.entries.begin(), report.entries.end(),
                                         [&](const HealthView& v) { return v.fwmark == t.fwmark; });
        if (probed == report.entries.end()) continue;
        for (const HealthState s : kHealthStates) {
            Labels with_health = labels;
            with_health.push_back({"health", std::string(health_state_name(s))});
            Families::add(health, probed->state == s ? 1.0 : 0.0, std::move(with_health));
        }
        Labels ok = labels, failed = labels;
        ok.push_back({"result", "ok"});
        failed.push_back({"result", "failed"});
        Families::add(probes, static_cast<double>(probed->probes_ok), std::move(ok));
        Families::add(probes, static_cast<double>(probed->probes_failed), std::move(failed));
    }
}

void add_table(Families& out, SharedState& state) {
    const TableFill fill = read_table_fill(state);
    const auto by_state = count_associations_by_state(state);
    auto& associations = out.family("sctplb_associations", "Associations in the table, by state", kGauge);
    for (std::size_t i = 1; i < by_state.size(); ++i)
        Families::add(associations, static_cast<double>(by_state[i]),
                      {{"state", std::string(association_state_name(static_cast<AssociationState>(i)))}});
    out.single("sctplb_association_table_capacity", "Associations the table holds at most", kGauge, fill.capacity);
    out.single("sctplb_association_table_half_open", "Half-open associations (INIT seen, no COOKIE ECHO yet)", kGauge, fill.half_open);
    out.single("sctplb_association_table_half_open_capacity", "Half-open associations the table holds at most", kGauge,
               fill.half_open_capacity);
    out.single("sctplb_association_table_index_failures_total", "Records the table could not index", kCounter,
               static_cast<double>(fill.index_failures));
}

void add_fast_path(Families& out, const SharedHeader& h, const std::string& shm) {
    const ordered_json f = fast_path_json(h, shm, monotonic_ns());
    out.single("sctplb_fastpath_enabled", "1 while the running daemon keeps the kernel fast path", kGauge,
               f["enabled"].get<bool>() ? 1.0 : 0.0);
    out.single("sctplb_fastpath_associations", "Associations the kernel forwards itself", kGauge, number(f["associations"]));
    out.single("sctplb_fastpath_elements", "Elements in the fast path's nft map", kGauge, number(f["elements"]));
    out.single("sctplb_fastpath_map_size", "Elements the fast path's nft map holds at most", kGauge, number(f["map_size"]));
    out.single("sctplb_fastpath_element_timeout_seconds", "Idle timeout of a fast path map element", kGauge,
               number(f["timeout_ms"]) / 1e3);
    if (!f["last_pass_ms"].is_null())
        out.single("sctplb_fastpath_last_pass_age_seconds", "Time since the fast path's last full pass over the table", kGauge,
                   number(f["last_pass_ms"]) / 1e3);
    if (!f["targets"].is_array()) return;  // the kernel's counters need CAP_NET_ADMIN
    auto& packets = out.family("sctplb_fastpath_target_packets_total", "Packets the kernel marked for a target (fast path)", kCounter);
    auto& bytes = out.family("sctplb_fastpath_target_bytes_total", "Bytes the kernel marked for a target (fast path)", kCounter);
    for (const auto& t : f["targets"]) {
        const Labels labels{{"fwmark", std::to_string(t["fwmark"].get<std::uint32_t>())}};
        Families::add(packets, number(t["packets"]), labels);
        Families::add(bytes, number(t["bytes"]), labels);
    }
}

void add_sync(Families& out, const SharedHeader& h) {
    const ordered_json s = sync_json(h, monotonic_ns());
    out.single("sctplb_sync_enabled", "1 when the (last) daemon synchronises associations with peers", kGauge, s.is_null() ? 0.0 : 1.0);
    if (s.is_null()) return;
    out.single("sctplb_sync_ready", "1 once the peers' tables were received after start", kGauge, s["ready"].get<bool>() ? 1.0 : 0.0);
    out.single("sctplb_sync_epoch", "The sync epoch of this instance (grows on every daemon start)", kGauge, number(s["epoch"]));
    for (std::size_t i = 0; i < kSyncCounterCount; ++i) {
        const std::string key(sync_counter_name(static_cast<SyncCounter>(i)));
        std::string name = "sctplb_sync_";
        name += key;
        name += "_total";
        std::string help = "Association sync: ";
        help += key;
        out.single(std::move(name), std::move(help), kCounter, number(s[key]));
    }
    auto& rejected = out.family("sctplb_sync_rejected_total", "Sync datagrams refused, by reason", kCounter);
    for (const auto& [reason, value] : s["rejected"].items()) Families::add(rejected, number(value), {{"reason", reason}});

    auto& up = out.family("sctplb_sync_peer_up", "1 while the peer is heard from and acknowledges", kGauge);
    auto& state = out.family("sctplb_sync_peer_state", "Peer state: 1 for the state the peer is in", kGauge);
    auto& lag = out.family("sctplb_sync_peer_lag_seconds", "Age of the peer's oldest unacknowledged message", kGauge);
    auto& rtt = out.family("sctplb_sync_peer_rtt_seconds", "Round-trip time to the peer", kGauge);
    auto& unacked = out.family("sctplb_sync_peer_unacked_messages", "Messages the peer has not acknowledged", kGauge);
    auto& heard = out.family("sctplb_sync_peer_last_heard_age_seconds", "Time since the peer was last heard", kGauge);
    auto& digest = out.family("sctplb_sync_peer_config_digest_match", "1 when the peer's configuration digest equals ours", kGauge);
    constexpr PeerState kPeerStates[] = {PeerState::Unknown, PeerState::Up, PeerState::Down, PeerState::AuthFailing};
    for (const auto& p : s["peers"]) {
        const Labels peer{{"peer", p["address"].get<std::string>()}};
        const std::string current = p["state"].get<std::string>();
        Families::add(up, current == peer_state_name(PeerState::Up) ? 1.0 : 0.0, peer);
        for (const PeerState ps : kPeerStates) {
            Labels with_state = peer;
            with_state.push_back({"state", std::string(peer_state_name(ps))});
            Families::add(state, current == peer_state_name(ps) ? 1.0 : 0.0, std::move(with_state));
        }
        Families::add(lag, number(p["lag_ms"]) / 1e3, peer);
        Families::add(rtt, number(p["rtt_us"]) / 1e6, peer);
        Families::add(unacked, number(p["unacked"]), peer);
        if (!p["last_heard_ms"].is_null()) Families::add(heard, number(p["last_heard_ms"]) / 1e3, peer);
        if (!p["digest_match"].is_null()) Families::add(digest, p["digest_match"].get<bool>() ? 1.0 : 0.0, peer);
    }
}

// The kernel's NFQUEUE counters as this process's network namespace sees them
// (run `metrics` in the daemon's). The kernel keeps them per bound queue, as
// 32-bit numbers that start again at 0 when the queue is bound again: counter resets.
void add_kernel_queues(Families& out, const SharedHeader& h) {
    const auto kernel = read_kernel_queue_stats();
    const std::vector<std::uint32_t> ours = served_queues(h);
    out.single("sctplb_nfqueue_kernel_stats_visible",
               "1 when this namespace's /proc/net/netfilter/nfnetlink_queue lists the daemon's queues", kGauge,
               kernel && !queues_in_other_namespace(kernel, ours, h.daemon_pid.load()) ? 1.0 : 0.0);
    if (!kernel) return;
    auto& queue_dropped = out.family("sctplb_nfqueue_queue_dropped_total", "Packets the kernel dropped: the queue was full (--qlength)", kCounter);
    auto& user_dropped = out.family("sctplb_nfqueue_user_dropped_total", "Packets the kernel dropped: the socket buffer was full", kCounter);
    auto& waiting = out.family("sctplb_nfqueue_waiting_packets", "Packets waiting in the queue for a verdict", kGauge);
    auto& served = out.family("sctplb_nfqueue_served", "1 when this segment's daemon serves the queue", kGauge);
    for (const KernelQueueStats& q : *kernel) {
        const Labels labels{{"queue", std::to_string(q.queue)}};
        Families::add(queue_dropped, q.queue_dropped, labels);
        Families::add(user_dropped, q.user_dropped, labels);
        Families::add(waiting, q.queue_total, labels);
        Families::add(served, std::find(ours.begin(), ours.end(), q.queue) != ours.end() ? 1.0 : 0.0, labels);
    }
}

}  // namespace

std::vector<MetricFamily> collect_metrics(const std::string& shm) {
    Families out;
    std::string error;
    auto state = SharedState::open(shm, error);
    out.single("sctplb_up", "1 when the shared memory segment could be opened and read", kGauge, state ? 1.0 : 0.0);
    if (!state) return out.take();
    SharedHeader& h = state->header();
    const std::int32_t pid = h.daemon_pid.load();
    out.single("sctplb_daemon_up", "1 while a data path (sctplb lb) runs on the segment", kGauge,
               pid != 0 && data_path_alive(pid) ? 1.0 : 0.0);
    out.single("sctplb_config_generation", "Bumped on every change of the Maglev table", kGauge,
               static_cast<double>(h.config_generation.load()));
    const Totals totals = sum_counters(h);
    add_counters(out, totals);
    add_targets(out, h, totals);
    add_table(out, *state);
    add_fast_path(out, h, shm);
    add_sync(out, h);
    add_kernel_queues(out, h);
    return out.take();
}

}  // namespace sctplb::cli
