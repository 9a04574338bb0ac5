// sctpt stats: print the latest snapshot a running ctraffic wrote.
#include <glob.h>
#include <signal.h>

#include <cerrno>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli.hpp"
#include "commands.hpp"
#include "histogram.hpp"
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

// ovl/sctp's stats operations on the shared memory histogram.
int run_histogram(const std::string& operation, const std::string& name, uint32_t buckets,
                  uint32_t interval_us) {
    std::string error;
    std::unique_ptr<SharedHistogram> histogram;
    if (operation == "init") {
        histogram = SharedHistogram::create(name, buckets, interval_us, error);
    } else {
        histogram = SharedHistogram::open(name, operation == "clear", error);
    }
    if (!histogram) {
        complain("%s", error.c_str());
        return exit_failure;
    }
    if (operation == "clear") {
        histogram->clear(interval_us);
    } else if (operation == "show") {
        std::fputs(histogram->text().c_str(), stdout);
    } else if (operation == "json") {
        print_line(histogram->json());
    }
    return exit_success;
}

constexpr const char* stats_summary =
    R"(Prints a running ctraffic's snapshot (--stats-file; the default), or handles the RTT
histogram in shared memory that ctraffic --shm writes (Xcluster ovl/sctp's stats):
  init   creates NAME (replacing it) with --buckets N (16) of --interval US (1000) microseconds
  clear  zeroes its counters and sets --interval (default 1000)
  show   prints it: sent, received, max_rtt (ms), interval (us), then one line per bucket:
         "LOW-HIGH us COUNT |====" counts echoes with LOW <= RTT < HIGH microseconds; the
         last bucket, "LOW+", also every longer RTT; the bar scales to the largest bucket
  json   the same as one JSON object (max_rtt_us, interval_us, histogram: the counts)
The operation defaults to show when --shm, --buckets or --interval is given; NAME defaults to
sctpstats. Without any of these, and no running ctraffic, shows sctpstats if it exists.)";

}  // namespace

int run_stats(int argc, char** argv) {
    std::string path;
    std::string operation;
    std::string shm_name;
    int64_t buckets = -1;  // -1: not given
    int64_t interval_us = -1;
    int level = 6;
    OptionTable table("stats", stats_summary);
    table.text("--stats-file", path, "FILE");
    table.text("--shm", shm_name, "NAME");
    table.number("--buckets", buckets, "N");
    table.number("--interval", interval_us, "US");
    add_log_option(table, level);
    table.positional("init|clear|show|json", operation);
    std::string error;
    if (!table.parse(argc, argv, 2, error)) {
        return usage_error(error);
    }
    if (table.help_requested()) {
        return table.print_help();
    }
    if (!apply_log_option(level, error)) {
        return usage_error(error);
    }
    const bool shm_mode = !operation.empty() || !shm_name.empty() || buckets >= 0 || interval_us >= 0;
    if (shm_mode) {
        if (!path.empty()) {
            return usage_error("--stats-file does not go with --shm, --buckets, --interval or an operation");
        }
        if (operation.empty()) {
            operation = "show";
        }
        if (operation != "init" && operation != "clear" && operation != "show" && operation != "json") {
            std::string message = "stats: '";
            message += operation;
            message += "' is not one of init, clear, show, json";
            return usage_error(message);
        }
        if (buckets == 0 || buckets > max_histogram_buckets) {
            return usage_error("--buckets must be 1..4096");
        }
        if (interval_us == 0 || interval_us > 60'000'000) {
            return usage_error("--interval must be 1..60000000 microseconds");
        }
        return run_histogram(operation, shm_name.empty() ? default_histogram_name : shm_name,
                             buckets < 0 ? default_histogram_buckets : static_cast<uint32_t>(buckets),
                             interval_us < 0 ? default_histogram_interval_us
                                             : static_cast<uint32_t>(interval_us));
    }
    if (path.empty()) {
        const auto files = running_snapshot_files();
        if (files.empty() && SharedHistogram::exists(default_histogram_name)) {
            return run_histogram("show", default_histogram_name, default_histogram_buckets,
                                 default_histogram_interval_us);
        }
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
