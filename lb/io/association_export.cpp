#include "association_export.hpp"
#include "number_text.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

namespace sctplb {

namespace {

using nlohmann::json;
using nlohmann::ordered_json;

constexpr AssociationState kLiveStates[] = {
    AssociationState::HalfOpen, AssociationState::Established, AssociationState::RestartPending,
    AssociationState::Closing,  AssociationState::Closed,
};

std::optional<AssociationState> parse_state(std::string_view text) {
    for (const AssociationState state : kLiveStates)
        if (association_state_name(state) == text) return state;
    return std::nullopt;
}

std::optional<std::uint32_t> parse_tag(const json& value) {
    if (!value.is_string()) return std::nullopt;
    const std::string& text = value.get_ref<const std::string&>();
    // "0x" and 1..8 hex digits: parse_number32's hex spelling, the prefix required.
    if (!text.starts_with("0x") && !text.starts_with("0X")) return std::nullopt;
    return parse_number32(text);
}

// Small typed readers: each names the field it refused.
class FieldReader {
public:
    FieldReader(const json& object, std::string& error) : object_(object), error_(error) {}

    [[nodiscard]] bool ok() const { return ok_; }

    template <typename T>
    T integer(const char* name, T min, T max) {
        const json* value = field(name);
        if (value == nullptr) return T{};
        if (!value->is_number_integer()) return fail<T>(name, "is not an integer");
        if (value->is_number_unsigned()) {
            const auto v = value->get<std::uint64_t>();
            if (v > static_cast<std::uint64_t>(max)) return fail<T>(name, "is out of range");
            if (min > T{0} && v < static_cast<std::uint64_t>(min)) return fail<T>(name, "is out of range");
            return static_cast<T>(v);
        }
        const auto v = value->get<std::int64_t>();
        if (v < static_cast<std::int64_t>(min) ||
            (v > 0 && static_cast<std::uint64_t>(v) > static_cast<std::uint64_t>(max)))
            return fail<T>(name, "is out of range");
        return static_cast<T>(v);
    }

    std::uint32_t tag(const char* name) {
        const json* value = field(name);
        if (value == nullptr) return 0;
        const auto tag = parse_tag(*value);
        if (!tag) return fail<std::uint32_t>(name, "is not a tag \"0x...\" of 32 bits");
        return *tag;
    }

    bool boolean(const char* name) {
        const json* value = field(name);
        if (value == nullptr) return false;
        if (!value->is_boolean()) return fail<bool>(name, "is not true or false");
        return value->get<bool>();
    }

    AssociationState state(const char* name) {
        const json* value = field(name);
        if (value == nullptr) return AssociationState::Free;
        const auto state = value->is_string() ? parse_state(value->get_ref<const std::string&>()) : std::nullopt;
        if (!state) return fail<AssociationState>(name, "is not a live association state");
        return *state;
    }

    // Fills `out` and returns the count; at most out.size().
    template <std::size_t N>
    std::uint8_t addresses(const char* name, std::array<IpAddress, N>& out, bool required) {
        const json* value = field(name);
        if (value == nullptr) return 0;
        if (!value->is_array()) return fail<std::uint8_t>(name, "is not an array");
        if (value->size() > N) return fail<std::uint8_t>(name, "has more than " + std::to_string(N) + " addresses");
        if (required && value->empty()) return fail<std::uint8_t>(name, "is empty");
        std::size_t count = 0;
        for (const json& item : *value) {
            const auto address =
                item.is_string() ? IpAddress::parse(item.get_ref<const std::string&>()) : std::nullopt;
            if (!address) return fail<std::uint8_t>(name, "holds something that is not an IP address");
            out[count++] = *address;
        }
        return static_cast<std::uint8_t>(count);
    }

private:
    const json* field(const char* name) {
        if (!ok_) return nullptr;
        const auto it = object_.find(name);
        if (it == object_.end()) {
            fail<int>(name, "is missing");
            return nullptr;
        }
        return &*it;
    }
    template <typename T>
    T fail(const char* name, const std::string& why) {
        if (ok_) error_ = std::string("\"") + name + "\" " + why;
        ok_ = false;
        return T{};
    }

    const json& object_;
    std::string& error_;
    bool ok_ = true;
};

template <std::size_t N>
ordered_json address_array(const std::array<IpAddress, N>& addresses, std::size_t count) {
    ordered_json out = ordered_json::array();
    for (std::size_t i = 0; i < count && i < N; ++i) out.push_back(addresses[i].to_string());
    return out;
}

}  // namespace

std::string tag_hex(std::uint32_t tag) {
    char text[11];
    std::snprintf(text, sizeof text, "0x%08" PRIx32, tag);
    return text;
}

ordered_json association_to_json(const Association& a) {
    ordered_json out;
    out["state"] = association_state_name(a.state);
    out["sport"] = a.sport;
    out["dport"] = a.dport;
    out["tc"] = tag_hex(a.tc);
    out["ts"] = tag_hex(a.ts);
    out["fwmark"] = a.fwmark;
    out["addresses"] = address_array(a.addresses, a.address_count);
    out["server_addresses"] = address_array(a.server_addresses, a.server_address_count);
    out["pending_tc"] = tag_hex(a.pending_tc);
    out["old_tags_linger"] = a.old_tags_linger;
    out["old_tc"] = tag_hex(a.old_tc);
    out["old_ts"] = tag_hex(a.old_ts);
    out["created_ns"] = a.created_ns;
    out["last_seen_ns"] = a.last_seen_ns;
    out["state_since_ns"] = a.state_since_ns;
    out["old_tags_until_ns"] = a.old_tags_until_ns;
    return out;
}

std::optional<Association> association_from_json(const json& object, std::string& error) {
    if (!object.is_object()) {
        error = "not a JSON object";
        return std::nullopt;
    }
    FieldReader read(object, error);
    Association a{};
    a.state = read.state("state");
    a.sport = read.integer<std::uint16_t>("sport", 0, 65535);
    a.dport = read.integer<std::uint16_t>("dport", 0, 65535);
    a.tc = read.tag("tc");
    a.ts = read.tag("ts");
    a.fwmark = read.integer<std::uint32_t>("fwmark", 0, 0xffffffffu);
    a.address_count = read.addresses("addresses", a.addresses, true);
    a.server_address_count = read.addresses("server_addresses", a.server_addresses, false);
    a.pending_tc = read.tag("pending_tc");
    a.old_tags_linger = read.boolean("old_tags_linger");
    a.old_tc = read.tag("old_tc");
    a.old_ts = read.tag("old_ts");
    constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
    constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
    a.created_ns = read.integer<std::int64_t>("created_ns", kMin, kMax);
    a.last_seen_ns = read.integer<std::int64_t>("last_seen_ns", kMin, kMax);
    a.state_since_ns = read.integer<std::int64_t>("state_since_ns", kMin, kMax);
    a.old_tags_until_ns = read.integer<std::int64_t>("old_tags_until_ns", kMin, kMax);
    if (!read.ok()) return std::nullopt;
    return a;
}

std::string export_document(const AssociationExport& exported) {
    // One association per line: big tables stay diffable and greppable.
    std::string text = "{\"format\":" + ordered_json(kExportFormat).dump() +
                       ",\"version\":" + std::to_string(kExportVersion) +
                       ",\"exported_monotonic_ns\":" + std::to_string(exported.exported_monotonic_ns) +
                       ",\"associations\":[";
    bool first = true;
    for (const Association& a : exported.associations) {
        text += first ? "\n" : ",\n";
        text += association_to_json(a).dump();
        first = false;
    }
    text += "\n]}\n";
    return text;
}

std::optional<AssociationExport> parse_export_document(std::string_view text, std::string& error) {
    const json document = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
    if (document.is_discarded()) {
        error = "not valid JSON";
        return std::nullopt;
    }
    if (!document.is_object() || !document.contains("format") || document["format"] != kExportFormat) {
        error = "not an sctplb association export (\"format\" is not \"" + std::string(kExportFormat) + "\")";
        return std::nullopt;
    }
    if (!document.contains("version") || !document["version"].is_number_integer() ||
        document["version"].get<std::int64_t>() != kExportVersion) {
        error = "export version " + (document.contains("version") ? document["version"].dump() : "missing") +
                ", this sctplb reads version " + std::to_string(kExportVersion);
        return std::nullopt;
    }
    AssociationExport exported;
    const auto stamp = document.find("exported_monotonic_ns");
    if (stamp == document.end() || !stamp->is_number_integer()) {
        error = "\"exported_monotonic_ns\" is missing or not an integer";
        return std::nullopt;
    }
    exported.exported_monotonic_ns = stamp->get<std::int64_t>();
    const auto list = document.find("associations");
    if (list == document.end() || !list->is_array()) {
        error = "\"associations\" is missing or not an array";
        return std::nullopt;
    }
    exported.associations.reserve(list->size());
    std::size_t index = 0;
    for (const json& item : *list) {
        std::string why;
        auto association = association_from_json(item, why);
        if (!association) {
            error = "association " + std::to_string(index) + ": " + why;
            return std::nullopt;
        }
        exported.associations.push_back(*association);
        ++index;
    }
    return exported;
}

bool write_export_file(const std::string& path, const AssociationExport& exported, std::string& error) {
    const std::string temporary = path + ".tmp";
    const std::string text = export_document(exported);
    const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        error = temporary + ": " + std::strerror(errno);
        return false;
    }
    std::size_t written = 0;
    while (written < text.size()) {
        const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            error = temporary + ": " + std::strerror(errno);
            ::close(fd);
            ::unlink(temporary.c_str());
            return false;
        }
        written += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0 || ::close(fd) != 0) {
        error = temporary + ": " + std::strerror(errno);
        ::unlink(temporary.c_str());
        return false;
    }
    if (::rename(temporary.c_str(), path.c_str()) != 0) {
        error = "rename " + temporary + " to " + path + ": " + std::strerror(errno);
        ::unlink(temporary.c_str());
        return false;
    }
    return true;
}

std::optional<AssociationExport> read_export_file(const std::string& path, std::string& error) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        error = path + ": " + std::strerror(errno);
        return std::nullopt;
    }
    std::ostringstream contents;
    contents << in.rdbuf();
    if (in.bad()) {
        error = path + ": read error";
        return std::nullopt;
    }
    std::string why;
    auto exported = parse_export_document(contents.str(), why);
    if (!exported) error = path + ": " + why;
    return exported;
}

void rebase_times(Association& a, std::int64_t exported_at_ns, std::int64_t now_ns) {
    const std::int64_t shift = now_ns - exported_at_ns;
    for (std::int64_t* t : {&a.created_ns, &a.last_seen_ns, &a.state_since_ns, &a.old_tags_until_ns})
        if (*t != 0) *t += shift;
}

}  // namespace sctplb
