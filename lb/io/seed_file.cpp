#include "io/seed_file.hpp"
#include "io/file_descriptor.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace sctplb {

namespace {

std::string octal_mode(mode_t mode) {
    char text[8];
    std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
    return text;
}

}  // namespace

bool all_zero(std::span<const std::byte> bytes) {
    return std::all_of(bytes.begin(), bytes.end(), [](std::byte b) { return b == std::byte{0}; });
}

std::optional<std::vector<std::byte>> read_private_file(const std::string& path, std::string_view what,
                                                       unsigned forbidden_mode, std::size_t max_bytes,
                                                       std::string& error) {
    const std::string name = std::string(what) + " " + path;
    // O_NONBLOCK: a FIFO planted as the file would block open(2) until a
    // writer comes; non-blocking it opens at once, and fstat below refuses it.
    FileDescriptor file(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
    if (file.get() < 0) {
        error = name + ": " + std::strerror(errno);
        return std::nullopt;
    }
    struct stat info {};
    if (::fstat(file.get(), &info) != 0) {
        error = name + ": " + std::strerror(errno);
        return std::nullopt;
    }
    if (!S_ISREG(info.st_mode)) {
        error = name + ": not a regular file";
        return std::nullopt;
    }
    // A secret is only as private as its owner: a file another user owns can
    // be rewritten (or was written) by that user, whatever its mode says.
    if (info.st_uid != ::geteuid()) {
        error = name + ": owned by uid " + std::to_string(info.st_uid) + ", not by the user running sctplb (uid " +
                std::to_string(::geteuid()) + "): chown it";
        return std::nullopt;
    }
    if ((info.st_mode & forbidden_mode) != 0) {
        char fix[8];
        std::snprintf(fix, sizeof fix, "%o", static_cast<unsigned>(info.st_mode & 0777 & ~forbidden_mode));
        error = name + ((forbidden_mode & S_IRWXG) ? " is open to group or others" : " is readable by others") +
                " (mode " + octal_mode(info.st_mode) + "): run chmod " + fix + " " + path;
        return std::nullopt;
    }
    if (info.st_size > static_cast<off_t>(max_bytes)) {
        error = name + ": " + std::to_string(info.st_size) + " bytes, more than " + std::to_string(max_bytes);
        return std::nullopt;
    }
    std::vector<std::byte> bytes(static_cast<std::size_t>(info.st_size));
    std::size_t filled = 0;
    while (filled < bytes.size()) {
        const ssize_t got = ::read(file.get(), bytes.data() + filled, bytes.size() - filled);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            error = name + ": " + std::strerror(errno);
            return std::nullopt;
        }
        if (got == 0) break;  // shrank while we read: judge what we got
        filled += static_cast<std::size_t>(got);
    }
    bytes.resize(filled);
    return bytes;
}

std::optional<std::vector<std::byte>> read_seed_file(const std::string& path, std::string& error) {
    // Whoever knows the seed can pick an Initiate Tag that lands on a chosen
    // server: a world-readable seed is as good as none.
    auto seed = read_private_file(path, "seed file", S_IROTH, kMaxSeedFileBytes, error);
    if (seed && seed->size() < KeyedHash::kMinSeedBytes) {
        error = "seed file " + path + ": " + std::to_string(seed->size()) + " bytes, at least " +
                std::to_string(KeyedHash::kMinSeedBytes) + " needed (e.g. head -c 32 /dev/urandom)";
        return std::nullopt;
    }
    if (seed && all_zero(*seed)) {
        error = "seed file " + path + ": all bytes are zero, not a secret (e.g. head -c 32 /dev/urandom)";
        return std::nullopt;
    }
    return seed;
}

std::optional<KeyedHash> load_keyed_hash(const std::string& path, std::string& error) {
    auto seed = read_seed_file(path, error);
    if (!seed) return std::nullopt;
    auto hash = KeyedHash::from_seed(*seed);
    if (!hash) error = "seed file " + path + ": not a usable seed";
    return hash;
}

}  // namespace sctplb
