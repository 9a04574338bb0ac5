// sctpt stats: print the latest snapshot a running ctraffic wrote.
#include <glob.h>
#include <signal.h>

#include <cerrno>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli.hpp"
#include "commands.hpp"
#include "log.hpp"

namespace sctpt {
namespace {

bool process_exists(long pid) {
    return pid > 0 && (kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM);
}

// The default snapshot files whose writer is still running.
std::vector<std::string> running_snapshot_files() {
    std::vector<std::string> files;
    const std::string pattern =
        std::string(stats_file_prefix) + "[0-9]*" + std::string(stats_file_suffix);
    glob_t matches{};
    if (glob(pattern.c_str(), 0, nullptr, &matches) == 0) {
        for (std::size_t i = 0; i < matches.gl_pathc; ++i) {
            const std::string path = matches.gl_pathv[i];
            const std::string digits =
                path.substr(std::string(stats_file_prefix).size(),
                            path.size() - std::string(stats_file_prefix).size() -
                                std::string(stats_file_suffix).size());
            if (digits.find_first_not_of("0123456789") != std::string::npos) {
                continue;
            }
            if (process_exists(std::stol(digits))) {
                files.push_back(path);
            }
        }
    }
    globfree(&matches);
    return files;
}

}  // namespace

int run_stats(int argc, char** argv) {
    std::string path;
    OptionTable table("stats", "Prints the latest snapshot of a running ctraffic.");
    table.text("--stats-file", path, "FILE");
    std::string error;
    if (!table.parse(argc, argv, 2, error)) {
        return usage_error(error);
    }
    if (table.help_requested()) {
        return table.print_help();
    }
    if (path.empty()) {
        const auto files = running_snapshot_files();
        if (files.empty()) {
            complain("no running ctraffic found (looked for %s*%s); give --stats-file",
                     stats_file_prefix, stats_file_suffix);
            return exit_failure;
        }
        if (files.size() > 1) {
            std::string list;
            for (const auto& file : files) {
                list += " " + file;
            }
            complain("several ctraffic runs; choose one with --stats-file:%s", list.c_str());
            return exit_failure;
        }
        path = files.front();
    }
    std::ifstream file(path);
    if (!file) {
        complain("cannot read %s: %s", path.c_str(), std::strerror(errno));
        return exit_failure;
    }
    std::stringstream text;
    text << file.rdbuf();
    const auto snapshot = nlohmann::ordered_json::parse(text.str(), nullptr, false);
    if (snapshot.is_discarded()) {
        complain("%s is not a ctraffic snapshot (invalid JSON)", path.c_str());
        return exit_failure;
    }
    print_line(snapshot.dump(2));
    return exit_success;
}

}  // namespace sctpt
