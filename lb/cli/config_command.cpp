// `sctplb config check`: validates an instance's /etc/sctplb/NAME.conf before the systemd
// units start anything (ExecStartPre). The file is KEY=VALUE lines that systemd reads as an
// EnvironmentFile; each *_OPTIONS value is split at whitespace into the options of one
// command (`sctplb lb --shm=NAME $LB_OPTIONS`). Every key is known here; each command's
// options are checked by that command's own option table (the command run with --help first,
// which parses every option and then only prints the help), so this file keeps no copy of them.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "cli/control_common.hpp"

namespace sctplb::cli {

namespace {

constexpr std::string_view kCommand = "config";
constexpr std::string_view kDefaultDir = "/etc/sctplb";

struct ConfigKey {
    std::string_view name;
    std::string_view command;  // whose options the value holds ("" for TARGETS)
};
// The units (packaging/systemd) read exactly these; docs/operations.md and sctplb(8) list them.
constexpr std::array kKeys{
    ConfigKey{"INIT_OPTIONS", "init"},       ConfigKey{"TARGETS", ""},
    ConfigKey{"RULES_OPTIONS", "rules"},     ConfigKey{"LB_OPTIONS", "lb"},
    ConfigKey{"HEALTH_OPTIONS", "health"},   ConfigKey{"METRICS_OPTIONS", "metrics"},
};
// Set by the units themselves: in the file they would clash with the instance name or the unit.
constexpr std::array<std::string_view, 3> kUnitOptions{"shm", "apply", "delete"};

constexpr OptionSpec kConfigSpecs[] = {
    {"dir", "DIR", "where NAME.conf files live (default /etc/sctplb)"},
};
constexpr std::string_view kConfigUsage = "sctplb config check [--dir=DIR] NAME|FILE...";
constexpr std::string_view kConfigDescription =
    "Checks instance configuration files: NAME reads DIR/NAME.conf, a word with a '/' is a\n"
    "file (its instance name is the file name without .conf). Lines are KEY=VALUE (value bare,\n"
    "or in \"...\" or '...'; no $, \\ or quotes inside; no trailing comments), comments start with\n"
    "# or ;. Keys: INIT_OPTIONS, TARGETS (fwmarks activated after init), RULES_OPTIONS,\n"
    "LB_OPTIONS, HEALTH_OPTIONS, METRICS_OPTIONS; each *_OPTIONS value is checked against\n"
    "that command's options. --shm, --apply and --delete are set by the units. Prints one line\n"
    "per mistake (FILE:LINE: ...) and exits 1, or one 'ok' line per file.";

std::string known_keys() {
    std::string out;
    for (const auto& key : kKeys) {
        if (!out.empty()) out += ", ";
        out += key.name;
    }
    return out;
}

const ConfigKey* find_key(std::string_view name) {
    for (const auto& key : kKeys)
        if (key.name == name) return &key;
    return nullptr;
}

std::vector<std::string> split_words(std::string_view text) {
    std::vector<std::string> words;
    std::size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
        const std::size_t start = i;
        while (i < text.size() && text[i] != ' ' && text[i] != '\t') ++i;
        if (i > start) words.emplace_back(text.substr(start, i - start));
    }
    return words;
}

// `sctplb COMMAND --help WORDS...` with stdout discarded: "" when the command accepts the
// options, else its one-line error without the "sctplb COMMAND: " prefix.
std::string check_with_command(std::string_view command, const std::vector<std::string>& words) {
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return std::string("pipe: ") + std::strerror(errno);
    std::vector<std::string> argv_text{"sctplb", std::string(command), "--help"};
    argv_text.insert(argv_text.end(), words.begin(), words.end());
    std::vector<char*> argv;
    for (auto& word : argv_text) argv.push_back(word.data());
    argv.push_back(nullptr);
    const pid_t child = ::fork();
    if (child < 0) return std::string("fork: ") + std::strerror(errno);
    if (child == 0) {
        const int null_fd = ::open("/dev/null", O_WRONLY);
        if (null_fd >= 0) ::dup2(null_fd, STDOUT_FILENO);
        ::dup2(pipe_fds[1], STDERR_FILENO);
        ::execv("/proc/self/exe", argv.data());
        ::_exit(127);
    }
    ::close(pipe_fds[1]);
    std::string output;
    char buffer[512];
    ssize_t got = 0;
    while ((got = ::read(pipe_fds[0], buffer, sizeof buffer)) != 0) {
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) break;
        output.append(buffer, static_cast<std::size_t>(got));
    }
    ::close(pipe_fds[0]);
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
    std::string line = output.substr(0, output.find('\n'));
    std::string prefix = "sctplb ";
    prefix += command;
    prefix += ": ";
    if (line.starts_with(prefix)) return line.substr(prefix.size());
    if (line.starts_with("sctplb: ")) return line.substr(8);
    if (line.empty()) return "'sctplb " + std::string(command) + "' could not check its options";
    return line;
}

// The value of KEY=VALUE without its quotes; false with `error` on anything systemd would
// read differently from a plain split at whitespace.
bool unquote(std::string_view raw, std::string& value, std::string& error) {
    if (!raw.empty() && (raw.front() == '"' || raw.front() == '\'')) {
        if (raw.size() < 2 || raw.back() != raw.front()) {
            error = "unterminated quote";
            return false;
        }
        raw = raw.substr(1, raw.size() - 2);
    }
    for (const char c : raw) {
        if (c == '"' || c == '\'' || c == '\\' || c == '$' || c == '`') {
            error = std::string("character ") + c + " in a value (no quoting or expansion inside values)";
            return false;
        }
        if (c == '#') {
            error = "'#' in a value (comments go on a line of their own)";
            return false;
        }
    }
    value = std::string(raw);
    return true;
}

class FileCheck {
public:
    explicit FileCheck(std::string path) : path_(std::move(path)) {}

    // Prints every mistake, one line each; true if there was none.
    bool run() {
        std::ifstream in(path_);
        if (!in) {
            report(0, std::string("cannot read: ") + std::strerror(errno));
            return false;
        }
        std::string line;
        std::vector<std::pair<std::string_view, int>> seen;
        for (int number = 1; std::getline(in, line); ++number) check_line(line, number, seen);
        return errors_ == 0;
    }

private:
    void report(int line, std::string_view message) {
        std::string text = path_;
        if (line > 0) {
            text += ':';
            text += std::to_string(line);
        }
        text += ": ";
        text += message;
        usage_error(kCommand, text);
        ++errors_;
    }

    void check_line(std::string_view line, int number, std::vector<std::pair<std::string_view, int>>& seen) {
        while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r'))
            line.remove_suffix(1);
        const std::size_t first = line.find_first_not_of(" \t");
        if (first == std::string_view::npos || line[first] == '#' || line[first] == ';') return;
        const std::size_t equals = line.find('=');
        if (equals == std::string_view::npos) {
            report(number, "expected KEY=VALUE");
            return;
        }
        const std::string_view name = line.substr(0, equals);
        const ConfigKey* key = find_key(name);
        if (key == nullptr) {
            report(number, "unknown key '" + std::string(name) + "' (known: " + known_keys() + ")");
            return;
        }
        for (const auto& [seen_name, seen_line] : seen)
            if (seen_name == key->name) {
                report(number, std::string(name) + " given twice (first on line " + std::to_string(seen_line) + ")");
                return;
            }
        seen.emplace_back(key->name, number);
        std::string value;
        std::string error;
        if (!unquote(line.substr(equals + 1), value, error)) {
            report(number, std::string(name) + ": " + error);
            return;
        }
        const auto words = split_words(value);
        if (key->command.empty()) {
            check_targets(*key, words, number);
            return;
        }
        for (const auto& word : words)
            for (const auto unit_option : kUnitOptions)
                if (word == "--" + std::string(unit_option) || word.starts_with("--" + std::string(unit_option) + "=")) {
                    report(number, std::string(name) + ": --" + std::string(unit_option) +
                                       " is set by the unit (the instance name is the file name)");
                    return;
                }
        const std::string problem = check_with_command(key->command, words);
        if (!problem.empty()) report(number, std::string(name) + ": " + problem);
    }

    void check_targets(const ConfigKey& key, const std::vector<std::string>& words, int number) {
        for (const auto& word : words)
            for (const std::string_view item : split_list(word))
                if (!parse_unsigned(item, 1, 0xffffffffu)) {
                    report(number, std::string(key.name) + ": '" + std::string(item) +
                                       "' is not a fwmark (1..0xffffffff)");
                    return;
                }
    }

    std::string path_;
    int errors_ = 0;
};

int run_check(const Options& options) {
    const std::string dir = options.value("dir").value_or(std::string(kDefaultDir));
    const auto& words = options.positional();
    if (words.size() < 2) return usage_error(kCommand, "check needs NAME or FILE (try sctplb config --help)");
    bool all_ok = true;
    for (std::size_t i = 1; i < words.size(); ++i) {
        const std::string& word = words[i];
        std::string path;
        std::string name;
        if (word.find('/') != std::string::npos) {
            path = word;
            name = word.substr(word.rfind('/') + 1);
            if (name.ends_with(".conf")) name.resize(name.size() - 5);
        } else {
            name = word;
            path = dir + "/";
            path += word;
            path += ".conf";
        }
        std::string error;
        if (!valid_shared_memory_name(name, error)) {
            usage_error(kCommand, path + ": instance name: " + error);
            all_ok = false;
            continue;
        }
        FileCheck check(path);
        if (check.run())
            print(path + ": ok\n");
        else
            all_ok = false;
    }
    return all_ok ? 0 : kExitFailure;
}

}  // namespace

int run_config(std::span<const std::string> args) {
    int status = 0;
    const auto options = parse_or_help(kCommand, kConfigSpecs, args, kConfigUsage, kConfigDescription, status);
    if (!options) return status;
    const auto& words = options->positional();
    if (words.empty()) return usage_error(kCommand, "no subcommand given (try sctplb config --help)");
    if (words.front() == "check") return run_check(*options);
    return usage_error(kCommand, "unknown subcommand '" + words.front() + "' (try sctplb config --help)");
}

}  // namespace sctplb::cli
