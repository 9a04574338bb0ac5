#include "io/association_export.hpp"
#include "io/file_descriptor.hpp"
#include "core/number_text.hpp"

#include <fcntl.h>
#include <stdlib.h>  // arc4random_uniform (glibc 2.36)
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <limits>

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
    out["server_initiated"] = a.server_initiated;
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
    // Absent in exports made before server-initiated associations: false.
    if (object.contains("server_initiated")) a.server_initiated = read.boolean("server_initiated");
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

namespace {

// The first reason record `a` may not be imported, as "FIELD why".
std::optional<std::string> record_refusal(const Association& a, std::int64_t exported_at,
                                          const TargetSnapshot& targets, Nanos restart_linger) {
    std::optional<TargetState> target;
    for (const TargetSlot& slot : targets)
        if (slot.state != TargetState::Unused && slot.fwmark == a.fwmark) target = slot.state;
    std::string fwmark = "\"fwmark\" " + std::to_string(a.fwmark);
    if (a.fwmark == 0) return fwmark += " is not a target fwmark";
    if (!target) return fwmark += " is no target of this segment (sctplb activate it first)";
    if (*target == TargetState::Down) return fwmark += " is a target that is down";

    // A half-open association has the initiator's tag: the client's Tc, or,
    // opened by its server, the server's Ts (the peer's Tc comes later).
    if (a.state == AssociationState::HalfOpen && !a.server_initiated && a.tc == 0)
        return "\"tc\" is 0 in a half-open association";
    if (a.state == AssociationState::HalfOpen && a.server_initiated && a.ts == 0)
        return "\"ts\" is 0 in a half-open server-initiated association";
    if (a.state != AssociationState::HalfOpen && a.ts == 0) {
        std::string why = "\"ts\" is 0 in a";
        why += a.state == AssociationState::Established ? "n " : " ";
        why += association_state_name(a.state);
        return why += " association";
    }
    if (a.state == AssociationState::RestartPending && a.pending_tc == 0)
        return "\"pending_tc\" is 0 in a restart-pending association";

    const std::pair<const char*, std::int64_t> times[] = {
        {"created_ns", a.created_ns}, {"last_seen_ns", a.last_seen_ns}, {"state_since_ns", a.state_since_ns}};
    for (const auto& [name, t] : times) {
        std::string why = std::string("\"") + name + "\" " + std::to_string(t);
        if (t < 0) return why += " is negative";
        if (t > exported_at) {
            why += " is after the export (";
            why += std::to_string(exported_at);
            return why += "): the association would never expire";
        }
    }
    constexpr std::int64_t kLatest = std::numeric_limits<std::int64_t>::max();
    const std::int64_t until_limit =
        exported_at > kLatest - restart_linger.count() ? kLatest : exported_at + restart_linger.count();
    if (a.old_tags_until_ns < 0 || a.old_tags_until_ns > until_limit) {
        std::string why = "\"old_tags_until_ns\" " + std::to_string(a.old_tags_until_ns);
        why += " is not in 0..";
        return why += std::to_string(until_limit) + " (the export plus the restart linger)";
    }
    return std::nullopt;
}

std::string errno_text(int error_number) { return std::strerror(error_number); }

// The largest record export_document() can write: every field at its widest
// (IPv6 addresses in full, 20-digit times), plus the ",\n" between records.
std::size_t widest_export_record_bytes() {
    Association widest{};
    widest.state = AssociationState::RestartPending;
    widest.sport = widest.dport = 65535;
    widest.fwmark = widest.tc = widest.ts = widest.pending_tc = widest.old_tc = widest.old_ts = 0xffffffffu;
    widest.old_tags_linger = false;  // "false" is longer than "true"
    const IpAddress longest = *IpAddress::parse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    widest.addresses.fill(longest);
    widest.address_count = kMaxClientAddresses;
    widest.server_addresses.fill(longest);
    widest.server_address_count = kMaxServerAddresses;
    widest.created_ns = widest.last_seen_ns = widest.state_since_ns = widest.old_tags_until_ns =
        std::numeric_limits<std::int64_t>::min();
    return association_to_json(widest).dump().size() + 2;
}

// Writes all of `text` to `fd`, retrying short writes and EINTR.
bool write_all(int fd, std::string_view text, int& error_number) {
    std::size_t written = 0;
    while (written < text.size()) {
        const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            error_number = errno;
            return false;
        }
        written += static_cast<std::size_t>(n);
    }
    return true;
}

// Creates DIRECTORY/.BASE.XXXXXX (six random letters or digits, as mkstemp(3)
// names them) with O_CREAT|O_EXCL|O_NOFOLLOW: never an existing file or a
// symlink planted there. Mode 0600: the tags in an export let anyone inject
// into an association. Retries a name taken by another file a few times.
int create_temporary(const std::string& directory, const std::string& base, std::string& temporary,
                     std::string& error) {
    static constexpr char kLetters[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    int error_number = EEXIST;
    for (int attempt = 0; attempt < 100 && error_number == EEXIST; ++attempt) {
        std::string suffix(6, 'X');
        for (char& c : suffix) c = kLetters[arc4random_uniform(sizeof kLetters - 1)];
        temporary = directory + "/." + base + "." + suffix;
        const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0) return fd;
        error_number = errno;
    }
    error = temporary + ": " + errno_text(error_number);
    return -1;
}

// fsync(2) of the directory makes the rename itself durable.
bool sync_directory(const std::string& directory, int& error_number) {
    const int fd = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        error_number = errno;
        return false;
    }
    const bool synced = ::fsync(fd) == 0;
    if (!synced) error_number = errno;
    ::close(fd);
    return synced;
}

}  // namespace

std::size_t export_size_limit(std::uint32_t table_capacity) {
    // Twice the widest record per association: room for an export that a
    // person re-indented (jq .) without letting a wrong file fill the memory.
    static const std::size_t record_bytes = widest_export_record_bytes();
    constexpr std::size_t kDocumentSlack = 4096;  // the envelope and trailing whitespace
    return std::size_t{table_capacity} * record_bytes * 2 + kDocumentSlack;
}

bool write_export_file(const std::string& path, const AssociationExport& exported, std::string& error) {
    const std::size_t slash = path.rfind('/');
    const std::string directory = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
    if (base.empty() || base == "." || base == "..") {
        error = "'" + path + "' names no file";
        return false;
    }
    // An existing target must be a regular file (or a symlink, which the
    // rename replaces, never follows): a device such as /dev/full, a FIFO or a
    // directory is refused before anything is written. (A node swapped in
    // after this check would be replaced by the rename, never written to.)
    struct stat target {};
    if (::lstat(path.c_str(), &target) == 0) {
        if (!S_ISREG(target.st_mode) && !S_ISLNK(target.st_mode)) {
            error = path + " is not a regular file";
            return false;
        }
    } else if (errno != ENOENT) {
        error = path + ": " + errno_text(errno);
        return false;
    }

    std::string temporary;
    const int fd = create_temporary(directory, base, temporary, error);
    if (fd < 0) return false;
    // Every step's error is checked; the first one is reported, close(2)
    // happens always and exactly once (its error counts too: NFS reports
    // deferred write errors there), and a failure removes the temporary file.
    int error_number = 0;
    std::string failed;
    if (!write_all(fd, export_document(exported), error_number)) {
        failed = "writing " + temporary;
    } else if (::fsync(fd) != 0) {
        error_number = errno;
        failed = "fsync of " + temporary;
    }
    if (::close(fd) != 0 && failed.empty()) {
        error_number = errno;
        failed = "closing " + temporary;
    }
    if (failed.empty() && ::rename(temporary.c_str(), path.c_str()) != 0) {
        error_number = errno;
        failed = "renaming " + temporary + " to " + path;
    }
    if (!failed.empty()) {
        error = failed + ": " + errno_text(error_number);
        ::unlink(temporary.c_str());
        return false;
    }
    if (!sync_directory(directory, error_number)) {
        error = path + " written, but syncing its directory " + directory + " failed: " + errno_text(error_number);
        return false;
    }
    return true;
}

std::optional<AssociationExport> read_export_file(const std::string& path, std::uint32_t table_capacity,
                                                  std::string& error) {
    // O_NONBLOCK: opening a FIFO without a writer returns at once instead of
    // waiting for one (fifo(7)); fstat then refuses it before any read.
    const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        error = path + ": " + errno_text(errno);
        return std::nullopt;
    }
    const FileDescriptor file(fd);
    struct stat info {};
    if (::fstat(fd, &info) != 0) {
        error = path + ": " + errno_text(errno);
        return std::nullopt;
    }
    if (!S_ISREG(info.st_mode)) {
        error = path + " is not a regular file";
        return std::nullopt;
    }
    const std::size_t limit = export_size_limit(table_capacity);
    if (static_cast<std::uint64_t>(info.st_size) > limit) {
        error = path + " is " + std::to_string(info.st_size) + " bytes, more than the " + std::to_string(limit) +
                " bytes an export of a table of " + std::to_string(table_capacity) + " associations can take";
        return std::nullopt;
    }
    // Reads at most limit + 1 bytes, so a file that grows meanwhile is still bounded.
    std::string contents(static_cast<std::size_t>(info.st_size) + 1, '\0');
    std::size_t length = 0;
    for (;;) {
        if (length == contents.size()) {
            if (contents.size() > limit) break;
            contents.resize(std::min(contents.size() * 2, limit + 1));
        }
        const ssize_t n = ::read(fd, contents.data() + length, contents.size() - length);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            error = path + ": " + errno_text(errno);
            return std::nullopt;
        }
        if (n == 0) break;
        length += static_cast<std::size_t>(n);
    }
    if (length > limit) {
        error = path + " grew beyond the " + std::to_string(limit) + " bytes an export of a table of " +
                std::to_string(table_capacity) + " associations can take";
        return std::nullopt;
    }
    contents.resize(length);
    std::string why;
    auto exported = parse_export_document(contents, why);
    if (!exported) error = path + ": " + why;
    return exported;
}

std::optional<std::string> import_refusal(const AssociationExport& exported, const TargetSnapshot& targets,
                                          Nanos restart_linger) {
    // Times are checked as ages (export - time): both must be readings of one
    // monotonic clock, never negative, so rebase_times cannot overflow.
    if (exported.exported_monotonic_ns < 0) return "\"exported_monotonic_ns\" is negative";
    for (std::size_t i = 0; i < exported.associations.size(); ++i)
        if (auto why = record_refusal(exported.associations[i], exported.exported_monotonic_ns, targets, restart_linger)) {
            std::string error = "association " + std::to_string(i);
            error += ": ";
            return error += *why;
        }
    return std::nullopt;
}

void rebase_times(Association& a, std::int64_t exported_at_ns, std::int64_t now_ns) {
    const std::int64_t shift = now_ns - exported_at_ns;
    for (std::int64_t* t : {&a.created_ns, &a.last_seen_ns, &a.state_since_ns, &a.old_tags_until_ns})
        if (*t != 0) *t += shift;
}

}  // namespace sctplb
