#include "plot_data.hpp"

#include <algorithm>
#include <charconv>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

namespace sctpt {
namespace {

using Json = nlohmann::json;

std::string where(const std::string& name, std::size_t line) {
    std::string text = name;
    text += ':';
    text += std::to_string(line);
    text += ": ";
    return text;
}

// The last path component without its extension: the lane prefix when several files are drawn.
std::string short_name(const std::string& name) {
    std::string base = name.substr(name.find_last_of('/') + 1);
    if (const auto dot = base.find('.'); dot != std::string::npos && dot > 0) {
        base.resize(dot);
    }
    return base;
}

// `field` of `object` as a number / unsigned / string; false (and `why`) if absent or mistyped.
bool number_field(const Json& object, const char* field, double& value, std::string& why) {
    const auto found = object.find(field);
    if (found == object.end() || !found->is_number()) {
        why = std::string("no number \"") + field + "\"";
        return false;
    }
    value = found->get<double>();
    return true;
}
bool unsigned_field(const Json& object, const char* field, unsigned long long& value,
                    std::string& why) {
    const auto found = object.find(field);
    if (found == object.end() || !found->is_number_unsigned()) {
        why = std::string("no non-negative integer \"") + field + "\"";
        return false;
    }
    value = found->get<unsigned long long>();
    return true;
}
bool text_field(const Json& object, const char* field, std::string& value, std::string& why) {
    const auto found = object.find(field);
    if (found == object.end() || !found->is_string()) {
        why = std::string("no text \"") + field + "\"";
        return false;
    }
    value = found->get<std::string>();
    return true;
}

std::size_t index_of(std::vector<std::string>& names, const std::string& name) {
    const auto found = std::find(names.begin(), names.end(), name);
    if (found != names.end()) {
        return static_cast<std::size_t>(found - names.begin());
    }
    names.push_back(name);
    return names.size() - 1;
}

}  // namespace

const char* instant_kind_title(InstantKind kind) {
    switch (kind) {
        case InstantKind::path_down: return "path down (UNREACHABLE)";
        case InstantKind::path_up: return "path up again (AVAILABLE)";
        case InstantKind::failover: return "failover";
        case InstantKind::assoc_up: return "association up";
        case InstantKind::assoc_lost: return "association lost";
        case InstantKind::assoc_restart: return "association restart";
        case InstantKind::assoc_end: return "association closed";
    }
    return "?";
}

bool TimelineBuilder::add_file(const std::string& name, std::string_view text, std::string& error) {
    File file;
    file.name = name;
    bool started = false;
    std::size_t line_number = 0;
    std::vector<std::pair<std::size_t, double>> wall_markers;  // event index, wall_unix
    while (!text.empty()) {
        ++line_number;
        const auto newline = text.find('\n');
        const std::string_view line = text.substr(0, newline);
        text = newline == std::string_view::npos ? std::string_view{} : text.substr(newline + 1);
        if (line.find_first_not_of(" \t\r") == std::string_view::npos) {
            continue;
        }
        const Json object = Json::parse(line, nullptr, false);
        if (!object.is_object()) {
            error = where(name, line_number) + "not a JSON object";
            return false;
        }
        Event event;
        std::string why;
        if (!text_field(object, "event", event.kind, why)) {
            error = where(name, line_number) + why;
            return false;
        }
        if (!started) {
            if (event.kind != "start" || !number_field(object, "wall_unix", file.wall_start, why)) {
                error = where(name, line_number) +
                        "the first record must be {\"event\":\"start\",\"wall_unix\":...} "
                        "(written by sctpt --events)";
                return false;
            }
            started = true;
            continue;
        }
        // A marker a script appended may carry its own wall clock instead of t.
        double wall = 0;
        const bool wall_marker = event.kind == "marker" && !object.contains("t") &&
                                 number_field(object, "wall_unix", wall, why);
        bool valid = wall_marker || number_field(object, "t", event.t, why);
        unsigned long long client = 0;
        if (valid && event.kind == "marker") {
            valid = text_field(object, "label", event.label, why);
        } else if (valid && (event.kind == "sent" || event.kind == "echo" ||
                             event.kind == "peer_addr" || event.kind == "failover" ||
                             event.kind == "assoc")) {
            valid = unsigned_field(object, "client", client, why);
            event.client = static_cast<std::size_t>(client);
            if (valid && event.kind == "sent") {
                valid = unsigned_field(object, "seq", event.seq, why);
            } else if (valid && event.kind == "echo") {
                valid = unsigned_field(object, "seq", event.seq, why) &&
                        number_field(object, "rtt_ms", event.rtt_ms, why) &&
                        text_field(object, "server", event.server, why) &&
                        text_field(object, "path", event.path, why);
            } else if (valid && event.kind == "peer_addr") {
                valid = text_field(object, "address", event.path, why) &&
                        text_field(object, "state", event.state, why);
            } else if (valid && event.kind == "failover") {
                valid = text_field(object, "from", event.path, why);
            } else if (valid && event.kind == "assoc") {
                valid = text_field(object, "change", event.state, why);
            }
        }
        // Other kinds (start of a second run, send_failed, primary_set, unexpected, kinds of a
        // later schema) are not drawn.
        if (!valid) {
            error = where(name, line_number) + event.kind + " record with " + why;
            return false;
        }
        if (wall_marker) {
            wall_markers.emplace_back(file.events.size(), wall);
        }
        file.events.push_back(std::move(event));
    }
    if (!started) {
        error = name + ": empty (no events)";
        return false;
    }
    for (const auto& [index, wall] : wall_markers) {
        file.events[index].t = wall - file.wall_start;
    }
    files_.push_back(std::move(file));
    return true;
}

bool TimelineBuilder::add_marker(std::string_view spec, std::string& error) {
    const auto equals = spec.find('=');
    double t = 0;
    const char* end = spec.data() + (equals == std::string_view::npos ? spec.size() : equals);
    const auto [stop, result] = std::from_chars(spec.data(), end, t);
    if (equals == std::string_view::npos || equals == 0 || result != std::errc{} || stop != end ||
        !(t >= 0)) {
        error = "--marker: '";
        error += spec;
        error += "' is not T=LABEL (T seconds since the start, e.g. 12.5=\"path A cut\")";
        return false;
    }
    markers_.push_back(Marker{t, std::string(spec.substr(equals + 1))});
    return true;
}

Timeline TimelineBuilder::build() const {
    Timeline timeline;
    double origin = 0;
    for (std::size_t i = 0; i < files_.size(); ++i) {
        origin = i == 0 ? files_[i].wall_start : std::min(origin, files_[i].wall_start);
    }
    timeline.markers = markers_;
    for (const auto& marker : markers_) {
        timeline.end = std::max(timeline.end, marker.t);
    }
    std::map<std::pair<std::size_t, std::size_t>, std::size_t> lane_of;  // (file, client)
    for (std::size_t f = 0; f < files_.size(); ++f) {
        const auto& file = files_[f];
        const double offset = file.wall_start - origin;
        const auto lane = [&](std::size_t client) {
            const auto [found, added] = lane_of.try_emplace({f, client}, timeline.lanes.size());
            if (added) {
                std::string label = files_.size() > 1 ? short_name(file.name) + " " : std::string{};
                label += "client ";
                label += std::to_string(client);
                timeline.lanes.push_back(std::move(label));
            }
            return found->second;
        };
        // Lanes in client order, whatever order their first events came in.
        std::set<std::size_t> clients;
        for (const auto& event : file.events) {
            if (event.kind == "sent" || event.kind == "echo" || event.kind == "assoc" ||
                event.kind == "peer_addr" || event.kind == "failover") {
                clients.insert(event.client);
            }
        }
        for (const auto client : clients) {
            lane(client);
        }
        std::map<std::pair<std::size_t, unsigned long long>, double> unanswered;  // sent
        std::set<std::pair<std::size_t, std::string>> down;  // (client, address) now unreachable
        for (const auto& event : file.events) {
            const double t = event.t + offset;
            timeline.end = std::max(timeline.end, t);
            const auto instant = [&](InstantKind kind, std::string detail = {}) {
                timeline.instants.push_back(Instant{t, lane(event.client), kind, std::move(detail)});
            };
            if (event.kind == "sent") {
                unanswered[{event.client, event.seq}] = t;
            } else if (event.kind == "echo") {
                const auto sent = unanswered.find({event.client, event.seq});
                double sent_t = t - event.rtt_ms / 1000.0;
                if (sent != unanswered.end()) {
                    sent_t = sent->second;
                    unanswered.erase(sent);
                }
                timeline.messages.push_back(MessageMark{sent_t, lane(event.client),
                                                        index_of(timeline.servers, event.server),
                                                        index_of(timeline.paths, event.path),
                                                        event.rtt_ms});
            } else if (event.kind == "peer_addr") {
                // Only UNREACHABLE and the AVAILABLE after it: the AVAILABLE / CONFIRMED of
                // every address at the start of an association tell nothing.
                if (event.state == "UNREACHABLE") {
                    down.insert({event.client, event.path});
                    instant(InstantKind::path_down, event.path);
                } else if (event.state == "AVAILABLE" && down.erase({event.client, event.path}) > 0) {
                    instant(InstantKind::path_up, event.path);
                }
            } else if (event.kind == "failover") {
                instant(InstantKind::failover, event.path);
            } else if (event.kind == "assoc") {
                if (event.state == "COMM_UP") {
                    instant(InstantKind::assoc_up);
                } else if (event.state == "COMM_LOST" || event.state == "CANT_STR_ASSOC") {
                    instant(InstantKind::assoc_lost);
                } else if (event.state == "RESTART") {
                    instant(InstantKind::assoc_restart);
                } else if (event.state == "SHUTDOWN_COMP") {
                    instant(InstantKind::assoc_end);
                }
            } else if (event.kind == "marker") {
                timeline.markers.push_back(Marker{t, event.label});
            }
        }
        for (const auto& [key, t] : unanswered) {
            timeline.lost.push_back(LostMark{t, lane(key.first)});
        }
    }
    const auto by_time = [](const auto& a, const auto& b) { return a.t < b.t; };
    std::stable_sort(timeline.messages.begin(), timeline.messages.end(), by_time);
    std::stable_sort(timeline.lost.begin(), timeline.lost.end(), by_time);
    std::stable_sort(timeline.markers.begin(), timeline.markers.end(), by_time);
    return timeline;
}

}  // namespace sctpt
